/* test_cpu_ops.c — every CPU backend op against a naive implementation written here, on random
 * data with odd sizes, through the backend vtable (so shape checks, threading and the sticky
 * error path are exercised too). References compute in double unless the op's definition is
 * itself float-exact (copy, add, get_rows, sampling). Tolerances are stated at each check. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu/cpu_internal.h" /* dp_cpu_use_generic: test the portable kernels too */
#include "backend/cpu/matmul.h"
#include "format/quant.h"
#include "testutil.h"

/* ---- helpers ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd_u32(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}
static float rnd_unit(void) { return (float)(rnd_u32() >> 8) / 16777216.0f; } /* [0,1) */
static float rnd_sym(float a) { return (rnd_unit() * 2.0f - 1.0f) * a; }
static void fill(float *x, int64_t n, float a) {
    for (int64_t i = 0; i < n; i++) x[i] = rnd_sym(a);
}

static dp_backend *B;

static dp_tensor mk(dp_dtype t, int64_t ne0, int64_t ne1, const void *src) {
    dp_tensor x;
    memset(&x, 0, sizeof x);
    x.dtype = t;
    x.ne[0] = ne0;
    x.ne[1] = ne1;
    uint64_t rb = 0;
    if (!dp_dtype_row_bytes(t, (uint64_t)ne0, &rb)) rb = (uint64_t)ne0 * 4;
    x.nbytes = rb * (uint64_t)ne1;
    dp_error e;
    if (B->i->tensor_alloc(B, &x, &e) != DP_OK) {
        fprintf(stderr, "tensor_alloc: %s\n", e.msg);
        exit(1);
    }
    CHECK(((uintptr_t)x.data & 63) == 0);
    if (src) CHECK(B->i->tensor_set(B, &x, 0, src, x.nbytes, &e) == DP_OK);
    return x;
}
static dp_tensor mkf(int64_t ne0, int64_t ne1, const float *src) {
    return mk(DP_DTYPE_F32, ne0, ne1, src);
}
static void rel(dp_tensor *t) { B->i->tensor_free(B, t); }

static void get(const dp_tensor *t, void *dst, uint64_t n) {
    dp_error e;
    CHECK(B->i->flush(B, &e) == DP_OK);
    CHECK(B->i->tensor_read(B, t, 0, dst, n, &e) == DP_OK);
}

/* for the expected failures: flush reports an error with a message, then the state is clear */
static bool flush_ok(void) {
    dp_error e;
    memset(&e, 0, sizeof e);
    dp_status st = B->i->flush(B, &e);
    if (st != DP_OK) CHECK(e.status == st && e.msg[0] != 0);
    CHECK(B->i->flush(B, &e) == DP_OK);
    return st == DP_OK;
}

/* max |a-b| / (atol + rtol |b|) over n values; <= 1 passes */
static double err_ratio(const float *a, const double *b, int64_t n, double atol, double rtol) {
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double r = fabs((double)a[i] - b[i]) / (atol + rtol * fabs(b[i]));
        if (!(r <= worst)) worst = r; /* NaN sticks */
    }
    return worst;
}

/* ---- get_rows ---- */

static void test_get_rows(void) {
    const dp_dtype types[] = {DP_DTYPE_F32, DP_DTYPE_F16, DP_DTYPE_BF16, DP_DTYPE_Q8_0,
                              DP_DTYPE_Q4_K, DP_DTYPE_Q5_K, DP_DTYPE_Q6_K};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        dp_dtype t = types[ti];
        const int64_t d = dp_dtype_is_quant(t) ? 512 : 77, rows = 13;
        const int n = 9;
        uint64_t rb = 0;
        CHECK(dp_dtype_row_bytes(t, (uint64_t)d, &rb));
        float *src = malloc((size_t)(d * rows) * 4);
        unsigned char *q = malloc((size_t)(rb * rows));
        fill(src, d * rows, 2.0f);
        for (int64_t r = 0; r < rows; r++) dp_quant_row(t, src + r * d, q + r * rb, (size_t)d);
        int32_t ids[9] = {3, 0, 12, 3, 7, 1, 11, 5, 12};
        dp_tensor tab = mk(t, d, rows, q), idt = mk(DP_DTYPE_I32, n, 1, ids), out = mkf(d, n, NULL);
        const float scale = ti % 2 ? 1.0f : 1.7f;
        B->i->get_rows(B, &out, &tab, &idt, n, scale);
        float *got = malloc((size_t)(d * n) * 4), *want = malloc((size_t)d * 4);
        get(&out, got, (uint64_t)(d * n) * 4);
        /* exact: the dequantised row times scale in f32 */
        int bad = 0;
        for (int i = 0; i < n; i++) {
            dp_dequant_row(t, q + (uint64_t)ids[i] * rb, want, (size_t)d);
            for (int64_t x = 0; x < d; x++)
                if (got[i * d + x] != (scale != 1.0f ? want[x] * scale : want[x])) bad++;
        }
        CHECK_MSG(bad == 0, "get_rows %s: %d mismatches", dp_dtype_name(t), bad);
        /* an id out of range is a sticky error, reported once by flush */
        ids[2] = 13;
        dp_error e;
        CHECK(B->i->tensor_set(B, &idt, 0, ids, sizeof ids, &e) == DP_OK);
        B->i->get_rows(B, &out, &tab, &idt, n, scale);
        CHECK(B->i->flush(B, &e) == DP_ERR_INVALID_ARG);
        CHECK(B->i->flush(B, &e) == DP_OK);
        rel(&tab);
        rel(&idt);
        rel(&out);
        free(src);
        free(q);
        free(got);
        free(want);
    }
}

