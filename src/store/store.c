/* store.c — the content-addressed shard store (store.h): verify-before-commit, re-verification,
 * a byte budget with LRU eviction of unpinned shards. Native only (the browser's store is OPFS). */
#if !defined(__wasm__)
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sha256.h"
#include "store/store.h"

struct dp_store {
    char *dir;
    uint64_t budget, used;
    char (*pins)[65];
    size_t n_pins, cap_pins;
};

static bool is_hex64(const char *s, size_t n) {
    return n == 64 && strspn(s, "0123456789abcdef") >= 64;
}

bool dp_store_path(const dp_store *s, const char *hex, const char *ext, char *buf, size_t cap) {
    if (!hex || !is_hex64(hex, strlen(hex))) return false;
    int n = snprintf(buf, cap, "%s/%s%s", s->dir, hex, ext);
    return n > 0 && (size_t)n < cap;
}

/* The sum of <hex>.bin sizes in the folder. */
static dp_status scan_used(dp_store *s, dp_error *e) {
    DIR *d = opendir(s->dir);
    if (!d) return dp_err_set(e, DP_ERR_IO, "shard store %s: %s", s->dir, strerror(errno));
    struct dirent *de;
    uint64_t used = 0;
    char path[4200];
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        struct stat sb;
        if (n != 68 || strcmp(de->d_name + 64, ".bin") || !is_hex64(de->d_name, 64)) continue;
        snprintf(path, sizeof path, "%s/%s", s->dir, de->d_name);
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) used += (uint64_t)sb.st_size;
    }
    closedir(d);
    s->used = used;
    return DP_OK;
}

dp_status dp_store_open(const char *dir, uint64_t budget, dp_store **out, dp_error *e) {
    if (!dir || !out) return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_store_open: NULL argument");
    dp_status st = dp_mkdir_p(dir, e);
    if (st) return st;
    dp_store *s = dp_calloc(1, sizeof *s);
    if (!s || !(s->dir = dp_strdup(dir))) {
        dp_free(s);
        return dp_err_set(e, DP_ERR_NOMEM, "shard store: out of memory");
    }
    s->budget = budget;
    if ((st = scan_used(s, e))) {
        dp_store_free(s);
        return st;
    }
    *out = s;
    return DP_OK;
}

void dp_store_free(dp_store *s) {
    if (!s) return;
    dp_free(s->pins);
    dp_free(s->dir);
    dp_free(s);
}

const char *dp_store_dir(const dp_store *s) { return s->dir; }
uint64_t dp_store_used(const dp_store *s) { return s->used; }

