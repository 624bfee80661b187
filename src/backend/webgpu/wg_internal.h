/* wg_internal.h — the WebGPU backend's context, dispatch recording and op entry points.
 *
 * Every op becomes one or more dispatches of a kernel from kernels/<name>.wgsl (embedded into the
 * WebAssembly module at build time by web/build.sh, see wg_kernels.h). A dispatch is:
 *   pipeline (kernel file, entry point, override constants; cached by that key)
 *   + bind group 0: binding 0 = a 256-byte slot of the uniform ring holding the op's small
 *     parameter struct, bindings 1.. = whole tensors (cached by the key, so a decode step that
 *     repeats the previous one creates no bind groups)
 *   + workgroup counts.
 * The uniform ring is written with one buffer write per submit, before the commands that read it.
 * Scratch buffers (attention partials, MoE routes, dequantized weights for tiled prefill) live in
 * the context and only grow; a replaced buffer is destroyed after the next submit. */
#ifndef DP_WG_INTERNAL_H
#define DP_WG_INTERNAL_H

#if defined(__wasm__)

#include "backend/backend.h"
#include "backend/webgpu/host.h"
#include "backend/webgpu/webgpu.h"
#include "backend/webgpu/wg_registry.h"

#define WG_UNI_SLOT 256u        /* minUniformBufferOffsetAlignment */
#define WG_UNI_SLOTS 2048u      /* dispatches per submit before an automatic submit */
#define WG_MAX_BIND 11          /* storage bindings per dispatch (WebGPU default limit: 8; rope2kv uses 9, nmatvec3_rope 11 where allowed) */

typedef enum wg_scratch_id {
    WG_SCR_IN0 = 0,     /* WG_SCR_IN0 + binding: snapshot of the input at that binding (an */
    WG_SCR_IN1,         /* unaligned view, or one sharing a buffer with the output) */
    WG_SCR_IN2,
    WG_SCR_IN3,
    WG_SCR_IN4,
    WG_SCR_IN5,
    WG_SCR_IN6,
    WG_SCR_IN7,
    WG_SCR_IN8,
    WG_SCR_IN9,
    WG_SCR_IN10,
    WG_SCR_IN11,
    WG_SCR_IN12,        /* (bindings up to 12: nmatvec3_rope) */
    WG_SCR_ATTN,        /* attention partials */
    WG_SCR_MOE_ROUTE,   /* MoE expert id per slot */
    WG_SCR_MOE_W,       /* MoE weight per slot */
    WG_SCR_MOE_H,       /* MoE per-slot gate products, then activations */
    WG_SCR_MOE_U,       /* MoE per-slot up products */
    WG_SCR_MOE_Y,       /* MoE per-slot expert outputs */
    WG_SCR_DEQ,         /* dequantized weight rows for the tiled matmul */
    WG_SCR_SAMPLE,      /* sampling probabilities [vocab] */
    WG_SCR_ACTQ,        /* x through 8-bit blocks (act_quant) */
    WG_SCR_XH,          /* x in f16 for the subgroup-matrix prefill product */
    WG_SCR_PAD,         /* its padded out (matmul_sgmat:staged) */
    WG_SCR_ROWSS,       /* sums of squares of the rows of one tensor (wg_rowss) */
    WG_SCR_COUNT
} wg_scratch_id;

typedef struct wg_pipe {
    uint64_t hash;
    char *key;       /* "file|entry|constants" */
    uint32_t id;     /* host pipeline id */
    const dp_kentry *k; /* the registry entry it was made from */
} wg_pipe;

typedef struct wg_bg {
    uint64_t hash;
    uint32_t id;     /* host bind group id, 0 = empty slot */
    uint32_t n;      /* bindings, including the uniform */
    dp_gpu_binding b[WG_MAX_BIND + 1];
    uint32_t pipeline;
} wg_bg;

typedef struct wg_buf {
    uint32_t id, size;
} wg_buf;

typedef struct wg_bsize {
    uint32_t id, size;  /* id 0: empty; size 0 with an id: deleted */
} wg_bsize;


