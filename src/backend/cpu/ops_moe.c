/* ops_moe.c — mixture-of-experts FFN (Mixtral-style routing).
 *
 * Routing, per token: p = softmax(logits) over the n_expert experts (f32, max-subtracted),
 * the k largest p (ties: lowest expert id first), weights w = p_sel / sum(p_sel).
 * Then the tokens are grouped by expert, so each selected expert's weights are read once per
 * call: for expert e with tokens T_e, X_e = x[T_e] (gathered), H = act(X_e G_e^T) * (X_e U_e^T),
 * Y = H D_e^T, and out[t] += w_t,e * Y[t] — the three products through dp_cpu_matmul (threaded
 * over output rows). Experts are visited in id order, so a token's sum is in expert-id order.
 *
 * Shapes: x [n, d]; logits f32 [n, n_expert]; gate[e], up[e]: [f, d] (ne = {d, f}); down[e]:
 * [d, f] (ne = {f, d}); any weight dtype dp_cpu_matmul takes. Experts that no token selects
 * are never touched (their data may be NULL, e.g. not paged in). A paged model's experts come
 * from src->fetch instead, each selected one fetched right before its products, so one resident
 * expert at a time is enough; the selection goes to src->want first (the source starts reading
 * the missing ones), then, with src->next_logits, the next layer's predicted selection (the same
 * routing on those logits) to src->predict. out may alias x.
 * Scratch (routing tables and n*(3d + 2f) floats of activations) lives in the context and
 * grows only when a larger n, d or f first appears. */
#include "backend/cpu/cpu_internal.h"

#include <math.h>
#include <string.h>

typedef struct moe_glu_job {
    float *g;
    const float *u;
    int64_t count;
    dp_act act;
} moe_glu_job;

static void moe_glu_run(void *arg, int ith, int nth) {
    const moe_glu_job *j = arg;
    int64_t lo, hi;
    dp_cpu_split(j->count, ith, nth, &lo, &hi);
    dp_cpu_glu_rows(j->g + lo, j->g + lo, j->u + lo, hi - lo, j->act);
}

static bool moe_check_weight(dp_cpu_ctx *c, const dp_tensor *w, int64_t k, int64_t m,
                             const char *what, int e) {
    uint64_t rb = 0;
    if (!w->data || w->ne[0] != k || w->ne[1] != m || w->dtype == DP_DTYPE_I32 ||
        !dp_dtype_row_bytes(w->dtype, (uint64_t)k, &rb) || rb * (uint64_t)m > w->nbytes)
        return dp_cpu_fail(c, DP_ERR_INVALID_ARG,
                           "moe: expert %d %s is [%lld, %lld] %s (data %s), want [%lld, %lld]", e,
                           what, (long long)w->ne[0], (long long)w->ne[1],
                           dp_dtype_name(w->dtype), w->data ? "set" : "missing", (long long)k,
                           (long long)m);
    return true;
}

static bool moe_check_expert(dp_cpu_ctx *c, const dp_tensor *g, const dp_tensor *u, const dp_tensor *dn,
                             int64_t d, int64_t f, int e) {
    return moe_check_weight(c, g, d, f, "gate", e) && moe_check_weight(c, u, d, f, "up", e) &&
           moe_check_weight(c, dn, f, d, "down", e);
}

/* Per token: top-k expert ids and renormalised weights. probs is scratch of n_expert floats. */
static void moe_route(const float *logits, int n, int n_expert, int k, int32_t *sel, float *wt,
                      float *probs) {
    for (int t = 0; t < n; t++) {
        const float *lg = logits + (int64_t)t * n_expert;
        float mx = lg[0];
        for (int e = 1; e < n_expert; e++) mx = lg[e] > mx ? lg[e] : mx;
        float sum = 0.0f;
        for (int e = 0; e < n_expert; e++) sum += probs[e] = expf(lg[e] - mx);
        for (int e = 0; e < n_expert; e++) probs[e] /= sum;
        int32_t *s = sel + (int64_t)t * k;
        float *w = wt + (int64_t)t * k, wsum = 0.0f;
        for (int r = 0; r < k; r++) {
            int best = -1;
            for (int e = 0; e < n_expert; e++) {
                bool taken = false;
                for (int q = 0; q < r; q++) taken = taken || s[q] == e;
                if (!taken && (best < 0 || probs[e] > probs[best])) best = e;
            }
            s[r] = best;
            w[r] = probs[best];
            wsum += w[r];
        }
        for (int r = 0; r < k; r++) w[r] /= wsum;
    }
}

