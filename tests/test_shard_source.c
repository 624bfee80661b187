/* test_shard_source.c — models whose shards come through a dp_shard_source (dp_load_params
 * .shards) instead of the directory: a source in memory gives the directory's logits exactly; a
 * tampered shard is refused (DP_ERR_HASH) and a missing one named (DP_ERR_NOT_FOUND) before any
 * weight is used; the directory source stores verified shards (put_verified) that a later load
 * reads; bad names are refused. */
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "doppler.h"
#include "format/rdrr.h"
#include "model/write.h"
#include "testutil.h"

/* ---- a source in memory: the shards of a model directory, read once ---- */

#define MAX_SHARDS 64

typedef struct mem_src {
    int n;
    char hex[MAX_SHARDS][65];
    uint8_t *data[MAX_SHARDS];
    size_t size[MAX_SHARDS];
    int opens;
} mem_src;

static int mem_find(const mem_src *s, const char *hex) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->hex[i], hex)) return i;
    return -1;
}

static dp_status mem_has(void *ud, const char *hex, uint64_t *size, dp_error *e) {
    int i = mem_find(ud, hex);
    if (i < 0) return dp_err_set(e, DP_ERR_NOT_FOUND, "not in memory");
    *size = ((mem_src *)ud)->size[i];
    return DP_OK;
}

static dp_status mem_open(void *ud, const char *hex, dp_reader *r, dp_error *e) {
    mem_src *s = ud;
    int i = mem_find(s, hex);
    if (i < 0) return dp_err_set(e, DP_ERR_NOT_FOUND, "not in memory");
    s->opens++;
    dp_reader_open_mem(r, s->data[i], s->size[i]);
    return DP_OK;
}

static void mem_load(mem_src *s, const char *dir) {
    dp_rdrr *r = NULL;
    dp_error e = {0};
    CHECK_MSG(dp_rdrr_open(dir, &r, &e) == DP_OK, "%s", e.msg);
    for (size_t i = 0; r && i < dp_rdrr_n_shards(r) && i < MAX_SHARDS; i++) {
        char rel[128], *path;
        snprintf(rel, sizeof rel, "shards/%s.bin", dp_rdrr_shard_hash(r, (uint32_t)i));
        path = dp_path_join(dir, rel);
        char *data = NULL;
        size_t n = 0;
        CHECK_MSG(dp_file_read_all(path, (size_t)1 << 30, &data, &n, &e) == DP_OK, "%s", e.msg);
        snprintf(s->hex[s->n], sizeof s->hex[0], "%s", dp_rdrr_shard_hash(r, (uint32_t)i));
        s->data[s->n] = (uint8_t *)data;
        s->size[s->n] = n;
        s->n++;
        dp_free(path);
    }
    dp_rdrr_free(r);
}

static void mem_free(mem_src *s) {
    for (int i = 0; i < s->n; i++) dp_free(s->data[i]);
}

/* ---- helpers ---- */

static const int32_t IDS[8] = {1, 5, 77, 300, 12, 9, 400, 2};

/* logits of IDS from the model at dir through src (NULL: the directory); NULL on failure,
 * with the status in *st */
static float *run(const char *dir, const dp_shard_source *src, dp_status *st, dp_error *e) {
    dp_load_params lp;
    dp_load_params_default(&lp);
    lp.n_threads = 1;
    lp.shards = src;
    dp_model *m = NULL;
    dp_ctx *c = NULL;
    dp_ctx_params cp;
    dp_ctx_params_default(&cp);
    cp.n_ctx = 16;
    cp.logits_all = 1;
    float *out = NULL;
    *st = dp_model_load(dir, &lp, &m, e);
    if (*st == DP_OK) *st = dp_ctx_new(m, &cp, &c, e);
    if (*st == DP_OK) {
        out = calloc(8 * (size_t)dp_model_n_vocab(m), sizeof(float));
        *st = dp_ctx_eval(c, IDS, 8, out, e);
        if (*st != DP_OK) {
            free(out);
            out = NULL;
        }
    }
    dp_ctx_free(c);
    dp_model_free(m);
    return out;
}

static void copy_manifest(const char *from, const char *to) {
    char *a = dp_path_join(from, "manifest.json"), *b = dp_path_join(to, "manifest.json");
    char *text = NULL;
    size_t n = 0;
    dp_error e = {0};
    CHECK(dp_mkdir_p(to, &e) == DP_OK);
    CHECK(dp_file_read_all(a, (size_t)1 << 26, &text, &n, &e) == DP_OK);
    CHECK(dp_file_write_all(b, text, n, &e) == DP_OK);
    dp_free(text);
    dp_free(a);
    dp_free(b);
}