/* ---- rms_norm ---- */

static void test_rms_norm(void) {
    const int n = 7, d = 333;
    for (int po = 0; po < 2; po++)
        for (int alias = 0; alias < 2; alias++) {
            float *x = malloc((size_t)n * d * 4), *w = malloc((size_t)d * 4),
                  *got = malloc((size_t)n * d * 4);
            double *want = malloc((size_t)n * d * 8);
            fill(x, n * d, 3.0f);
            fill(w, d, 1.0f);
            const float eps = 1e-6f;
            for (int i = 0; i < n; i++) {
                double ss = 0;
                for (int t = 0; t < d; t++) ss += (double)x[i * d + t] * x[i * d + t];
                double inv = 1.0 / sqrt(ss / d + eps);
                for (int t = 0; t < d; t++)
                    want[i * d + t] = x[i * d + t] * inv * ((double)w[t] + (po ? 1.0 : 0.0));
            }
            dp_tensor xt = mkf(d, n, x), wt = mkf(d, 1, w), ot = mkf(d, n, NULL);
            B->i->rms_norm(B, alias ? &xt : &ot, &xt, &wt, n, d, eps, po);
            get(alias ? &xt : &ot, got, (uint64_t)n * d * 4);
            double r = err_ratio(got, want, n * d, 1e-6, 1e-5); /* f32 sum of squares */
            CHECK_MSG(r <= 1, "rms_norm plus_one=%d alias=%d: err ratio %g", po, alias, r);
            rel(&xt);
            rel(&wt);
            rel(&ot);
            free(x);
            free(w);
            free(got);
            free(want);
        }
}

/* ---- add, copy, softcap ---- */

static void test_add_copy_softcap(void) {
    const int64_t n = 100003; /* large enough to run threaded, odd */
    float *a = malloc((size_t)n * 4), *b = malloc((size_t)n * 4), *got = malloc((size_t)n * 4);
    double *want = malloc((size_t)n * 8);
    fill(a, n, 50.0f);
    fill(b, n, 50.0f);
    dp_tensor at = mkf(n, 1, a), bt = mkf(n, 1, b), ot = mkf(n, 1, NULL);
    B->i->add(B, &ot, &at, &bt, n);
    get(&ot, got, (uint64_t)n * 4);
    int bad = 0;
    for (int64_t i = 0; i < n; i++) bad += got[i] != a[i] + b[i]; /* exact */
    CHECK_MSG(bad == 0, "add: %d mismatches", bad);
    B->i->add(B, &at, &at, &bt, n); /* aliased */
    get(&at, got, (uint64_t)n * 4);
    bad = 0;
    for (int64_t i = 0; i < n; i++) bad += got[i] != a[i] + b[i];
    CHECK_MSG(bad == 0, "add aliased: %d mismatches", bad);

    /* copy: into the middle of a larger tensor, the rest untouched; exact */
    dp_tensor big = mkf(n + 1000, 1, NULL);
    B->i->copy(B, &big, 777, &bt, n);
    float *g2 = malloc((size_t)(n + 1000) * 4);
    get(&big, g2, (uint64_t)(n + 1000) * 4);
    bad = 0;
    for (int64_t i = 0; i < n + 1000; i++)
        bad += g2[i] != (i >= 777 && i < 777 + n ? b[i - 777] : 0.0f);
    CHECK_MSG(bad == 0, "copy: %d mismatches", bad);
    B->i->copy(B, &big, 1001, &bt, n); /* past the end: error, nothing written */
    CHECK(!flush_ok());

    /* softcap: |x| up to 50 against cap 30 */
    const float cap = 30.0f;
    B->i->tensor_set(B, &at, 0, a, (uint64_t)n * 4, NULL);
    B->i->softcap(B, &at, n, cap);
    get(&at, got, (uint64_t)n * 4);
    for (int64_t i = 0; i < n; i++) want[i] = cap * tanh((double)a[i] / cap);
    double r = err_ratio(got, want, n, 1e-5, 1e-6);
    CHECK_MSG(r <= 1, "softcap: err ratio %g", r);
    rel(&at);
    rel(&bt);
    rel(&ot);
    rel(&big);
    free(a);
    free(b);
    free(got);
    free(g2);
    free(want);
}

