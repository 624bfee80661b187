/* write.c — canonical tensor order, dtype recipes and row streaming into the RDRR writer. */
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "base/sha256.h"
#include "format/quant.h"
#include "model/hf.h"
#include "model/write.h"

static const char *const RECIPES[] = {"f32", "f16", "bf16", "q8_0", "q4_k_m", "q6_k", "keep"};

bool dp_recipe_parse(const char *name, dp_recipe *r) {
    for (int i = 0; i < (int)(sizeof RECIPES / sizeof RECIPES[0]); i++)
        if (!strcmp(name, RECIPES[i])) { *r = (dp_recipe)i; return true; }
    return false;
}

const char *dp_recipe_name(dp_recipe r) {
    return (unsigned)r < sizeof RECIPES / sizeof RECIPES[0] ? RECIPES[r] : "unknown";
}

dp_status dp_tokenizer_files_json(const char *dir, const char *const *names, size_t n, dp_buf *out, dp_error *e) {
    dp_buf files = {0}, hashes = {0};
    dp_status st = DP_OK;
    size_t k = 0;
    for (size_t i = 0; i < n && st == DP_OK; i++) {
        char *path = dp_path_join(dir, names[i]);
        uint8_t digest[32];
        char hex[65];
        if (!path) st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
        else if (dp_file_exists(path) && (st = dp_sha256_file(path, digest, e)) == DP_OK) {
            dp_sha256_hex(digest, hex);
            dp_buf_puts(&files, k ? "," : "");
            dp_json_write_str(&files, names[i], strlen(names[i]));
            dp_buf_puts(&hashes, k ? "," : "");
            dp_json_write_str(&hashes, names[i], strlen(names[i]));
            dp_buf_printf(&hashes, ":\"sha256:%s\"", hex);
            k++;
        }
        dp_free(path);
    }
    dp_buf_printf(out, "{\"files\":[%s],\"hashes\":{%s}}", files.data ? files.data : "", hashes.data ? hashes.data : "");
    if (st == DP_OK && (files.oom || hashes.oom || out->oom)) st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    dp_buf_free(&files);
    dp_buf_free(&hashes);
    return st;
}

