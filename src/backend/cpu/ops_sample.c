/* ops_sample.c — token sampling from one row of logits, deterministic given rand01.
 *
 * The definition every backend follows (so the same logits and rand01 give the same id):
 *   greedy (temperature <= 0 or top_k == 1): the arg max, lowest id on ties; NaN never wins.
 *   otherwise:
 *   1. p_i = exp((l_i - max l) / T), unnormalised (NaN and -inf logits get 0).
 *   2. order the ids by p descending, ties by id ascending; top_k > 0 keeps the first top_k
 *      (HF order: temperature, then top-k, then top-p).
 *   3. top_p < 1 keeps the shortest prefix of that order whose running sum (in rank order)
 *      reaches top_p times the mass left after step 2 (at least one id): the sum of all p in
 *      id order without top_k, the sum of the top_k p in rank order with it.
 *   4. walk the kept ids in ascending id order accumulating p, and return the first id whose
 *      running sum exceeds rand01 * (sum of the kept p); the last kept id if rounding leaves
 *      none.
 * Ordering the final walk by id (not by probability) lets a GPU sampler pick with one prefix
 * sum over the vocabulary once it knows the kept set's boundary (p, id).
 *
 * Cost: one pass for greedy or plain temperature; top-k selects with a k-sized heap; top-p
 * alone sorts only the ids that can be in the nucleus (p_i >= (1 - top_p) / (V - 1) of the
 * mass, as llama2.c does). Scratch of 2 * vocab words lives in the context and grows only. */
#include "backend/cpu/cpu_internal.h"

#include <math.h>
#include <stdlib.h>

typedef struct cand {
    float p;
    int32_t id;
} cand;

/* true when a ranks before b: higher p, then lower id */
static inline bool cand_before(cand a, cand b) { return a.p > b.p || (a.p == b.p && a.id < b.id); }

static int cand_cmp_rank(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    return cand_before(*a, *b) ? -1 : cand_before(*b, *a) ? 1 : 0;
}

static int cand_cmp_id(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    return (a->id > b->id) - (a->id < b->id);
}

/* min-heap on rank: the root is the candidate ranked last */
static void heap_sift_down(cand *h, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && cand_before(h[m], h[l])) m = l;
        if (r < n && cand_before(h[m], h[r])) m = r;
        if (m == i) return;
        cand t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* exp((l - mx) / T): 1 for the maximum itself (also when it is +inf), 0 for NaN */
static inline float sample_prob(float l, float mx, float inv_t) {
    if (isnan(l)) return 0.0f;
    if (l == mx) return 1.0f;
    return expf((l - mx) * inv_t);
}

static int32_t sample_greedy(const float *l, int vocab) {
    int32_t best = 0;
    while (best < vocab - 1 && isnan(l[best])) best++;
    for (int i = best + 1; i < vocab; i++)
        if (l[i] > l[best]) best = i;
    return best;
}

void dp_cpu_op_sample(dp_backend *b, dp_tensor *out, const dp_tensor *logits, int row, int vocab,
                      const dp_sample_args *a) {
    dp_cpu_ctx *c = dp_cpu_ctx_of(b);
    if (!a || row < 0 || vocab <= 0) {
        dp_cpu_fail(c, DP_ERR_INVALID_ARG, "sample: bad args row=%d vocab=%d", row, vocab);
        return;
    }
    if (!dp_cpu_check_f32(c, logits, ((int64_t)row + 1) * vocab, "sample", "logits") ||
        !dp_cpu_check_i32(c, out, 1, "sample", "out"))
        return;
    const float *l = (const float *)logits->data + (int64_t)row * vocab;
    int32_t *res = out->data;
    if (!(a->temperature > 0.0f) || a->top_k == 1) {
        *res = sample_greedy(l, vocab);
        return;
    }
    if (!dp_cpu_scratch_reserve(c, &c->sample, (size_t)vocab * sizeof(cand), "sample")) return;
    cand *cd = c->sample.data;

    /* 1. unnormalised probabilities */
    const int32_t imax = sample_greedy(l, vocab);
    const float mx = l[imax], inv_t = 1.0f / a->temperature;
    float total = 0.0f;
    for (int i = 0; i < vocab; i++) {
        float p = sample_prob(l[i], mx, inv_t);
        cd[i].p = p;
        cd[i].id = i;
        total += p;
    }
    float r01 = a->rand01 < 0.0f ? 0.0f : a->rand01 >= 1.0f ? nextafterf(1.0f, 0.0f) : a->rand01;
    if (isnan(r01)) r01 = 0.0f;
    const bool use_k = a->top_k > 0 && a->top_k < vocab;
    const bool use_p = a->top_p < 1.0f;

    int nkept = vocab; /* kept candidates are cd[0, nkept) */
    if (use_k || use_p) {
        /* 2. the ranked prefix: top_k by heap, or the ids that can be in the nucleus */
        int nc;
        if (use_k) {
            nc = a->top_k;
            for (int i = nc / 2 - 1; i >= 0; i--) heap_sift_down(cd, nc, i);
            for (int i = nc; i < vocab; i++)
                if (cand_before(cd[i], cd[0])) {
                    cd[0] = cd[i];
                    heap_sift_down(cd, nc, 0);
                }
        } else {
            const float cutoff = vocab > 1 ? (1.0f - a->top_p) / (float)(vocab - 1) * total : 0.0f;
            nc = 0;
            for (int i = 0; i < vocab; i++)
                if (cd[i].p >= cutoff) cd[nc++] = cd[i];
            if (nc == 0) { /* only when top_p < 1/V: every id is a candidate */
                for (int i = 0; i < vocab; i++) cd[i] = (cand){sample_prob(l[i], mx, inv_t), i};
                nc = vocab;
            }
        }
        qsort(cd, (size_t)nc, sizeof *cd, cand_cmp_rank);
        nkept = nc;
        /* 3. nucleus */
        if (use_p) {
            float mass = total; /* summed in id order */
            if (use_k) {       /* the top-k set, summed in rank order */
                mass = 0.0f;
                for (int i = 0; i < nc; i++) mass += cd[i].p;
            }
            const float target = (a->top_p > 0.0f ? a->top_p : 0.0f) * mass;
            float cum = 0.0f;
            nkept = nc;
            for (int i = 0; i < nc; i++) {
                cum += cd[i].p;
                if (cum >= target) {
                    nkept = i + 1;
                    break;
                }
            }
        }
        qsort(cd, (size_t)nkept, sizeof *cd, cand_cmp_id);
    }

    /* 4. walk the kept ids in id order */
    float sum = 0.0f;
    for (int i = 0; i < nkept; i++) sum += cd[i].p;
    const float target = r01 * sum;
    float cum = 0.0f;
    int32_t pick = -1, last = cd[0].id;
    for (int i = 0; i < nkept; i++) {
        if (cd[i].p <= 0.0f) continue;
        last = cd[i].id;
        cum += cd[i].p;
        if (cum > target) {
            pick = cd[i].id;
            break;
        }
    }
    *res = pick >= 0 ? pick : last;
}
