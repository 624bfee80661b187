/* ops_test.c — every WebGPU op against the CPU op, inside one WebAssembly module.
 *
 * Driven by tests/webgpu/run_ops.mjs as a step machine: for case i, t_begin(i) builds random
 * inputs, runs the op on the CPU backend, records it on the WebGPU backend, flushes and asks for
 * the result; the host awaits the GPU; t_end(i) compares and prints one line. Shapes are random
 * (seeded), including sizes that are not multiples of the workgroup or block size.
 *
 * Check: max |gpu - ref| <= tol * max(max |ref|, 1e-6) per output tensor, where ref is the CPU
 * backend's result (and for matmul / MoE / fused products also an exact double reference from
 * f32 activations). For block-quantized weights both backends take x through 8-bit blocks
 * (llama.cpp's q8_0 / q8_K), so they agree closely with each other and only to the activation
 * quantization error (~1e-2 relative) with the exact reference. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu/matmul.h"
#include "backend/sampler.h"
#include "backend/webgpu/webgpu.h"
#include "format/quant.h"
#include "runtime/fused.h"

#define EXPORT(name) __attribute__((export_name(name)))

int t_init(void);
int t_tune(const char *key, int value);
void *t_alloc(int n);
const char *t_kind(int i);
int t_begin(int i);
int t_end(int i);
void t_stats(void);

/* ---- random ---- */

static uint64_t rng_state = 1;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
static int rnd_int(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }
static float rnd_f(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() & 0xffffff) / 16777216.0f; }
static void fill(float *v, int64_t n, float lo, float hi) {
    for (int64_t i = 0; i < n; i++) v[i] = rnd_f(lo, hi);
}

/* ---- tensors on both backends ---- */

static dp_backend *cpu, *gpu;
/* the GPU takes x through 8-bit blocks as the CPU does (act_quant=1, the default here); with
 * act_quant=0 it computes in f32, so the exact reference gets the tight tolerance instead */
static bool actq = true;
static bool fold = true; /* the norms folded into the decode products (tune fold_norm; on here, t_init) */
/* the decode products over 8-bit x (tune matvec_i8: the backend's default where WGSL has
   dot4I8Packed, as SwiftShader's and the H200's do; act_quant=0 turns it off) */
static bool i8 = true;
static bool pack = false; /* products over 8-bit x pack it per workgroup (tune matvec_pack) */

typedef struct pair {
    dp_tensor c, g;
    bool live;
} pair;

#define MAX_T 64
static pair T[MAX_T];
static int nT;

static pair *tnew(dp_dtype dt, int64_t ne0, int64_t ne1, const void *data) {
    if (nT == MAX_T) return NULL;
    pair *p = &T[nT++];
    memset(p, 0, sizeof *p);
    uint64_t rb = 0;
    if (dt == DP_DTYPE_I32) rb = (uint64_t)ne0 * 4;
    else dp_dtype_row_bytes(dt, (uint64_t)ne0, &rb);
    p->c.dtype = p->g.dtype = dt;
    p->c.ne[0] = p->g.ne[0] = ne0;
    p->c.ne[1] = p->g.ne[1] = ne1;
    p->c.nbytes = p->g.nbytes = rb * (uint64_t)ne1;
    dp_error e;
    if (cpu->i->tensor_alloc(cpu, &p->c, &e) || gpu->i->tensor_alloc(gpu, &p->g, &e)) {
        printf("alloc failed: %s\n", e.msg);
        return NULL;
    }
    p->live = true;
    if (data && (cpu->i->tensor_set(cpu, &p->c, 0, data, p->c.nbytes, &e) ||
                 gpu->i->tensor_set(gpu, &p->g, 0, data, p->g.nbytes, &e))) {
        printf("set failed: %s\n", e.msg);
        return NULL;
    }
    return p;
}

/* f32 [ne1, ne0] random in [lo, hi] */
static pair *tnew_rand(int64_t ne0, int64_t ne1, float lo, float hi) {
    float *v = dp_malloc((size_t)(ne0 * ne1) * sizeof(float) + 4);
    fill(v, ne0 * ne1, lo, hi);
    pair *p = tnew(DP_DTYPE_F32, ne0, ne1, v);
    dp_free(v);
    return p;
}

static void tfree_all(void) {
    for (int i = 0; i < nT; i++)
        if (T[i].live) {
            cpu->i->tensor_free(cpu, &T[i].c);
            gpu->i->tensor_free(gpu, &T[i].g);
        }
    nT = 0;
}

/* ---- the case being run ---- */

typedef struct outcheck {
    pair *t;
    int64_t count;  /* 4-byte elements compared */
    float *got;     /* GPU result, filled when the host settles */
    float *ref2;    /* optional second reference (exact), NULL if none */
    float tol, tol2;
    bool ints;      /* compare as i32, exactly */
} outcheck;

static struct {
    char name[160];
    outcheck out[6];
    int nout;
    bool skip;
    char err[300];
} cur;

static void add_check(pair *t, int64_t count, float tol) {
    if (cur.nout == (int)(sizeof cur.out / sizeof cur.out[0])) {
        snprintf(cur.err, sizeof cur.err, "more outputs than the case can check");
        return;
    }
    outcheck *o = &cur.out[cur.nout++];
    memset(o, 0, sizeof *o);
    o->t = t;
    o->count = count;
    o->tol = tol;
    o->got = dp_malloc((size_t)count * 4 + 4);
}

/* ---- cases ---- */

enum {
    K_ADD, K_ADD_INPLACE, K_COPY, K_SOFTCAP, K_GLU, K_GLU_INPLACE, K_RMS, K_RMS_INPLACE, K_ROPE,
    K_GET_ROWS, K_MATMUL, K_ATTN, K_SAMPLE, K_MOE, K_VIEW, K_FUSE, K_FUSE2, K_LORA, K_LORA_LIN,
    K_VERIFY, K_KINDS
};
static const char *kind_name[K_KINDS] = {"add", "add_inplace", "copy", "softcap", "glu", "glu_inplace",
                                         "rms_norm", "rms_norm_inplace", "rope", "get_rows", "matmul",
                                         "attention", "sample", "moe", "view", "fused", "fused", "lora",
                                         "lora", "verify"};

static const dp_dtype wtypes[] = {DP_DTYPE_F32,  DP_DTYPE_F16,   DP_DTYPE_BF16, DP_DTYPE_Q8_0,
                                  DP_DTYPE_Q4_K, DP_DTYPE_Q5_K,  DP_DTYPE_Q6_K, DP_DTYPE_Q4_0,
                                  DP_DTYPE_Q4_1, DP_DTYPE_Q5_0,  DP_DTYPE_Q5_1, DP_DTYPE_IQ4_NL,
                                  DP_DTYPE_Q2_K, DP_DTYPE_Q3_K,  DP_DTYPE_IQ4_XS};
#define N_WTYPES ((int)(sizeof wtypes / sizeof wtypes[0]))

typedef struct tcase { int kind, variant; } tcase;
static tcase cases[512];
static int n_cases;

static void add_case(int kind, int variant) {
    cases[n_cases].kind = kind;
    cases[n_cases].variant = variant;
    n_cases++;
}

static void plan(void) {
    n_cases = 0;
    for (int r = 0; r < 3; r++) {
        add_case(K_ADD, r);
        add_case(K_ADD_INPLACE, r);
        add_case(K_COPY, r);
        add_case(K_SOFTCAP, r);
        add_case(K_GLU, r);  /* variant parity picks the activation */
        add_case(K_GLU_INPLACE, r);
        add_case(K_RMS, r);
        add_case(K_RMS_INPLACE, r);
    }
    for (int r = 0; r < 6; r++) add_case(K_ROPE, r);
    for (int t = 0; t < N_WTYPES; t++) add_case(K_GET_ROWS, t);
    /* matmul: type x {n = 1, n = 2..8 with accumulate, n > 8 tiled} */
    for (int t = 0; t < N_WTYPES; t++)
        for (int v = 0; v < 3; v++) add_case(K_MATMUL, t * 3 + v);
    for (int v = 0; v < 30; v++) add_case(K_ATTN, v);
    for (int v = 0; v < 15; v++) add_case(K_SAMPLE, v);
    for (int v = 0; v < 6; v++) add_case(K_MOE, v);
    for (int v = 0; v < 2; v++) add_case(K_VIEW, v);
    for (int v = 0; v < 12; v++) add_case(K_FUSE, v);
    for (int v = 0; v < 20; v++) add_case(K_FUSE2, v);
    for (int v = 0; v < 8; v++) add_case(K_LORA, v); /* n = 1, 2..8, > 8 (tiled), wide and rank 33..64, twice */
    for (int v = 0; v < 20; v++) add_case(K_LORA_LIN, v);
    for (int v = 0; v < 24; v++) add_case(K_VERIFY, v);
}

/* A view of f32 [ne1, ne0] at byte off of pool p on backend bi (0 CPU, 1 GPU), holding v: a
 * layer's adapter as the runtime lays it out (adapter.c: every A and B in one tensor). */
static bool tview(pair *p, int bi, uint64_t off, int64_t ne0, int64_t ne1, const float *v, dp_tensor *t) {
    dp_backend *B = bi ? gpu : cpu;
    *t = bi ? p->g : p->c;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->nbytes = (uint64_t)ne0 * (uint64_t)ne1 * 4u;
    t->offset += off;
    if (t->data) t->data = (char *)t->data + off;
    dp_error e;
    if (B->i->tensor_set(B, t, 0, v, t->nbytes, &e)) {
        printf("set failed: %s\n", e.msg);
        return false;
    }
    return true;
}

static uint64_t up256(uint64_t v) { return (v + 255u) & ~(uint64_t)255u; }

static double act_d(double g, dp_act act) {
    if (act == DP_ACT_GELU_TANH)
        return 0.5 * g * (1.0 + tanh(0.7978845608028654 * (g + 0.044715 * g * g * g)));
    return g / (1.0 + exp(-g));
}

