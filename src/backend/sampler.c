/* sampler.c — the sampling transform from one row of logits, deterministic given rand01: the
 * CPU sample op draws with it, speculative decoding reads the whole distribution from it.
 *
 * The definition every backend follows (so the same logits and rand01 give the same id):
 *   greedy (temperature <= 0 or top_k == 1): the arg max, lowest id on ties; NaN never wins.
 *   otherwise:
 *   1. p_i = exp((l_i - max l) / T) in f32, unnormalised (NaN and -inf logits get 0); every
 *      sum of p below is accumulated in double, so that the kept set does not depend on the
 *      order of summation (f32 sums over ~1e5 near-equal terms are off by about one term).
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
 * Cost: one pass for greedy; two or three passes for plain temperature; top-k selects with a
 * k-sized heap and sorts the k; top-p alone considers only the ids that can be in the nucleus
 * (p_i >= (1 - top_p) / (V - 1) of the mass, as llama2.c does) and finds the boundary by
 * sorting them when few, else by a mass-guided quickselect (its partial sums are added in
 * another order than the rank-order prefix, equal up to double rounding). Scratch of
 * 3 * vocab words is the caller's (the CPU backend's grows only). */
#include "backend/sampler.h"

#include <math.h>
#include <stdlib.h>

typedef dp_sample_cand cand;

/* true when a ranks before b: higher p, then lower id */
static inline bool cand_before(cand a, cand b) { return a.p > b.p || (a.p == b.p && a.id < b.id); }

