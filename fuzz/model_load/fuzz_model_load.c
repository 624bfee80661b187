/* fuzz_model_load.c — src/runtime: dp_model_load on a hostile manifest over real shard bytes,
 * then a context, two evaluations and sampling with whatever the manifest described.
 *
 * At start-up the target writes one shard into a scratch RDRR folder: FZ_SHARD_SIZE bytes of
 * small pseudo-random f32 values (xorshift32, the generator fuzz/make_seeds.py repeats to name
 * the shard in its seed manifests). Each input is written as manifest.json beside it and loaded:
 * the shard verifies, so everything the manifest says (family, sizes, rope, tensor dtypes,
 * shapes and spans) reaches the loader, the backend and the forward pass. */
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"

#include "base/sha256.h"
#include "doppler.h"

#define FZ_SHARD_SIZE (512u * 1024u)

#define FZ_FIFO_HASH "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static char g_dir[256], g_manifest[300], g_shard[400], g_shards[300], g_fifo[400];

static void put(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        fprintf(stderr, "fuzz_model_load: cannot write %s\n", path);
        abort();
    }
}

static void cleanup(void) {
    unlink(g_manifest);
    unlink(g_shard);
    unlink(g_fifo);
    rmdir(g_shards);
    rmdir(g_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/dp-fuzz-model-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        perror("fuzz_model_load: mkdtemp");
        abort();
    }
    snprintf(g_manifest, sizeof g_manifest, "%s/manifest.json", g_dir);
    snprintf(g_shards, sizeof g_shards, "%s/shards", g_dir);
    if (mkdir(g_shards, 0777) != 0) abort();
    float *v = malloc(FZ_SHARD_SIZE);
    if (!v) abort();
    uint32_t x = 0x12345678u;
    for (size_t i = 0; i < FZ_SHARD_SIZE / 4; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v[i] = (float)((double)(x >> 8) / 16777216.0 * 0.2 - 0.1);
    }
    uint8_t digest[32];
    char hex[65];
    dp_sha256(v, FZ_SHARD_SIZE, digest);
    dp_sha256_hex(digest, hex);
    snprintf(g_shard, sizeof g_shard, "%s/%s.bin", g_shards, hex);
    put(g_shard, v, FZ_SHARD_SIZE);
    free(v);
    /* a FIFO where a shard should be (named by the SHA-256 of no bytes): must be refused, not
     * block the load (issue 10) */
    snprintf(g_fifo, sizeof g_fifo, "%s/%s.bin", g_shards, FZ_FIFO_HASH);
    if (mkfifo(g_fifo, 0644) != 0) abort();
    atexit(cleanup);
    fprintf(stderr, "fuzz_model_load: shard sha256:%s (%u bytes)\n", hex, FZ_SHARD_SIZE);
    return 0;
}

static void run_model(dp_model *m) {
    int32_t nv = dp_model_n_vocab(m);
    fz_sink((uint32_t)dp_model_n_layers(m) + (uint32_t)dp_model_n_params(m) + (uint32_t)dp_model_weight_bytes(m) +
            (uint32_t)dp_model_bos(m) + (uint32_t)dp_model_is_eos(m, 0));
    const char *s = dp_model_family(m);
    fz_sink(fz_touch(s, strlen(s)));
    s = dp_model_dtype(m);
    fz_sink(fz_touch(s, strlen(s)));
    dp_ctx_params cp;
    dp_ctx_params_default(&cp);
    cp.n_ctx = 8;
    cp.n_batch = 4;
    cp.logits_all = 1;
    dp_ctx *c = NULL;
    dp_error e = {0};
    if (dp_ctx_new(m, &cp, &c, &e) != DP_OK) {
        if (!e.msg[0]) abort();
        return;
    }
    int32_t ids[3] = {0, 1 % nv, (nv - 1)};
    float *logits = malloc((size_t)nv * 3 * sizeof(float));
    if (!logits) abort();
    if (dp_ctx_eval(c, ids, 3, logits, &e) == DP_OK) {
        fz_sink(fz_touch(logits, (size_t)nv * 3 * sizeof(float)));
        int32_t tok = -1;
        dp_sampling greedy = {0, 0, 1, 1};
        if (dp_ctx_sample(c, &greedy, &tok, &e) == DP_OK && (tok < 0 || tok >= nv)) abort();
        dp_sampling hot = {0.8f, 5, 0.9f, 42};
        if (dp_ctx_sample(c, &hot, &tok, &e) == DP_OK && (tok < 0 || tok >= nv)) abort();
        if (dp_ctx_eval(c, &tok, 1, logits, &e) == DP_OK) fz_sink(fz_touch(logits, (size_t)nv * sizeof(float)));
        if (dp_ctx_pos(c) < 3 || dp_ctx_pos(c) > dp_ctx_n_ctx(c)) abort();
        /* past the context: refused, cache unchanged */
        int32_t many[8] = {0};
        int32_t pos = dp_ctx_pos(c);
        if (dp_ctx_eval(c, many, 8, NULL, &e) == DP_OK || dp_ctx_pos(c) != pos) abort();
    }
    free(logits);
    dp_ctx_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    put(g_manifest, data, size);
    fz_begin(size);
    dp_load_params p;
    dp_load_params_default(&p);
    p.n_threads = 1;
    dp_model *m = NULL;
    dp_error e = {0};
    if (dp_model_load(g_dir, &p, &m, &e) == DP_OK) {
        run_model(m);
        dp_model_free(m);
    } else if (!e.msg[0]) {
        abort();
    } else if (getenv("FZ_VERBOSE")) {
        fprintf(stderr, "fuzz_model_load: %s\n", e.msg);
    }
    fz_end();
    return 0;
}