/* The device: what every handle on it shares (caches, the uniform ring, buffers awaiting
 * destruction, settings, counters). */
typedef struct wg_dev {
    uint32_t features;
    uint32_t max_buffer, max_binding, max_groups, max_storage, max_invocations, max_wg_storage;
    int tune_rows, tune_tpr;  /* matvec shape overrides (0: automatic) */
    int unroll;               /* matvec: units per loop iteration (UNR: 1, 2, 4 or 8) */
    /* the kernel registry pipelines are made from (wg_registry.h): the caller's, or the
     * built-ins (reg_own, made at the first pipeline) */
    const dp_kreg *reg;
    dp_kreg *reg_own;
    /* pipelines: open addressing, power-of-two capacity */
    wg_pipe *pipes;
    uint32_t pipes_cap, pipes_n;
    /* bind groups */
    wg_bg *bgs;
    uint32_t bgs_cap, bgs_n;
    /* uniform ring */
    uint32_t uni_buf;
    uint8_t *uni_host;
    uint32_t uni_used;  /* slots used since the last submit */
    uint32_t recorded;  /* dispatches + copies since the last submit */
    /* buffers to destroy after the next submit */
    uint32_t *dead;
    uint32_t dead_n, dead_cap;
    dp_webgpu_stats stats;
    bool fuse;          /* fusion on (default) */
    bool fold_norm;     /* norms folded into the decode products after them (tune fold_norm; default off) */
    int attn_one_slice; /* decode attention over at most this many keys: one dispatch (tune attn_one_slice; 0) */
    int attn_flash;     /* prefill attention of WG_ATTN_FLASH_ROWS rows or more in row blocks (tune attn_flash
                           0/1; -1: on emulated devices only) */
    bool act_quant;     /* x through the CPU's 8-bit blocks for quantized weights (off by default) */
    bool matvec_i8;     /* products over q4_K/q6_K/q8_0 with 8-bit x and dot4I8Packed (tune matvec_i8) */
    int prefill_sgmat;  /* prefill products on subgroup matrices (tune prefill_sgmat: 1 main, 2 staged) */
    int prefill_tile;   /* tiled prefill products: 0 the 4 x 4 kernel (main), 64 / 128 blocked tiles */
    bool matvec_sg;     /* decode products' row sums by subgroup shuffles (tune matvec_sg) */
    bool matvec_pack;   /* products over 8-bit x pack it per workgroup (tune matvec_pack; default off) */
    uint32_t submit_every; /* paced: a submit after this many dispatches, so the GPU starts on
                              a long recording while the host records the rest (tune submit_every,
                              default 32; 0: never) */
    bool paced;         /* the backend's pace op: on during a speculative step */
    bool pace_always;   /* tune pace=1: every recording paced */
    uint32_t sg_size;   /* the subgroup size when the device's is fixed, else 0 */
    wg_bsize *bsizes;   /* buffer id -> size (open addressing): bindings span whole tensors */
    uint32_t bsizes_cap, bsizes_used;
} wg_dev;

/* What scratch WG_SCR_ROWSS holds: the sum of the squares of each of the n rows of d values of
 * the tensor at (buf, off) — the residual stream a folded norm reads (wg_fuse.c), written by the
 * dispatch that wrote it (rms_norm:norm_add_ss) or by rms_norm:row_ss. buf 0: nothing. Forgotten
 * (wg_memo_forget) when anything may write buf: wg_out, wg_copy, tensor_set, the buffer freed,
 * a failed recording. */
typedef struct wg_rowss {
    uint32_t buf;
    uint64_t off;
    int n, d;
} wg_rowss;

/* What scratch WG_SCR_ACTQ holds after an act_pack: the 8-bit blocks (qb values) of x, n rows
 * of k values bound at (buf, off, size), for the products over it (wg_matvec_input). Valid only
 * while nothing else has been recorded on the device since the last product that read it (seq:
 * the device's dispatches + copies after that product; q/k and v over one x as two dispatches
 * share one act_pack). buf 0: nothing. */