static int cand_cmp_rank(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    return cand_before(*a, *b) ? -1 : cand_before(*b, *a) ? 1 : 0;
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


/* The nucleus boundary among cd[0, nc) (unordered): the last entry of the shortest rank-order
 * prefix whose mass reaches target. Small ranges are sorted; large ones are narrowed first by a
 * quickselect that keeps only the side of a pivot where the running mass crosses target
 * (median-of-three pivots, deterministic). */
#define DP_SAMPLE_SORT_MAX 4096

static cand nucleus_boundary(cand *cd, int nc, double target) {
    int lo = 0, hi = nc;
    double cum = 0.0;
    while (hi - lo > DP_SAMPLE_SORT_MAX) {
        /* median of three by rank, moved to hi - 1 */
        int a = lo, b = lo + (hi - lo) / 2, c = hi - 1;
        if (cand_before(cd[b], cd[a])) { cand t = cd[a]; cd[a] = cd[b]; cd[b] = t; }
        if (cand_before(cd[c], cd[b])) { cand t = cd[b]; cd[b] = cd[c]; cd[c] = t; }
        if (cand_before(cd[b], cd[a])) { cand t = cd[a]; cd[a] = cd[b]; cd[b] = t; }
        { cand t = cd[b]; cd[b] = cd[hi - 1]; cd[hi - 1] = t; }
        const cand pv = cd[hi - 1];
        int w = lo;
        double mass = 0.0;
        for (int i = lo; i < hi - 1; i++)
            if (cand_before(cd[i], pv)) {
                mass += cd[i].p;
                cand t = cd[w]; cd[w] = cd[i]; cd[i] = t;
                w++;
            }
        { cand t = cd[w]; cd[w] = cd[hi - 1]; cd[hi - 1] = t; } /* pivot at w */
        if (cum + mass >= target) {
            hi = w;
        } else if (cum + mass + pv.p >= target) {
            return pv;
        } else {
            cum += mass + pv.p;
            lo = w + 1;
        }
    }
    qsort(cd + lo, (size_t)(hi - lo), sizeof *cd, cand_cmp_rank);
    for (int i = lo; i < hi; i++) {
        cum += cd[i].p;
        if (cum >= target) return cd[i];
    }
    return cd[hi > lo ? hi - 1 : lo];
}


bool dp_sample_is_greedy(const dp_sample_args *a) { return !(a->temperature > 0.0f) || a->top_k == 1; }

int32_t dp_sample_argmax(const float *l, int vocab) {
    int32_t best = 0;
    while (best < vocab - 1 && isnan(l[best])) best++;
    for (int i = best + 1; i < vocab; i++)
        if (l[i] > l[best]) best = i;
    return best;
}

double dp_sample_weights(const float *l, int vocab, const dp_sample_args *a, float *pr, cand *cd) {
    const int32_t imax = dp_sample_argmax(l, vocab);
    if (dp_sample_is_greedy(a)) {
        for (int i = 0; i < vocab; i++) pr[i] = i == imax ? 1.0f : 0.0f;
        return 1.0;
    }
    /* 1. unnormalised probabilities */
    const float mx = l[imax], inv_t = 1.0f / a->temperature;
    double total = 0.0;
    for (int i = 0; i < vocab; i++) total += pr[i] = sample_prob(l[i], mx, inv_t);
    const bool use_k = a->top_k > 0 && a->top_k < vocab;
    const bool use_p = a->top_p < 1.0f;
    const float top_p = a->top_p > 0.0f ? a->top_p : 0.0f;
    if (!use_k && !use_p) return total;

    /* 2-3. the boundary: the last kept id in rank order */
    cand bd = {0.0f, 0};
    if (use_k) {
        const int k = a->top_k;
        for (int i = 0; i < k; i++) cd[i] = (cand){pr[i], i};
        for (int i = k / 2 - 1; i >= 0; i--) heap_sift_down(cd, k, i);
        for (int i = k; i < vocab; i++) {
            const cand ci = {pr[i], i};
            if (cand_before(ci, cd[0])) {
                cd[0] = ci;
                heap_sift_down(cd, k, 0);
            }
        }
        bd = cd[0]; /* the k-th ranked */
        if (use_p) {
            qsort(cd, (size_t)k, sizeof *cd, cand_cmp_rank);
            double mass = 0.0;
            for (int i = 0; i < k; i++) mass += cd[i].p;
            const double target = top_p * mass;
            double cum = 0.0;
            for (int i = 0; i < k; i++) {
                cum += cd[i].p;
                if (cum >= target) {
                    bd = cd[i];
                    break;
                }
            }
        }
    } else {
        /* only ids with p >= (1 - top_p) / (V - 1) of the mass can be in the nucleus */
        const double cutoff = vocab > 1 ? (1.0 - top_p) / (double)(vocab - 1) * total : 0.0;
        int nc = 0;
        for (int i = 0; i < vocab; i++)
            if (pr[i] >= cutoff) cd[nc++] = (cand){pr[i], i};
        if (nc == 0) /* only when top_p < 1/V: every id is a candidate */
            for (int i = 0; i < vocab; i++) cd[nc++] = (cand){pr[i], i};
        bd = nucleus_boundary(cd, nc, top_p * total);
    }

    /* the kept ids are those ranked at or before the boundary; their sum in id order */
    double sum = 0.0;
    for (int i = 0; i < vocab; i++) {
        if (cand_before(bd, (cand){pr[i], i})) pr[i] = 0.0f;
        sum += pr[i];
    }
    return sum;
}

int32_t dp_sample_pick(const float *w, int vocab, double sum, float rand01) {
    float r01 = rand01 < 0.0f ? 0.0f : rand01 >= 1.0f ? nextafterf(1.0f, 0.0f) : rand01;
    if (isnan(r01)) r01 = 0.0f;
    /* 4. walk the kept ids in id order */
    const double target = r01 * sum;
    double cum = 0.0;
    int32_t last = vocab - 1; /* no positive weight: every logit is NaN, and so is the arg max */
    for (int i = 0; i < vocab; i++) {
        if (w[i] <= 0.0f) continue;
        last = i;
        cum += w[i];
        if (cum > target) return i;
    }
    return last;
}

int32_t dp_sample_verify(const float *tl, const float *dl, const int32_t *ids, const float *rnd, int k, int vocab,
                         int d_vocab, const dp_sample_args *a, float *p, float *q, dp_sample_cand *cd, int32_t *res) {
    const size_t v = (size_t)vocab;
    const bool lookup = !dl || d_vocab <= 0;
    int32_t r = 0;
    for (;; r++) {
        const double ps = dp_sample_weights(tl + (size_t)r * v, vocab, a, p, cd);
        if (r == k) { /* every proposal kept: the next token from P_k */
            res[1 + r] = dp_sample_pick(p, vocab, ps, rnd[k]);
            break;
        }
        const int32_t t = ids[1 + r];
        const double qs = lookup ? 1.0 : dp_sample_weights(dl + (size_t)r * v, d_vocab, a, q, cd);
        double pd = 0.0, qd = 0.0;
        if (t >= 0 && t < vocab && ps > 0.0) {
            pd = p[t] / ps;
            qd = lookup ? 1.0 : t < d_vocab && qs > 0.0 ? q[t] / qs : 0.0;
        }
        if (qd > 0.0 && (double)rnd[r] * qd < pd) {
            res[1 + r] = t;
            continue;
        }
        /* rejected: a draw from norm(max(0, P - Q)); from P itself if rounding left no mass */
        double rs = 0.0;
        for (int i = 0; i < vocab; i++) {
            const double pi = ps > 0.0 ? p[i] / ps : 0.0,
                         qi = lookup ? (i == t) : i < d_vocab && qs > 0.0 ? q[i] / qs : 0.0;
            q[i] = pi > qi ? (float)(pi - qi) : 0.0f; /* in place: q[i] was read just above */
            rs += q[i];
        }
        res[1 + r] = rs > 0.0 ? dp_sample_pick(q, vocab, rs, rnd[k]) : dp_sample_pick(p, vocab, ps, rnd[k]);
        break;
    }
    res[0] = r + 1;
    return res[0];
}