/* MoE in double from dequantized weights (the routing as the CPU defines it). */
static void moe_ref(float *out, const float *x, const float *lg, float **g, float **u, float **dn,
                    int n, int d, int f, int ne, int k, dp_act act) {
    double h[512], y[512];
    for (int t = 0; t < n; t++) {
        float pr[64], mx = lg[t * ne], sum = 0;
        for (int e = 1; e < ne; e++) mx = lg[t * ne + e] > mx ? lg[t * ne + e] : mx;
        for (int e = 0; e < ne; e++) sum += pr[e] = expf(lg[t * ne + e] - mx);
        for (int e = 0; e < ne; e++) pr[e] /= sum;
        int sel[64];
        float w[64], ws = 0;
        for (int r = 0; r < k; r++) {
            int best = -1;
            for (int e = 0; e < ne; e++) {
                bool taken = false;
                for (int q = 0; q < r; q++) taken = taken || sel[q] == e;
                if (!taken && (best < 0 || pr[e] > pr[best])) best = e;
            }
            sel[r] = best;
            ws += w[r] = pr[best];
        }
        for (int c = 0; c < d; c++) y[c] = 0;
        for (int r = 0; r < k; r++) {
            int e = sel[r];
            for (int j = 0; j < f; j++) {
                double a = 0, b = 0;
                for (int c = 0; c < d; c++) {
                    a += (double)g[e][j * d + c] * x[t * d + c];
                    b += (double)u[e][j * d + c] * x[t * d + c];
                }
                h[j] = act_d(a, act) * b;
            }
            for (int c = 0; c < d; c++) {
                double a = 0;
                for (int j = 0; j < f; j++) a += (double)dn[e][c * f + j] * h[j];
                y[c] += (double)(w[r] / ws) * a;
            }
        }
        for (int c = 0; c < d; c++) out[t * d + c] = (float)y[c];
    }
}

/* Weight data of dtype dt for [m, k] from random f32 in [-1, 1]; *deq gets the dequantized
 * values (what the kernels must reproduce). */
static void *make_weights(dp_dtype dt, int k, int m, float **deq) {
    uint64_t rb = 0;
    dp_dtype_row_bytes(dt, (uint64_t)k, &rb);
    float *src = dp_malloc((size_t)k * (size_t)m * 4);
    uint8_t *q = dp_malloc((size_t)(rb * (uint64_t)m) + 4);
    *deq = dp_malloc((size_t)k * (size_t)m * 4);
    fill(src, (int64_t)k * m, -1.0f, 1.0f);
    for (int r = 0; r < m; r++) {
        uint8_t *row = q + rb * (uint64_t)r;
        if (!dp_quant_row(dt, src + (size_t)r * k, row, (size_t)k)) { /* GGUF-only type */
            const size_t bb = dp_dtype_block_bytes(dt);
            int off[2];
            const int nf = dp_block_f16_fields(dt, off);
            for (size_t i = 0; i < rb; i++) row[i] = (uint8_t)rnd();
            for (size_t b = 0; b < rb; b += bb)
                for (int f = 0; f < nf; f++) {
                    const uint16_t h = dp_f32_to_f16(rnd_f(-0.05f, 0.05f));
                    memcpy(row + b + off[f], &h, 2);
                }
        }
        dp_dequant_row(dt, q + rb * (uint64_t)r, *deq + (size_t)r * k, (size_t)k);
    }
    dp_free(src);
    return q;
}

static int block_of(dp_dtype dt) { return (int)dp_dtype_block_values(dt); }