typedef struct wg_actq {
    uint32_t buf, off, size;
    uint64_t n, k, qb, seq;
} wg_actq;

/* The norm a norm_add computed ahead (rms_norm:norm_add_q; backend.h's dp_norm_next): out (at
 * out_buf, out_off) = rms_norm(x; w) for n rows of d values, its 8-bit blocks in scratch
 * WG_SCR_ACTQ (wg_actq). Valid while nothing else has been recorded since (seq) and none of the
 * buffers was written (wg_memo_forget); the norm that follows then records nothing. */
typedef struct wg_normed {
    uint32_t out_buf, x_buf, w_buf;
    uint64_t out_off, x_off, w_off, seq;
    int n, d;
    float eps;
    bool plus_one;
} wg_normed;

/* `Params` of kernels/rms_norm.wgsl, whole (lora_xa's fields; norm_add_q reads `norm`) */
typedef struct wg_norm_params {
    uint32_t n, d;
    float eps;
    uint32_t plus_one, lr, count, lu, a_at[3];
    float scale;
    uint32_t norm;
} wg_norm_params;

/* One handle on a device: the backend itself (owns_dev) or a stream of it (one context's):
 * scratch and the sticky error are per handle. */
typedef struct wg_ctx {
    wg_dev *dev;
    bool owns_dev;
    dp_status status;   /* first failure while recording (sticky until flush) */
    dp_error err;
    wg_buf scratch[WG_SCR_COUNT];
    uint32_t *sel_host;  /* a paged moe's selected expert ids, read back (grow only) */
    uint32_t sel_cap;
    dp_tensor (*views)[3]; /* ... and its fetched experts' tensors in their device slots */
    uint32_t views_cap;
    wg_rowss rowss;        /* what scratch WG_SCR_ROWSS holds */
    wg_actq actq;          /* what scratch WG_SCR_ACTQ holds */
    wg_normed normed;      /* a norm computed ahead by norm_add_q */
} wg_ctx;

/* buf may be written: scratch WG_SCR_ROWSS and WG_SCR_ACTQ no longer describe it (every buffer
 * with 0). */
static inline void wg_memo_forget(wg_ctx *c, uint32_t buf) {
    if (!buf || c->rowss.buf == buf) c->rowss.buf = 0;
    if (!buf || c->actq.buf == buf) c->actq.buf = 0;
    if (!buf || c->normed.out_buf == buf || c->normed.x_buf == buf || c->normed.w_buf == buf) c->normed.out_buf = 0;
}

static inline wg_ctx *wg_ctx_of(dp_backend *b) { return (wg_ctx *)b->ctx; }

/* commands recorded on the device so far: the sequence the memos (wg_actq, wg_normed) are valid at */
static inline uint64_t wg_recorded(const wg_ctx *c) { return c->dev->stats.dispatches + c->dev->stats.copies; }

/* Record a failure (the first wins until flush); returns false. */
bool wg_fail(wg_ctx *c, dp_status st, const char *fmt, ...) DP_PRINTF(3, 4);

/* Binding of a whole tensor (bytes rounded up to 4): weights. */
dp_gpu_binding wg_bind(const dp_tensor *t);
/* Binding (number `binding`) of the first count 4-byte elements of the f32/i32 device tensor t.
 * wg_out: t is written; its offset must be a multiple of 256 (minStorageBufferOffsetAlignment).
 * wg_in: t is read; a view at any other multiple-of-4 offset is first copied to scratch.
 * Both check the tensor and return false after recording a failure. */
bool wg_out(wg_ctx *c, const dp_tensor *t, int64_t count, uint32_t binding, const char *op,
            const char *what, dp_gpu_binding *b);
bool wg_in(wg_ctx *c, const dp_tensor *t, int64_t count, uint32_t binding, const char *op,
           const char *what, dp_gpu_binding *b);