/* ---- glu ---- */

static void test_glu(void) {
    const int n = 5, f = 4099;
    float *g = malloc((size_t)n * f * 4), *u = malloc((size_t)n * f * 4),
          *got = malloc((size_t)n * f * 4);
    double *want = malloc((size_t)n * f * 8);
    fill(g, n * f, 12.0f);
    fill(u, n * f, 2.0f);
    for (int act = 0; act < 2; act++)
        for (int alias = 0; alias < 2; alias++) {
            for (int64_t i = 0; i < (int64_t)n * f; i++) {
                double x = g[i];
                double a = act == DP_ACT_SILU
                               ? x / (1.0 + exp(-x))
                               : 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
                want[i] = a * u[i];
            }
            dp_tensor gt = mkf(f, n, g), ut = mkf(f, n, u), ot = mkf(f, n, NULL);
            dp_tensor *o = alias ? &gt : &ot;
            B->i->glu(B, o, &gt, &ut, n, f, (dp_act)act);
            get(o, got, (uint64_t)n * f * 4);
            double r = err_ratio(got, want, (int64_t)n * f, 1e-6, 1e-5); /* libm f32 exp/tanh */
            CHECK_MSG(r <= 1, "glu act=%d alias=%d: err ratio %g", act, alias, r);
            rel(&gt);
            rel(&ut);
            rel(&ot);
        }
    free(g);
    free(u);
    free(got);
    free(want);
}

/* ---- rope ---- */

static void test_rope(void) {
    const int n = 5, n_head = 3;
    const int hds[] = {64, 32};
    for (int hi = 0; hi < 2; hi++)
        for (int partial = 0; partial < 2; partial++)
            for (int il = 0; il < 2; il++) {
                const int hd = hds[hi], rot = partial ? hd * 3 / 4 : hd, half = rot / 2;
                const float mscale = partial ? 1.3f : 1.0f;
                const int64_t cnt = (int64_t)n * n_head * hd;
                float *x = malloc((size_t)cnt * 4), *got = malloc((size_t)cnt * 4),
                      *inv = malloc((size_t)half * 4);
                double *want = malloc((size_t)cnt * 8);
                int32_t pos[5] = {0, 1, 17, 4000, 9};
                fill(x, cnt, 2.0f);
                for (int i = 0; i < half; i++) inv[i] = powf(10000.0f, -2.0f * (float)i / (float)rot);
                for (int r = 0; r < n; r++)
                    for (int h = 0; h < n_head; h++) {
                        const float *v = x + ((int64_t)r * n_head + h) * hd;
                        double *w = want + ((int64_t)r * n_head + h) * hd;
                        for (int t = 0; t < hd; t++) w[t] = v[t];
                        for (int i = 0; i < half; i++) {
                            /* the angle as HF forms it: f32 product */
                            double ang = (double)((float)pos[r] * inv[i]);
                            int i0 = il ? 2 * i : i, i1 = il ? 2 * i + 1 : i + half;
                            w[i0] = (v[i0] * cos(ang) - v[i1] * sin(ang)) * mscale;
                            w[i1] = (v[i1] * cos(ang) + v[i0] * sin(ang)) * mscale;
                        }
                    }
                dp_tensor xt = mkf(n_head * hd, n, x), pt = mk(DP_DTYPE_I32, n, 1, pos),
                          ft = mkf(half, 1, inv);
                dp_rope_args ra = {n_head, hd, rot, il != 0, mscale};
                B->i->rope(B, &xt, &pt, &ft, n, &ra);
                get(&xt, got, (uint64_t)cnt * 4);
                /* f32 cos/sin of angles up to 4000 rad: ~2.5e-4 absolute */
                double r = err_ratio(got, want, cnt, 1e-5, 1e-5);
                double r_big = err_ratio(got, want, cnt, 1e-3, 0);
                CHECK_MSG(r_big <= 1, "rope hd=%d rot=%d il=%d: err ratio %g", hd, rot, il, r_big);
                /* positions below 20 must be tight */
                double r_small = 0;
                for (int row = 0; row < n; row++)
                    if (pos[row] < 20) {
                        double q = err_ratio(got + (int64_t)row * n_head * hd,
                                             want + (int64_t)row * n_head * hd, n_head * hd, 1e-5, 1e-5);
                        r_small = q > r_small ? q : r_small;
                    }
                CHECK_MSG(r_small <= 1, "rope hd=%d rot=%d il=%d small pos: err ratio %g (all %g)", hd,
                          rot, il, r_small, r);
                rel(&xt);
                rel(&pt);
                rel(&ft);
                free(x);
                free(got);
                free(inv);
                free(want);
            }
}

