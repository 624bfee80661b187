/* backend.h — the op interface every compute backend implements (CPU, WebGPU).
 *
 * The runtime's forward pass (src/runtime/forward.c) is written once against this vtable.
 * Tensors are row-major: ne[0] is the row length (innermost), ne[1] the number of rows.
 * Activations are always f32; weights may be any dp_dtype. Ops never allocate: every buffer is
 * allocated up front with tensor_alloc. A backend may execute ops eagerly (CPU) or record them
 * and run them at flush (WebGPU). Ops return nothing: failures are sticky and reported by the
 * next flush of the handle the op went through.
 *
 * Reads and synchronisation (the contract the runtime and the wasm host rely on):
 *   - tensor_read is a *deferred* read: it orders a copy of t's bytes into dst after every op
 *     recorded before it. When the bytes are there depends on the backend's reads_deferred:
 *     false (CPU): before tensor_read returns; true (WebGPU): only once the JavaScript host has
 *     settled (awaited the GPU) after control returned to it, because WebAssembly cannot block.
 *     dst must stay valid until then, and nothing may branch on its value in the same step;
 *   - flush submits everything recorded (reads included) and returns the first failure since
 *     the last flush; it never waits for the device, so it is not a synchronisation point;
 *   - the only synchronisation point is the host's (web/engine.mjs `settle()`); on a backend
 *     without deferred reads every call is synchronous. */
#ifndef DP_BACKEND_H
#define DP_BACKEND_H

#include "base/base.h"
#include "format/dtype.h"

typedef struct dp_tensor {
    dp_dtype dtype;
    int64_t ne[2];      /* ne[0] row length, ne[1] rows */
    uint64_t nbytes;
    void *data;         /* CPU backend: host pointer */
    uint32_t handle;    /* device backends: buffer id (0 = none) */
    uint64_t offset;    /* byte offset of the tensor inside its buffer (multiple of 256) */
    uint32_t layout;    /* backend-specific arrangement of a weight's bytes, set by
                           prepare_weight; 0 = row-major, as stored in the file */
} dp_tensor;

typedef enum dp_act { DP_ACT_SILU = 0, DP_ACT_GELU_TANH } dp_act;

/* Rotary embedding: pairs (i, i + rot_dim/2) rotated (NeoX / HF style) or (2i, 2i+1) when
 * interleaved (GGML "normal" style); angle = pos * inv_freq[i]; results scaled by mscale
 * (longrope attention factor, else 1). inv_freq is f32 [hd/2] and already holds the scaling
 * (llama3, longrope, local base) so one kernel serves every family. rot_dim <= hd. */
typedef struct dp_rope_args {
    int n_head, head_dim, rot_dim;
    bool interleaved;
    float mscale;
} dp_rope_args;

/* Causal attention of n query rows at positions pos0..pos0+n-1 over the cached keys
 * 0..pos0+n-1 (only the last `window` keys when window > 0). GQA: query head h uses KV head
 * h / (n_head / n_kv_head). scores = (q.k) * scale, then softcap (cap*tanh(s/cap)) if softcap>0.
 * w_next (NULL: unknown) is the weights of the product that reads out next (the o projection):
 * a backend may write that product's input form with out (WebGPU: its 8-bit blocks). */
typedef struct dp_attn_args {
    int n_head, n_kv_head, head_dim;
    int pos0, n;
    int window;
    float scale, softcap;
    const dp_tensor *w_next;
} dp_attn_args;

/* The norm that reads a norm_add's y next: h = rms_norm(y; w) with the norm_add's n, d, eps and
 * plus_one, read by the products over ws[0..count) (the fused shape that follows: norm_matmul or
 * norm_qkv_rope of the same h, y and w, which then finds the norm done where the backend did it). */
typedef struct dp_norm_next {
    dp_tensor *h;
    const dp_tensor *w;
    const dp_tensor *const *ws;
    int count;
} dp_norm_next;