static bool run_case(int i) {
    tcase tc = cases[i];
    rng_state = 0x9E3779B97F4A7C15ull ^ (uint64_t)(i + 1) * 0x2545F4914F6CDD1Dull;
    for (int w = 0; w < 8; w++) rnd();
    const char *kn = kind_name[tc.kind];
    switch (tc.kind) {
    case K_ADD:
    case K_ADD_INPLACE: {
        int64_t n = rnd_int(1, 70000);
        pair *a = tnew_rand(n, 1, -2, 2), *b = tnew_rand(n, 1, -2, 2);
        pair *o = tc.kind == K_ADD ? tnew(DP_DTYPE_F32, n, 1, NULL) : a;
        if (!a || !b || !o) return false;
        cpu->i->add(cpu, &o->c, &a->c, &b->c, n);
        gpu->i->add(gpu, &o->g, &a->g, &b->g, n);
        snprintf(cur.name, sizeof cur.name, "%s n=%lld", kn, (long long)n);
        add_check(o, n, 1e-6f);
        return true;
    }
    case K_COPY: {
        int64_t n = rnd_int(1, 5000), off = rnd_int(0, 3000);
        pair *s = tnew_rand(n, 1, -3, 3), *d = tnew_rand(n + off + rnd_int(0, 50), 1, -1, 1);
        if (!s || !d) return false;
        cpu->i->copy(cpu, &d->c, off, &s->c, n);
        gpu->i->copy(gpu, &d->g, off, &s->g, n);
        snprintf(cur.name, sizeof cur.name, "%s n=%lld off=%lld", kn, (long long)n, (long long)off);
        add_check(d, d->c.ne[0], 0.0f);
        return true;
    }
    case K_SOFTCAP: {
        int64_t n = rnd_int(1, 9000);
        float cap = rnd_f(5, 50);
        pair *x = tnew_rand(n, 1, -200, 200);
        if (!x) return false;
        cpu->i->softcap(cpu, &x->c, n, cap);
        gpu->i->softcap(gpu, &x->g, n, cap);
        snprintf(cur.name, sizeof cur.name, "%s n=%lld cap=%.2f", kn, (long long)n, (double)cap);
        add_check(x, n, 2e-6f);
        return true;
    }
    case K_GLU:
    case K_GLU_INPLACE: {
        int n = rnd_int(1, 4), f = rnd_int(1, 3000);
        dp_act act = tc.variant % 2 ? DP_ACT_GELU_TANH : DP_ACT_SILU;
        pair *g = tnew_rand(f, n, -8, 8), *u = tnew_rand(f, n, -2, 2);
        pair *o = tc.kind == K_GLU ? tnew(DP_DTYPE_F32, f, n, NULL) : g;
        if (!g || !u || !o) return false;
        cpu->i->glu(cpu, &o->c, &g->c, &u->c, n, f, act);
        gpu->i->glu(gpu, &o->g, &g->g, &u->g, n, f, act);
        snprintf(cur.name, sizeof cur.name, "%s %s n=%d f=%d", kn,
                 act == DP_ACT_SILU ? "silu" : "gelu_tanh", n, f);
        add_check(o, (int64_t)n * f, 2e-6f);
        return true;
    }
    case K_RMS:
    case K_RMS_INPLACE: {
        int n = rnd_int(1, 6), d = rnd_int(1, 3000);
        bool p1 = tc.variant % 2 == 1;
        pair *x = tnew_rand(d, n, -3, 3), *w = tnew_rand(d, 1, -1, 1);
        pair *o = tc.kind == K_RMS ? tnew(DP_DTYPE_F32, d, n, NULL) : x;
        if (!x || !w || !o) return false;
        cpu->i->rms_norm(cpu, &o->c, &x->c, &w->c, n, d, 1e-6f, p1);
        gpu->i->rms_norm(gpu, &o->g, &x->g, &w->g, n, d, 1e-6f, p1);
        snprintf(cur.name, sizeof cur.name, "%s n=%d d=%d plus_one=%d", kn, n, d, p1);
        add_check(o, (int64_t)n * d, 4e-6f);
        return true;
    }
    case K_ROPE: {
        int n = rnd_int(1, 9), nh = rnd_int(1, 5), hd = 2 * rnd_int(1, 48);
        int rot = tc.variant >= 3 ? 2 * rnd_int(1, hd / 2) : hd;
        dp_rope_args ra = {nh, hd, rot, tc.variant % 2 == 1, tc.variant == 4 ? 1.19f : 0.0f};
        int32_t pos[16];
        int p0 = tc.variant == 5 ? rnd_int(0, 30000) : rnd_int(0, 200);
        for (int r = 0; r < n; r++) pos[r] = p0 + r * rnd_int(1, 3);
        float invf[64];
        float base = tc.variant == 2 ? 1000000.0f : 10000.0f;
        for (int t = 0; t < rot / 2; t++) invf[t] = powf(base, -2.0f * (float)t / (float)rot);
        pair *x = tnew_rand((int64_t)nh * hd, n, -2, 2);
        pair *ps = tnew(DP_DTYPE_I32, n, 1, pos), *fq = tnew(DP_DTYPE_F32, rot / 2, 1, invf);
        if (!x || !ps || !fq) return false;
        cpu->i->rope(cpu, &x->c, &ps->c, &fq->c, n, &ra);
        gpu->i->rope(gpu, &x->g, &ps->g, &fq->g, n, &ra);
        snprintf(cur.name, sizeof cur.name, "%s n=%d heads=%d hd=%d rot=%d %s mscale=%.2f pos0=%d",
                 kn, n, nh, hd, rot, ra.interleaved ? "interleaved" : "neox", (double)ra.mscale, p0);
        add_check(x, (int64_t)n * nh * hd, 2e-5f);
        return true;
    }
    case K_GET_ROWS: {
        dp_dtype dt = wtypes[tc.variant];
        int bs = block_of(dt);
        int d = bs == 1 ? rnd_int(1, 700) : bs * rnd_int(1, 5);
        int rows = rnd_int(1, 40), n = rnd_int(1, 7);
        float *deq;
        void *w = make_weights(dt, d, rows, &deq);
        int32_t ids[8];
        for (int r = 0; r < n; r++) ids[r] = rnd_int(0, rows - 1);
        float scale = tc.variant % 2 ? 1.0f : rnd_f(0.5f, 3.0f);
        pair *tb = tnew(dt, d, rows, w), *id = tnew(DP_DTYPE_I32, n, 1, ids);
        pair *o = tnew(DP_DTYPE_F32, d, n, NULL);
        dp_free(w);
        dp_free(deq);
        if (!tb || !id || !o) return false;
        cpu->i->get_rows(cpu, &o->c, &tb->c, &id->c, n, scale);
        gpu->i->get_rows(gpu, &o->g, &tb->g, &id->g, n, scale);
        snprintf(cur.name, sizeof cur.name, "%s %s d=%d rows=%d n=%d scale=%.3f", kn,
                 dp_dtype_name(dt), d, rows, n, (double)scale);
        add_check(o, (int64_t)n * d, 1e-6f);
        return true;
    }
    case K_MATMUL: {
        dp_dtype dt = wtypes[tc.variant / 3];
        int v = tc.variant % 3;
        int bs = block_of(dt);
        int k = bs == 1 ? rnd_int(1, 600) : bs * rnd_int(1, 4);
        int m = rnd_int(1, 300);
        int n = v == 0 ? 1 : v == 1 ? rnd_int(2, 8) : rnd_int(9, 80);
        bool acc = v != 0;
        float *deq;
        void *w = make_weights(dt, k, m, &deq);
        pair *wt = tnew(dt, k, m, w), *x = tnew_rand(k, n, -1, 1), *o = tnew_rand(m, n, -1, 1);
        dp_free(w);
        if (!wt || !x || !o) {
            dp_free(deq);
            return false;
        }
        /* exact reference from the same starting out */
        float *ref = dp_malloc((size_t)n * m * 4);
        memcpy(ref, o->c.data, (size_t)n * m * 4);
        dp_cpu_matmul_ref(ref, x->c.data, wt->c.data, dt, n, k, m, acc);
        dp_free(deq);
        cpu->i->matmul(cpu, &o->c, &x->c, &wt->c, n, acc);
        gpu->i->matmul(gpu, &o->g, &x->g, &wt->g, n, acc);
        snprintf(cur.name, sizeof cur.name, "%s %s n=%d k=%d m=%d acc=%d", kn, dp_dtype_name(dt),
                 n, k, m, acc);
        add_check(o, (int64_t)n * m, 1e-5f);
        cur.out[0].ref2 = ref;
        cur.out[0].tol2 = dp_dtype_is_quant(dt) ? 3e-2f : 1e-5f; /* quantized: 8-bit x */
        return true;
    }
    case K_LORA: { /* out[n,m] += s (x A^T) B^T over a prefilled out, against double precision */
        /* v 3: the one-dispatch kernel's limits (n <= 4, rank <= 64) over several workgroups of rows */
        int v = tc.variant % 4;
        int k = rnd_int(1, v == 3 ? 64 : 600), m = v == 3 ? rnd_int(1025, 2600) : rnd_int(1, 300);
        int r = v == 3 ? rnd_int(33, 64) : rnd_int(1, 32);
        int n = v == 0 ? 1 : v == 1 ? rnd_int(2, 8) : v == 2 ? rnd_int(9, 80) : rnd_int(1, 4);
        float s = rnd_f(-3, 3);
        pair *a = tnew_rand(k, r, -1, 1), *bw = tnew_rand(r, m, -1, 1), *x = tnew_rand(k, n, -1, 1);
        pair *o = tnew_rand(m, n, -1, 1), *tmp = tnew(DP_DTYPE_F32, r, n + rnd_int(0, 3), NULL);
        if (!a || !bw || !x || !o || !tmp) return false;
        float *ref = dp_malloc((size_t)n * m * 4);
        const float *xa = x->c.data, *aa = a->c.data, *ba = bw->c.data, *oa = o->c.data;
        for (int row = 0; row < n; row++)
            for (int j = 0; j < m; j++) {
                double acc = 0;
                for (int q = 0; q < r; q++) {
                    double t = 0;
                    for (int c = 0; c < k; c++) t += (double)xa[(size_t)row * k + c] * aa[(size_t)q * k + c];
                    acc += t * s * ba[(size_t)j * r + q];
                }
                ref[(size_t)row * m + j] = (float)(oa[(size_t)row * m + j] + acc);
            }
        cpu->i->lora(cpu, &o->c, &x->c, &a->c, &bw->c, &tmp->c, n, s);
        gpu->i->lora(gpu, &o->g, &x->g, &a->g, &bw->g, &tmp->g, n, s);
        snprintf(cur.name, sizeof cur.name, "%s n=%d k=%d rank=%d m=%d scale=%.2f", kn, n, k, r, m, (double)s);
        add_check(o, (int64_t)n * m, 1e-5f);
        cur.out[0].ref2 = ref;
        cur.out[0].tol2 = 1e-5f;
        return true;
    }
    case K_LORA_LIN: {
        /* backend.h's lora_linear, which the WebGPU backend records as lora:xa and one _lora
           product (wg_lora.c): v % 4: 0 norm + q/k/v all adapted, 1 norm + gate/up + glu, 2 no
           norm, one accumulating product (o, down), 3 norm + q/k/v with k not adapted and v of
           another weight type (Q4_K_M's mix: one product dispatch per type); v / 4 % 4 the type; v >= 16: prefill-sized n (the op sequence). Ranks 1..20 (wider than
           the products' lanes per row in some). */
        static const dp_dtype lt[4] = {DP_DTYPE_F32, DP_DTYPE_Q4_K, DP_DTYPE_Q8_0, DP_DTYPE_Q6_K};
        static const dp_dtype lt2[4] = {DP_DTYPE_F16, DP_DTYPE_Q6_K, DP_DTYPE_Q4_0, DP_DTYPE_Q4_K};
        int v = tc.variant, kind = v % 4, count = kind == 1 ? 2 : kind == 2 ? 1 : 3;
        dp_dtype dt = lt[(v / 4) % 4], dt2 = kind == 3 ? lt2[(v / 4) % 4] : dt; /* v's type */
        bool big = v >= 16, p1 = v % 2 == 1;
        int bs = block_of(dt), d = bs == 1 ? rnd_int(1, 300) : bs * rnd_int(1, 2); /* dt2: the same block */
        int n = big ? rnd_int(9, 12) : rnd_int(1, 4), r = rnd_int(1, 20);
        int ms[3] = {rnd_int(1, 200), rnd_int(1, 200), rnd_int(1, 200)};
        if (kind == 1) ms[1] = ms[0];
        bool adapted[3] = {true, kind != 3, true};
        float s = rnd_f(-3, 3);
        dp_act act = v % 8 < 4 ? DP_ACT_SILU : DP_ACT_GELU_TANH;
        pair *x = tnew_rand(d, n, -2, 2), *nw = tnew_rand(d, 1, -1, 1), *h = tnew(DP_DTYPE_F32, d, n, NULL);
        pair *tmp = tnew(DP_DTYPE_F32, 3 * r, n, NULL), *W[3] = {NULL, NULL, NULL}, *o[3] = {NULL, NULL, NULL};
        uint64_t bytes = 0;
        for (int t = 0; t < count; t++) {
            float *deq;
            void *wd = make_weights(t == 2 ? dt2 : dt, d, ms[t], &deq);
            dp_free(deq);
            W[t] = tnew(t == 2 ? dt2 : dt, d, ms[t], wd);
            dp_free(wd);
            o[t] = tnew_rand(ms[t], n, -1, 1); /* kind 2 accumulates into it */
            if (!W[t] || !o[t]) return false;
            if (adapted[t]) bytes += up256((uint64_t)r * d * 4u) + up256((uint64_t)ms[t] * r * 4u);
        }
        pair *pool = tnew(DP_DTYPE_F32, (int64_t)(bytes / 4u), 1, NULL);
        if (!x || !nw || !h || !tmp || !pool) return false;
        dp_tensor A[2][3], Bm[2][3];
        uint64_t off = 0;
        for (int t = 0; t < count; t++) {
            if (!adapted[t]) continue;
            float *av = dp_malloc((size_t)r * d * 4u), *bv = dp_malloc((size_t)ms[t] * r * 4u);
            fill(av, (int64_t)r * d, -1, 1);
            fill(bv, (int64_t)ms[t] * r, -1, 1);
            bool ok = true;
            for (int bi = 0; bi < 2; bi++)
                ok = ok && tview(pool, bi, off, d, r, av, &A[bi][t]) &&
                     tview(pool, bi, off + up256((uint64_t)r * d * 4u), r, ms[t], bv, &Bm[bi][t]);
            off += up256((uint64_t)r * d * 4u) + up256((uint64_t)ms[t] * r * 4u);
            dp_free(av);
            dp_free(bv);
            if (!ok) return false;
        }
        uint64_t disp = 0;
        for (int bi = 0; bi < 2; bi++) {
            bool g = bi == 1;
            dp_tensor *outs[3];
            const dp_tensor *ws[3];
            for (int t = 0; t < count; t++) {
                outs[t] = g ? &o[t]->g : &o[t]->c;
                ws[t] = g ? &W[t]->g : &W[t]->c;
            }
            dp_lora_linear la = {g ? &h->g : &h->c, g ? &x->g : &x->c, kind == 2 ? NULL : (g ? &nw->g : &nw->c),
                                 n, d, 1e-5f, p1, outs, ws, count, kind == 2, kind == 1 ? &act : NULL,
                                 {NULL, NULL, NULL}, {NULL, NULL, NULL}, g ? &tmp->g : &tmp->c, s};
            for (int t = 0; t < count; t++)
                if (adapted[t]) {
                    la.a[t] = &A[bi][t];
                    la.b[t] = &Bm[bi][t];
                }
            dp_webgpu_stats s0, s1;
            dp_backend_webgpu_stats(gpu, &s0);
            dp_fused_lora_linear(g ? gpu : cpu, &la);
            dp_backend_webgpu_stats(gpu, &s1);
            if (g) disp = s1.dispatches - s0.dispatches;
        }
        snprintf(cur.name, sizeof cur.name, "%s %s%s %s%s%s n=%d d=%d m=%d/%d/%d rank=%d %llu dispatches", kn,
                 kind == 2 ? "" : p1 ? "norm(1+w) + " : "norm + ",
                 kind == 0 ? "q/k/v" : kind == 1 ? "gate/up/glu" : kind == 2 ? "matmul acc" : "q/v (k bare)",
                 dp_dtype_name(dt), kind == 3 ? "+" : "", kind == 3 ? dp_dtype_name(dt2) : "", n, d, ms[0],
                 count > 1 ? ms[1] : 0, count > 2 ? ms[2] : 0, r, (unsigned long long)disp);
        /* the decode form: rms_norm:lora_xa, then per weight type [x through 8-bit blocks,] the
           products; the op sequence would be a norm, the products and three dispatches per
           adapted product */
        const uint64_t most = kind == 3 ? 5 : 3;
        if (!big && disp > most)
            snprintf(cur.err, sizeof cur.err, "%llu dispatches: the fused form was not taken", (unsigned long long)disp);
        /* vs the CPU's 8-bit x: with act_quant=0 the GPU's quantized products take f32 x (the
           act_quant=1 run holds the tight bound) */
        float tol = dp_dtype_is_quant(dt) || dp_dtype_is_quant(dt2) ? (actq ? 1e-3f : 3e-2f) : 2e-5f;
        if (kind != 2) add_check(h, (int64_t)n * d, 4e-6f);
        for (int t = 0; t < count; t++) add_check(o[t], (int64_t)n * ms[t], tol);
        return true;
    }
    case K_ATTN: {
        /* v: 0-2 decode (n = 1) over long ranges, 3-5 prefill, 6 window, 7 softcap,
           8 window + softcap prefill, 9 out aliases q;
           10-21 model-like decode (n = 1, or 2..8 for v % 4 == 3) over long contexts:
           head_dim 64/128/256 (512 for v == 21), GQA ratio 1/4/8 (16 for v == 20: two chunks),
           a window for v % 3 == 1, softcap for v % 5 == 2, a 1-key context for v == 19;
           22-23 prefill of many rows (one slice per row: partial writes out), 23 with a window
           and out aliasing q;
           24-29 decode (n = 1, 2 for v == 28) with the o product after it (w_next): with 8-bit
           products, combine_q writes the product's input blocks with out (no act_pack): q4_K
           over head_dim 64 / 256 / 16, q6_K over 128, q8_0 over 96 / 64 */
        int v = tc.variant;
        if (v >= 24) {
            static const int hds[6] = {64, 128, 256, 96, 64, 16}, groups[6] = {4, 2, 1, 2, 3, 16};
            static const dp_dtype wts[6] = {DP_DTYPE_Q4_K, DP_DTYPE_Q6_K, DP_DTYPE_Q4_K,
                                            DP_DTYPE_Q8_0, DP_DTYPE_Q8_0, DP_DTYPE_Q4_K};
            const int t = v - 24, hd = hds[t], nkv = rnd_int(1, 2), nh = nkv * groups[t], n = v == 28 ? 2 : 1;
            const int pos0 = rnd_int(0, 300), ctx = pos0 + n, m = rnd_int(1, 300);
            dp_attn_args aa = {nh, nkv, hd, pos0, n, 0, 1.0f / sqrtf((float)hd), 0.0f, NULL};
            pair *q = tnew_rand((int64_t)nh * hd, n, -2, 2), *o = tnew(DP_DTYPE_F32, (int64_t)nh * hd, n, NULL);
            pair *kc = tnew_rand((int64_t)nkv * hd, ctx, -2, 2), *vc = tnew_rand((int64_t)nkv * hd, ctx, -2, 2);
            float *deq;
            void *wd = make_weights(wts[t], nh * hd, m, &deq);
            dp_free(deq);
            pair *w = tnew(wts[t], nh * hd, m, wd), *y = tnew(DP_DTYPE_F32, m, n, NULL);
            dp_free(wd);
            if (!q || !o || !kc || !vc || !w || !y) return false;
            dp_webgpu_stats s0, s1;
            dp_backend_webgpu_stats(gpu, &s0);
            for (int bi = 0; bi < 2; bi++) {
                dp_backend *B = bi ? gpu : cpu;
                bool g = bi == 1;
                aa.w_next = g ? &w->g : &w->c;
                B->i->attention(B, g ? &o->g : &o->c, g ? &q->g : &q->c, g ? &kc->g : &kc->c, g ? &vc->g : &vc->c, &aa);
                B->i->matmul(B, g ? &y->g : &y->c, g ? &o->g : &o->c, g ? &w->g : &w->c, n, false);
            }
            dp_backend_webgpu_stats(gpu, &s1);
            snprintf(cur.name, sizeof cur.name, "%s + o %s heads=%d/%d hd=%d n=%d pos0=%d m=%d %llu dispatches", kn,
                     dp_dtype_name(wts[t]), nh, nkv, hd, n, pos0, m, (unsigned long long)(s1.dispatches - s0.dispatches));
            /* partial, combine[_q], the product: an act_pack between them is what combine_q saves */
            if (s1.dispatches - s0.dispatches > 3)
                snprintf(cur.err, sizeof cur.err, "%llu dispatches: want at most 3 (no act_pack)",
                         (unsigned long long)(s1.dispatches - s0.dispatches));
            add_check(o, (int64_t)n * nh * hd, 2e-5f);
            add_check(y, (int64_t)n * m, actq ? 1e-3f : 3e-2f); /* vs the CPU's 8-bit x */
            return true;
        }
        int nkv = rnd_int(1, 3), group = rnd_int(1, 3), nh = nkv * group;
        int hd = v == 1 ? 256 : v == 2 ? rnd_int(1, 40) : 8 * rnd_int(1, 20);
        int n = v <= 2 ? 1 : rnd_int(2, 40);
        int pos0 = v <= 2 ? rnd_int(100, 3000) : rnd_int(0, 200);
        int window = v == 6 || v == 8 ? rnd_int(1, 100) : 0;
        float softcap = v == 7 || v == 8 ? rnd_f(5, 50) : 0.0f;
        if (v >= 10) {
            static const int hds[3] = {64, 128, 256}, groups[3] = {1, 4, 8};
            hd = v == 21 ? 512 : hds[v % 3];
            group = v == 20 ? 16 : groups[(v / 3) % 3];
            nkv = rnd_int(1, 2);
            nh = nkv * group;
            n = v % 4 == 3 ? rnd_int(2, 8) : 1;
            pos0 = v == 19 ? 0 : rnd_int(500, 9000);
            window = v % 3 == 1 ? rnd_int(100, 4096) : 0;
            softcap = v % 5 == 2 ? rnd_f(5, 50) : 0.0f;
        }
        if (v >= 22) {
            n = rnd_int(180, 250);   /* n * n_kv_head >= 512 workgroups, <= 256 keys: one slice */
            nkv = 3;
            nh = nkv * group;
            pos0 = rnd_int(0, 6);
            window = v == 23 ? rnd_int(20, 200) : 0;
        }
        int ctx = pos0 + n + rnd_int(0, 20);
        dp_attn_args aa = {nh, nkv, hd, pos0, n, window, 1.0f / sqrtf((float)hd), softcap, NULL};
        if (v == 7) aa.scale = 1.0f;
        pair *q = tnew_rand((int64_t)nh * hd, n, -2, 2);
        pair *kc = tnew_rand((int64_t)nkv * hd, ctx, -2, 2), *vc = tnew_rand((int64_t)nkv * hd, ctx, -2, 2);
        pair *o = v == 9 || v == 23 ? q : tnew(DP_DTYPE_F32, (int64_t)nh * hd, n, NULL);
        if (!q || !kc || !vc || !o) return false;
        cpu->i->attention(cpu, &o->c, &q->c, &kc->c, &vc->c, &aa);
        gpu->i->attention(gpu, &o->g, &q->g, &kc->g, &vc->g, &aa);
        snprintf(cur.name, sizeof cur.name, "%s heads=%d/%d hd=%d n=%d pos0=%d window=%d softcap=%.1f%s", kn,
                 nh, nkv, hd, n, pos0, window, (double)softcap, v == 9 || v == 23 ? " out=q" : "");
        add_check(o, (int64_t)n * nh * hd, 2e-5f);
        return true;
    }
    case K_SAMPLE: {
        /* v % 5: greedy, temperature, top-k, top-p, top-k + top-p; v / 5 picks the vocab size */
        int v = tc.variant;
        int vocab = v / 5 == 0 ? rnd_int(1, 300) : v / 5 == 1 ? rnd_int(1000, 5000) : rnd_int(30000, 70000);
        int rows = rnd_int(1, 3), row = rnd_int(0, rows - 1);
        float *l = dp_malloc((size_t)vocab * rows * 4);
        fill(l, (int64_t)vocab * rows, -5, 5);
        for (int t = 0; t < vocab / 50; t++) l[(int64_t)row * vocab + rnd_int(0, vocab - 1)] = 3.0f; /* ties */
        if (vocab > 10) l[(int64_t)row * vocab + 3] = NAN;
        dp_sample_args sa = {0.0f, 0, 1.0f, rnd_f(0, 1)};
        switch (v % 5) {
        case 0: break;
        case 1: sa.temperature = rnd_f(0.3f, 1.5f); break;
        case 2: sa.temperature = rnd_f(0.3f, 1.5f); sa.top_k = rnd_int(2, 60); break;
        case 3: sa.temperature = rnd_f(0.3f, 1.5f); sa.top_p = rnd_f(0.5f, 0.97f); break;
        case 4: sa.temperature = rnd_f(0.3f, 1.5f); sa.top_k = rnd_int(2, 300); sa.top_p = rnd_f(0.3f, 0.95f); break;
        }
        pair *lg = tnew(DP_DTYPE_F32, vocab, rows, l), *o = tnew(DP_DTYPE_I32, 1, 1, NULL);
        dp_free(l);
        if (!lg || !o) return false;
        cpu->i->sample(cpu, &o->c, &lg->c, row, vocab, &sa);
        gpu->i->sample(gpu, &o->g, &lg->g, row, vocab, &sa);
        snprintf(cur.name, sizeof cur.name, "%s vocab=%d T=%.2f top_k=%d top_p=%.2f r=%.3f", kn, vocab,
                 (double)sa.temperature, sa.top_k, (double)sa.top_p, (double)sa.rand01);
        add_check(o, 1, 0.0f);
        cur.out[0].ints = true;
        return true;
    }
    case K_VERIFY: {
        /* a speculative step's verdict. v even: greedy verify, proposals agreeing with the rows'
           arg maxes for a random prefix (ties in some rows); v odd: verify_sample, (v / 2) % 4:
           temperature with a draft close to the target over the whole vocabulary, top-k with a
           smaller draft vocabulary, top-p with prompt lookup (q one-hot), top-k + top-p with an
           unrelated draft; proposals drawn from the draft rows (lookup: the target's arg max or
           any id). v / 8 picks the vocab size. */
        int v = tc.variant, m = (v / 2) % 4;
        bool sampled = v % 2;
        int vocab = v / 8 == 0 ? rnd_int(2, 400) : v / 8 == 1 ? rnd_int(1000, 5000) : rnd_int(30000, 70000);
        int k = rnd_int(0, 6), agree = rnd_int(0, k);
        int dv = !sampled || m == 2 ? 0 : m == 1 ? rnd_int(1, vocab) : vocab;
        int64_t rows = 2 * (int64_t)k + 1;
        float *l = dp_malloc((size_t)(vocab * rows) * 4), *pw = dp_malloc((size_t)vocab * 4);
        dp_sample_cand *cd = dp_malloc((size_t)vocab * sizeof *cd);
        int32_t ids[8], init[9];
        float rn[8];
        fill(l, vocab * rows, -4, 4);
        dp_sample_args sa = {rnd_f(0.3f, 1.5f), 0, 1.0f, 0};
        if (m == 1 || m == 3) sa.top_k = rnd_int(2, 60);
        if (m == 2 || m == 3) sa.top_p = rnd_f(0.4f, 0.97f);
        for (int r = 0; r <= k; r++) {
            float *tr = l + (int64_t)r * vocab;
            if (!sampled && r % 2)
                for (int t = 0; t < 3; t++) tr[rnd_int(0, vocab - 1)] = 4.5f; /* ties */
            if (r == k) break;
            float *dr = tr + ((int64_t)k + 1) * vocab;
            if (sampled && m != 3)
                for (int j = 0; j < dv; j++) dr[j] = tr[j] + rnd_f(-0.3f, 0.3f);
            if (sampled && dv) { /* a draw from the draft's distribution */
                double sum = dp_sample_weights(dr, dv, &sa, pw, cd);
                ids[1 + r] = dp_sample_pick(pw, dv, sum, rnd_f(0, 1));
            } else {
                ids[1 + r] = r < agree || (sampled && rnd() % 2) ? dp_sample_argmax(tr, vocab) : rnd_int(0, vocab - 1);
            }
        }
        ids[0] = rnd_int(0, vocab - 1);
        for (int r = 0; r <= k; r++) rn[r] = rnd_f(0, 1);
        for (int r = 0; r < 9; r++) init[r] = -7; /* entries past the verdict stay -7 on both */
        pair *lg = tnew(DP_DTYPE_F32, vocab, rows, l), *ip = tnew(DP_DTYPE_I32, k + 1, 1, ids),
             *rp = tnew(DP_DTYPE_F32, k + 1, 1, rn), *o = tnew(DP_DTYPE_I32, k + 2, 1, init);
        dp_free(l);
        dp_free(pw);
        dp_free(cd);
        if (!lg || !ip || !rp || !o) return false;
        if (sampled) {
            /* the GPU's walks sum the weights in another order than the CPU's, so a draw may
               differ where a random number sits within rounding of a boundary of the running
               sum: take numbers whose CPU verdict is the same at r * (1 -+ 1e-5) */
            for (int tries = 0; tries < 20; tries++) {
                int32_t got[3][9];
                for (int e = 0; e < 3; e++) {
                    float rs[8];
                    for (int r = 0; r <= k; r++) rs[r] = rn[r] * (e == 0 ? 1.0f : e == 1 ? 1.0f - 1e-5f : 1.0f + 1e-5f);
                    memcpy(rp->c.data, rs, (size_t)(k + 1) * 4);
                    memcpy(o->c.data, init, (size_t)(k + 2) * 4);
                    cpu->i->verify_sample(cpu, &o->c, &lg->c, &ip->c, &rp->c, k, vocab, dv, &sa);
                    memcpy(got[e], o->c.data, (size_t)(k + 2) * 4);
                }
                memcpy(rp->c.data, rn, (size_t)(k + 1) * 4);
                if (!memcmp(got[0], got[1], (size_t)(k + 2) * 4) && !memcmp(got[0], got[2], (size_t)(k + 2) * 4)) break;
                for (int r = 0; r <= k; r++) rn[r] = rnd_f(0, 1);
            }
            memcpy(rp->c.data, rn, (size_t)(k + 1) * 4);
            memcpy(o->c.data, init, (size_t)(k + 2) * 4);
            dp_error e;
            if (gpu->i->tensor_set(gpu, &rp->g, 0, rn, (uint64_t)(k + 1) * 4, &e)) {
                snprintf(cur.err, sizeof cur.err, "set: %s", e.msg);
                return true;
            }
            cpu->i->verify_sample(cpu, &o->c, &lg->c, &ip->c, &rp->c, k, vocab, dv, &sa);
            gpu->i->verify_sample(gpu, &o->g, &lg->g, &ip->g, &rp->g, k, vocab, dv, &sa);
        } else {
            cpu->i->verify(cpu, &o->c, &lg->c, &ip->c, k, vocab);
            gpu->i->verify(gpu, &o->g, &lg->g, &ip->g, k, vocab);
        }
        const int32_t kept = ((int32_t *)o->c.data)[0];
        if (sampled)
            snprintf(cur.name, sizeof cur.name, "%s_sample vocab=%d k=%d d_vocab=%d T=%.2f top_k=%d top_p=%.2f -> %d rows",
                     kn, vocab, k, dv, (double)sa.temperature, sa.top_k, (double)sa.top_p, kept);
        else
            snprintf(cur.name, sizeof cur.name, "%s vocab=%d k=%d agreeing=%d -> %d rows", kn, vocab, k, agree, kept);
        add_check(o, k + 2, 0.0f);
        cur.out[0].ints = true;
        return true;
    }
    case K_MOE: {
        /* v: weight type f32 / q4_k / q8_0, activation by parity; v == 5: out aliases x */
        int v = tc.variant;
        dp_dtype dt = v < 2 ? DP_DTYPE_F32 : v < 4 ? DP_DTYPE_Q4_K : DP_DTYPE_Q8_0;
        dp_act act = v % 2 ? DP_ACT_GELU_TANH : DP_ACT_SILU;
        int bs = block_of(dt);
        int d = bs == 1 ? rnd_int(1, 100) : bs * rnd_int(1, 2), f = bs == 1 ? rnd_int(1, 120) : bs;
        int ne = rnd_int(2, 8), k = rnd_int(1, ne < 4 ? ne : 4), n = rnd_int(1, 6);
        dp_tensor gc[8], uc[8], dc[8], gg[8], ug[8], dg[8];
        float *gd[8], *ud[8], *dd[8];
        for (int e = 0; e < ne; e++) {
            void *w;
            pair *t;
            w = make_weights(dt, d, f, &gd[e]);
            t = tnew(dt, d, f, w);
            dp_free(w);
            if (!t) return false;
            gc[e] = t->c; gg[e] = t->g;
            w = make_weights(dt, d, f, &ud[e]);
            t = tnew(dt, d, f, w);
            dp_free(w);
            if (!t) return false;
            uc[e] = t->c; ug[e] = t->g;
            w = make_weights(dt, f, d, &dd[e]);
            t = tnew(dt, f, d, w);
            dp_free(w);
            if (!t) return false;
            dc[e] = t->c; dg[e] = t->g;
        }
        pair *x = tnew_rand(d, n, -1, 1), *lg = tnew_rand(ne, n, -3, 3);
        pair *o = v == 5 ? x : tnew(DP_DTYPE_F32, d, n, NULL);
        if (!x || !lg || !o) return false;
        float *ref = dp_malloc((size_t)n * d * 4);
        moe_ref(ref, x->c.data, lg->c.data, gd, ud, dd, n, d, f, ne, k, act);
        for (int e = 0; e < ne; e++) {
            dp_free(gd[e]);
            dp_free(ud[e]);
            dp_free(dd[e]);
        }
        cpu->i->moe(cpu, &o->c, &x->c, &lg->c, gc, uc, dc, NULL, n, ne, k, act);
        gpu->i->moe(gpu, &o->g, &x->g, &lg->g, gg, ug, dg, NULL, n, ne, k, act);
        snprintf(cur.name, sizeof cur.name, "%s %s %s n=%d d=%d f=%d experts=%d k=%d%s", kn,
                 dp_dtype_name(dt), act == DP_ACT_SILU ? "silu" : "gelu_tanh", n, d, f, ne, k,
                 v == 5 ? " out=x" : "");
        add_check(o, (int64_t)n * d, 2e-5f);
        cur.out[0].ref2 = ref;
        cur.out[0].tol2 = dp_dtype_is_quant(dt) ? 3e-2f : 1e-5f; /* quantized: 8-bit x */
        return true;
    }
    case K_VIEW: {
        /* an input that is a view at an offset that is not a multiple of 256 (the forward
           pass's last row): rms_norm (v 0) or matmul (v 1) of row n-1 of x */
        int n = rnd_int(2, 5), d = 4 * rnd_int(1, 100) + 1;
        pair *x = tnew_rand(d, n, -2, 2), *w = tnew_rand(d, tc.variant ? 37 : 1, -1, 1);
        pair *o = tnew(DP_DTYPE_F32, tc.variant ? 37 : d, 1, NULL);
        if (!x || !w || !o) return false;
        dp_tensor vc = x->c, vg = x->g;
        vc.data = (float *)x->c.data + (size_t)(n - 1) * d;
        vc.offset += (uint64_t)(n - 1) * d * 4;
        vg.offset += (uint64_t)(n - 1) * d * 4;
        if (tc.variant == 0) {
            cpu->i->rms_norm(cpu, &o->c, &vc, &w->c, 1, d, 1e-5f, false);
            gpu->i->rms_norm(gpu, &o->g, &vg, &w->g, 1, d, 1e-5f, false);
        } else {
            cpu->i->matmul(cpu, &o->c, &vc, &w->c, 1, false);
            gpu->i->matmul(gpu, &o->g, &vg, &w->g, 1, false);
        }
        snprintf(cur.name, sizeof cur.name, "%s %s of row %d (offset %d bytes)", kn,
                 tc.variant ? "matmul" : "rms_norm", n - 1, (n - 1) * d * 4);
        add_check(o, tc.variant ? 37 : d, 1e-5f);
        return true;
    }
    case K_FUSE: {
        /* backend.h's norm_matmul, which the WebGPU backend records as one dispatch (wg_fuse.c):
           v % 4: 0 norm + matmul, 1 norm + 2 matmuls, 2 norm + gate + up + glu, 3 norm + 2
           matmuls of different weight types (not fused together); v / 4 picks the type */
        static const dp_dtype ft[3] = {DP_DTYPE_F32, DP_DTYPE_Q4_K, DP_DTYPE_Q8_0};
        int v = tc.variant, kind = v % 4;
        dp_dtype dt = ft[v / 4], dt2 = kind == 3 ? (dt == DP_DTYPE_Q4_K ? DP_DTYPE_Q6_K : DP_DTYPE_Q4_K) : dt;
        int bs = dt2 == DP_DTYPE_Q8_0 && dt == DP_DTYPE_Q8_0 ? 32 : (block_of(dt) > block_of(dt2) ? block_of(dt) : block_of(dt2));
        int d = bs == 1 ? rnd_int(1, 300) : bs * rnd_int(1, 3);
        int n = rnd_int(1, 4), m1 = rnd_int(1, 200), m2 = kind == 2 ? m1 : rnd_int(1, 200);
        bool p1 = v % 2 == 1;
        bool keep_h = kind == 1; /* else the norm may be folded into the products (h not written) */
        dp_act act = v / 4 == 1 ? DP_ACT_GELU_TANH : DP_ACT_SILU;
        float *deq;
        void *w1 = make_weights(dt, d, m1, &deq);
        dp_free(deq);
        void *w2 = make_weights(dt2, d, m2, &deq);
        dp_free(deq);
        pair *x = tnew_rand(d, n, -2, 2), *nw = tnew_rand(d, 1, -1, 1), *h = tnew(DP_DTYPE_F32, d, n, NULL);
        pair *W1 = tnew(dt, d, m1, w1), *W2 = tnew(dt2, d, m2, w2);
        pair *o1 = tnew(DP_DTYPE_F32, m1, n, NULL), *o2 = tnew(DP_DTYPE_F32, m2, n, NULL);
        dp_free(w1);
        dp_free(w2);
        if (!x || !nw || !h || !W1 || !W2 || !o1 || !o2) return false;
        dp_backend *bk[2] = {cpu, gpu};
        for (int bi = 0; bi < 2; bi++) {
            dp_backend *B = bk[bi];
            bool g = bi == 1;
            dp_tensor *outs[2] = {g ? &o1->g : &o1->c, g ? &o2->g : &o2->c};
            const dp_tensor *ws[2] = {g ? &W1->g : &W1->c, g ? &W2->g : &W2->c};
            dp_fused_norm_matmul(B, g ? &h->g : &h->c, g ? &x->g : &x->c, g ? &nw->g : &nw->c, n, d, 1e-5f, p1,
                                 outs, ws, kind >= 1 ? 2 : 1, kind == 2 ? &act : NULL, keep_h);
        }
        snprintf(cur.name, sizeof cur.name, "%s norm%s + %s%s n=%d d=%d m=%d/%d", kn, p1 ? "(1+w)" : "",
                 kind == 0 ? "matmul" : kind == 2 ? "gate/up/glu" : "2 matmuls", "", n, d, m1, m2);
        snprintf(cur.name + strlen(cur.name), sizeof cur.name - strlen(cur.name), " %s%s%s",
                 dp_dtype_name(dt), kind == 3 ? "+" : "", kind == 3 ? dp_dtype_name(dt2) : "");
        /* against the CPU: the normalised x may differ in the last bit (summation order), which
           can move a value across an 8-bit rounding boundary: a loose bound for quantized types */
        float tol = dp_dtype_is_quant(dt) || dp_dtype_is_quant(dt2) ? 1e-3f : 2e-5f;
        if (keep_h) add_check(h, (int64_t)n * d, 4e-6f);
        const int oi = cur.nout;
        add_check(o1, (int64_t)n * m1, tol);
        if (kind >= 1) add_check(o2, (int64_t)n * m2, tol);
        /* exact references from the CPU's normalised x */
        float *r1 = dp_malloc((size_t)n * m1 * 4), *r2 = dp_malloc((size_t)n * m2 * 4);
        dp_cpu_matmul_ref(r1, h->c.data, W1->c.data, dt, n, d, m1, false);
        dp_cpu_matmul_ref(r2, h->c.data, W2->c.data, dt2, n, d, m2, false);
        if (kind == 2)
            for (int t = 0; t < n * m1; t++) r1[t] = (float)(act_d(r1[t], act) * r2[t]);
        cur.out[oi].ref2 = r1;
        cur.out[oi].tol2 = dp_dtype_is_quant(dt) ? 3e-2f : 1e-5f;
        if (kind >= 1) {
            cur.out[oi + 1].ref2 = r2;
            cur.out[oi + 1].tol2 = dp_dtype_is_quant(kind == 2 ? dt : dt2) || (kind == 2 && dp_dtype_is_quant(dt2)) ? 3e-2f : 1e-5f;
        } else {
            dp_free(r2);
        }
        return true;
    }
    case K_FUSE2: {
        /* v / 2: 0 norm_add (sandwich norm + residual add), 1 q/k norms + ropes (ops), 2 the two
           cache copies (ops), 3 q/k ropes without norms (ops), 4 norm_matmul of q/k/v (the
           norm, then one dispatch for the three products), 5 rope_qk_kv: [q/k norms,] ropes and
           the KV cache copies (one dispatch where the device allows), 6 norm_qkv_rope (below), 7
           norm_add then the folded norm of the y it wrote (below), 8 norm_add computing the norm
           after it (v 16-19, below); v % 2 varies (plus_one / interleaved / offsets / type / norms) */
        int v = tc.variant, kind = v < 16 ? v / 2 : 8;
        dp_backend *bk[2] = {cpu, gpu};
        if (kind == 0) {
            int n = rnd_int(1, 12), d = rnd_int(1, 1500);
            pair *h = tnew_rand(d, n, -2, 2), *w = tnew_rand(d, 1, -1, 1), *y = tnew_rand(d, n, -1, 1);
            if (!h || !w || !y) return false;
            for (int bi = 0; bi < 2; bi++) {
                dp_backend *B = bk[bi];
                bool g = bi == 1;
                dp_fused_norm_add(B, g ? &y->g : &y->c, g ? &h->g : &h->c, g ? &w->g : &w->c, n, d, 1e-6f, v % 2, NULL);
            }
            snprintf(cur.name, sizeof cur.name, "%s norm(h)%s + add(y += h) n=%d d=%d", kn, v % 2 ? "(1+w)" : "", n, d);
            add_check(h, (int64_t)n * d, 4e-6f);
            add_check(y, (int64_t)n * d, 4e-6f);
        } else if (kind == 4) {
            dp_dtype dt = v % 2 ? DP_DTYPE_Q4_K : DP_DTYPE_F32;
            int n = rnd_int(1, 3), d = v % 2 ? 256 * rnd_int(1, 2) : rnd_int(1, 300);
            int ms[3] = {rnd_int(1, 150), rnd_int(1, 150), rnd_int(1, 150)};
            pair *x = tnew_rand(d, n, -2, 2), *nw = tnew_rand(d, 1, -1, 1), *h = tnew(DP_DTYPE_F32, d, n, NULL);
            pair *W[3], *o[3];
            for (int t = 0; t < 3; t++) {
                float *deq;
                void *wd = make_weights(dt, d, ms[t], &deq);
                dp_free(deq);
                W[t] = tnew(dt, d, ms[t], wd);
                dp_free(wd);
                o[t] = tnew(DP_DTYPE_F32, ms[t], n, NULL);
                if (!W[t] || !o[t]) return false;
            }
            if (!x || !nw || !h) return false;
            for (int bi = 0; bi < 2; bi++) {
                dp_backend *B = bk[bi];
                bool g = bi == 1;
                dp_tensor *outs[3];
                const dp_tensor *ws[3];
                for (int t = 0; t < 3; t++) {
                    outs[t] = g ? &o[t]->g : &o[t]->c;
                    ws[t] = g ? &W[t]->g : &W[t]->c;
                }
                dp_fused_norm_matmul(B, g ? &h->g : &h->c, g ? &x->g : &x->c, g ? &nw->g : &nw->c, n, d, 1e-5f, false,
                                     outs, ws, 3, NULL, v % 2 == 0);
            }
            snprintf(cur.name, sizeof cur.name, "%s norm + q/k/v %s n=%d d=%d m=%d/%d/%d", kn, dp_dtype_name(dt), n,
                     d, ms[0], ms[1], ms[2]);
            float tol = dp_dtype_is_quant(dt) ? (actq ? 1e-3f : 3e-2f) : 2e-5f; /* vs the CPU's 8-bit x */
            if (v % 2 == 0) add_check(h, (int64_t)n * d, 4e-6f); /* kept; else h may be unwritten */
            for (int t = 0; t < 3; t++) add_check(o[t], (int64_t)n * ms[t], tol);
        } else if (kind == 5) {
            int n = rnd_int(1, 6), nh = rnd_int(1, 6), nkv = rnd_int(1, 3), hd = 2 * rnd_int(2, 40);
            int pos0 = rnd_int(0, 30), ctx = pos0 + n + rnd_int(0, 5);
            dp_rope_args ra = {nh, hd, hd, false, 0.0f}, rk = {nkv, hd, hd, false, 0.0f};
            int32_t pos[8];
            for (int r = 0; r < n; r++) pos[r] = pos0 + r;
            float invf[64];
            for (int t = 0; t < hd / 2; t++) invf[t] = powf(10000.0f, -2.0f * (float)t / (float)hd);
            pair *q = tnew_rand((int64_t)nh * hd, n, -2, 2), *k = tnew_rand((int64_t)nkv * hd, n, -2, 2);
            pair *vv = tnew_rand((int64_t)nkv * hd, n, -2, 2);
            pair *kc = tnew_rand((int64_t)nkv * hd, ctx, -1, 1), *vc = tnew_rand((int64_t)nkv * hd, ctx, -1, 1);
            pair *wq = tnew_rand(hd, 1, -1, 1), *wk = tnew_rand(hd, 1, -1, 1);
            pair *ps = tnew(DP_DTYPE_I32, n, 1, pos), *fq = tnew(DP_DTYPE_F32, hd / 2, 1, invf);
            if (!q || !k || !vv || !kc || !vc || !wq || !wk || !ps || !fq) return false;
            int64_t kvd = (int64_t)nkv * hd;
            for (int bi = 0; bi < 2; bi++) {
                dp_backend *B = bk[bi];
                bool g = bi == 1;
                dp_qkv_args qa = {g ? &q->g : &q->c, g ? &k->g : &k->c, g ? &vv->g : &vv->c,
                                  v % 2 ? (g ? &wq->g : &wq->c) : NULL, v % 2 ? (g ? &wk->g : &wk->c) : NULL,
                                  1e-6f, true, g ? &ps->g : &ps->c, g ? &fq->g : &fq->c, n, ra, rk,
                                  g ? &kc->g : &kc->c, g ? &vc->g : &vc->c, pos0 * kvd};
                dp_fused_rope_qk_kv(B, &qa);
            }
            snprintf(cur.name, sizeof cur.name, "%s %sropes + KV copies n=%d heads=%d/%d hd=%d pos0=%d", kn,
                     v % 2 ? "q/k norms + " : "", n, nh, nkv, hd, pos0);
            add_check(q, (int64_t)n * nh * hd, 2e-5f);
            add_check(k, n * kvd, 2e-5f);
            add_check(kc, ctx * kvd, 2e-5f);
            add_check(vc, ctx * kvd, 0.0f);
        } else if (kind == 6) {
            /* norm_qkv_rope: the norm, the q/k/v products, the ropes and the cache writes (one
               dispatch where the device allows); v % 2: f32 NeoX over part of the head with
               mscale and (1 + w) / q4_K q and k, q6_K v (a second dispatch), interleaved over all
               of the head */
            dp_dtype dt = v % 2 ? DP_DTYPE_Q4_K : DP_DTYPE_F32;
            int n = rnd_int(1, 3), d = v % 2 ? 256 * rnd_int(1, 2) : 4 * rnd_int(1, 60);
            int nkv = rnd_int(1, 3), nh = nkv * rnd_int(1, 3), hd = 2 * rnd_int(2, 40);
            int rot = v % 2 ? hd : 2 * rnd_int(1, hd / 2), pos0 = rnd_int(0, 30), ctx = pos0 + n + rnd_int(0, 5);
            dp_rope_args ra = {nh, hd, rot, v % 2 == 1, v % 2 ? 0.0f : 1.25f}, rk = ra;
            rk.n_head = nkv;
            int32_t pos[4];
            for (int r = 0; r < n; r++) pos[r] = pos0 + r;
            float invf[64];
            for (int t = 0; t < rot / 2; t++) invf[t] = powf(10000.0f, -2.0f * (float)t / (float)rot);
            const int64_t kvd = (int64_t)nkv * hd, rows[3] = {(int64_t)nh * hd, kvd, kvd};
            pair *x = tnew_rand(d, n, -2, 2), *nw = tnew_rand(d, 1, -1, 1), *h = tnew(DP_DTYPE_F32, d, n, NULL);
            pair *ps = tnew(DP_DTYPE_I32, n, 1, pos), *fq = tnew(DP_DTYPE_F32, rot / 2, 1, invf);
            pair *kc = tnew_rand(kvd, ctx, -1, 1), *vc = tnew_rand(kvd, ctx, -1, 1), *W[3], *o[3];
            for (int t = 0; t < 3; t++) {
                float *deq;
                dp_dtype wt = t == 2 && v % 2 ? DP_DTYPE_Q6_K : dt;
                void *wd = make_weights(wt, d, (int)rows[t], &deq);
                dp_free(deq);
                W[t] = tnew(wt, d, rows[t], wd);
                dp_free(wd);
                o[t] = tnew(DP_DTYPE_F32, rows[t], n, NULL);
                if (!W[t] || !o[t]) return false;
            }
            if (!x || !nw || !h || !ps || !fq || !kc || !vc) return false;
            for (int bi = 0; bi < 2; bi++) {
                dp_backend *B = bk[bi];
                bool g = bi == 1;
                const dp_tensor *ws[3];
                for (int t = 0; t < 3; t++) ws[t] = g ? &W[t]->g : &W[t]->c;
                dp_qkv_args qa = {g ? &o[0]->g : &o[0]->c, g ? &o[1]->g : &o[1]->c, g ? &o[2]->g : &o[2]->c,
                                  NULL, NULL, 1e-5f, v % 2 == 0, g ? &ps->g : &ps->c, g ? &fq->g : &fq->c, n, ra, rk,
                                  g ? &kc->g : &kc->c, g ? &vc->g : &vc->c, pos0 * kvd};
                dp_fused_norm_qkv_rope(B, g ? &h->g : &h->c, g ? &x->g : &x->c, g ? &nw->g : &nw->c, n, d, 1e-5f,
                                       v % 2 == 0, ws, &qa, false);
            }
            snprintf(cur.name, sizeof cur.name, "%s norm + q/k/v + ropes + KV writes %s%s n=%d d=%d heads=%d/%d hd=%d rot=%d %s",
                     kn, dp_dtype_name(dt), v % 2 ? "+q6_K" : "", n, d, nh, nkv, hd, rot, ra.interleaved ? "interleaved" : "neox");
            float tol = dp_dtype_is_quant(dt) ? (actq ? 1e-3f : 3e-2f) : 2e-5f; /* vs the CPU's 8-bit x */
            add_check(o[0], n * rows[0], tol);
            add_check(kc, ctx * kvd, tol);
            add_check(vc, ctx * kvd, tol);
        } else if (kind == 7) {
            /* the sandwich norm's residual add, then the norm of the y it wrote in front of a
               product: folded, that norm takes y's sums of squares from norm_add's epilogue (no
               dispatch of their own); then y rewritten by the host and the same norm again, which
               must not take the sums written with the old y. v % 2: (1 + w) norms and q4_K */
            dp_dtype dt = v % 2 ? DP_DTYPE_Q4_K : DP_DTYPE_F32;
            bool p1 = v % 2 == 1;
            int n = rnd_int(1, 4), d = v % 2 ? 256 * rnd_int(1, 2) : 4 * rnd_int(1, 100), m = rnd_int(1, 150);
            pair *hh = tnew_rand(d, n, -2, 2), *w = tnew_rand(d, 1, -1, 1), *y = tnew_rand(d, n, -1, 1);
            pair *nw = tnew_rand(d, 1, -1, 1), *h = tnew(DP_DTYPE_F32, d, n, NULL);
            pair *o1 = tnew(DP_DTYPE_F32, m, n, NULL), *o2 = tnew(DP_DTYPE_F32, m, n, NULL), *y2 = tnew_rand(d, n, -3, 3);
            float *deq;
            void *wd = make_weights(dt, d, m, &deq);
            dp_free(deq);
            pair *W = tnew(dt, d, m, wd);
            dp_free(wd);
            if (!hh || !w || !y || !nw || !h || !o1 || !o2 || !y2 || !W) return false;
            uint64_t disp[2] = {0, 0};
            for (int bi = 0; bi < 2; bi++) {
                dp_backend *B = bk[bi];
                bool g = bi == 1;
                dp_tensor *yt = g ? &y->g : &y->c, *o[2] = {g ? &o1->g : &o1->c, g ? &o2->g : &o2->c};
                const dp_tensor *ws[1] = {g ? &W->g : &W->c};
                dp_fused_norm_add(B, yt, g ? &hh->g : &hh->c, g ? &w->g : &w->c, n, d, 1e-6f, p1, NULL);
                for (int r = 0; r < 2; r++) {
                    dp_error e;
                    if (r == 1 && B->i->tensor_set(B, yt, 0, y2->c.data, (uint64_t)n * d * 4, &e)) {
                        snprintf(cur.err, sizeof cur.err, "set: %s", e.msg);
                        return true;
                    }
                    dp_webgpu_stats s0, s1;
                    dp_backend_webgpu_stats(gpu, &s0);
                    dp_fused_norm_matmul(B, g ? &h->g : &h->c, yt, g ? &nw->g : &nw->c, n, d, 1e-5f, p1, &o[r], ws,
                                         1, NULL, false);
                    dp_backend_webgpu_stats(gpu, &s1);
                    if (g) disp[r] = s1.dispatches - s0.dispatches;
                }
            }
            snprintf(cur.name, sizeof cur.name, "%s norm_add, norm%s + matmul of its y, y set, again %s n=%d d=%d m=%d %llu+%llu dispatches",
                     kn, p1 ? "(1+w)" : "", dp_dtype_name(dt), n, d, m, (unsigned long long)disp[0], (unsigned long long)disp[1]);
            /* folded (f32 products fold whenever fold_norm is on): the first norm is in the
               products alone, the second needs rms_norm:row_ss first; 8-bit products that pack x
               (matvec_pack) take the norm in both */
            const bool packs = pack && i8 && dt != DP_DTYPE_F32;
            if ((fold && dt == DP_DTYPE_F32 && disp[0] != 1) || (!packs && disp[0] == 1 && disp[1] != 2))
                snprintf(cur.err, sizeof cur.err, "%llu + %llu dispatches: want 1 + 2 where the norms fold",
                         (unsigned long long)disp[0], (unsigned long long)disp[1]);
            if (packs && (disp[0] != 1 || disp[1] != 1))
                snprintf(cur.err, sizeof cur.err, "%llu + %llu dispatches: want 1 + 1 (products that pack x)",
                         (unsigned long long)disp[0], (unsigned long long)disp[1]);
            float tol = dp_dtype_is_quant(dt) ? (actq ? 1e-3f : 3e-2f) : 2e-5f; /* vs the CPU's 8-bit x */
            add_check(o1, (int64_t)n * m, tol);
            add_check(o2, (int64_t)n * m, tol);
        } else if (kind == 8) {
            /* the sandwich norm's residual add given the norm that reads y next (dp_norm_next):
               with 8-bit products that norm is computed in the same dispatch (norm_add_q) and
               the norm_matmul after it records only its products; then y rewritten by the host
               and the same norm_matmul again, which must compute the norm itself. v % 2: the next
               norm's output is h itself / another tensor; (v - 16) / 2: q4_K / q8_0, gate/up + glu */
            const bool same = v % 2 == 0, glu = (v - 16) / 2 == 1;
            const dp_dtype dt = glu ? DP_DTYPE_Q8_0 : DP_DTYPE_Q4_K;
            const int n = rnd_int(1, 3), d = 256 * rnd_int(1, 3), m = rnd_int(1, 150), count = glu ? 2 : 1;
            pair *hh = tnew_rand(d, n, -2, 2), *w = tnew_rand(d, 1, -1, 1), *y = tnew_rand(d, n, -1, 1);
            pair *nw = tnew_rand(d, 1, -1, 1), *h2 = same ? hh : tnew(DP_DTYPE_F32, d, n, NULL), *y2 = tnew_rand(d, n, -3, 3);
            pair *o[2][2], *W[2];
            for (int t = 0; t < 2; t++) {
                float *deq;
                void *wd = make_weights(dt, d, m, &deq);
                dp_free(deq);
                W[t] = tnew(dt, d, m, wd);
                dp_free(wd);
                o[0][t] = tnew(DP_DTYPE_F32, m, n, NULL);
                o[1][t] = tnew(DP_DTYPE_F32, m, n, NULL);
                if (!W[t] || !o[0][t] || !o[1][t]) return false;
            }
            if (!hh || !w || !y || !nw || !h2 || !y2) return false;
            const dp_act act = DP_ACT_SILU;
            uint64_t disp[2] = {0, 0};
            for (int bi = 0; bi < 2; bi++) {
                dp_backend *B = bk[bi];
                bool g = bi == 1;
                dp_tensor *yt = g ? &y->g : &y->c, *ht = g ? &h2->g : &h2->c;
                const dp_tensor *ws[2] = {g ? &W[0]->g : &W[0]->c, g ? &W[1]->g : &W[1]->c};
                const dp_norm_next nx = {ht, g ? &nw->g : &nw->c, ws, count};
                dp_fused_norm_add(B, yt, g ? &hh->g : &hh->c, g ? &w->g : &w->c, n, d, 1e-6f, true, &nx);
                for (int r = 0; r < 2; r++) {
                    dp_error e;
                    if (r == 1 && B->i->tensor_set(B, yt, 0, y2->c.data, (uint64_t)n * d * 4, &e)) {
                        snprintf(cur.err, sizeof cur.err, "set: %s", e.msg);
                        return true;
                    }
                    dp_tensor *outs[2] = {g ? &o[r][0]->g : &o[r][0]->c, g ? &o[r][1]->g : &o[r][1]->c};
                    dp_webgpu_stats s0, s1;
                    dp_backend_webgpu_stats(gpu, &s0);
                    dp_fused_norm_matmul(B, ht, yt, g ? &nw->g : &nw->c, n, d, 1e-6f, true, outs, ws, count,
                                         glu ? &act : NULL, false);
                    dp_backend_webgpu_stats(gpu, &s1);
                    if (g) disp[r] = s1.dispatches - s0.dispatches;
                }
            }
            snprintf(cur.name, sizeof cur.name, "%s norm_add + next norm%s, %s of its y, y set, again %s n=%d d=%d m=%d %llu+%llu dispatches",
                     kn, same ? " into h" : "", glu ? "gate/up/glu" : "matmul", dp_dtype_name(dt), n, d, m,
                     (unsigned long long)disp[0], (unsigned long long)disp[1]);
            /* with 8-bit products the first norm_matmul is its product dispatch alone (and the
               second too where the products pack x: the norm inside) */
            if (i8 && pack && (disp[0] != 1 || disp[1] != 1))
                snprintf(cur.err, sizeof cur.err, "%llu + %llu dispatches: want 1 + 1 (products that pack x)",
                         (unsigned long long)disp[0], (unsigned long long)disp[1]);
            else if (i8 && !pack && disp[0] != disp[1] - 1)
                snprintf(cur.err, sizeof cur.err, "%llu + %llu dispatches: want the norm computed ahead (one fewer the first time)",
                         (unsigned long long)disp[0], (unsigned long long)disp[1]);
            float tol = actq ? 1e-3f : 3e-2f; /* vs the CPU's 8-bit x */
            add_check(y, (int64_t)n * d, 4e-6f);
            for (int r = 0; r < 2; r++)
                for (int t = 0; t < count; t++) add_check(o[r][t], (int64_t)n * m, tol);
        } else if (kind == 1 || kind == 3) {
            /* as the forward pass orders them: [norm(q), norm(k),] rope(q), rope(k) */
            int n = rnd_int(1, 9), nh = rnd_int(1, 6), nkv = rnd_int(1, 3), hd = 2 * rnd_int(2, 64);
            int rot = v % 2 ? hd : 2 * rnd_int(1, hd / 2);
            dp_rope_args ra = {nh, hd, rot, v % 2 == 1, 0.0f}, rk = {nkv, hd, rot, v % 2 == 1, 0.0f};
            int32_t pos[16];
            for (int r = 0; r < n; r++) pos[r] = rnd_int(0, 5000);
            float invf[128];
            for (int t = 0; t < rot / 2; t++) invf[t] = powf(10000.0f, -2.0f * (float)t / (float)rot);
            pair *q = tnew_rand((int64_t)nh * hd, n, -2, 2), *k = tnew_rand((int64_t)nkv * hd, n, -2, 2);
            pair *wq = tnew_rand(hd, 1, -1, 1), *wk = tnew_rand(hd, 1, -1, 1);
            pair *ps = tnew(DP_DTYPE_I32, n, 1, pos), *fq = tnew(DP_DTYPE_F32, rot / 2, 1, invf);
            if (!q || !k || !wq || !wk || !ps || !fq) return false;
            for (int bi = 0; bi < 2; bi++) {
                dp_backend *B = bk[bi];
                bool g = bi == 1;
                if (kind == 1) {
                    B->i->rms_norm(B, g ? &q->g : &q->c, g ? &q->g : &q->c, g ? &wq->g : &wq->c, n * nh, hd, 1e-6f, v % 2 == 0);
                    B->i->rms_norm(B, g ? &k->g : &k->c, g ? &k->g : &k->c, g ? &wk->g : &wk->c, n * nkv, hd, 1e-6f, v % 2 == 0);
                }
                B->i->rope(B, g ? &q->g : &q->c, g ? &ps->g : &ps->c, g ? &fq->g : &fq->c, n, &ra);
                B->i->rope(B, g ? &k->g : &k->c, g ? &ps->g : &ps->c, g ? &fq->g : &fq->c, n, &rk);
            }
            snprintf(cur.name, sizeof cur.name, "%s q/k %sropes n=%d heads=%d/%d hd=%d rot=%d %s", kn,
                     kind == 1 ? "norms + " : "", n, nh,
                     nkv, hd, rot, ra.interleaved ? "interleaved" : "neox");
            add_check(q, (int64_t)n * nh * hd, 2e-5f);
            add_check(k, (int64_t)n * nkv * hd, 2e-5f);
        } else {
            int cnt = rnd_int(1, 3000), off = v % 2 ? rnd_int(0, 5000) : 0;
            pair *k = tnew_rand(cnt, 1, -1, 1), *vv = tnew_rand(cnt, 1, -1, 1);
            pair *kc = tnew_rand(off + cnt + 7, 1, -3, 3), *vc = tnew_rand(off + cnt + 7, 1, -3, 3);
            if (!k || !vv || !kc || !vc) return false;
            for (int bi = 0; bi < 2; bi++) {
                dp_backend *B = bk[bi];
                bool g = bi == 1;
                B->i->copy(B, g ? &kc->g : &kc->c, off, g ? &k->g : &k->c, cnt);
                B->i->copy(B, g ? &vc->g : &vc->c, off, g ? &vv->g : &vv->c, cnt);
            }
            snprintf(cur.name, sizeof cur.name, "%s two copies count=%d off=%d", kn, cnt, off);
            add_check(kc, off + cnt + 7, 0.0f);
            add_check(vc, off + cnt + 7, 0.0f);
        }
        return true;
    }
    }
    return false;
}