/* Binding of a buffer range. */
dp_gpu_binding wg_bind_buf(uint32_t buf, uint32_t off, uint32_t size);
/* b with its binding number set (the number in the kernel's @binding). */
dp_gpu_binding wg_at(uint32_t binding, dp_gpu_binding b);
/* True when a and b are ranges of the same buffer that overlap. */
bool wg_overlap(dp_gpu_binding a, dp_gpu_binding b);
/* True when both are the same buffer (any ranges): one can't be read-only while the other is
 * written in one dispatch. */
bool wg_same_buffer(dp_gpu_binding a, dp_gpu_binding b);
/* When *in shares a buffer with out, record a copy of *in into scratch WG_SCR_IN0 + its
 * binding number and rebind it there. */
bool wg_unalias(wg_ctx *c, dp_gpu_binding *in, dp_gpu_binding out);

/* A scratch buffer of at least size bytes (grow only); 0 after a recorded failure. */
uint32_t wg_scratch(wg_ctx *c, wg_scratch_id id, uint64_t size);

/* Split n workgroups into a 2-D grid within the per-dimension limit. */
void wg_grid(const wg_ctx *c, uint64_t n, uint32_t *x, uint32_t *y);

/* Record one dispatch of `entry` in kernel `file` with override constants `consts` (may be
 * ""), uniform struct uni (<= 256 bytes) at binding 0 and the nb storage bindings b (each with
 * its @binding number set, see wg_at). */
void wg_dispatch(wg_ctx *c, const char *file, const char *entry, const char *consts,
                 const void *uni, uint32_t uni_len, const dp_gpu_binding *b, int nb, uint32_t gx,
                 uint32_t gy, uint32_t gz);
/* Same with a flat workgroup count split by wg_grid. */
void wg_dispatch_flat(wg_ctx *c, const char *file, const char *entry, const char *consts,
                      const void *uni, uint32_t uni_len, const dp_gpu_binding *b, int nb,
                      uint64_t groups);

/* Record a buffer copy / a read of [off, off + size) into dst (host.h's command list). */
void wg_copy(wg_ctx *c, uint32_t src, uint32_t src_off, uint32_t dst, uint32_t dst_off,
             uint32_t size);
void wg_read(wg_ctx *c, uint32_t buf, uint32_t off, uint32_t size, void *dst);
/* Hand the host the commands recorded so far (they go into its open encoder, not submitted):
 * before destroying a bind group or buffer the list may name. wg_submit does it too. */
void wg_cmds_flush(void);
/* Write the uniform ring, submit what is recorded, then destroy dead buffers. */
void wg_submit(wg_ctx *c);
/* Before recording into the host's encoder (one per process, shared by every device handle):
 * submit what another device recorded there, so its uniform ring is written before its
 * commands run. */
void wg_claim_encoder(wg_ctx *c);
/* The device is gone: forget that it holds the encoder. */
void wg_release_encoder(const wg_dev *d);
/* Forget cached bind groups that use buffer (before it is destroyed). */
void wg_bind_groups_drop_buffer(wg_ctx *c, uint32_t buf);
void wg_cache_free(wg_dev *d);
/* Forget every pipeline (the registry changed). */
void wg_pipes_clear(wg_dev *d);
/* Destroy buf after the next submit. */
void wg_destroy_later(wg_ctx *c, uint32_t buf);
/* Sizes of the buffers this backend created (0: unknown). */
bool wg_bufsize_put(wg_ctx *c, uint32_t id, uint32_t size);
uint32_t wg_bufsize_get(const wg_ctx *c, uint32_t id);
void wg_bufsize_del(wg_ctx *c, uint32_t id);

/* Kernel file name for a weight dtype ("weights_q4_k"), NULL when unsupported. */
const char *wg_weights_file(dp_dtype t);
/* Checks a weight tensor [ne[1] rows, ne[0] values]; returns its row bytes, 0 after a recorded
 * failure. */
uint32_t wg_weights_check(wg_ctx *c, const dp_tensor *w, const char *op);
/* Invocations per weight row for a matvec over rows of k values of type t ("TPR" constant). */
uint32_t wg_matvec_tpr(dp_dtype t, int64_t k);
/* Workgroup shape of a matrix-vector product over m rows of k values of type t in kernel file:
 * TPR lanes per row, *rows rows per workgroup (WG = TPR x rows: 256 unless tuned, at least 64, at
 * most the device's invocations); constants "WG=..,TPR=..,UNR=.." (and SGS=.. for the _sg
 * kernels) go to consts. Tunable (dp_backend_webgpu_tune). */