/* ---- attention ---- */

static void attn_ref(double *out, const float *q, const float *k, const float *v,
                     const dp_attn_args *a) {
    const int hd = a->head_dim, group = a->n_head / a->n_kv_head;
    const int64_t kvs = (int64_t)a->n_kv_head * hd;
    double *s = malloc((size_t)(a->pos0 + a->n) * 8);
    for (int i = 0; i < a->n; i++)
        for (int h = 0; h < a->n_head; h++) {
            const int p = a->pos0 + i, kvh = h / group;
            const float *qr = q + ((int64_t)i * a->n_head + h) * hd;
            double mx = -INFINITY;
            for (int j = 0; j <= p; j++) {
                bool visible = a->window <= 0 || j > p - a->window;
                if (!visible) {
                    s[j] = -INFINITY;
                    continue;
                }
                double dot = 0;
                for (int t = 0; t < hd; t++) dot += (double)qr[t] * k[j * kvs + kvh * hd + t];
                dot *= a->scale;
                if (a->softcap > 0) dot = a->softcap * tanh(dot / a->softcap);
                s[j] = dot;
                if (dot > mx) mx = dot;
            }
            double sum = 0;
            for (int j = 0; j <= p; j++) sum += s[j] = exp(s[j] - mx);
            double *o = out + ((int64_t)i * a->n_head + h) * hd;
            for (int t = 0; t < hd; t++) {
                double acc = 0;
                for (int j = 0; j <= p; j++) acc += s[j] * v[j * kvs + kvh * hd + t];
                o[t] = acc / sum;
            }
        }
    free(s);
}

static void test_attention_case(int hd, int n_head, int n_kv, int pos0, int n, int window,
                                float softcap, bool alias) {
    const int ctx = pos0 + n + 3;
    const int64_t qc = (int64_t)n * n_head * hd, kvc = (int64_t)ctx * n_kv * hd;
    float *q = malloc((size_t)qc * 4), *k = malloc((size_t)kvc * 4), *v = malloc((size_t)kvc * 4),
          *got = malloc((size_t)qc * 4);
    double *want = malloc((size_t)qc * 8);
    fill(q, qc, 2.0f);
    fill(k, kvc, 2.0f);
    fill(v, kvc, 1.0f);
    dp_attn_args a = {n_head, n_kv, hd, pos0, n, window, 1.0f / sqrtf((float)hd), softcap, NULL};
    if (softcap > 0) a.scale *= 4.0f; /* push scores into the cap's bend */
    attn_ref(want, q, k, v, &a);
    dp_tensor qt = mkf(n_head * hd, n, q), kt = mkf(n_kv * hd, ctx, k), vt = mkf(n_kv * hd, ctx, v),
              ot = mkf(n_head * hd, n, NULL);
    dp_tensor *o = alias ? &qt : &ot;
    B->i->attention(B, o, &qt, &kt, &vt, &a);
    get(o, got, (uint64_t)qc * 4);
    double r = err_ratio(got, want, qc, 2e-6, 2e-5); /* f32 dots and online softmax */
    CHECK_MSG(r <= 1,
              "attention hd=%d heads=%d/%d pos0=%d n=%d window=%d softcap=%g alias=%d: err ratio %g",
              hd, n_head, n_kv, pos0, n, window, (double)softcap, alias, r);
    rel(&qt);
    rel(&kt);
    rel(&vt);
    rel(&ot);
    free(q);
    free(k);
    free(v);
    free(got);
    free(want);
}

static void test_attention(void) {
    const int hds[] = {64, 32}, kvs[] = {8, 4, 2}; /* GQA ratios 1, 2, 4 with 8 heads */
    for (int hi = 0; hi < 2; hi++)
        for (int ki = 0; ki < 3; ki++) {
            test_attention_case(hds[hi], 8, kvs[ki], 0, 19, 0, 0, false);   /* prefill */
            test_attention_case(hds[hi], 8, kvs[ki], 37, 1, 0, 0, false);   /* decode */
            test_attention_case(hds[hi], 8, kvs[ki], 150, 3, 0, 0, false);  /* > 2 chunks */
            test_attention_case(hds[hi], 8, kvs[ki], 30, 11, 5, 0, false);  /* window */
            test_attention_case(hds[hi], 8, kvs[ki], 130, 7, 70, 30.0f, false);
            test_attention_case(hds[hi], 8, kvs[ki], 0, 23, 200, 50.0f, true); /* window > ctx */
        }
    test_attention_case(256, 4, 1, 5, 9, 1, 0, false); /* window 1: only itself */
    test_attention_case(40, 6, 3, 300, 2, 0, 0, true);
    test_attention_case(64, 10, 2, 20, 1, 0, 0, false);  /* group 5 split in blocks, a partial one */
    test_attention_case(32, 24, 2, 3, 19, 0, 0, false);  /* group 12 > one block of 8 */
    test_attention_case(96, 16, 1, 66, 1, 0, 0, false);  /* MQA decode */
    /* too many cached rows requested: error, no write */
    dp_tensor qt = mkf(64, 1, NULL), kt = mkf(64, 4, NULL);
    dp_attn_args a = {1, 1, 64, 4, 1, 0, 0.125f, 0, NULL};
    B->i->attention(B, &qt, &qt, &kt, &kt, &a);
    CHECK(!flush_ok());
    rel(&qt);
    rel(&kt);
}

