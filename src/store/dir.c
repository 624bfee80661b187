/* dir.c — a model directory's shards/ folder as a shard source (doppler.h dp_shard_source):
 * shards/<hex>.bin, named by their SHA-256. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/base.h"

typedef struct dir_src {
    char *shards; /* <model_dir>/shards */
} dir_src;

/* <shards>/<hex>.bin into buf; false for a name that is not 64 lowercase hex */
static bool shard_path(const dir_src *d, const char *hex, char *buf, size_t cap) {
    if (!hex || strlen(hex) != 64 || strspn(hex, "0123456789abcdef") != 64) return false;
    int n = snprintf(buf, cap, "%s/%s.bin", d->shards, hex);
    return n > 0 && (size_t)n < cap;
}

static dp_status dir_has(void *ud, const char *hex, uint64_t *size, dp_error *e) {
    char path[4200];
    if (!shard_path(ud, hex, path, sizeof path))
        return dp_err_set(e, DP_ERR_INVALID_ARG, "shard store: '%.80s' is not a SHA-256 name", hex ? hex : "");
    struct stat sb;
    if (stat(path, &sb) != 0) {
        int err = errno;
        if (err == ENOENT || err == ENOTDIR)
            return dp_err_set(e, DP_ERR_NOT_FOUND, "shard sha256:%s is missing", hex);
        return dp_err_set(e, DP_ERR_IO, "shard sha256:%s: %s", hex, strerror(err));
    }
    if (!S_ISREG(sb.st_mode)) return dp_err_set(e, DP_ERR_IO, "shard sha256:%s is not a regular file", hex);
    *size = (uint64_t)sb.st_size;
    return DP_OK;
}

static dp_status dir_open(void *ud, const char *hex, dp_reader *r, dp_error *e) {
    char path[4200];
    if (!shard_path(ud, hex, path, sizeof path))
        return dp_err_set(e, DP_ERR_INVALID_ARG, "shard store: '%.80s' is not a SHA-256 name", hex ? hex : "");
    return dp_reader_open_file(r, path, e);
}

/* dp_file_write_all writes a temporary file and renames it: a reader never sees a partial
 * shard under its final name */
static dp_status dir_put(void *ud, const char *hex, const void *data, size_t n, dp_error *e) {
    char path[4200];
    if (!shard_path(ud, hex, path, sizeof path))
        return dp_err_set(e, DP_ERR_INVALID_ARG, "shard store: '%.80s' is not a SHA-256 name", hex ? hex : "");
    dp_status st = dp_mkdir_p(((dir_src *)ud)->shards, e);
    return st == DP_OK ? dp_file_write_all(path, data, n, e) : st;
}

dp_status dp_shard_source_dir(const char *model_dir, dp_shard_source *out, dp_error *e) {
    if (!model_dir || !out) return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_shard_source_dir: NULL argument");
    dir_src *d = dp_calloc(1, sizeof *d);
    if (d) d->shards = dp_path_join(model_dir, "shards");
    if (!d || !d->shards) {
        dp_free(d);
        return dp_err_set(e, DP_ERR_NOMEM, "shard store: out of memory");
    }
    memset(out, 0, sizeof *out);
    out->ud = d;
    out->has = dir_has;
    out->open = dir_open;
    out->put_verified = dir_put;
    return DP_OK;
}

void dp_shard_source_dir_free(dp_shard_source *s) {
    if (!s || !s->ud) return;
    dir_src *d = s->ud;
    dp_free(d->shards);
    dp_free(d);
    s->ud = NULL;
}