void wg_matvec_config(const wg_ctx *c, dp_dtype t, const char *file, int64_t k, int64_t m,
                      uint32_t *rows, char *consts, size_t consts_size);

/* matches `Params` in kernels/weights_common.wgsl */
typedef struct wg_weights_params {
    uint32_t n, k, m, row_bytes;
    float scale;
    uint32_t accumulate, r0, x_div;
    uint32_t m2, row_bytes2, flags;
    float eps;
    uint32_t m3, row_bytes3;
    uint32_t lr, lu, lb[3], lu_at[3];
} wg_weights_params;
enum { WG_NMV_GLU = 4u, WG_NMV_GELU = 8u, WG_NMV_PLUS_ONE = 16u, WG_NMV_NORM = 32u };
/* The x that products over weights of type t read: *x itself, or, when act_quant is on and t is
 * block-quantized, x ([n, k] floats) through the CPU's 8-bit activation blocks, written by
 * weights_<t>:act_quant into scratch (*x is rebound there, binding number kept). False after a
 * recorded failure. */
bool wg_actq_input(wg_ctx *c, dp_dtype t, dp_gpu_binding *x, uint64_t n, uint64_t k);
/* The kernel and the x of a decode product (n <= 8 rows of k values) over weights of type t:
 * weights_<t>_i8 with x packed by its act_pack into scratch (kernels/weights_i8.wgsl) when
 * matvec_i8 is on and t has that kernel (q4_K, q6_K, q8_0) — the blocks another dispatch wrote
 * where they are x's (wg_actq_note), else, with matvec_pack, weights_<t>_i8p over x as it is
 * (each workgroup packs it, kernels/weights_i8p.wgsl); else weights_<t> with x from
 * wg_actq_input; the _sg form of either (kernels/weights_sg.wgsl) when matvec_sg is on and t has
 * it. *x is rebound (binding number kept); NULL after a recorded failure. */
const char *wg_matvec_input(wg_ctx *c, dp_dtype t, dp_gpu_binding *x, uint64_t n, uint64_t k);
/* weights_<t>_i8p[_sg] for the decode products over ws[0..count) (t: ws[0]'s type), n rows of d
 * values, where matvec_pack is on, the products all take 8-bit x in one block
 * (wg_matvec_i8_block_of) and a row's blocks fit the workgroup memory: each workgroup packs x
 * (through the norm of weight g at binding 10 with flag WG_NMV_NORM) itself; else NULL. */
const char *wg_matvec_pack_kernel(const wg_ctx *c, const dp_tensor *const *ws, int count, uint64_t n, int64_t d);
/* Whether kernel is a weights_<t>_i8p[_sg] (x f32 at binding 3, the norm weight at binding 10:
 * its entries read it, so a product without the norm binds something there). */
bool wg_matvec_packs(const char *kernel);
/* The kernel wg_matvec_input picks where it takes x through 8-bit blocks (weights_<t>_i8[_sg]),
 * NULL where it does not; nothing recorded. */
const char *wg_matvec_i8_kernel(const wg_ctx *c, dp_dtype t, uint64_t n);
/* The 8-bit block (values) in which decode products of type t over n rows take x
 * (weights_<t>_i8), 0 where they take f32 x. */
uint32_t wg_matvec_i8_block(const wg_ctx *c, dp_dtype t, uint64_t n);
/* The one 8-bit block in which all the decode products over ws[0..count) take x, rows of d
 * values (each ws[i]->ne[0] == d) that are whole blocks; 0 where they do not (f32 x, blocks of
 * different sizes, d not a multiple). A producer of that x writes the blocks for all of them. */
uint32_t wg_matvec_i8_block_of(const wg_ctx *c, const dp_tensor *const *ws, int count, uint64_t n, int64_t d);
/* Scratch WG_SCR_ACTQ sized for the 8-bit blocks (qb values) of n rows of k values (*bytes);
 * 0 after a recorded failure. */