/* ---- matmul (the pass-through to dp_cpu_matmul) ---- */

static void test_matmul(void) {
    const int n = 3, k = 96, m = 37;
    float *x = malloc((size_t)n * k * 4), *w = malloc((size_t)m * k * 4), *got = malloc((size_t)n * m * 4);
    double *want = malloc((size_t)n * m * 8);
    fill(x, n * k, 1.0f);
    fill(w, m * k, 1.0f);
    for (int acc = 0; acc < 2; acc++) {
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m; j++) {
                double s = acc ? 1.0 : 0.0;
                for (int t = 0; t < k; t++) s += (double)x[i * k + t] * w[j * k + t];
                want[i * m + j] = s;
            }
        float *init = malloc((size_t)n * m * 4);
        for (int i = 0; i < n * m; i++) init[i] = 1.0f;
        dp_tensor xt = mkf(k, n, x), wt = mkf(k, m, w), ot = mkf(m, n, init);
        B->i->matmul(B, &ot, &xt, &wt, n, acc != 0);
        get(&ot, got, (uint64_t)n * m * 4);
        double r = err_ratio(got, want, n * m, 1e-5, 1e-5);
        CHECK_MSG(r <= 1, "matmul accumulate=%d: err ratio %g", acc, r);
        rel(&xt);
        rel(&wt);
        rel(&ot);
        free(init);
    }
    free(x);
    free(w);
    free(got);
    free(want);
}

/* ---- moe ---- */