/* ---- exports ---- */

EXPORT("t_init") int t_init(void) {
    dp_error e;
    if (dp_backend_cpu_new(1, &cpu, &e)) {
        printf("cpu backend: %s\n", e.msg);
        return -1;
    }
    if (dp_backend_webgpu_new(&gpu, &e)) {
        printf("webgpu backend: %s\n", e.msg);
        return -1;
    }
    dp_backend_webgpu_set_act_quant(gpu, true);
    /* the decode fusions, opt-in in the backend (docs/WEBGPU.md), on here so that every kind runs
       them; test_webgpu_ops.sh runs the fused and attention cases again with them off */
    if (dp_backend_webgpu_tune(gpu, "fold_norm", 1, &e) || dp_backend_webgpu_tune(gpu, "attn_one_slice", 256, &e)) {
        printf("webgpu tune: %s\n", e.msg);
        return -1;
    }
    plan();
    return n_cases;
}

/* Starts case i; 1 = started (await the host, then call t_end), 0 = no such case, -1 = error. */
EXPORT("t_begin") int t_begin(int i) {
    if (i < 0 || i >= n_cases) return 0;
    memset(&cur, 0, sizeof cur);
    if (!run_case(i)) {
        snprintf(cur.err, sizeof cur.err, "setup failed");
        return -1;
    }
    dp_error e;
    if (cpu->i->flush(cpu, &e)) snprintf(cur.err, sizeof cur.err, "cpu: %s", e.msg);
    if (gpu->i->flush(gpu, &e) && !cur.err[0]) snprintf(cur.err, sizeof cur.err, "gpu: %s", e.msg);
    for (int o = 0; o < cur.nout; o++) {
        outcheck *c = &cur.out[o];
        if (gpu->i->tensor_read(gpu, &c->t->g, 0, c->got, (uint64_t)c->count * 4, &e) && !cur.err[0])
            snprintf(cur.err, sizeof cur.err, "gpu get: %s", e.msg);
    }
    return 1;
}

