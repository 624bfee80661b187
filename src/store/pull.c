/* pull.c — a model from HTTP sources into a folder: manifest.json first (the root of trust: its
 * SHA-256 is the model id), then the tokenizer files it hashes, then the shards into a store
 * (store.h). Native only. */
#if !defined(__wasm__)
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "format/rdrr.h"
#include "store/store.h"

typedef struct want_id {
    const char *id;
} want_id;

/* A body is a manifest when the reader's validator accepts it (and it is the asked-for id). */
static dp_status check_manifest(void *ud, const char *data, size_t n, dp_error *e) {
    const want_id *w = ud;
    dp_rdrr *m = NULL;
    dp_status st = dp_rdrr_parse_manifest(data, n, &m, e);
    if (st) return st;
    if (w->id && strcmp(dp_rdrr_id(m), w->id) != 0)
        st = dp_err_set(e, DP_ERR_HASH, "manifest sha256:%.16s... is not the model id %.16s...", dp_rdrr_id(m), w->id);
    dp_rdrr_free(m);
    return st;
}

/* ---- tokenizer files ---- */

typedef struct file_job {
    char *final, *part, *rel;
    uint8_t digest[32];
} file_job;

static dp_status commit_file(void *ud, size_t i, const char *part, dp_error *e) {
    file_job *j = &((file_job *)ud)[i];
    return dp_file_commit(part, j->final, j->digest, 0, e);
}

/* The files the manifest's tokenizer hashes that dir lacks (or holds wrong): fetch them. */
static dp_status pull_files(dp_fetcher *f, const char *dir, dp_rdrr *m, dp_error *e) {
    const dp_json *h = dp_json_get(dp_rdrr_tokenizer(m), "hashes");
    if (!h || !h->len) return DP_OK;
    file_job *jobs = dp_calloc(h->len, sizeof *jobs);
    dp_fetch_item *items = dp_calloc(h->len, sizeof *items);
    size_t n = 0;
    dp_status st = jobs && items ? DP_OK : dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; !st && i < h->len; i++) {
        const char *name = h->u.items[i].key, *hash = h->u.items[i].u.str; /* validated by the reader */
        dp_error ce = {0};
        if (strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != strlen(name)) {
            st = dp_err_set(e, DP_ERR_FORMAT, "manifest: tokenizer file name '%s' is not [A-Za-z0-9._-]", name);
            break;
        }
        char *path = dp_path_join(dir, name);
        if (!path) { st = dp_err_set(e, DP_ERR_NOMEM, "out of memory"); break; }
        if (dp_file_exists(path) && dp_rdrr_check_file(m, name, &ce) == DP_OK) {
            dp_free(path);
            continue;
        }
        file_job *j = &jobs[n];
        j->final = path;
        size_t len = strlen(dir) + strlen(name) + 16;
        j->part = dp_malloc(len);
        j->rel = dp_strdup(name);
        if (!j->part || !j->rel) { st = dp_err_set(e, DP_ERR_NOMEM, "out of memory"); n++; break; }
        snprintf(j->part, len, "%s/.%s.part", dir, name);
        dp_store_hex_digest(hash + 7, j->digest);
        items[n] = (dp_fetch_item){j->rel, 0, j->part, NULL};
        n++;
    }
    if (!st && n) st = dp_fetcher_run(f, items, n, commit_file, jobs, e);
    for (size_t i = 0; jobs && i < n; i++) {
        dp_free(jobs[i].final);
        dp_free(jobs[i].part);
        dp_free(jobs[i].rel);
    }
    dp_free(jobs);
    dp_free(items);
    return st;
}

dp_status dp_pull_manifest(dp_fetcher *f, const char *dir, const char *id, dp_error *e) {
    want_id w = {id};
    char *text = NULL;
    size_t n = 0;
    dp_status st = dp_fetcher_get(f, "manifest.json", DP_RDRR_MAX_MANIFEST, check_manifest, &w, &text, &n, e);
    if (st) return st;
    char *path = dp_path_join(dir, "manifest.json");
    char *old = NULL;
    size_t old_n = 0;
    dp_error ie = {0};
    if (!path) st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    else if ((st = dp_mkdir_p(dir, e)) == DP_OK &&
             (dp_file_read_all(path, DP_RDRR_MAX_MANIFEST, &old, &old_n, &ie) != DP_OK || old_n != n ||
              memcmp(old, text, n) != 0))
        st = dp_file_write_all(path, text, n, e);
    dp_free(old);
    dp_free(path);
    dp_free(text);
    dp_rdrr *m = NULL;
    if (!st) st = dp_rdrr_open(dir, &m, e);
    if (!st) st = pull_files(f, dir, m, e);
    dp_rdrr_free(m);
    return st;
}