bool dp_store_has(const dp_store *s, const char *hex, uint64_t *size) {
    char path[4200];
    struct stat sb;
    if (!dp_store_path(s, hex, ".bin", path, sizeof path) || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return false;
    if (size) *size = (uint64_t)sb.st_size;
    return true;
}

static bool pinned(const dp_store *s, const char *hex) {
    for (size_t i = 0; i < s->n_pins; i++)
        if (!memcmp(s->pins[i], hex, 64)) return true;
    return false;
}

dp_status dp_store_pin(dp_store *s, const char *hex, dp_error *e) {
    if (!hex || !is_hex64(hex, strlen(hex))) return dp_err_set(e, DP_ERR_INVALID_ARG, "shard store: bad shard name");
    if (pinned(s, hex)) return DP_OK;
    if (s->n_pins == s->cap_pins) {
        size_t cap = s->cap_pins ? 2 * s->cap_pins : 16;
        void *p = dp_realloc(s->pins, cap * sizeof *s->pins);
        if (!p) return dp_err_set(e, DP_ERR_NOMEM, "shard store: out of memory");
        s->pins = p;
        s->cap_pins = cap;
    }
    memcpy(s->pins[s->n_pins++], hex, 65);
    return DP_OK;
}

void dp_store_touch(dp_store *s, const char *hex) {
    char path[4200];
    if (dp_store_path(s, hex, ".bin", path, sizeof path)) (void)utimensat(AT_FDCWD, path, NULL, 0);
}

typedef struct lru_ent {
    struct timespec t;
    uint64_t size;
    char name[69];
} lru_ent;

static int lru_cmp(const void *a, const void *b) {
    const lru_ent *x = a, *y = b;
    if (x->t.tv_sec != y->t.tv_sec) return x->t.tv_sec < y->t.tv_sec ? -1 : 1;
    if (x->t.tv_nsec != y->t.tv_nsec) return x->t.tv_nsec < y->t.tv_nsec ? -1 : 1;
    return strcmp(x->name, y->name);
}

dp_status dp_store_make_room(dp_store *s, uint64_t need, dp_error *e) {
    if (!s->budget) return DP_OK;
    if (need > s->budget)
        return dp_err_set(e, DP_ERR_LIMIT, "a shard of %" PRIu64 " bytes is larger than the shard store's budget of %" PRIu64,
                          need, s->budget);
    dp_status st = scan_used(s, e); /* other processes may share the folder */
    if (st || s->used + need <= s->budget) return st;
    DIR *d = opendir(s->dir);
    if (!d) return dp_err_set(e, DP_ERR_IO, "shard store %s: %s", s->dir, strerror(errno));
    lru_ent *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    char path[4200];
    while ((de = readdir(d))) {
        struct stat sb;
        if (strlen(de->d_name) != 68 || strcmp(de->d_name + 64, ".bin") || !is_hex64(de->d_name, 64) ||
            pinned(s, de->d_name))
            continue;
        snprintf(path, sizeof path, "%s/%s", s->dir, de->d_name);
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            lru_ent *nv = dp_realloc(v, cap * sizeof *v);
            if (!nv) {
                closedir(d);
                dp_free(v);
                return dp_err_set(e, DP_ERR_NOMEM, "shard store: out of memory");
            }
            v = nv;
        }
        v[n].t = sb.st_mtim;
        v[n].size = (uint64_t)sb.st_size;
        memcpy(v[n].name, de->d_name, 69);
        n++;
    }
    closedir(d);
    if (n) qsort(v, n, sizeof *v, lru_cmp);
    for (size_t i = 0; i < n && s->used + need > s->budget; i++) {
        snprintf(path, sizeof path, "%s/%s", s->dir, v[i].name);
        if (unlink(path) == 0) s->used -= v[i].size < s->used ? v[i].size : s->used;
    }
    dp_free(v);
    if (s->used + need > s->budget)
        return dp_err_set(e, DP_ERR_LIMIT, "the shard store's budget of %" PRIu64 " bytes has no room for %" PRIu64
                          " more (%" PRIu64 " held by shards in use)", s->budget, need, s->used);
    return DP_OK;
}

/* fsync a folder so a rename in it survives a crash */
static void sync_dir_of(const char *path) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    int fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* fsync part and check its size and SHA-256; DP_ERR_HASH deletes it */
static dp_status check_part(const char *part, const uint8_t *digest, uint64_t size, dp_error *e) {
    int fd = open(part, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return dp_err_set(e, errno == ENOENT ? DP_ERR_NOT_FOUND : DP_ERR_IO, "%s: %s", part, strerror(errno));
    if (fsync(fd) != 0) {
        int err = errno;
        close(fd);
        return dp_err_set(e, DP_ERR_IO, "fsync %s: %s", part, strerror(err));
    }
    close(fd);
    uint8_t got[32];
    dp_reader r;
    dp_status st = dp_reader_open_file(&r, part, e);
    if (st) return st;
    uint64_t have = r.size;
    if (size && have != size) {
        dp_reader_close(&r);
        unlink(part);
        return dp_err_set(e, DP_ERR_HASH, "%" PRIu64 " bytes arrived, %" PRIu64 " expected", have, size);
    }
    st = dp_sha256_reader(&r, got, e);
    dp_reader_close(&r);
    if (st) return st;
    if (digest && memcmp(got, digest, 32) != 0) {
        char hex[65];
        dp_sha256_hex(got, hex);
        unlink(part);
        return dp_err_set(e, DP_ERR_HASH, "the bytes hash to sha256:%.16s..., not the expected digest", hex);
    }
    return DP_OK;
}

static dp_status rename_into(const char *part, const char *final, dp_error *e) {
    if (rename(part, final) != 0) return dp_err_set(e, DP_ERR_IO, "rename %s: %s", part, strerror(errno));
    sync_dir_of(final);
    return DP_OK;
}

dp_status dp_file_commit(const char *part, const char *final, const uint8_t *digest, uint64_t size,
                         dp_error *e) {
    dp_status st = check_part(part, digest, size, e);
    return st ? st : rename_into(part, final, e);
}

bool dp_store_hex_digest(const char *hex, uint8_t out[32]) {
    if (!hex || !is_hex64(hex, strlen(hex))) return false;
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) return false;
        out[i] = (uint8_t)v;
    }
    return true;
}