uint32_t wg_actq_scratch(wg_ctx *c, uint64_t n, uint64_t k, uint64_t qb, uint32_t *bytes);
/* The dispatch just recorded wrote the 8-bit blocks of x (bound as x) into scratch WG_SCR_ACTQ
 * (rms_norm:main_q): the products over x that come next read them (wg_actq). */
void wg_actq_note(wg_ctx *c, dp_gpu_binding x, uint64_t n, uint64_t k, uint64_t qb);
/* The decode kernel of type t with the rms_norm in front of the products folded in
 * (kernels/weights_norm.wgsl): weights_<t>_n, or weights_<t>_n_sg with matvec_sg where t has
 * it, written to buf; NULL where the products take 8-bit x (act_quant, matvec_i8 for t: x is
 * converted after the norm, so the norm cannot be inside the products). */
const char *wg_matvec_norm_kernel(const wg_ctx *c, dp_dtype t, char *buf, size_t size);
/* The 8-bit activation block act_quant uses for weights of type t (32: q8_0, 256: K-quants), 0
 * when x stays f32 (act_quant off, or a float type). */
uint32_t wg_actq_block(const wg_ctx *c, dp_dtype t);

/* ---- ops as dispatches, one op at a time (ops_*.c) ---- */
void wg_rec_get_rows(dp_backend *b, dp_tensor *out, const dp_tensor *table, const dp_tensor *ids,
                    int n, float scale);
void wg_rec_rms_norm(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *w, int n,
                    int d, float eps, bool plus_one);
/* wg_rec_rms_norm, and where the decode products over the weights ws[0..count) that read out
 * next all take 8-bit x in one block size (wg_matvec_i8_block; q4_K and q6_K both 256) and rows
 * are whole blocks, out's 8-bit blocks written by the same dispatch (rms_norm:main_q) for them
 * (wg_actq_note), so that they need no act_pack. */
void wg_rec_rms_norm_for(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *w, int n,
                         int d, float eps, bool plus_one, const dp_tensor *const *ws, int count);
/* Override constants ("WG=..") of rms_norm.wgsl for rows of d values. */
const char *wg_norm_consts(const wg_ctx *c, int d, char *buf, size_t size);
void wg_rec_matmul(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *w, int n,
                  bool accumulate);
void wg_rec_add(dp_backend *b, dp_tensor *out, const dp_tensor *a, const dp_tensor *bb,
               int64_t count);
void wg_rec_rope(dp_backend *b, dp_tensor *x, const dp_tensor *pos, const dp_tensor *inv_freq, int n,
                const dp_rope_args *a);
void wg_rec_copy(dp_backend *b, dp_tensor *dst, int64_t dst_off, const dp_tensor *src,
                int64_t count);
void wg_rec_attention(dp_backend *b, dp_tensor *out, const dp_tensor *q, const dp_tensor *k_cache,
                     const dp_tensor *v_cache, const dp_attn_args *a);
void wg_rec_glu(dp_backend *b, dp_tensor *out, const dp_tensor *gate, const dp_tensor *up, int n,
               int f, dp_act act);
void wg_rec_softcap(dp_backend *b, dp_tensor *x, int64_t count, float cap);
void wg_rec_scale(dp_backend *b, dp_tensor *x, int64_t count, float s);
void wg_rec_lora(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *a,
                 const dp_tensor *bw, dp_tensor *tmp, int n, float scale);
void wg_rec_moe(dp_backend *b, dp_tensor *out, const dp_tensor *x, const dp_tensor *logits,
               const dp_tensor *gate, const dp_tensor *up, const dp_tensor *down,
               const dp_expert_src *src, int n,
               int n_expert, int k, dp_act act);
void wg_rec_verify(dp_backend *b, dp_tensor *out, const dp_tensor *logits, const dp_tensor *ids, int k,
                   int vocab);