/* ---- shards ---- */

typedef struct shard_job {
    dp_store *store;
    const char **hex;
    const uint64_t *size;
} shard_job;

static dp_status commit_shard(void *ud, size_t i, const char *part, dp_error *e) {
    shard_job *j = ud;
    return dp_store_commit(j->store, part, j->hex[i], j->size[i], e);
}

/* Fetch the listed shards (hex, size) into store. */
static dp_status pull_shards(dp_fetcher *f, dp_store *store, const char **hex, const uint64_t *size, size_t n,
                             dp_error *e) {
    size_t plen = strlen(dp_store_dir(store)) + 80; /* <dir>/<64 hex>.part */
    size_t per = 80 + 2 * plen;                     /* rel, part, final */
    dp_fetch_item *items = dp_calloc(n ? n : 1, sizeof *items);
    char *text = dp_calloc(n ? n : 1, per);
    dp_status st = items && text ? DP_OK : dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !st && i < n; i++) {
        char *rel = text + i * per, *part = rel + 80, *final = part + plen;
        snprintf(rel, 80, "shards/%s.bin", hex[i]);
        /* final: a shard another process commits meanwhile is taken from the store */
        if (!dp_store_path(store, hex[i], ".part", part, plen) || !dp_store_path(store, hex[i], ".bin", final, plen))
            st = dp_err_set(e, DP_ERR_INVALID_ARG, "shard store: bad shard name");
        items[i] = (dp_fetch_item){rel, size[i], part, final};
    }
    shard_job j = {store, hex, size};
    if (!st && n) st = dp_fetcher_run(f, items, n, commit_shard, &j, e);
    dp_free(text);
    dp_free(items);
    return st;
}

/* The distinct shards of m that store lacks: a held one is re-verified and, when wrong, dropped
 * (and listed). */
static dp_status missing_shards(dp_rdrr *m, dp_store *store, const char ***hex, uint64_t **size, size_t *n,
                                dp_error *e) {
    size_t ns = dp_rdrr_n_shards(m), k = 0;
    *hex = dp_calloc(ns ? ns : 1, sizeof **hex);
    *size = dp_calloc(ns ? ns : 1, sizeof **size);
    if (!*hex || !*size) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < ns; i++) {
        const char *h = dp_rdrr_shard_hash(m, i);
        bool dup = false;
        for (size_t q = 0; q < k && !dup; q++) dup = !strcmp((*hex)[q], h);
        if (dup) continue;
        dp_error ve = {0};
        dp_status st = dp_store_has(store, h, NULL) ? dp_store_verify(store, h, true, &ve) : DP_ERR_NOT_FOUND;
        if (st == DP_OK) continue;
        if (st != DP_ERR_NOT_FOUND && st != DP_ERR_HASH) return dp_err_set(e, st, "%s", ve.msg);
        (*hex)[k] = h;
        (*size)[k] = dp_rdrr_shard_size(m, i);
        k++;
    }
    *n = k;
    return DP_OK;
}

dp_status dp_pull_model(dp_fetcher *f, const char *dir, const char *id, dp_store *store, dp_error *e) {
    dp_status st = dp_pull_manifest(f, dir, id, e);
    if (st) return st;
    dp_rdrr *m = NULL;
    dp_store *own = NULL;
    const char **hex = NULL;
    uint64_t *size = NULL;
    size_t n = 0;
    char *sdir = NULL;
    if ((st = dp_rdrr_open(dir, &m, e))) return st;
    if (!store) {
        if (!(sdir = dp_path_join(dir, "shards"))) st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
        if (!st) st = dp_store_open(sdir, 0, &own, e);
        store = own;
    }
    if (!st) st = missing_shards(m, store, &hex, &size, &n, e);
    if (!st) st = pull_shards(f, store, hex, size, n, e);
    dp_free(hex);
    dp_free(size);
    dp_free(sdir);
    dp_store_free(own);
    dp_rdrr_free(m);
    return st;
}

/* ---- one shard on demand (the lazy mount) ---- */

dp_status dp_pull_shard(dp_fetcher *f, dp_store *store, const char *hex, uint64_t size, dp_error *e) {
    return pull_shards(f, store, &hex, &size, 1, e);
}

#endif /* !__wasm__ */