typedef struct dp_sample_args {
    float temperature;  /* <= 0: greedy */
    int top_k;          /* <= 0: off */
    float top_p;        /* >= 1: off */
    float rand01;       /* uniform random number in [0,1) drawn by the host */
} dp_sample_args;

/* The attention block's middle (rope_qk_kv): [per-head norms of q and k,] rope of both at the
 * same positions, then k and v appended to the caches. */
typedef struct dp_qkv_args {
    dp_tensor *q, *k;                   /* [n, rq.n_head * hd], [n, rk.n_head * hd], in place */
    dp_tensor *v;                       /* [n, rk.n_head * hd] */
    const dp_tensor *q_norm, *k_norm;   /* f32 [hd] head norms: both or neither (NULL) */
    float eps;
    bool plus_one;
    const dp_tensor *pos, *inv_freq;    /* as rope */
    int n;
    dp_rope_args rq, rk;                /* the same but for n_head */
    dp_tensor *k_cache, *v_cache;       /* [ctx, rk.n_head * hd] */
    int64_t cache_off;                  /* element offset of row 0 in the caches */
} dp_qkv_args;

/* The experts of a paged model's layer (runtime/experts.h): fetch makes expert x of `layer`
 * resident and fills w[0..2] (gate, up, down) with tensors on its bytes, valid until the next
 * fetch through the same source; a failure (a shard missing, truncated or corrupt) is a status
 * and one line in e. */
typedef struct dp_expert_src {
    void *ud;
    int layer;
    dp_status (*fetch)(void *ud, int layer, int expert, dp_tensor w[3], dp_error *e);
    /* may be NULL: the op selected ids[0..n) of `layer` (ascending, the order it fetches them
       in); the source may start reading the missing ones now, while the op computes */
    void (*want)(void *ud, int layer, const int32_t *ids, int n);
    /* The device tier (a GPU backend; device_slots 0: none): fetch_device makes the expert
       resident in a slot of the backend's memory and fills w with views of it (handle +
       offset, data NULL), valid until a later group evicts it; group() starts a group, whose
       experts (at most device_slots) evict none of each other. again: the expert was fetched
       for this op already (a later phase of it): a hit is not counted as another use. */
    uint32_t device_slots;
    dp_status (*fetch_device)(void *ud, int layer, int expert, bool again, dp_tensor w[3], dp_error *e);
    void (*group)(void *ud);
    /* Layer-ahead prediction (NULL next_logits: none): the router logits [n, n_expert] of layer
       next_layer applied to this op's input; the op takes each row's top next_k as it routes
       and calls predict(ud, next_layer, ids, n) with their union (ascending) after want. */
    const dp_tensor *next_logits;
    int next_layer, next_k;
    void (*predict)(void *ud, int layer, const int32_t *ids, int n);
} dp_expert_src;

/* The products of one input with a LoRA adapter, unmerged (lora_linear): the forward pass's
 * group of projections (q/k/v, gate/up, o, down) when the context's adapter touches one of them. */
typedef struct dp_lora_linear {
    dp_tensor *h;                       /* with norm_w: rms_norm(x) [n, d], which the products read */
    const dp_tensor *x, *norm_w;        /* norm_w NULL: no norm, the products read x */
    int n, d;                           /* rows of x, values per row */
    float eps;
    bool plus_one;
    dp_tensor *const *outs;             /* [count] outs[i] [n, ws[i]->ne[1]] */
    const dp_tensor *const *ws;         /* [count] */
    int count;                          /* 1..3 */
    bool accumulate;                    /* outs[i] += (only without norm_w) */
    const dp_act *glu;                  /* count 2: glu(outs[0] <- outs[0], outs[1]) at the end */
    /* the adapter: for each i with a[i] (NULL: product i not adapted), a[i] f32 [r, d] and b[i]
       f32 [ws[i]->ne[1], r], all of the same rank r */
    const dp_tensor *a[3], *b[3];
    dp_tensor *tmp;                     /* f32 scratch of at least n * count * r values */
    float scale;
} dp_lora_linear;

typedef struct dp_backend dp_backend;