static float max_err(const float *got, const float *ref, int64_t n, float *scale) {
    float me = 0.0f, mr = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float d = fabsf(got[i] - ref[i]);
        if (!(d <= me)) me = d; /* NaN propagates */
        if (fabsf(ref[i]) > mr) mr = fabsf(ref[i]);
    }
    *scale = mr > 1e-6f ? mr : 1e-6f;
    return me;
}

/* Compares case i; returns the number of failures (0 or 1) and prints one line. */
EXPORT("t_end") int t_end(int i) {
    int fail = 0;
    char line[512];
    int len = snprintf(line, sizeof line, "%3d %-60s", i, cur.name);
    dp_error e;
    if (gpu->i->flush(gpu, &e) && !cur.err[0]) snprintf(cur.err, sizeof cur.err, "gpu: %s", e.msg);
    if (cur.err[0]) {
        fail = 1;
        snprintf(line + len, sizeof line - (size_t)len, " FAIL %s", cur.err);
    } else {
        for (int o = 0; o < cur.nout; o++) {
            outcheck *c = &cur.out[o];
            if (c->ints) {
                const int32_t *want = c->t->c.data, *got = (const int32_t *)c->got;
                bool same = !memcmp(want, got, (size_t)c->count * 4);
                len += snprintf(line + len, sizeof line - (size_t)len, " id %d (cpu %d)", (int)got[0],
                                (int)want[0]);
                if (!same) { /* every entry, so that a mismatch past the first shows */
                    fail = 1;
                    for (int64_t t = 0; t < c->count && t < 12; t++)
                        len += snprintf(line + len, sizeof line - (size_t)len, " [%d] %d/%d", (int)t, (int)got[t],
                                        (int)want[t]);
                }
                continue;
            }
            const float *ref = c->t->c.data;
            float tol = c->tol, tol2 = c->tol2;
            if (!actq && c->ref2 && tol2 > tol) { tol = c->tol2; tol2 = c->tol; }
            float scale, me = max_err(c->got, ref, c->count, &scale);
            bool ok = me <= tol * scale;
            len += snprintf(line + len, sizeof line - (size_t)len, " err %.2e (tol %.0e)",
                            (double)(me / scale), (double)tol);
            if (c->ref2) {
                float s2, m2 = max_err(c->got, c->ref2, c->count, &s2);
                ok = ok && m2 <= tol2 * s2;
                len += snprintf(line + len, sizeof line - (size_t)len, " exact %.2e (tol %.0e)",
                                (double)(m2 / s2), (double)tol2);
            }
            if (!ok) fail = 1;
        }
        snprintf(line + len, sizeof line - (size_t)len, "%s", fail ? " FAIL" : " ok");
    }
    printf("%s\n", line);
    fflush(stdout);
    for (int o = 0; o < cur.nout; o++) {
        dp_free(cur.out[o].got);
        dp_free(cur.out[o].ref2);
    }
    tfree_all();
    return fail;
}