void wg_rec_verify_sample(dp_backend *b, dp_tensor *out, const dp_tensor *logits, const dp_tensor *ids,
                          const dp_tensor *rnd, int k, int vocab, int d_vocab, const dp_sample_args *a);
void wg_rec_sample(dp_backend *b, dp_tensor *out, const dp_tensor *logits, int row, int vocab,
                  const dp_sample_args *a);


/* The adapter's side of a decode product with a LoRA epilogue (the _lora entries of
 * kernels/weights_common.wgsl; wg_lora.c): u = scale * x A^T of the products (rms_norm:lora_xa's
 * output) at binding 6, the range of the adapter's buffer holding the B matrices at binding 7;
 * the rank, values of u per x row, and for each product of the dispatch where its B starts in
 * that range (WG_LORA_NONE: not adapted) and its u in a row, in floats. */
#define WG_LORA_NONE 0xffffffffu
typedef struct wg_lora_epi {
    dp_gpu_binding u, lb;
    uint32_t lr, lu, lb_at[3], lu_at[3];
} wg_lora_epi;
/* Sets the epilogue's fields of prm and appends its two bindings to bs[*nb] (*nb += 2). */
void wg_lora_epi_put(const wg_lora_epi *e, wg_weights_params *prm, dp_gpu_binding *bs, int *nb);
/* A decode product out [n, m] = x W^T (+ out): weights_<t>:matvec (lora NULL) or matvec_lora
 * (ops_matmul.c); x is bound at 3, converted for the kernel here (wg_matvec_input). */
void wg_emit_matvec(wg_ctx *c, dp_gpu_binding o, dp_gpu_binding xb, dp_gpu_binding wb, const dp_tensor *w,
                    uint32_t rb, int n, bool accumulate, const wg_lora_epi *lora);

/* ---- fused shapes (wg_fuse.c): backend.h's norm_matmul, norm_add, rope_qk_kv ---- */
/* Whether norm_matmul's operands fit a fused form (wg_fuse.c has the conditions; the weight types
 * and the storage bindings are the caller's to check). */
bool wg_norm_matmul_fits(const wg_ctx *c, const dp_tensor *h, const dp_tensor *x, const dp_tensor *w, int n,
                         int d, dp_tensor *const *outs, const dp_tensor *const *ws, int count, const dp_act *glu);
/* The products of h (nm of them, 1..3) as one nmatvec / nmatvec3 dispatch [glu], or the _lora
 * form of it with lora. */
void wg_emit_nmatvec(wg_ctx *c, const dp_tensor *h, int n, dp_tensor *const *outs, const dp_tensor *const *ws,
                     int nm, const dp_act *glu_act, const wg_lora_epi *lora);
void wg_op_norm_matmul(dp_backend *b, dp_tensor *h, const dp_tensor *x, const dp_tensor *w,
                       int n, int d, float eps, bool plus_one, dp_tensor *const *outs,
                       const dp_tensor *const *ws, int count, const dp_act *glu, bool keep_h);
void wg_op_norm_add(dp_backend *b, dp_tensor *y, dp_tensor *h, const dp_tensor *w, int n, int d,
                    float eps, bool plus_one, const dp_norm_next *next);
/* The norm out = rms_norm(x; w) was computed ahead (c->normed) and nothing has touched it since:
 * the caller records nothing (its products read the 8-bit blocks noted with it). */
bool wg_normed_ready(const wg_ctx *c, const dp_tensor *out, const dp_tensor *x, const dp_tensor *w, int n, int d,
                     float eps, bool plus_one);
void wg_op_rope_qk_kv(dp_backend *b, const dp_qkv_args *a);
void wg_op_norm_qkv_rope(dp_backend *b, dp_tensor *h, const dp_tensor *x, const dp_tensor *w, int n,
                         int d, float eps, bool plus_one, const dp_tensor *const *ws,
                         const dp_qkv_args *a, bool keep_h);
/* backend.h's lora_linear (wg_lora.c) */
bool wg_op_lora_linear(dp_backend *b, const dp_lora_linear *a);

#endif /* __wasm__ */
#endif /* DP_WG_INTERNAL_H */
