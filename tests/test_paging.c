/* test_paging.c — MoE expert paging on the CPU (issue 12, docs/PAGING.md):
 *  1. logits of a prompt (every row) and of greedy steps with a RAM cache of 2 expert slots per
 *     layer are bit-identical to the unpaged run, with LFU and LRU eviction, on hf-tiny/mixtral
 *     (converted: experts share a shard with dense tensors, checked against digests recorded when
 *     the shard is first verified) and on a synthesized 8-expert q4_k_m model (each expert a shard
 *     of its own, checked against the manifest's hash), and experts were really paged; also with
 *     misses computed in place from the shard's mapping; with the layer-ahead prediction of 2 experts
 *     per token (its counters checked; the damaged-shard runs below use it too), without it, and
 *     with 4 slots per layer and a prediction of 1 (more page-ins in flight);
 *  2. a shard corrupted in place, truncated or removed while the model runs makes the next
 *     evaluation fail with DP_ERR_HASH / DP_ERR_NOT_FOUND and a message naming the shard; once the
 *     file is back the same context evaluates exactly as before (nothing unverified was kept);
 *  3. budgets: one below a slot is refused with the minimum named; knobs on a dense model are
 *     ignored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "doppler.h"
#include "format/rdrr.h"
#include "model/write.h"
#include "testutil.h"

#define N_PROMPT 12
#define N_STEPS 5

static const int32_t PROMPT[N_PROMPT] = {1, 17, 250, 31, 9, 400, 77, 12, 5, 333, 64, 2};

static dp_model *load_predict(const char *dir, uint64_t ram, const char *policy, bool in_place, int predict) {
    dp_load_params p;
    dp_load_params_default(&p);
    p.n_threads = 2;
    p.ram_cache = ram;
    p.expert_policy = policy;
    p.expert_in_place = in_place;
    p.expert_predict = predict;
    dp_model *m = NULL;
    dp_error e = {0};
    CHECK_MSG(dp_model_load(dir, &p, &m, &e) == DP_OK, "load %s (ram %llu): %s", dir, (unsigned long long)ram, e.msg);
    return m;
}

static dp_model *load(const char *dir, uint64_t ram, const char *policy, bool in_place) {
    return load_predict(dir, ram, policy, in_place, 2);
}

/* Every prompt row's logits, then N_STEPS greedy steps' logits, into out ((N_PROMPT + N_STEPS) rows). */
static bool run(dp_model *m, float *out) {
    dp_ctx_params cp;
    dp_ctx_params_default(&cp);
    cp.n_ctx = 64;
    cp.logits_all = 1;
    dp_ctx *c = NULL;
    dp_error e = {0};
    bool ok = dp_ctx_new(m, &cp, &c, &e) == DP_OK && dp_ctx_eval(c, PROMPT, N_PROMPT, out, &e) == DP_OK;
    size_t vocab = (size_t)dp_model_n_vocab(m);
    for (int s = 0; ok && s < N_STEPS; s++) {
        int32_t t = -1;
        ok = dp_ctx_sample(c, NULL, &t, &e) == DP_OK &&
             dp_ctx_eval(c, &t, 1, out + (size_t)(N_PROMPT + s) * vocab, &e) == DP_OK;
    }
    CHECK_MSG(ok, "run: %s", e.msg);
    dp_ctx_free(c);
    return ok;
}