int main(void) {
    const char *fix = t_shared("fixtures/hf-tiny/llama");
    if (!fix) {
        printf("test_shard_source: fixtures absent, skipped\n");
        return TEST_SKIP;
    }
    char src[512], base[512], dir[600], bare[600], store[600];
    snprintf(src, sizeof src, "%s", fix);
    snprintf(base, sizeof base, "%s", t_tmpdir("shard-source"));
    snprintf(dir, sizeof dir, "%s/model", base);
    snprintf(bare, sizeof bare, "%s/manifest-only", base);
    snprintf(store, sizeof store, "%s/store", base);
    dp_write_opts o = {0};
    o.recipe = DP_RECIPE_F32;
    o.shard_max = 128 * 1024; /* several shards, and tensors split over shards */
    dp_error e = {0};
    CHECK_MSG(dp_convert_hf(src, dir, &o, &e) == DP_OK, "%s", e.msg);
    copy_manifest(dir, bare);
    size_t n = 8 * 512 * sizeof(float);

    dp_status st;
    float *want = run(dir, NULL, &st, &e); /* the directory (mapped shards on the CPU) */
    CHECK_MSG(want, "directory: %s", e.msg);

    /* the same shards from memory, for a directory that holds only the manifest */
    mem_src ms = {0};
    mem_load(&ms, dir);
    CHECK(ms.n > 2);
    dp_shard_source s = {&ms, mem_has, mem_open, NULL};
    float *got = run(bare, &s, &st, &e);
    CHECK_MSG(got && want && !memcmp(got, want, n), "memory source: %s", e.msg);
    CHECK(ms.opens > 0);
    free(got);
    got = run(bare, NULL, &st, &e); /* without the source: the shards are not there */
    CHECK_MSG(!got && st == DP_ERR_NOT_FOUND && strstr(e.msg, "missing"), "%s (%s)", dp_status_str(st), e.msg);

    /* a changed byte in one shard: refused by its SHA-256 */
    ms.data[1][ms.size[1] / 2] ^= 0x40;
    got = run(bare, &s, &st, &e);
    CHECK_MSG(!got && st == DP_ERR_HASH, "tampered shard: %s (%s)", dp_status_str(st), e.msg);
    ms.data[1][ms.size[1] / 2] ^= 0x40;
    /* a shard the source lacks: named, before anything is read */
    int opens = ms.opens;
    char first = ms.hex[2][0];
    ms.hex[2][0] = first == '0' ? '1' : '0';
    got = run(bare, &s, &st, &e);
    CHECK_MSG(!got && st == DP_ERR_NOT_FOUND && strstr(e.msg, "shard 2") && ms.opens == opens,
              "missing shard: %s (%s)", dp_status_str(st), e.msg);
    ms.hex[2][0] = first;

    /* the directory source as a cache tier: put_verified, then a load from it */
    copy_manifest(dir, store);
    dp_shard_source ds;
    CHECK(dp_shard_source_dir(store, &ds, &e) == DP_OK);
    uint64_t size = 0;
    CHECK(ds.has(ds.ud, ms.hex[0], &size, &e) == DP_ERR_NOT_FOUND);
    CHECK(ds.has(ds.ud, "../manifest", &size, &e) == DP_ERR_INVALID_ARG);
    CHECK(ds.put_verified(ds.ud, "not-a-hash", ms.data[0], ms.size[0], &e) == DP_ERR_INVALID_ARG);
    for (int i = 0; i < ms.n; i++)
        CHECK_MSG(ds.put_verified(ds.ud, ms.hex[i], ms.data[i], ms.size[i], &e) == DP_OK, "%s", e.msg);
    CHECK(ds.has(ds.ud, ms.hex[0], &size, &e) == DP_OK && size == ms.size[0]);
    got = run(store, &ds, &st, &e);
    CHECK_MSG(got && want && !memcmp(got, want, n), "directory store: %s", e.msg);
    free(got);
    dp_shard_source_dir_free(&ds);
    dp_shard_source_dir_free(&ds); /* twice: a no-op */

    mem_free(&ms);
    free(want);
    return t_done("test_shard_source");
}
