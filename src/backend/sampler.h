/* sampler.h — the sampling transform on host memory: the one definition of what temperature,
 * top-k and top-p keep, shared by the CPU sample op and speculative decoding (which needs the
 * whole distribution, not one draw). The rules are stated at the top of sampler.c; a GPU sampler
 * (kernels/sample.wgsl) follows the same rules. */
#ifndef DP_SAMPLER_H
#define DP_SAMPLER_H

#include "backend/backend.h"

typedef struct dp_sample_cand {
    float p;
    int32_t id;
} dp_sample_cand;

/* The sampler's greedy rule: temperature <= 0 or top_k == 1. */
bool dp_sample_is_greedy(const dp_sample_args *a);

/* The arg max of l[0, vocab): lowest id on ties; NaN never wins. */
int32_t dp_sample_argmax(const float *l, int vocab);

/* The weights the sampler draws from: w[i] = the unnormalised probability of id i after the
 * temperature, top-k and top-p of a (0 outside the kept set); returns their sum, accumulated in
 * id order in double. Greedy settings give weight 1 at the arg max and 0 elsewhere. cd is
 * scratch of vocab entries. */
double dp_sample_weights(const float *l, int vocab, const dp_sample_args *a, float *w, dp_sample_cand *cd);

/* The id the sampler returns for weights w summing to sum: walk the ids with w > 0 in ascending
 * order accumulating w and return the first whose running sum exceeds rand01 * sum (rand01
 * clamped to [0, 1)); when rounding leaves none, the last id walked; when no weight is positive
 * (every logit NaN), vocab - 1, the arg max of such a row. */
int32_t dp_sample_pick(const float *w, int vocab, double sum, float rand01);

/* The rejection rule of backend.h's verify_sample on host rows: tl the target's k + 1 rows,
 * dl the draft's k rows (stride vocab, d_vocab used; NULL or d_vocab 0: one-hot at the
 * proposal), ids, rnd as there; res i32 [k + 2] as verify's out. p, q: scratch of vocab floats
 * each; cd of vocab entries. Returns res[0]. */
int32_t dp_sample_verify(const float *tl, const float *dl, const int32_t *ids, const float *rnd, int k, int vocab,
                         int d_vocab, const dp_sample_args *a, float *p, float *q, dp_sample_cand *cd, int32_t *res);

#endif