/* Unpaged against paged at 2 slots per layer, both policies; returns the 1-slot budget. */
static uint64_t same_logits(const char *tag, const char *dir) {
    dp_model *ref = load(dir, 0, NULL, false);
    if (!ref) return 0;
    size_t n = (size_t)(N_PROMPT + N_STEPS) * (size_t)dp_model_n_vocab(ref);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    bool ok = a && b && run(ref, a);
    dp_paging_stats st;
    dp_model_paging_stats(ref, &st);
    CHECK_MSG(!st.paged, "%s: an unpaged model reports paging", tag);
    int layers = dp_model_n_layers(ref);
    dp_model_free(ref);
    dp_model *big = load(dir, (uint64_t)1 << 40, NULL, false); /* capped at one slot per expert */
    uint64_t slot = 0;
    if (big) {
        dp_model_paging_stats(big, &st);
        slot = st.slot_bytes;
        dp_model_free(big);
    }
    /* 2 slots per layer with each policy, in place, without the layer-ahead prediction; then 4
       per layer (more page-ins in flight at once) */
    static const char *const POL[5] = {"lfu", "lru", "lfu", "lfu", "lfu"},
                             *const NAME[5] = {"lfu", "lru", "lfu, misses in place", "lfu", "lfu"};
    static const int PER_LAYER[5] = {2, 2, 2, 2, 4};
    for (int i = 0; ok && slot && i < 5; i++) {
        uint64_t slots = (uint64_t)PER_LAYER[i] * (uint64_t)layers;
        dp_model *m = load_predict(dir, slots * slot, POL[i], i == 2, i == 3 ? 0 : i == 4 ? 1 : 2);
        if (!m || !run(m, b)) {
            dp_model_free(m);
            break;
        }
        dp_model_paging_stats(m, &st);
        CHECK_MSG(memcmp(a, b, n * sizeof *a) == 0, "%s (%s): paged logits differ from unpaged (max |diff| %g)", tag,
                  POL[i], t_max_diff(a, b, n));
        CHECK_MSG(st.paged && st.ram_slots == slots && !strcmp(st.policy, NAME[i]),
                  "%s: %llu slots (%s)", tag, (unsigned long long)st.ram_slots, st.policy);
        /* every selection of layers 1.. was predicted or not (counted), and prediction only
           where asked for and possible (not in place) */
        bool predicts = i != 2 && i != 3;
        CHECK_MSG(predicts ? st.predicted > 0 && st.predict_total > 0 && st.predict_hits <= st.predict_total &&
                                 st.predict_total <= st.uses
                           : st.predicted == 0 && st.predict_total == 0,
                  "%s (%s, predict %d): %llu predicted, %llu of %llu selections", tag, NAME[i], predicts,
                  (unsigned long long)st.predicted, (unsigned long long)st.predict_hits,
                  (unsigned long long)st.predict_total);
        CHECK_MSG(st.source_reads > (PER_LAYER[i] == 2 ? st.ram_slots : 0) &&
                      st.source_bytes >= st.source_reads * (slot / 2) && st.uses == st.ram_hits + st.source_reads,
                  "%s (%s): %llu uses, %llu hits, %llu reads, %llu bytes", tag, POL[i], (unsigned long long)st.uses,
                  (unsigned long long)st.ram_hits, (unsigned long long)st.source_reads,
                  (unsigned long long)st.source_bytes);
        printf("%s (%s, %d slots/layer, prediction %s): %llu uses, RAM hits %.0f %%, %.2f MiB read (%.2f unused); "
               "predicted %llu of %llu selections\n",
               tag, NAME[i], PER_LAYER[i], predicts ? "on" : "off", (unsigned long long)st.uses,
               100.0 * (double)st.ram_hits / (double)st.uses, (double)st.source_bytes / 1048576.0,
               (double)st.unused_bytes / 1048576.0, (unsigned long long)st.predict_hits,
               (unsigned long long)st.predict_total);
        dp_model_free(m);
    }
    free(a);
    free(b);
    return slot;
}

/* The shard holding layer 0's expert x (gate) and the gate's offset in it. */
static const char *expert_shard(const char *dir, int x, uint64_t *off, char *path, size_t cap) {
    dp_rdrr *r = NULL;
    dp_error e = {0};
    if (dp_rdrr_open(dir, &r, &e) != DP_OK) return NULL;
    char name[64];
    snprintf(name, sizeof name, "blk.0.ffn_gate.%d.weight", x);
    const dp_rdrr_tensor *t = dp_rdrr_find(r, name);
    const char *res = NULL;
    if (t) {
        snprintf(path, cap, "%s/shards/%s.bin", dir, dp_rdrr_shard_hash(r, t->spans[0].shard));
        *off = t->spans[0].offset;
        res = path;
    }
    dp_rdrr_free(r);
    return res;
}

static void flip_byte(const char *path, uint64_t off) {
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    if (!f) return;
    int c = (fseek(f, (long)off, SEEK_SET) == 0) ? fgetc(f) : EOF;
    CHECK(c != EOF && fseek(f, (long)off, SEEK_SET) == 0 && fputc(c ^ 0x5a, f) != EOF);
    fclose(f);
}

/* Evaluating the prompt on a fresh context fails with `want` and a message containing `what`. */
static void fails(dp_model *m, dp_status want, const char *what, const char *tag) {
    dp_ctx *c = NULL;
    dp_error e = {0};
    CHECK(dp_ctx_new(m, NULL, &c, &e) == DP_OK);
    dp_status st = c ? dp_ctx_eval(c, PROMPT, N_PROMPT, NULL, &e) : DP_ERR_NOMEM;
    CHECK_MSG(st == want && strstr(e.msg, what), "%s: status %d (want %d), '%s' (want '%s')", tag, (int)st,
              (int)want, e.msg, what);
    printf("%s: %s\n", tag, e.msg);
    dp_ctx_free(c);
}

/* Layer 0's experts corrupted, truncated, removed under a model holding `slot` bytes of slots (one
 * slot: page-ins in the caller's thread; more: page-in threads, whose failed jobs the fetch
 * reads again and reports). */