/* The kind of case i ("matmul", "fused", ...; run_ops.mjs's DP_KINDS), "" past the last. */
EXPORT("t_kind") const char *t_kind(int i) {
    return i >= 0 && i < n_cases ? kind_name[cases[i].kind] : "";
}

EXPORT("t_alloc") void *t_alloc(int n) { return dp_malloc(n > 0 ? (size_t)n : 1); }

/* WebGPU knobs for a whole run (e.g. other matvec workgroup shapes); 0 = ok */
EXPORT("t_tune") int t_tune(const char *key, int value) {
    dp_error e;
    if (dp_backend_webgpu_tune(gpu, key, value, &e)) {
        printf("tune: %s\n", e.msg);
        return -1;
    }
    /* act_quant=0 asks for f32 products: the 8-bit decode kernels (matvec_i8, on by default
       where WGSL has dot4I8Packed) go off with it; matvec_i8=1 takes x through 8-bit blocks */
    if (!strcmp(key, "act_quant")) {
        actq = value != 0;
        if (!value && dp_backend_webgpu_tune(gpu, "matvec_i8", 0, &e)) return -1;
    }
    if (!strcmp(key, "matvec_i8") && value) actq = true;
    if (!strcmp(key, "matvec_i8") || (!strcmp(key, "act_quant") && !value)) i8 = value != 0;
    if (!strcmp(key, "fold_norm")) fold = value != 0;
    if (!strcmp(key, "matvec_pack")) pack = value != 0;
    return 0;
}

EXPORT("t_stats") void t_stats(void) {
    dp_webgpu_stats s;
    dp_backend_webgpu_stats(gpu, &s);
    printf("webgpu: %llu dispatches, %llu copies, %llu submits, %llu reads, %llu pipelines, "
           "%llu bind groups created\n",
           (unsigned long long)s.dispatches, (unsigned long long)s.copies,
           (unsigned long long)s.submits, (unsigned long long)s.reads,
           (unsigned long long)s.pipelines, (unsigned long long)s.bind_groups_created);
    fflush(stdout);
}