dp_status dp_store_commit(dp_store *s, const char *part, const char *hex, uint64_t size, dp_error *e) {
    char final[4200];
    uint8_t digest[32];
    if (!part || !dp_store_path(s, hex, ".bin", final, sizeof final) || !dp_store_hex_digest(hex, digest))
        return dp_err_set(e, DP_ERR_INVALID_ARG, "shard store: bad shard name");
    uint64_t have;
    if (dp_store_has(s, hex, &have)) { /* committed meanwhile (another process) */
        unlink(part);
        return DP_OK;
    }
    dp_status st = check_part(part, digest, size, e);
    struct stat sb;
    if (!st && stat(part, &sb) != 0) st = dp_err_set(e, DP_ERR_IO, "%s: %s", part, strerror(errno));
    if (!st) st = dp_store_make_room(s, (uint64_t)sb.st_size, e);
    if (!st) st = rename_into(part, final, e);
    if (st) {
        dp_err_prefix(e, "shard sha256:%.16s...", hex);
        return st;
    }
    s->used += (uint64_t)sb.st_size;
    return DP_OK;
}

dp_status dp_store_verify(dp_store *s, const char *hex, bool drop, dp_error *e) {
    char path[4200];
    uint8_t want[32], got[32];
    if (!dp_store_path(s, hex, ".bin", path, sizeof path) || !dp_store_hex_digest(hex, want))
        return dp_err_set(e, DP_ERR_INVALID_ARG, "shard store: bad shard name");
    dp_status st = dp_sha256_file(path, got, e);
    if (st == DP_ERR_NOT_FOUND) return dp_err_set(e, st, "shard sha256:%s is missing", hex);
    if (st) return st;
    if (!memcmp(got, want, 32)) return DP_OK;
    struct stat sb;
    if (drop && stat(path, &sb) == 0 && unlink(path) == 0)
        s->used -= (uint64_t)sb.st_size < s->used ? (uint64_t)sb.st_size : s->used;
    return dp_err_set(e, DP_ERR_HASH, "shard sha256:%.16s... does not match its name%s", hex,
                      drop ? " (removed)" : "");
}

/* ---- the store as a read-only shard source ---- */

static dp_status src_has(void *ud, const char *hex, uint64_t *size, dp_error *e) {
    if (!hex || !is_hex64(hex, strlen(hex)))
        return dp_err_set(e, DP_ERR_INVALID_ARG, "shard store: '%.80s' is not a SHA-256 name", hex ? hex : "");
    if (!dp_store_has(ud, hex, size)) return dp_err_set(e, DP_ERR_NOT_FOUND, "shard sha256:%s is missing", hex);
    return DP_OK;
}

static dp_status src_open(void *ud, const char *hex, dp_reader *r, dp_error *e) {
    char path[4200];
    if (!dp_store_path(ud, hex, ".bin", path, sizeof path))
        return dp_err_set(e, DP_ERR_INVALID_ARG, "shard store: '%.80s' is not a SHA-256 name", hex ? hex : "");
    dp_status st = dp_reader_open_file(r, path, e);
    if (!st) dp_store_touch(ud, hex);
    return st;
}

void dp_store_source(dp_store *s, dp_shard_source *out) {
    memset(out, 0, sizeof *out);
    out->ud = s;
    out->has = src_has;
    out->open = src_open;
}

#endif /* !__wasm__ */