static void damaged(const char *tag, const char *dir, uint64_t slot, int n_expert, bool whole_shards, bool in_place) {
    dp_model *m = load(dir, slot, NULL, in_place);
    if (!m) return;
    size_t n = (size_t)(N_PROMPT + N_STEPS) * (size_t)dp_model_n_vocab(m);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    if (!a || !b || !run(m, a)) goto out; /* every shard touched and verified once */
    char paths[16][600], keep[16][640];
    uint64_t offs[16];
    int k = n_expert < 16 ? n_expert : 16;
    for (int x = 0; x < k; x++) CHECK(expert_shard(dir, x, &offs[x], paths[x], sizeof paths[x]) != NULL);
    /* corrupted in place (same size) */
    for (int x = 0; x < k; x++) flip_byte(paths[x], offs[x] + 7);
    fails(m, DP_ERR_HASH, "SHA-256", tag);
    for (int x = 0; x < k; x++) flip_byte(paths[x], offs[x] + 7);
    CHECK_MSG(run(m, b) && memcmp(a, b, n * sizeof *a) == 0, "%s: not the same logits after the repair", tag);
    if (whole_shards) { /* a shard of its own: truncation and removal leave the dense weights alone */
        for (int x = 0; x < k; x++) {
            snprintf(keep[x], sizeof keep[x], "%.600s.keep", paths[x]);
            CHECK(link(paths[x], keep[x]) == 0 || (unlink(keep[x]) == 0 && link(paths[x], keep[x]) == 0));
        }
        for (int x = 0; x < k; x++) CHECK(unlink(paths[x]) == 0);
        fails(m, DP_ERR_NOT_FOUND, "missing", tag);
        for (int x = 0; x < k; x++) { /* a truncated copy under the name */
            FILE *in = fopen(keep[x], "rb"), *o = fopen(paths[x], "wb");
            char buf[4096];
            size_t got = in ? fread(buf, 1, sizeof buf, in) : 0;
            CHECK(in && o && fwrite(buf, 1, got / 2, o) == got / 2);
            if (in) fclose(in);
            if (o) fclose(o);
        }
        fails(m, DP_ERR_HASH, "bytes", tag);
        for (int x = 0; x < k; x++) CHECK(rename(keep[x], paths[x]) == 0);
        CHECK_MSG(run(m, b) && memcmp(a, b, n * sizeof *a) == 0, "%s: not the same logits after the restore", tag);
    }
out:
    free(a);
    free(b);
    dp_model_free(m);
}

int main(void) {
    char tiny[600], syn[600];
    const char *base = t_tmpdir("paging");
    dp_error e = {0};
    dp_write_opts o = {0};
    o.recipe = DP_RECIPE_Q4_K_M;
    snprintf(syn, sizeof syn, "%s/synth", base);
    CHECK_MSG(dp_synth("mixtral", "mixtral-tiny", NULL, syn, &o, &e) == DP_OK, "synth: %s", e.msg);
    uint64_t slot = same_logits("synth mixtral-tiny q4_k_m", syn);
    if (slot) damaged("synth", syn, slot, 8, true, false);
    if (slot) damaged("synth, in place", syn, slot, 8, true, true);
    if (slot) damaged("synth, 3 slots", syn, 3 * slot, 8, true, false); /* failing page-in jobs */

    /* a budget below one slot; knobs on a dense model */
    dp_load_params p;
    dp_load_params_default(&p);
    p.ram_cache = slot - 1;
    dp_model *m = NULL;
    CHECK(dp_model_load(syn, &p, &m, &e) == DP_ERR_INVALID_ARG && strstr(e.msg, "holds no expert"));
    p.ram_cache = slot;
    p.expert_policy = "fifo";
    CHECK(dp_model_load(syn, &p, &m, &e) == DP_ERR_INVALID_ARG && strstr(e.msg, "fifo"));

    /* a dense model ignores both knobs; the CPU backend ignores gpu_mem */
    char dense[600];
    snprintf(dense, sizeof dense, "%s/dense", base);
    o.recipe = DP_RECIPE_F32;
    CHECK_MSG(dp_synth("llama", "tiny", NULL, dense, &o, &e) == DP_OK, "synth dense: %s", e.msg);
    p.ram_cache = 1;
    p.gpu_mem = 1;
    p.expert_policy = NULL;
    m = NULL;
    CHECK_MSG(dp_model_load(dense, &p, &m, &e) == DP_OK, "dense with paging knobs: %s", e.msg);
    dp_paging_stats ds;
    dp_model_paging_stats(m, &ds);
    CHECK(m && !ds.paged);
    dp_model_free(m);
    p.ram_cache = 0;
    m = NULL;
    CHECK_MSG(dp_model_load(syn, &p, &m, &e) == DP_OK, "gpu_mem on the CPU backend: %s", e.msg);
    dp_model_paging_stats(m, &ds);
    CHECK(m && !ds.paged);
    dp_model_free(m);

    const char *hf = t_shared("fixtures/hf-tiny/mixtral");
    if (!hf) {
        t_skip_part("hf-tiny/mixtral (fixtures absent)");
        return t_done("test_paging");
    }
    snprintf(tiny, sizeof tiny, "%s/hf-mixtral", base);
    o.recipe = DP_RECIPE_F32;
    CHECK_MSG(dp_convert_hf(hf, tiny, &o, &e) == DP_OK, "convert: %s", e.msg);
    slot = same_logits("hf-tiny mixtral f32", tiny);
    if (slot) damaged("hf-tiny", tiny, slot, 8, false, false);
    if (slot) damaged("hf-tiny, in place", tiny, slot, 8, false, true);
    if (slot) damaged("hf-tiny, 3 slots", tiny, 3 * slot, 8, false, false);
    return t_done("test_paging");
}