/* llama.cpp's rule for which layers get more bits in *_M mixes */
static bool use_more_bits(int i, int n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* A block type when the row length allows it, else the nearest finer one that fits. */
static dp_dtype fit(dp_dtype t, int64_t cols) {
    if ((t == DP_DTYPE_Q4_K || t == DP_DTYPE_Q6_K || t == DP_DTYPE_Q5_K) && cols % 256 != 0)
        t = DP_DTYPE_Q8_0;
    if (t == DP_DTYPE_Q8_0 && cols % 32 != 0) t = DP_DTYPE_F16;
    return t;
}

static dp_dtype choose_dtype(const dp_model_desc *d, dp_recipe r, const dp_wtensor *t) {
    bool norm = t->rows == 1 || t->role == DP_HF_OUTPUT_NORM;
    if (norm || t->role == DP_W_ROUTER) return DP_DTYPE_F32;
    bool is_output = t->role == DP_HF_OUTPUT || (t->role == DP_HF_EMBED && d->tied_embeddings);
    switch (r) {
    case DP_RECIPE_F32: return DP_DTYPE_F32;
    case DP_RECIPE_F16: return DP_DTYPE_F16;
    case DP_RECIPE_BF16: return DP_DTYPE_BF16;
    case DP_RECIPE_Q8_0: return fit(DP_DTYPE_Q8_0, t->cols);
    case DP_RECIPE_Q6_K: return fit(DP_DTYPE_Q6_K, t->cols);
    case DP_RECIPE_Q4_K_M:
        if (is_output) return fit(DP_DTYPE_Q6_K, t->cols);
        if ((t->role == DP_W_V || t->role == DP_W_DOWN) && use_more_bits(t->layer, d->n_layers))
            return fit(DP_DTYPE_Q6_K, t->cols);
        return fit(DP_DTYPE_Q4_K, t->cols);
    default: return DP_DTYPE_F32;
    }
}

typedef struct wctx {
    const dp_wsource *src;
    const dp_wtensor *t;
    float *tmp;          /* CHUNK_ROWS x cols */
    bool raw;
    dp_pool *pool;
    /* the chunk being converted by the pool's threads */
    uint8_t *out;
    int64_t row0, k;
    uint64_t row_bytes;
    dp_status st[64];    /* per thread (source calls made by threads) */
    dp_error err[64];
} wctx;

enum { CHUNK_ROWS = 256 };

static void convert_row(const dp_wtensor *t, const float *row, uint8_t *o) {
    if (t->dtype == DP_DTYPE_F32) memcpy(o, row, (size_t)t->cols * 4);
    else if (t->dtype == DP_DTYPE_F16)
        for (int64_t j = 0; j < t->cols; j++) { uint16_t h = dp_f32_to_f16(row[j]); memcpy(o + 2 * j, &h, 2); }
    else if (t->dtype == DP_DTYPE_BF16)
        for (int64_t j = 0; j < t->cols; j++) { uint16_t h = dp_f32_to_bf16(row[j]); memcpy(o + 2 * j, &h, 2); }
    else dp_quant_row(t->dtype, row, o, (size_t)t->cols);
}

/* Rows of the current chunk split by thread: produced by the source (when it is thread-safe)
 * and converted to the stored dtype. */
static void convert_task(void *arg, int ith, int nth) {
    wctx *w = arg;
    int64_t per = (w->k + nth - 1) / nth, a = per * ith, b = a + per < w->k ? a + per : w->k;
    if (a >= b) return;
    const dp_wtensor *t = w->t;
    if (w->src->thread_safe) {
        w->st[ith] = w->src->rows_f32(w->src->ud, t, w->row0 + a, b - a, w->tmp + a * t->cols, &w->err[ith]);
        if (w->st[ith] != DP_OK) return;
    }
    for (int64_t i = a; i < b; i++) convert_row(t, w->tmp + i * t->cols, w->out + (uint64_t)i * w->row_bytes);
}

static dp_status write_rows(void *ud, uint64_t row0, uint64_t n_rows, void *dst, dp_error *e) {
    wctx *w = ud;
    const dp_wtensor *t = w->t;
    uint64_t row_bytes;
    dp_dtype_row_bytes(t->dtype, (uint64_t)t->cols, &row_bytes);
    if (w->raw) return w->src->rows_raw(w->src->ud, t, (int64_t)row0, (int64_t)n_rows, dst, e);
    int nth = w->pool ? dp_pool_size(w->pool) : 1;
    for (uint64_t r = 0; r < n_rows; r += CHUNK_ROWS) {
        w->k = (int64_t)(n_rows - r < CHUNK_ROWS ? n_rows - r : CHUNK_ROWS);
        w->row0 = (int64_t)(row0 + r);
        w->out = (uint8_t *)dst + r * row_bytes;
        w->row_bytes = row_bytes;
        if (!w->src->thread_safe) {
            dp_status st = w->src->rows_f32(w->src->ud, t, w->row0, w->k, w->tmp, e);
            if (st != DP_OK) return st;
        }
        for (int i = 0; i < nth; i++) w->st[i] = DP_OK;
        dp_pool_run(w->pool, convert_task, w);
        for (int i = 0; i < nth; i++)
            if (w->st[i] != DP_OK) {
                if (e) *e = w->err[i];
                return w->st[i];
            }
    }
    return DP_OK;
}

/* Bytes of one expert of layer l as the recipe stores them, with room for alignment (the
 * dp_rdrr_writer_break need of its three matrices). */
static uint64_t expert_bytes(const dp_model_desc *d, const dp_write_opts *o, int l) {
    static const dp_wrole er[3] = {DP_W_GATE, DP_W_UP, DP_W_DOWN};
    uint64_t need = 0;
    for (int k = 0; k < 3; k++) {
        int64_t rows, cols;
        uint64_t rb;
        dp_model_wshape(d, er[k], &rows, &cols);
        dp_wtensor t = {"", l, 0, er[k], rows, cols, DP_DTYPE_F32};
        dp_dtype dt = choose_dtype(d, o->recipe == DP_RECIPE_KEEP ? DP_RECIPE_F32 : o->recipe, &t);
        if (dp_dtype_row_bytes(dt, (uint64_t)cols, &rb)) need += rb * (uint64_t)rows + DP_RDRR_ALIGN;
    }
    return need;
}

static dp_status write_one(dp_rdrr_writer *w, const dp_model_desc *d, const dp_write_opts *o,
                           const dp_wsource *src, dp_wtensor *t, float *tmp, dp_pool *pool, dp_error *e) {
    dp_dtype native, want = choose_dtype(d, o->recipe == DP_RECIPE_KEEP ? DP_RECIPE_F32 : o->recipe, t);
    t->dtype = want;
    bool raw = (o->recipe == DP_RECIPE_KEEP || src->raw_any_recipe) && src->native && src->rows_raw &&
               src->native(src->ud, t, &native) && (o->recipe == DP_RECIPE_KEEP || native == want);
    bool norm = t->rows == 1 || t->role == DP_HF_OUTPUT_NORM;
    if (raw && norm && native != DP_DTYPE_F32) raw = false; /* norms are always stored as f32 */
    t->dtype = raw ? native : want;
    static const char *const special[] = {"embed", "output_norm", "output"};
    dp_rdrr_tensor_desc td = {t->name, t->dtype, {(uint64_t)t->cols, (uint64_t)t->rows},
                              t->role >= DP_HF_EMBED ? special[t->role - DP_HF_EMBED] : dp_wrole_name((dp_wrole)t->role),
                              t->layer, t->expert};
    wctx *c = dp_calloc(1, sizeof *c);
    if (!c) return dp_err_set(e, DP_ERR_NOMEM, "convert: out of memory");
    c->src = src;
    c->t = t;
    c->tmp = tmp;
    c->raw = raw;
    c->pool = pool;
    dp_status st = dp_rdrr_writer_add(w, &td, write_rows, c, e);
    dp_free(c);
    return st; /* the writer already names the tensor */
}

dp_status dp_model_write(const dp_model_desc *d, const char *dir, const dp_write_opts *o,
                         const dp_wsource *src, dp_error *e) {
    dp_status st = dp_model_validate(d, e);
    if (st != DP_OK) return st;
    int64_t widest = d->hidden > d->ffn ? d->hidden : d->ffn;
    if ((int64_t)d->n_head * d->head_dim > widest) widest = (int64_t)d->n_head * d->head_dim;
    float *tmp = dp_malloc((size_t)widest * CHUNK_ROWS * sizeof(float));
    if (!tmp) return dp_err_set(e, DP_ERR_NOMEM, "convert: out of memory");
    dp_rdrr_writer *w = NULL;
    dp_pool *pool = NULL;
    dp_write_opts oo = *o;
    if (o->expert_shards && d->n_expert > 0) { /* a shard must hold the largest expert */
        uint64_t most = 0;
        for (int l = 0; l < d->n_layers; l++) {
            uint64_t need = expert_bytes(d, o, l);
            most = need > most ? need : most;
        }
        uint64_t cap = o->shard_max ? o->shard_max : DP_RDRR_DEFAULT_SHARD;
        if (most > cap) oo.shard_max = most < DP_RDRR_MAX_SHARD ? most : DP_RDRR_MAX_SHARD;
    }
    o = &oo;
    st = dp_pool_new(o->n_threads > 0 ? (o->n_threads < 64 ? o->n_threads : 64) : (dp_cpu_count() < 64 ? 0 : 64), &pool, e);
    if (st == DP_OK) st = dp_rdrr_writer_new(dir, o->shard_max, &w, e);
    int64_t total = 3 + (int64_t)d->n_layers * (DP_W_LAYER_COUNT + 3 * d->n_expert), done = 0;
    char name[128];
    dp_wtensor t;
#define EMIT(nm, ly, ex, rl, rw, cl)                                                           \
    do {                                                                                       \
        t = (dp_wtensor){nm, ly, ex, rl, rw, cl, DP_DTYPE_F32};                                \
        if (st == DP_OK) st = write_one(w, d, o, src, &t, tmp, pool, e);                             \
        if (o->progress) o->progress(o->progress_ud, ++done, total);                           \
    } while (0)
    EMIT("token_embd.weight", -1, -1, DP_HF_EMBED, d->vocab, d->hidden);
    for (int l = 0; l < d->n_layers && st == DP_OK; l++) {
        for (int r = 0; r < DP_W_LAYER_COUNT && st == DP_OK; r++) {
            if (!dp_model_has(d, (dp_wrole)r)) continue;
            if (dp_model_expert_slot(d, r) >= 0) continue;
            int64_t rows, cols;
            dp_model_wshape(d, (dp_wrole)r, &rows, &cols);
            dp_tensor_name(name, sizeof name, l, (dp_wrole)r, -1);
            EMIT(name, l, -1, r, rows, cols);
        }
        for (int x = 0; x < d->n_expert && st == DP_OK; x++) {
            /* one expert's three matrices stay in one shard when they fit in one (with
               expert_shards: in a shard of their own) */
            static const dp_wrole er[3] = {DP_W_GATE, DP_W_UP, DP_W_DOWN};
            st = dp_rdrr_writer_break(w, o->expert_shards ? 0 : expert_bytes(d, o, l), e);
            for (int k = 0; k < 3 && st == DP_OK; k++) {
                int64_t rows, cols;
                dp_model_wshape(d, er[k], &rows, &cols);
                dp_tensor_name(name, sizeof name, l, er[k], x);
                EMIT(name, l, x, er[k], rows, cols);
            }
        }
        if (st == DP_OK && o->expert_shards && d->n_expert > 0) st = dp_rdrr_writer_break(w, 0, e);
    }
    EMIT("output_norm.weight", -1, -1, DP_HF_OUTPUT_NORM, 1, d->hidden);
    if (!d->tied_embeddings) EMIT("output.weight", -1, -1, DP_HF_OUTPUT, d->vocab, d->hidden);
#undef EMIT
    if (st == DP_OK) {
        dp_buf mj = {0};
        dp_model_to_json(d, &mj);
        dp_buf_puts(&mj, "");
        if (mj.oom) st = dp_err_set(e, DP_ERR_NOMEM, "convert: out of memory");
        /* add provenance fields inside the model object */
        if (st == DP_OK && (o->source || o->recipe != DP_RECIPE_KEEP)) {
            mj.len--; /* drop the closing brace */
            dp_buf_puts(&mj, ",\"quantization\":");
            dp_json_write_str(&mj, dp_recipe_name(o->recipe), strlen(dp_recipe_name(o->recipe)));
            if (o->source) {
                dp_buf_puts(&mj, ",\"source\":");
                dp_json_write_str(&mj, o->source, strlen(o->source));
            }
            dp_buf_puts(&mj, "}");
        }
        if (st == DP_OK) st = dp_rdrr_writer_finish(w, mj.data, o->tokenizer_json, e);
        dp_buf_free(&mj);
    }
    dp_rdrr_writer_free(w);
    dp_pool_free(pool);
    dp_free(tmp);
    return st;
}