void dp_cpu_op_moe(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *logits,
                   const dp_tensor *gate, const dp_tensor *up, const dp_tensor *down,
               const dp_expert_src *src, int n,
                   int n_expert, int k, dp_act act) {
    dp_cpu_ctx *c = dp_cpu_ctx_of(b);
    if (n < 0 || n_expert <= 0 || k <= 0 || k > n_expert || !gate || !up || !down ||
        (act != DP_ACT_SILU && act != DP_ACT_GELU_TANH)) {
        dp_cpu_fail(c, DP_ERR_INVALID_ARG, "moe: bad args n=%d n_expert=%d k=%d", n, n_expert, k);
        return;
    }
    const int64_t d = gate[0].ne[0], f = gate[0].ne[1];
    if (d <= 0 || f <= 0 || d > INT32_MAX || f > INT32_MAX) {
        dp_cpu_fail(c, DP_ERR_INVALID_ARG, "moe: bad expert shape [%lld, %lld]", (long long)d,
                    (long long)f);
        return;
    }
    if (!dp_cpu_check_f32(c, x, n * d, "moe", "x") ||
        !dp_cpu_check_f32(c, logits, (int64_t)n * n_expert, "moe", "logits") ||
        !dp_cpu_check_f32(c, out, n * d, "moe", "out"))
        return;
    if (n == 0) return;

    /* routing tables: sel, wt [n*k]; probs [E]; count, start [E+1]; tok, tw [n*k]; ids [E] */
    const size_t nk = (size_t)n * (size_t)k, E = (size_t)n_expert;
    const size_t route_bytes = nk * 4 * 4 + E * 4 + (E + 1) * 4 * 2 + E * 4;
    const size_t act_floats = (size_t)n * (size_t)(3 * d + 2 * f);
    if (!dp_cpu_scratch_reserve(c, &c->moe_route, route_bytes, "moe routing") ||
        !dp_cpu_scratch_reserve(c, &c->moe_act, act_floats * sizeof(float), "moe activations"))
        return;
    int32_t *sel = c->moe_route.data;
    float *wt = (float *)(sel + nk);
    float *probs = wt + nk;
    int32_t *count = (int32_t *)(probs + E);
    int32_t *start = count + E + 1;
    int32_t *tok = start + E + 1;
    float *tw = (float *)(tok + nk);
    int32_t *ids = (int32_t *)(tw + nk);

    moe_route(logits->data, n, n_expert, k, sel, wt, probs);
    memset(count, 0, (E + 1) * sizeof *count);
    for (size_t i = 0; i < nk; i++) count[sel[i]]++;
    start[0] = 0;
    for (size_t e = 0; e < E; e++) start[e + 1] = start[e] + count[e];
    memset(count, 0, (E + 1) * sizeof *count);
    for (size_t i = 0; i < nk; i++) { /* tokens ascend within each expert's list */
        int e = sel[i];
        int slot = start[e] + count[e]++;
        tok[slot] = (int32_t)(i / (size_t)k);
        tw[slot] = wt[i];
    }
    for (int e = 0; e < n_expert && !src; e++)
        if (count[e] && !moe_check_expert(c, &gate[e], &up[e], &down[e], d, f, e)) return;
    if (src) { /* paged: the selected experts' reads start now, all at once */
        int n_ids = 0;
        for (int e = 0; e < n_expert; e++)
            if (count[e]) ids[n_ids++] = e;
        if (src->want) src->want(src->ud, src->layer, ids, n_ids);
        const int pk = src->next_k < k ? src->next_k : k;
        if (src->next_logits && src->predict && pk > 0 &&
            dp_cpu_check_f32(c, src->next_logits, (int64_t)n * n_expert, "moe", "next_logits")) {
            /* the next layer's top pk (sel and wt are free again: tok and tw hold the routing) */
            moe_route(src->next_logits->data, n, n_expert, pk, sel, wt, probs);
            memset(ids, 0, E * sizeof *ids);
            for (size_t i = 0; i < (size_t)n * (size_t)pk; i++) ids[sel[i]] = 1;
            n_ids = 0;
            for (int e = 0; e < n_expert; e++)
                if (ids[e]) ids[n_ids++] = e;
            src->predict(src->ud, src->next_layer, ids, n_ids);
        }
    }

    float *xs = c->moe_act.data;
    float *g = xs + (size_t)n * (size_t)d;
    float *u = g + (size_t)n * (size_t)f;
    float *y = u + (size_t)n * (size_t)f;
    float *acc = y + (size_t)n * (size_t)d;
    const float *xd = x->data;
    memset(acc, 0, (size_t)n * (size_t)d * sizeof(float));
    for (int e = 0; e < n_expert; e++) {
        const int cnt = count[e];
        if (!cnt) continue;
        const dp_tensor *ge = &gate[e], *ue = &up[e], *de = &down[e];
        dp_tensor w[3];
        if (src) { /* paged: the expert's bytes come in now, checked like resident ones */
            dp_error fe = {0};
            dp_status fs = src->fetch(src->ud, src->layer, e, w, &fe);
            if (fs != DP_OK) {
                dp_cpu_fail(c, fs, "moe: %s", fe.msg);
                return;
            }
            ge = &w[0], ue = &w[1], de = &w[2];
            if (!moe_check_expert(c, ge, ue, de, d, f, e)) return;
        }
        const int32_t *te = tok + start[e];
        const float *we = tw + start[e];
        for (int r = 0; r < cnt; r++)
            memcpy(xs + (int64_t)r * d, xd + (int64_t)te[r] * d, (size_t)d * sizeof(float));
        dp_status st = dp_cpu_matmul(c->pool, &c->ws, g, xs, ge->data, ge->dtype, cnt,
                                     (int)d, (int)f, false);
        if (st == DP_OK)
            st = dp_cpu_matmul(c->pool, &c->ws, u, xs, ue->data, ue->dtype, cnt, (int)d,
                               (int)f, false);
        if (st != DP_OK) {
            dp_cpu_fail(c, st, "moe: expert %d: %s", e, dp_status_str(st));
            return;
        }
        moe_glu_job gj = {g, u, (int64_t)cnt * f, act};
        dp_cpu_run(c, moe_glu_run, &gj, gj.count * 8);
        st = dp_cpu_matmul(c->pool, &c->ws, y, g, de->data, de->dtype, cnt, (int)f, (int)d,
                           false);
        if (st != DP_OK) {
            dp_cpu_fail(c, st, "moe: expert %d: %s", e, dp_status_str(st));
            return;
        }
        for (int r = 0; r < cnt; r++) dp_cpu_axpy(acc + (int64_t)te[r] * d, we[r], y + (int64_t)r * d, d);
    }
    memcpy(out->data, acc, (size_t)n * (size_t)d * sizeof(float));
}