static void test_moe_case(int n, dp_dtype wtype, double atol, double rtol) {
    enum { E = 8, K = 2 };
    const int d = 64, f = 96;
    float *x = malloc((size_t)n * d * 4), *lg = malloc((size_t)n * E * 4), *got = malloc((size_t)n * d * 4);
    double *want = calloc((size_t)n * d, 8);
    fill(x, n * d, 1.0f);
    fill(lg, n * E, 3.0f);
    for (int t = 0; t < n; t++) lg[t * E + 7] = -100.0f; /* expert 7 never chosen: no data */
    float *wf[3][E];           /* dequantised weights for the reference */
    dp_tensor wt[3][E];
    memset(wt, 0, sizeof wt);
    const int shape[3][2] = {{d, f}, {d, f}, {f, d}}; /* gate, up: [f, d]; down: [d, f] */
    for (int r = 0; r < 3; r++)
        for (int e = 0; e < E; e++) {
            const int kk = shape[r][0], mm = shape[r][1];
            wf[r][e] = malloc((size_t)kk * mm * 4);
            if (e == 7) {
                wt[r][e].dtype = wtype;
                wt[r][e].ne[0] = kk;
                wt[r][e].ne[1] = mm;
                continue;
            }
            float *src = malloc((size_t)kk * mm * 4);
            fill(src, kk * mm, 0.3f);
            uint64_t rb = 0;
            CHECK(dp_dtype_row_bytes(wtype, (uint64_t)kk, &rb));
            unsigned char *qd = malloc((size_t)(rb * (uint64_t)mm));
            for (int row = 0; row < mm; row++) {
                dp_quant_row(wtype, src + row * kk, qd + row * rb, (size_t)kk);
                dp_dequant_row(wtype, qd + row * rb, wf[r][e] + row * kk, (size_t)kk);
            }
            wt[r][e] = mk(wtype, kk, mm, qd);
            free(src);
            free(qd);
        }
    /* reference: softmax, top-2 (lowest id on ties), renormalise, weighted expert FFNs */
    double *hbuf = malloc((size_t)f * 8);
    for (int t = 0; t < n; t++) {
        double p[E], mx = -INFINITY, sum = 0;
        for (int e = 0; e < E; e++) mx = lg[t * E + e] > mx ? lg[t * E + e] : mx;
        for (int e = 0; e < E; e++) sum += p[e] = exp(lg[t * E + e] - mx);
        int sel[K];
        double w[K], ws = 0;
        for (int r = 0; r < K; r++) {
            int best = -1;
            for (int e = 0; e < E; e++)
                if ((r == 0 || e != sel[0]) && (best < 0 || p[e] > p[best])) best = e;
            sel[r] = best;
            w[r] = p[best] / sum;
            ws += w[r];
        }
        for (int r = 0; r < K; r++) {
            const int e = sel[r];
            for (int j = 0; j < f; j++) {
                double g = 0, u = 0;
                for (int c = 0; c < d; c++) {
                    g += (double)x[t * d + c] * wf[0][e][j * d + c];
                    u += (double)x[t * d + c] * wf[1][e][j * d + c];
                }
                hbuf[j] = g / (1.0 + exp(-g)) * u;
            }
            for (int c = 0; c < d; c++) {
                double y = 0;
                for (int j = 0; j < f; j++) y += hbuf[j] * wf[2][e][c * f + j];
                want[t * d + c] += w[r] / ws * y;
            }
        }
    }
    double wmax = 0; /* atol is relative to the largest output */
    for (int i = 0; i < n * d; i++) wmax = fabs(want[i]) > wmax ? fabs(want[i]) : wmax;
    atol *= wmax;
    dp_tensor xt = mkf(d, n, x), lt = mkf(E, n, lg), ot = mkf(d, n, NULL);
    B->i->moe(B, &ot, &xt, &lt, wt[0], wt[1], wt[2], NULL, n, E, K, DP_ACT_SILU);
    get(&ot, got, (uint64_t)n * d * 4);
    double r = err_ratio(got, want, (int64_t)n * d, atol, rtol);
    CHECK_MSG(r <= 1, "moe n=%d %s: err ratio %g", n, dp_dtype_name(wtype), r);
    /* out aliasing x */
    B->i->moe(B, &xt, &xt, &lt, wt[0], wt[1], wt[2], NULL, n, E, K, DP_ACT_SILU);
    get(&xt, got, (uint64_t)n * d * 4);
    r = err_ratio(got, want, (int64_t)n * d, atol, rtol);
    CHECK_MSG(r <= 1, "moe aliased n=%d %s: err ratio %g", n, dp_dtype_name(wtype), r);
    /* routing to an expert without data is an error */
    for (int t = 0; t < n; t++) lg[t * E + 7] = 100.0f;
    B->i->tensor_set(B, &lt, 0, lg, (uint64_t)n * E * 4, NULL);
    B->i->moe(B, &ot, &xt, &lt, wt[0], wt[1], wt[2], NULL, n, E, K, DP_ACT_SILU);
    CHECK(!flush_ok());
    for (int r2 = 0; r2 < 3; r2++)
        for (int e = 0; e < E; e++) {
            if (e != 7) rel(&wt[r2][e]);
            free(wf[r2][e]);
        }
    rel(&xt);
    rel(&lt);
    rel(&ot);
    free(x);
    free(lg);
    free(got);
    free(want);
    free(hbuf);
}

static void test_moe(void) {
    /* atol is a fraction of the largest output */
    test_moe_case(1, DP_DTYPE_F32, 1e-5, 1e-4);
    test_moe_case(13, DP_DTYPE_F32, 1e-5, 1e-4);
    test_moe_case(6, DP_DTYPE_F16, 1e-5, 1e-4);
    /* q8_0 weights meet 8-bit activations in the matmul: ~1% of the output's range */
    test_moe_case(5, DP_DTYPE_Q8_0, 2e-2, 0);
}

/* ---- sample ---- */

typedef struct rc {
    float p;
    int id;
} rc;
static int rc_rank(const void *a, const void *b) {
    const rc *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}