typedef struct dp_backend_i {
    const char *name;
    void (*free)(dp_backend *b);
    /* memory */
    dp_status (*tensor_alloc)(dp_backend *b, dp_tensor *t, dp_error *e); /* t->nbytes bytes */
    void (*tensor_free)(dp_backend *b, dp_tensor *t);
    /* Optional (NULL: weights are copied into tensor_alloc'd memory): t's bytes are data
       (t->nbytes bytes, 256-byte aligned, private to the caller and writable, valid until
       tensor_free), used in place instead of allocating; prepare_weight may rewrite them.
       (CPU: weights used straight from their mapped shard.) */
    dp_status (*tensor_wrap)(dp_backend *b, dp_tensor *t, void *data, dp_error *e);
    dp_status (*tensor_set)(dp_backend *b, dp_tensor *t, uint64_t off, const void *src,
                            uint64_t n, dp_error *e);
    /* deferred read of n bytes at off into dst (see the top of this file); an error here is
       about the arguments only, a failing op is reported by flush */
    dp_status (*tensor_read)(dp_backend *b, const dp_tensor *t, uint64_t off, void *dst,
                             uint64_t n, dp_error *e);
    dp_status (*flush)(dp_backend *b, dp_error *e);
    /* Optional: while on, recorded work goes to the device in pieces as it is recorded (WebGPU:
       a submit every submit_every dispatches, tune; default 32), so the device runs the start of
       a long recording while the host records the rest: for recordings the host then waits on
       whole (a speculative step). Off: work goes at flush and reads only. */
    void (*pace)(dp_backend *b, bool on);
    bool reads_deferred;  /* tensor_read's bytes arrive after the host settles (WebGPU) */

    /* ops (all row counts are runtime n, shapes come from args) */
    /* out[n,d] = table[ids[i]] * scale ; ids is i32 [n] */
    void (*get_rows)(dp_backend *b, dp_tensor *out, const dp_tensor *table, const dp_tensor *ids,
                     int n, float scale);
    /* out[n,d] = x / rms(x) * (w (+1 if plus_one)) ; w f32 [d]; out may alias x */
    void (*rms_norm)(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *w, int n,
                     int d, float eps, bool plus_one);
    /* out[n,m] = x[n,k] @ W[m,k]^T (+ out when accumulate) */
    void (*matmul)(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *w, int n,
                   bool accumulate);
    /* out[i] = a[i] + b[i], count elements; out may alias a */
    void (*add)(dp_backend *b, dp_tensor *out, const dp_tensor *a, const dp_tensor *bb, int64_t count);
    /* x[n, n_head*hd] rotated in place; pos i32 [n]; inv_freq f32 [rot_dim/2] */
    void (*rope)(dp_backend *b, dp_tensor *x, const dp_tensor *pos, const dp_tensor *inv_freq,
                 int n, const dp_rope_args *a);
    /* dst[dst_off + i] = src[i] for count f32 elements (KV cache writes), or i32 into i32 (a sampled
     * token id into the next step's ids) */
    void (*copy)(dp_backend *b, dp_tensor *dst, int64_t dst_off, const dp_tensor *src, int64_t count);
    /* out[n, n_head*hd] from q[n, n_head*hd] and caches [ctx, n_kv*hd] */
    void (*attention)(dp_backend *b, dp_tensor *out, const dp_tensor *q, const dp_tensor *k_cache,
                      const dp_tensor *v_cache, const dp_attn_args *a);
    /* out[n,f] = act(gate[n,f]) * up[n,f]; out may alias gate */
    void (*glu)(dp_backend *b, dp_tensor *out, const dp_tensor *gate, const dp_tensor *up,
                int n, int f, dp_act act);
    /* x[i] = cap * tanh(x[i] / cap) */
    void (*softcap)(dp_backend *b, dp_tensor *x, int64_t count, float cap);
    /* Mixture of experts FFN: out[n,d] = sum over the top-k experts of softmax-renormalised
       router weights * down_e(act(gate_e x) * up_e x); logits f32 [n, n_expert]. With src
       (a paged model; NULL otherwise) the experts come from src->fetch, called once for each
       selected expert in id order, and gate/up/down give only their shapes. */
    void (*moe)(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *logits,
                const dp_tensor *gate, const dp_tensor *up, const dp_tensor *down, /* [n_expert] */
                const dp_expert_src *src, int n, int n_expert, int k, dp_act act);
    /* sample a token id from logits f32 [vocab] row `row`; result readable by tensor_read from
       out (i32 [1]) after flush */
    void (*sample)(dp_backend *b, dp_tensor *out, const dp_tensor *logits, int row, int vocab,
                   const dp_sample_args *a);
    /* Greedy verification of a speculative step, on the device so that the step reads back
       only its result: logits f32 [k + 1, vocab] (the target's rows), ids i32 [k + 1] (ids[0]
       the token before the proposals, ids[1 + r] the proposal row r is checked against). For
       r = 0, 1, ...: a_r = row r's arg max (`sample`'s greedy rule); out[1 + r] = a_r; stop after
       the first r with r == k or a_r != ids[1 + r]. out[0] = the rows written (1..k + 1), so
       out[1 .. out[0]] are the accepted proposals followed by the target's own token.
       out i32 [k + 2]. */
    void (*verify)(dp_backend *b, dp_tensor *out, const dp_tensor *logits, const dp_tensor *ids,
                   int k, int vocab);
    /* Sampled verification of a speculative step (the rejection rule, which keeps the target's
       distribution exactly), on the device for the same reason. logits f32 [2k + 1, vocab]
       (k + 1 rows when d_vocab is 0): rows 0..k the target's, row k + 1 + r the draft's for
       proposal r (its first d_vocab entries; d_vocab 0: no draft rows, the proposals are prompt
       lookup's, q one-hot); ids as
       verify; rnd f32 [k + 1] uniforms in [0, 1). P_r, Q_r: the distributions `sample` draws
       from with a (temperature, top-k, top-p) for target row r and draft row r. For r = 0, 1,
       ...: when r == k, out[1 + r] = the id `sample` picks from P_r with rnd[k]; else with
       t = ids[1 + r]: t is kept (out[1 + r] = t) when Q_r(t) > 0 and rnd[r] * Q_r(t) < P_r(t),
       else out[1 + r] = the id picked with rnd[k] from norm(max(0, P_r - Q_r)) (from P_r when
       rounding leaves that no mass) and r is the last row. out[0] = the rows written, as
       verify. out i32 [k + 2]; a not greedy (dp_sample_is_greedy false). */
    void (*verify_sample)(dp_backend *b, dp_tensor *out, const dp_tensor *logits, const dp_tensor *ids,
                          const dp_tensor *rnd, int k, int vocab, int d_vocab, const dp_sample_args *a);
    /* LoRA delta of an adapted projection, unmerged: out[n,m] += scale * (x[n,k] @ a[r,k]^T) @
       bw[m,r]^T, a and bw f32 weights; tmp f32 scratch of at least n*r values (overwritten).
       Issued right after the projection's own matmul into the same out. */
    void (*lora)(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *a,
                 const dp_tensor *bw, dp_tensor *tmp, int n, float scale);
    /* Optional (NULL: the caller issues matmul once per weight): outs[i][n, m_i] =
       x[n,k] @ ws[i][m_i,k]^T for i < count, all from the same x, no accumulate. Lets a backend
       convert x once and dispatch the products together (q/k/v, gate/up). */
    void (*matmul_multi)(dp_backend *b, dp_tensor *const *outs, const dp_tensor *x,
                         const dp_tensor *const *ws, int count, int n);
    /* Optional (NULL: weights stay as stored): called once on a weight after its bytes are
       set, before any op uses it, for weights that only matmul / matmul_multi / get_rows read.
       The backend may rearrange the bytes in place (same nbytes) into a layout its kernels
       prefer and record it in t->layout; tensor_set / tensor_read on it are then not
       meaningful. (CPU: q4_K rows interleaved 8 at a time for the decode kernels; q6_K has the layout
       but is left row-major unless built with DP_MM_X8_Q6K_PREFERRED, see matmul.c.) */
    void (*prepare_weight)(dp_backend *b, dp_tensor *t);
    /* Optional (NULL: contexts share the backend's own scratch and sticky error): a second
       handle on the same device with scratch and a sticky error of its own, for one context.
       Ops through it use its scratch, its flush reports only its failures, and tensors may be
       allocated through either handle and used by ops through the other. Freed with its `free`
       before the backend it was made from. */
    dp_status (*stream_new)(dp_backend *b, dp_backend **out, dp_error *e);

    /* ---- fused shapes: optional; NULL: the runtime issues the ops they stand for one by one
       (src/runtime/fused.c, the only caller). Each is defined as that op sequence and writes
       every output the ops would write; a backend implements one to record it in fewer
       dispatches. The forward pass calls these, never a pattern a backend must recognise, so
       fusion cannot vanish when the pass changes; tests/webgpu/dispatch_count.mjs holds the
       dispatches per token. */
    /* rms_norm(h <- x; w) [n, d], then outs[i] = h @ ws[i]^T for i < count (1..3, every
       ws[i]->ne[0] == d), then with glu: glu(outs[0] <- outs[0], outs[1]; *glu) (count 2).
       keep_h false: h is scratch, its contents after the call unspecified (the norm may be
       folded into the products, which then never write it) */
    void (*norm_matmul)(dp_backend *b, dp_tensor *h, const dp_tensor *x, const dp_tensor *w,
                        int n, int d, float eps, bool plus_one, dp_tensor *const *outs,
                        const dp_tensor *const *ws, int count, const dp_act *glu, bool keep_h);
    /* rms_norm(h <- h; w) [n, d], then add(y <- y + h) (a sandwich norm and its residual).
       next (NULL: none) is the norm that reads y next, which the backend may compute in the
       same pass; h is scratch afterwards when next is given */
    void (*norm_add)(dp_backend *b, dp_tensor *y, dp_tensor *h, const dp_tensor *w, int n, int d,
                     float eps, bool plus_one, const dp_norm_next *next);
    /* [rms_norm(q <- q; q_norm) per head, rms_norm(k <- k; k_norm) per head], rope(q),
       rope(k), copy(k_cache[cache_off..] <- k), copy(v_cache[cache_off..] <- v) */
    void (*rope_qk_kv)(dp_backend *b, const dp_qkv_args *a);
    /* The attention block's input for one sequence: norm_matmul(h <- x; w) with the products
       a->q, a->k, a->v = h @ ws[0..2]^T (no glu), then rope_qk_kv(a). keep_h as norm_matmul;
       a->k and a->v are scratch afterwards (the caches hold them) */
    void (*norm_qkv_rope)(dp_backend *b, dp_tensor *h, const dp_tensor *x, const dp_tensor *w, int n,
                          int d, float eps, bool plus_one, const dp_tensor *const *ws,
                          const dp_qkv_args *a, bool keep_h);
    /* [rms_norm(h <- x; norm_w) [n, d]], outs[i] = in @ ws[i]^T (+ outs[i] with accumulate) for
       i < count (in: h with norm_w, else x), lora(outs[i] <- in, a[i], b[i], tmp, n, scale) for
       each adapted i, then with glu: glu(outs[0] <- outs[0], outs[1]; *glu) (count 2).
       Returns false, recording nothing, where the backend has no fused form for these operands
       (the caller then issues the sequence, fused.c); true once recorded (a failure then is
       sticky as for any op). */
    bool (*lora_linear)(dp_backend *b, const dp_lora_linear *a);
} dp_backend_i;

struct dp_backend {
    const dp_backend_i *i;
    void *ctx;
};

dp_status dp_backend_cpu_new(int n_threads, dp_backend **out, dp_error *e);

#endif /* DP_BACKEND_H */
