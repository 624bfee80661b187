/* mount.c — a model at HTTP sources mounted lazily (store.h): the manifest and tokenizer files
 * now, each shard when it is first opened. Native only. */
#if !defined(__wasm__)
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/sha256.h"
#include "format/rdrr.h"
#include "store/store.h"

struct dp_mount {
    dp_fetcher *f;
    dp_store *store;
    dp_rdrr *m;
    char *dir;
    bool *checked;      /* [n_shards]: known good in this process (fetched, or re-verified) */
    int n_fetched;
    dp_shard_source src;
    void (*log)(void *ud, const char *line);
    void *log_ud;
};

static void mt_say(const dp_mount *mt, const char *what, const char *msg) {
    char line[400];
    if (!mt->log) return;
    snprintf(line, sizeof line, "%s; %s", msg, what);
    mt->log(mt->log_ud, line);
}

/* The manifest's index of shard hex, -1 when it names none. */
static int64_t shard_index(const dp_mount *mt, const char *hex) {
    size_t n = dp_rdrr_n_shards(mt->m);
    for (size_t i = 0; hex && i < n; i++)
        if (!strcmp(dp_rdrr_shard_hash(mt->m, (uint32_t)i), hex)) return (int64_t)i;
    return -1;
}

/* has: answered from the manifest (the shard can be had), so loading checks nothing remote */
static dp_status mt_has(void *ud, const char *hex, uint64_t *size, dp_error *e) {
    dp_mount *mt = ud;
    int64_t i = shard_index(mt, hex);
    if (i < 0) return dp_err_set(e, DP_ERR_NOT_FOUND, "shard %.16s... is not in the mounted model", hex ? hex : "");
    *size = dp_rdrr_shard_size(mt->m, (uint32_t)i);
    return DP_OK;
}

static dp_status mt_open(void *ud, const char *hex, dp_reader *r, dp_error *e) {
    dp_mount *mt = ud;
    int64_t i = shard_index(mt, hex);
    if (i < 0) return dp_err_set(e, DP_ERR_NOT_FOUND, "shard %.16s... is not in the mounted model", hex ? hex : "");
    dp_status st = dp_store_pin(mt->store, hex, e);
    if (st) return st;
    if (!mt->checked[i] && dp_store_has(mt->store, hex, NULL)) {
        /* cached by an earlier run: its bytes may have rotted since */
        dp_error ve = {0};
        st = dp_store_verify(mt->store, hex, true, &ve);
        if (st && st != DP_ERR_HASH) return dp_err_set(e, st, "%s", ve.msg);
        if (st == DP_ERR_HASH) mt_say(mt, "fetching it again", ve.msg);
        mt->checked[i] = st == DP_OK;
    }
    if (!dp_store_has(mt->store, hex, NULL)) {
        if ((st = dp_pull_shard(mt->f, mt->store, hex, dp_rdrr_shard_size(mt->m, (uint32_t)i), e))) return st;
        mt->n_fetched++;
    }
    mt->checked[i] = true;
    dp_shard_source s;
    dp_store_source(mt->store, &s);
    return s.open(s.ud, hex, r, e);
}

dp_status dp_mount_open(const char *const *urls, int n, const char *cache, uint64_t budget,
                        const dp_fetch_opts *o, dp_mount **out, dp_error *e) {
    if (!urls || n < 1 || !cache || !out) return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_mount_open: bad argument");
    dp_mount *mt = dp_calloc(1, sizeof *mt);
    if (!mt) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    if (o) mt->log = o->log, mt->log_ud = o->ud;
    /* the model's folder is named for its first URL (what the user typed), its shards shared */
    size_t len = strlen(urls[0]);
    while (len > 8 && urls[0][len - 1] == '/') len--;
    uint8_t d[32];
    char key[65], sub[128];
    dp_sha256(urls[0], len, d);
    dp_sha256_hex(d, key);
    snprintf(sub, sizeof sub, "models/%.32s", key);
    char *shards = dp_path_join(cache, "shards"), *link = NULL;
    mt->dir = dp_path_join(cache, sub);
    dp_status st = shards && mt->dir && (link = dp_path_join(mt->dir, "shards")) ? DP_OK
                                                                               : dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    if (!st) st = dp_fetcher_new(urls, n, o, &mt->f, e);
    if (!st) st = dp_store_open(shards, budget, &mt->store, e);
    if (!st) {
        dp_error pe = {0};
        char *mpath = dp_path_join(mt->dir, "manifest.json");
        st = dp_pull_manifest(mt->f, mt->dir, NULL, &pe);
        if (st && mpath && dp_file_exists(mpath)) { /* offline: the copy from the last mount */
            mt_say(mt, "using the cached manifest", pe.msg);
            st = DP_OK;
        } else if (st) {
            *e = pe;
        }
        dp_free(mpath);
    }
    /* <dir>/shards -> ../../shards, so the folder is an ordinary model directory too */
    if (!st && symlink("../../shards", link) != 0 && errno != EEXIST)
        st = dp_err_set(e, DP_ERR_IO, "%s: %s", link, strerror(errno));
    if (!st) st = dp_rdrr_open(mt->dir, &mt->m, e);
    if (!st && !(mt->checked = dp_calloc(dp_rdrr_n_shards(mt->m) + 1, sizeof *mt->checked)))
        st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    dp_free(shards);
    dp_free(link);
    if (st) {
        dp_mount_free(mt);
        return st;
    }
    mt->src = (dp_shard_source){mt, mt_has, mt_open, NULL};
    *out = mt;
    return DP_OK;
}

void dp_mount_free(dp_mount *mt) {
    if (!mt) return;
    dp_rdrr_free(mt->m);
    dp_store_free(mt->store);
    dp_fetcher_free(mt->f);
    dp_free(mt->checked);
    dp_free(mt->dir);
    dp_free(mt);
}

const char *dp_mount_dir(const dp_mount *mt) { return mt->dir; }
const dp_shard_source *dp_mount_source(const dp_mount *mt) { return &mt->src; }
int dp_mount_n_fetched(const dp_mount *mt) { return mt->n_fetched; }
dp_fetcher *dp_mount_fetcher(dp_mount *mt) { return mt->f; }

#endif /* !__wasm__ */