static int rc_id(const void *a, const void *b) {
    const rc *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

/* The sampling definition of ops_sample.c, written the slow way (full sort). */
static int sample_ref(const float *l, int V, const dp_sample_args *a) {
    int best = -1;
    for (int i = 0; i < V; i++)
        if (!isnan(l[i]) && (best < 0 || l[i] > l[best])) best = i;
    if (best < 0) best = V - 1;
    if (!(a->temperature > 0) || a->top_k == 1) return best;
    rc *c = malloc((size_t)V * sizeof *c);
    const float mx = l[best], it = 1.0f / a->temperature;
    double total = 0;
    for (int i = 0; i < V; i++) {
        c[i].id = i;
        c[i].p = isnan(l[i]) ? 0.0f : l[i] == mx ? 1.0f : expf((l[i] - mx) * it);
        total += c[i].p;
    }
    qsort(c, (size_t)V, sizeof *c, rc_rank);
    int keep = a->top_k > 0 && a->top_k < V ? a->top_k : V;
    if (a->top_p < 1) {
        double mass = total;
        if (keep < V) {
            mass = 0;
            for (int i = 0; i < keep; i++) mass += c[i].p;
        }
        double cum = 0, target = (a->top_p > 0 ? a->top_p : 0) * mass;
        for (int i = 0; i < keep; i++) {
            cum += c[i].p;
            if (cum >= target) {
                keep = i + 1;
                break;
            }
        }
    }
    qsort(c, (size_t)keep, sizeof *c, rc_id);
    double sum = 0, cum = 0;
    for (int i = 0; i < keep; i++) sum += c[i].p;
    double r = a->rand01 * sum;
    int pick = -1, last = c[0].id;
    for (int i = 0; i < keep && pick < 0; i++) {
        if (c[i].p <= 0) continue;
        last = c[i].id;
        cum += c[i].p;
        if (cum > r) pick = c[i].id;
    }
    free(c);
    return pick >= 0 ? pick : last;
}

static int sample1(dp_tensor *lt, dp_tensor *ot, int row, int V, float T, int k, float p, float r) {
    dp_sample_args a = {T, k, p, r};
    B->i->sample(B, ot, lt, row, V, &a);
    int32_t id = -7;
    get(ot, &id, 4);
    return id;
}

static void test_sample(void) {
    const int V = 1003, rows = 2;
    float *l = malloc((size_t)V * rows * 4);
    fill(l, (int64_t)V * rows, 4.0f);
    l[V + 500] = 9.0f; /* row 1: a tie for the maximum at 500 and 900 */
    l[V + 900] = 9.0f;
    l[V + 10] = NAN;
    dp_tensor lt = mkf(V, rows, l), ot = mk(DP_DTYPE_I32, 1, 1, NULL);
    /* greedy: lowest id on ties, NaN ignored; temperature 0 and top_k 1 are both greedy */
    CHECK(sample1(&lt, &ot, 1, V, 0.0f, 0, 1.0f, 0.99f) == 500);
    CHECK(sample1(&lt, &ot, 1, V, 0.8f, 1, 1.0f, 0.99f) == 500);
    int g0 = sample1(&lt, &ot, 0, V, 0.0f, 0, 1.0f, 0.5f);
    for (int i = 0; i < V; i++) CHECK(l[g0] >= l[i]);
    /* tiny top_p keeps only the (lowest-id) maximum */
    CHECK(sample1(&lt, &ot, 1, V, 1.0f, 0, 1e-6f, 0.999f) == 500);
    CHECK(sample1(&lt, &ot, 0, V, 1.0f, 0, 1e-6f, 0.999f) == g0);
    /* against the reference, over many settings and random numbers: exact ids */
    const float temps[] = {0.3f, 1.0f, 2.5f};
    const int ks[] = {0, 2, 40, V, V + 5};
    const float ps[] = {1.0f, 0.9f, 0.5f, 0.05f};
    int mism = 0, total = 0;
    for (int row = 0; row < rows; row++)
        for (int ti = 0; ti < 3; ti++)
            for (int ki = 0; ki < 5; ki++)
                for (int pi = 0; pi < 4; pi++)
                    for (int rr = 0; rr < 12; rr++) {
                        float r01 = rr == 0 ? 0.0f : rr == 1 ? 0.99999994f : rnd_unit();
                        dp_sample_args a = {temps[ti], ks[ki], ps[pi], r01};
                        int want = sample_ref(l + (int64_t)row * V, V, &a);
                        int got = sample1(&lt, &ot, row, V, temps[ti], ks[ki], ps[pi], r01);
                        int again = sample1(&lt, &ot, row, V, temps[ti], ks[ki], ps[pi], r01);
                        mism += got != want || again != got;
                        total++;
                    }
    CHECK_MSG(mism == 0, "sample: %d of %d differ from the reference or between calls", mism, total);

    /* a wide nucleus (tens of thousands of candidates: the quickselect path); exact ids */
    {
        const int BV = 60001;
        float *bl = malloc((size_t)BV * 4);
        fill(bl, BV, 1.0f);
        dp_tensor bt = mkf(BV, 1, bl);
        int bmis = 0;
        const float bps[] = {0.9f, 0.5f, 0.999f};
        for (int pi = 0; pi < 3; pi++)
            for (int rr = 0; rr < 8; rr++) {
                float r01 = rnd_unit();
                dp_sample_args a = {1.0f, 0, bps[pi], r01};
                bmis += sample1(&bt, &ot, 0, BV, 1.0f, 0, bps[pi], r01) != sample_ref(bl, BV, &a);
            }
        CHECK_MSG(bmis == 0, "sample wide nucleus: %d of 24 differ from the reference", bmis);
        /* logits falling with the id: the kept set is ids [0, K) and rand01 -> 1 picks K - 1,
           with K the shortest prefix reaching top_p of the mass (computed here in double) */
        for (int i = 0; i < BV; i++) bl[i] = -1e-4f * (float)i;
        B->i->tensor_set(B, &bt, 0, bl, (uint64_t)BV * 4, NULL);
        for (int pi = 0; pi < 3; pi++) {
            double tot = 0, cum = 0;
            for (int i = 0; i < BV; i++) tot += expf(bl[i]);
            int kk = BV;
            for (int i = 0; i < BV; i++) {
                cum += expf(bl[i]);
                if (cum >= (double)bps[pi] * tot) {
                    kk = i + 1;
                    break;
                }
            }
            int got = sample1(&bt, &ot, 0, BV, 1.0f, 0, bps[pi], 0.99999994f);
            CHECK_MSG(got == kk - 1, "sample nucleus boundary top_p=%g: %d, want %d", (double)bps[pi],
                      got, kk - 1);
        }
        rel(&bt);
        free(bl);
    }

    /* distributions: logits log(p) for p = .4 .3 .2 .1 over ids 3,1,0,2 */
    float pl[4] = {logf(0.2f), logf(0.3f), logf(0.1f), logf(0.4f)};
    dp_tensor pt = mkf(4, 1, pl);
    int cnt[4][4] = {{0}};
    const int steps = 4000;
    for (int s = 0; s < steps; s++) {
        float r01 = ((float)s + 0.5f) / (float)steps;
        cnt[0][sample1(&pt, &ot, 0, 4, 1.0f, 0, 1.0f, r01)]++;  /* plain */
        cnt[1][sample1(&pt, &ot, 0, 4, 1.0f, 2, 1.0f, r01)]++;  /* top-2: .4/.7, .3/.7 */
        cnt[2][sample1(&pt, &ot, 0, 4, 1.0f, 0, 0.75f, r01)]++; /* nucleus .4+.3+.2 */
        cnt[3][sample1(&pt, &ot, 0, 4, 1.0f, 3, 0.6f, r01)]++;  /* top-3 (.9), then .6*.9: .4+.3 */
    }
    const double want[4][4] = {{.2, .3, .1, .4}, {0, .3 / .7, 0, .4 / .7}, {.2 / .9, .3 / .9, 0, .4 / .9},
                               {0, .3 / .7, 0, .4 / .7}};
    for (int c = 0; c < 4; c++)
        for (int i = 0; i < 4; i++)
            CHECK_MSG(fabs(cnt[c][i] / (double)steps - want[c][i]) < 1e-3, "sample dist %d id %d: %g vs %g",
                      c, i, cnt[c][i] / (double)steps, want[c][i]);
    /* top_p below 1/V on a flat row: the lowest id */
    float flat[10];
    for (int i = 0; i < 10; i++) flat[i] = 1.0f;
    dp_tensor ft = mkf(10, 1, flat);
    CHECK(sample1(&ft, &ot, 0, 10, 1.0f, 0, 0.01f, 0.9f) == 0);
    CHECK(sample1(&ft, &ot, 0, 10, 1.0f, 0, 1.0f, 0.95f) == 9);
    CHECK(sample1(&ft, &ot, 0, 10, 1.0f, 0, 1.0f, 0.0f) == 0);
    rel(&lt);
    rel(&ot);
    rel(&pt);
    rel(&ft);
    free(l);
}

/* ---- backend memory ---- */

static void test_memory(void) {
    dp_tensor t = mkf(10, 1, NULL);
    float z[10], one[3] = {1, 2, 3};
    get(&t, z, sizeof z);
    int nz = 0;
    for (int i = 0; i < 10; i++) nz += z[i] != 0.0f;
    CHECK(nz == 0); /* zero-filled */
    dp_error e;
    CHECK(B->i->tensor_set(B, &t, 28, one, 12, &e) == DP_OK);
    CHECK(B->i->tensor_set(B, &t, 32, one, 12, &e) == DP_ERR_INVALID_ARG);
    CHECK(B->i->tensor_read(B, &t, 36, z, 8, &e) == DP_ERR_INVALID_ARG);
    CHECK(B->i->tensor_read(B, &t, 28, z, 12, &e) == DP_OK && z[2] == 3.0f);
    rel(&t);
    CHECK(t.data == NULL);
    B->i->tensor_free(B, &t); /* twice: no-op */
}

int main(void) {
    /* 3 threads with the machine's best kernels, then 1 thread with the portable ones */
    const int threads[] = {3, 1};
    for (int ti = 0; ti < 2; ti++) {
        dp_error e;
        if (dp_backend_cpu_new(threads[ti], &B, &e) != DP_OK) {
            fprintf(stderr, "dp_backend_cpu_new: %s\n", e.msg);
            return 1;
        }
        if (ti == 1) dp_cpu_use_generic(B);
        printf("threads %d, kernels %s\n", threads[ti], dp_cpu_ctx_of(B)->isa);
        test_memory();
        test_get_rows();
        test_rms_norm();
        test_add_copy_softcap();
        test_glu();
        test_rope();
        test_attention();
        test_matmul();
        test_moe();
        test_sample();
        B->i->free(B);
    }
    return t_done("test_cpu_ops");
}
