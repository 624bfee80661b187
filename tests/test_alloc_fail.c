/* test_alloc_fail.c — every load path under forced allocation failure (docs/SECURITY.md).
 *
 * An allocator hook fails the Nth allocation (N = 1, 2, ...) and counts live blocks. For each N
 * the operation must either fail with DP_ERR_NOMEM or, when the failure was never reached,
 * succeed; in both cases, once its result is freed, no block may be left. The sweep ends at the
 * first N past the operation's last allocation. Operations:
 *   - conversion: dp_convert_hf of fixtures/hf-tiny/llama (f32 and q8_0) and dp_convert_gguf of
 *     fixtures/gguf/llama-q8_0.gguf (quantized tensors kept) into a scratch folder;
 *   - model loading: dp_model_load of that conversion, then a context and one evaluation, and
 *     speculative decoding on it (a draft context, a dp_spec with it and one with lookup, one
 *     sampled and one greedy step), then a generation (dp_gen);
 *   - dp_perplexity writing a KL base file, then comparing the model against it;
 *   - tokenizer loading: dp_tokenizer_load of generated files: a tokenizer.json folder with a
 *     tokenizer_config.json, a tiktoken rank file, and GGUF vocabularies (SentencePiece and
 *     byte-level BPE), then one encode and decode.
 * The hook is global: it is set for each sweep and restored after. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/webgpu/wg_registry.h"
#include "base/base.h"
#include "doppler.h"
#include "policy/bundle.h"
#include "model/write.h"
#include "testutil.h"
#include "tokenizer/tokenizer.h"

/* ---- the failing allocator ---- */

static atomic_long g_live;    /* blocks allocated through the hook and not yet freed */
static atomic_long g_count;   /* allocations (and growing reallocations) so far */
static atomic_long g_fail_at; /* the one that fails (1-based), 0: none */
static atomic_bool g_failed;  /* the failure was injected */

static void *fail_alloc(void *ud, void *p, size_t n) {
    (void)ud;
    if (n == 0) {
        if (p) atomic_fetch_sub(&g_live, 1);
        free(p);
        return NULL;
    }
    long k = atomic_fetch_add(&g_count, 1) + 1;
    if (k == atomic_load(&g_fail_at)) {
        atomic_store(&g_failed, true);
        return NULL;
    }
    void *q = realloc(p, n);
    if (q && !p) atomic_fetch_add(&g_live, 1);
    return q;
}

typedef dp_status (*op_fn)(void *ctx, dp_error *e);

/* Runs op with the Nth allocation failing, for N = 1, 2, ... until op no longer reaches it. */
static void sweep(const char *name, op_fn op, void *ctx) {
    long n = 1, last_total = 0;
    dp_set_allocator(fail_alloc, NULL);
    for (;; n++) {
        atomic_store(&g_live, 0);
        atomic_store(&g_count, 0);
        atomic_store(&g_failed, false);
        atomic_store(&g_fail_at, n);
        dp_error e = {0};
        dp_status st = op(ctx, &e);
        atomic_store(&g_fail_at, 0);
        bool failed = atomic_load(&g_failed);
        long live = atomic_load(&g_live);
        last_total = atomic_load(&g_count);
        if (!failed) {
            CHECK_MSG(st == DP_OK, "%s: no allocation failed, yet: %s (%s)", name, dp_status_str(st), e.msg);
            CHECK_MSG(live == 0, "%s: %ld blocks leaked by a successful run", name, live);
            break;
        }
        CHECK_MSG(st == DP_ERR_NOMEM, "%s: allocation %ld of %ld failed, status %s (%s)", name, n, last_total,
                  dp_status_str(st), e.msg);
        CHECK_MSG(st == DP_OK || e.msg[0], "%s: allocation %ld failed and no reason was given", name, n);
        CHECK_MSG(live == 0, "%s: allocation %ld failed: %ld blocks leaked", name, n, live);
        if (t_failures > 20) break; /* one broken path repeats for every later N */
    }
    dp_set_allocator(NULL, NULL);
    printf("%s: %ld allocations, each failed once\n", name, n - 1);
}

/* ---- conversion ---- */

typedef struct convert_ctx {
    const char *src;
    char out[2048];
    dp_recipe recipe;
} convert_ctx;

static dp_status op_convert(void *ctx, dp_error *e) {
    convert_ctx *c = ctx;
    t_tmpdir("alloc_fail_convert"); /* c->out, emptied */
    dp_write_opts o = {0};
    o.recipe = c->recipe;
    return dp_convert_hf(c->src, c->out, &o, e);
}

typedef struct gguf_ctx {
    const char *src;
    char out[2048];
} gguf_ctx;

static dp_status op_convert_gguf(void *ctx, dp_error *e) {
    gguf_ctx *c = ctx;
    t_tmpdir("alloc_fail_gguf"); /* c->out, emptied */
    dp_write_opts o = {0};
    o.recipe = DP_RECIPE_KEEP;
    return dp_convert_gguf(c->src, c->out, &o, e);
}

/* ---- model loading ---- */

static dp_status load_1thread(const char *dir, dp_model **m, dp_error *e) {
    dp_load_params p;
    dp_load_params_default(&p);
    p.n_threads = 1;
    return dp_model_load(dir, &p, m, e);
}

/* model load (the backend's scratch lives in the model), contexts with the adapter in dir
 * adapter (NULL: none) loaded and set, eval, speculation, the token loop, a batch */
static dp_status load_eval(const char *dir, const char *adapter, dp_error *e) {
    dp_model *m = NULL;
    dp_status st = load_1thread(dir, &m, e);
    if (st != DP_OK) return st;
    dp_ctx_params cp;
    dp_ctx_params_default(&cp);
    cp.n_ctx = 16;
    cp.n_batch = 4;
    dp_ctx *c = NULL, *c2 = NULL;
    dp_batch *b = NULL;
    dp_adapter *a = NULL;
    int32_t ids[3] = {1, 2, 3};
    st = dp_ctx_new(m, &cp, &c, e);
    if (st == DP_OK && adapter) st = dp_adapter_load(m, adapter, &a, e);
    if (st == DP_OK && adapter) st = dp_ctx_set_adapter(c, a, 1.0f, 0, e);
    if (st == DP_OK) st = dp_ctx_eval(c, ids, 3, NULL, e);
    dp_ctx *d = NULL;
    dp_spec *s = NULL, *l = NULL;
    int32_t out[4], got = 0;
    const dp_sampling smp = {0.9f, 0, 1.0f, 3};
    if (st == DP_OK) st = dp_ctx_new(m, &cp, &d, e);
    if (st == DP_OK) st = dp_spec_new(c, d, NULL, &s, e);
    if (st == DP_OK) st = dp_spec_new(c, NULL, NULL, &l, e);
    if (st == DP_OK) st = dp_spec_step(s, ids, 3, &smp, out, 4, &got, e);
    if (st == DP_OK) st = dp_ctx_truncate(c, 2, e);
    if (st == DP_OK) st = dp_spec_step(l, ids, 3, NULL, out, 4, &got, e);
    dp_spec_free(l);
    dp_spec_free(s);
    dp_ctx_free(d);
    /* the token loop: everything it needs is allocated by dp_gen_new */
    dp_gen *g = NULL;
    dp_gen_token t = {0};
    if (st == DP_OK) st = dp_gen_new(c, NULL, NULL, &g, e);
    if (st == DP_OK) st = dp_gen_prompt(g, ids, 3, e);
    while (st == DP_OK && t.stop == DP_GEN_RUNNING) st = dp_gen_step(g, &t, e);
    dp_gen_free(g);
    /* two sequences in one pass (dp_batch_eval): the batch's scratch is its only allocation */
    if (st == DP_OK) dp_ctx_reset(c); /* the generation filled it */
    if (st == DP_OK) st = dp_ctx_eval(c, ids, 2, NULL, e);
    if (st == DP_OK) st = dp_ctx_new(m, &cp, &c2, e);
    if (st == DP_OK && adapter) st = dp_ctx_set_adapter(c2, a, 1.0f, 0, e); /* one adapter per batch */
    if (st == DP_OK) st = dp_ctx_eval(c2, ids, 2, NULL, e);
    if (st == DP_OK) st = dp_batch_new(m, 2, &b, e);
    dp_ctx *both[2] = {c, c2};
    if (st == DP_OK) st = dp_batch_eval(b, both, ids, 2, e);
    dp_batch_free(b);
    dp_ctx_free(c2);
    dp_ctx_free(c);
    dp_adapter_free(a);
    dp_model_free(m);
    return st;
}

/* dp_perplexity writing a KL base, then comparing against it */
static dp_status op_perplexity(void *ctx, dp_error *e) {
    const char *dir = ctx;
    char base[2400];
    snprintf(base, sizeof base, "%s/kl-base.bin", dir);
    dp_model *m = NULL;
    dp_status st = load_1thread(dir, &m, e);
    if (st != DP_OK) return st;
    int32_t ids[40];
    for (int i = 0; i < 40; i++) ids[i] = (i * 37 + 5) % 500;
    dp_ppl_params pp;
    dp_ppl_params_default(&pp);
    pp.n_ctx = 16;
    pp.n_batch = 4;
    pp.bos = 1;
    pp.kld_base_out = base;
    dp_ppl_stats s;
    st = dp_perplexity(m, ids, 40, &pp, &s, e);
    pp.kld_base_out = NULL;
    pp.kld_base_in = base;
    if (st == DP_OK) st = dp_perplexity(m, NULL, 0, &pp, &s, e);
    dp_model_free(m);
    return st;
}

static dp_status op_load(void *ctx, dp_error *e) { return load_eval(ctx, NULL, e); }

/* ---- LoRA adapters ---- */

typedef struct lora_ctx {
    const char *peft, *base;
    char out[2048];
} lora_ctx;

static dp_status op_convert_lora(void *ctx, dp_error *e) {
    lora_ctx *c = ctx;
    t_tmpdir("alloc_fail_lora"); /* c->out, emptied */
    return dp_convert_lora(c->peft, c->out, c->base, NULL, e);
}

static dp_status op_adapter(void *ctx, dp_error *e) {
    const char *const *dirs = ctx; /* model, adapter */
    return load_eval(dirs[0], dirs[1], e);
}

/* ---- tokenizers ---- */

static dp_status op_tokenizer(void *ctx, dp_error *e) {
    const char *path = ctx;
    dp_tokenizer *t = NULL;
    dp_status st = dp_tokenizer_load(path, &t, e);
    if (st != DP_OK) return st;
    dp_tokens ids = {0};
    static const char text[] = "hello world, the tokenizer <|eot_id|> \xe4\xb8\x96\xe7\x95\x8c \xff";
    st = dp_tokenizer_encode(t, text, sizeof text - 1, true, true, &ids, e);
    dp_buf out = {0};
    if (st == DP_OK) st = dp_tokenizer_decode(t, ids.ids, ids.n, 0, &out, e);
    if (st == DP_OK && out.oom) st = dp_err_set(e, DP_ERR_NOMEM, "out of memory decoding");
    dp_buf_free(&out);
    dp_tokens_free(&ids);
    dp_tokenizer_free(t);
    return st;
}

/* ---- the kernel registry and static-mode bundles ---- */

static dp_status op_kernels(void *ctx, dp_error *e) {
    (void)ctx;
    dp_kreg *r = NULL;
    dp_bundle *b = NULL, *b2 = NULL;
    dp_buf text = {0}, json = {0};
    dp_status st = dp_kreg_new(&r, e);
    const dp_kentry *k = st == DP_OK ? dp_kreg_find(r, "rms_norm", "main") : NULL;
    if (st == DP_OK && !k) st = dp_err_set(e, DP_ERR_INTERNAL, "no rms_norm");
    if (st == DP_OK) { /* a candidate: the built-in text with a comment more */
        dp_buf_puts(&text, "// candidate\n");
        dp_buf_append(&text, k->text, k->len);
        if (text.oom) st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    if (st == DP_OK) st = dp_kreg_override(r, "rms_norm", text.data, text.len, "cand.wgsl", e);
    if (st == DP_OK) st = dp_kreg_revert(r, "rms_norm", e);
    if (st == DP_OK) st = dp_bundle_new(&b, e);
    for (int i = 0; st == DP_OK && i < dp_kreg_count(r); i++) st = dp_bundle_add(b, DP_BUNDLE_KERNEL, dp_kreg_at(r, i)->key, e);
    if (st == DP_OK) {
        dp_bundle_write(b, &json);
        if (json.oom) st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    if (st == DP_OK) st = dp_bundle_parse(json.data, json.len, &b2, e);
    dp_buf_free(&text);
    dp_buf_free(&json);
    dp_bundle_free(b);
    dp_bundle_free(b2);
    dp_kreg_free(r);
    return st;
}

/* GPT-2's byte -> printable code point map (bytes_to_unicode). */
static uint32_t bytelevel_cp(int b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) return (uint32_t)b;
    if (b <= 0x20) return 0x100 + (uint32_t)b;
    if (b <= 0xA0) return 0x100 + 33 + (uint32_t)(b - 0x7F);
    return 0x100 + 67; /* 0xAD */
}

static void put_utf8(dp_buf *b, uint32_t cp) {
    char s[4];
    size_t n;
    if (cp < 0x80) s[0] = (char)cp, n = 1;
    else if (cp < 0x800) s[0] = (char)(0xC0 | cp >> 6), s[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    else s[0] = (char)(0xE0 | cp >> 12), s[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), s[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    dp_buf_append(b, s, n);
}

/* A word in the byte-level alphabet. */
static void put_bl(dp_buf *b, const char *w, size_t n) {
    for (size_t i = 0; i < n; i++) put_utf8(b, bytelevel_cp((uint8_t)w[i]));
}

static const char *const WORDS[] = {"he", "ll", "hell", "hello", " w", "or", " wor", " world", "th", " th", " the", "to",
                                    "ke", "ken", "toke", "token"};
#define N_WORDS (sizeof WORDS / sizeof WORDS[0])

static void write_file(const char *dir, const char *name, const void *data, size_t n) {
    char *p = dp_path_join(dir, name);
    dp_error e = {0};
    CHECK_MSG(p && dp_file_write_all(p, data, n, &e) == DP_OK, "writing %s: %s", name, e.msg);
    dp_free(p);
}

/* tokenizer.json: byte-level BPE (256 bytes + WORDS, merges building them), Llama 3 split regex,
 * added special tokens, a TemplateProcessing BOS; tokenizer_config.json beside it. */
static void make_hfjson(const char *dir) {
    dp_buf b = {0};
    dp_buf_puts(&b, "{\"version\":\"1.0\",\"added_tokens\":[");
    static const char *const specials[] = {"<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"};
    for (int i = 0; i < 3; i++)
        dp_buf_printf(&b, "%s{\"id\":%d,\"content\":\"%s\",\"special\":true,\"lstrip\":false,\"rstrip\":false}",
                      i ? "," : "", 256 + (int)N_WORDS + i, specials[i]);
    dp_buf_printf(&b, ",{\"id\":%d,\"content\":\"<tool>\",\"special\":false,\"lstrip\":true}", 256 + (int)N_WORDS + 3);
    dp_buf_puts(&b, "],\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":["
                    "{\"type\":\"Split\",\"pattern\":{\"Regex\":");
    static const char rx[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                             "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    dp_json_write_str(&b, rx, sizeof rx - 1);
    dp_buf_puts(&b, "},\"behavior\":\"Isolated\",\"invert\":false},"
                    "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}]},"
                    "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":"
                    "{\"id\":\"<|begin_of_text|>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}]},"
                    "\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\",\"ignore_merges\":true,\"vocab\":{");
    dp_buf tok = {0};
    for (int i = 0; i < 256; i++) {
        tok.len = 0;
        char c = (char)i;
        put_bl(&tok, &c, 1);
        dp_buf_puts(&b, i ? "," : "");
        dp_json_write_str(&b, tok.data, tok.len);
        dp_buf_printf(&b, ":%d", i);
    }
    for (size_t w = 0; w < N_WORDS; w++) {
        tok.len = 0;
        put_bl(&tok, WORDS[w], strlen(WORDS[w]));
        dp_buf_puts(&b, ",");
        dp_json_write_str(&b, tok.data, tok.len);
        dp_buf_printf(&b, ":%d", 256 + (int)w);
    }
    dp_buf_puts(&b, "},\"merges\":[");
    /* each word = a known prefix + the rest (both tokens) */
    for (size_t w = 0; w < N_WORDS; w++) {
        const char *s = WORDS[w];
        size_t n = strlen(s), k = n - 1;
        for (size_t j = 0; j < w; j++) {
            size_t m = strlen(WORDS[j]);
            if (m < n && !strncmp(s, WORDS[j], m) && (n - m == 1 || n - m == 2)) k = m;
        }
        /* the right part is a single byte, or a word listed before */
        tok.len = 0;
        put_bl(&tok, s, k);
        dp_buf_puts(&tok, " ");
        put_bl(&tok, s + k, n - k);
        dp_buf_puts(&b, w ? "," : "");
        dp_json_write_str(&b, tok.data, tok.len);
    }
    dp_buf_puts(&b, "]}}");
    CHECK(!b.oom && !tok.oom);
    write_file(dir, "tokenizer.json", b.data, b.len);
    static const char cfg[] = "{\"bos_token\":\"<|begin_of_text|>\",\"eos_token\":{\"content\":\"<|eot_id|>\"},"
                              "\"add_bos_token\":true,\"chat_template\":\"{{ '<|start_header_id|>' }}\","
                              "\"added_tokens_decoder\":{\"275\":{\"content\":\"<|eot_id|>\",\"special\":true}}}";
    write_file(dir, "tokenizer_config.json", cfg, sizeof cfg - 1);
    dp_buf_free(&tok);
    dp_buf_free(&b);
}

static void put_b64(dp_buf *b, const uint8_t *s, size_t n) {
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
        char q[4] = {A[v >> 18], A[(v >> 12) & 63], i + 1 < n ? A[(v >> 6) & 63] : '=', i + 2 < n ? A[v & 63] : '='};
        dp_buf_append(b, q, 4);
    }
}

static void make_tiktoken(const char *path) {
    dp_buf b = {0};
    for (int i = 0; i < 256; i++) {
        uint8_t c = (uint8_t)i;
        put_b64(&b, &c, 1);
        dp_buf_printf(&b, " %d\n", i);
    }
    for (size_t w = 0; w < N_WORDS; w++) {
        put_b64(&b, (const uint8_t *)WORDS[w], strlen(WORDS[w]));
        dp_buf_printf(&b, " %d\n", 256 + (int)w);
    }
    CHECK(!b.oom);
    dp_error e = {0};
    CHECK_MSG(dp_file_write_all(path, b.data, b.len, &e) == DP_OK, "%s", e.msg);
    dp_buf_free(&b);
}

/* ---- a little GGUF writer (vocabulary-only files) ---- */

static void gg_u32(dp_buf *b, uint32_t v) {
    uint8_t s[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    dp_buf_append(b, s, 4);
}
static void gg_u64(dp_buf *b, uint64_t v) {
    gg_u32(b, (uint32_t)v);
    gg_u32(b, (uint32_t)(v >> 32));
}
static void gg_str(dp_buf *b, const char *s, size_t n) {
    gg_u64(b, n);
    dp_buf_append(b, s, n);
}
static void gg_key(dp_buf *b, const char *k, uint32_t type) {
    gg_str(b, k, strlen(k));
    gg_u32(b, type);
}
enum { GG_U32 = 4, GG_I32 = 5, GG_F32 = 6, GG_BOOL = 7, GG_STR = 8, GG_ARR = 9 };

/* spm: <unk> <s> </s>, 256 <0xXX>, "▁" + letters and WORDS (spaces as ▁); gpt2: the 256 bytes and
 * WORDS in the byte-level alphabet with merges, three control tokens. */
static void make_gguf_vocab(const char *path, bool spm) {
    dp_buf toks = {0}, b = {0}, t = {0};
    size_t n = 0;
    dp_buf types = {0}, scores = {0}, merges = {0};
    size_t n_merges = 0;
#define ADD_TOK(s, len, ty, sc)                                   \
    do {                                                          \
        gg_str(&toks, (s), (len));                                \
        gg_u32(&types, (uint32_t)(ty));                           \
        float f_ = (sc);                                          \
        uint32_t u_;                                              \
        memcpy(&u_, &f_, 4);                                      \
        gg_u32(&scores, u_);                                      \
        n++;                                                      \
    } while (0)
    if (spm) {
        ADD_TOK("<unk>", 5, 2, 0.0f);
        ADD_TOK("<s>", 3, 3, 0.0f);
        ADD_TOK("</s>", 4, 3, 0.0f);
        for (int i = 0; i < 256; i++) {
            char s[8];
            snprintf(s, sizeof s, "<0x%02X>", i);
            ADD_TOK(s, 6, 6, 0.0f);
        }
        ADD_TOK("\xe2\x96\x81", 3, 1, -1.0f);
        for (char c = 'a'; c <= 'z'; c++) ADD_TOK(&c, 1, 1, -2.0f);
        for (size_t w = 0; w < N_WORDS; w++) {
            t.len = 0;
            for (const char *s = WORDS[w]; *s; s++)
                if (*s == ' ') dp_buf_append(&t, "\xe2\x96\x81", 3);
                else dp_buf_append(&t, s, 1);
            ADD_TOK(t.data, t.len, 1, -3.0f - (float)w);
        }
    } else {
        for (int i = 0; i < 256; i++) {
            t.len = 0;
            char c = (char)i;
            put_bl(&t, &c, 1);
            ADD_TOK(t.data, t.len, 1, 0.0f);
        }
        for (size_t w = 0; w < N_WORDS; w++) {
            const char *s = WORDS[w];
            size_t len = strlen(s);
            t.len = 0;
            put_bl(&t, s, len);
            ADD_TOK(t.data, t.len, 1, 0.0f);
            t.len = 0;
            put_bl(&t, s, len - 1);
            dp_buf_puts(&t, " ");
            put_bl(&t, s + len - 1, 1);
            gg_str(&merges, t.data, t.len);
            n_merges++;
        }
        ADD_TOK("<|begin_of_text|>", 17, 3, 0.0f);
        ADD_TOK("<|end_of_text|>", 15, 3, 0.0f);
        ADD_TOK("<|eot_id|>", 10, 3, 0.0f);
    }
#undef ADD_TOK
    gg_u32(&b, 0x46554747u);
    gg_u32(&b, 3);
    gg_u64(&b, 0);                /* tensors */
    gg_u64(&b, spm ? 8 : 8);      /* key/values */
    gg_key(&b, "general.architecture", GG_STR);
    gg_str(&b, "llama", 5);
    gg_key(&b, "tokenizer.ggml.model", GG_STR);
    gg_str(&b, spm ? "llama" : "gpt2", spm ? 5 : 4);
    gg_key(&b, "tokenizer.ggml.tokens", GG_ARR);
    gg_u32(&b, GG_STR);
    gg_u64(&b, n);
    dp_buf_append(&b, toks.data, toks.len);
    gg_key(&b, "tokenizer.ggml.token_type", GG_ARR);
    gg_u32(&b, GG_I32);
    gg_u64(&b, n);
    dp_buf_append(&b, types.data, types.len);
    gg_key(&b, "tokenizer.ggml.bos_token_id", GG_U32);
    gg_u32(&b, spm ? 1 : (uint32_t)(n - 3));
    gg_key(&b, "tokenizer.chat_template", GG_STR);
    gg_str(&b, "<|im_start|>", 12);
    if (spm) {
        gg_key(&b, "tokenizer.ggml.scores", GG_ARR);
        gg_u32(&b, GG_F32);
        gg_u64(&b, n);
        dp_buf_append(&b, scores.data, scores.len);
        gg_key(&b, "tokenizer.ggml.add_space_prefix", GG_BOOL);
        uint8_t one = 1;
        dp_buf_append(&b, &one, 1);
    } else {
        gg_key(&b, "tokenizer.ggml.merges", GG_ARR);
        gg_u32(&b, GG_STR);
        gg_u64(&b, n_merges);
        dp_buf_append(&b, merges.data, merges.len);
        gg_key(&b, "tokenizer.ggml.pre", GG_STR);
        gg_str(&b, "llama-bpe", 9);
    }
    CHECK(!b.oom && !toks.oom && !types.oom && !scores.oom && !merges.oom && !t.oom);
    dp_error e = {0};
    CHECK_MSG(dp_file_write_all(path, b.data, b.len, &e) == DP_OK, "%s", e.msg);
    dp_buf_free(&b);
    dp_buf_free(&toks);
    dp_buf_free(&types);
    dp_buf_free(&scores);
    dp_buf_free(&merges);
    dp_buf_free(&t);
}

int main(void) {
    char root[2048], path[2300];
    snprintf(root, sizeof root, "%s", t_tmpdir("alloc_fail"));

    /* tokenizers first: they need no fixtures */
    snprintf(path, sizeof path, "%s/hf", root);
    dp_error e = {0};
    CHECK(dp_mkdir_p(path, &e) == DP_OK);
    make_hfjson(path);
    static const char *const kinds[] = {"hf", "tiktoken", "spm.gguf", "bpe.gguf"};
    for (int k = 0; k < 4; k++) {
        snprintf(path, sizeof path, "%s/%s", root, kinds[k]);
        if (k == 1) make_tiktoken(path);
        if (k >= 2) make_gguf_vocab(path, k == 2);
        /* the files must load before failures are injected */
        dp_tokenizer *t = NULL;
        CHECK_MSG(dp_tokenizer_load(path, &t, &e) == DP_OK, "%s: %s", kinds[k], e.msg);
        dp_tokenizer_free(t);
        char name[64];
        snprintf(name, sizeof name, "tokenizer load (%s)", kinds[k]);
        sweep(name, op_tokenizer, path);
    }

    sweep("kernel registry + bundle", op_kernels, NULL);

    const char *llama = t_shared("fixtures/hf-tiny/llama");
    if (!llama) {
        fprintf(stderr, "test_alloc_fail: fixtures/hf-tiny/llama missing: model paths skipped\n");
        return t_failures ? t_done("test_alloc_fail") : TEST_SKIP;
    }
    char src[2048];
    snprintf(src, sizeof src, "%s", llama);
    convert_ctx c = {src, {0}, DP_RECIPE_F32};
    snprintf(c.out, sizeof c.out, "%s", t_tmpdir("alloc_fail_convert"));
    sweep("convert hf-tiny/llama f32", op_convert, &c);
    c.recipe = DP_RECIPE_Q8_0;
    sweep("convert hf-tiny/llama q8_0", op_convert, &c);

    const char *gg = t_shared("fixtures/gguf/llama-q8_0.gguf");
    if (gg) {
        gguf_ctx g = {gg, {0}};
        snprintf(g.out, sizeof g.out, "%s", t_tmpdir("alloc_fail_gguf"));
        sweep("convert gguf llama-q8_0 (keep)", op_convert_gguf, &g);
    }

    /* a good conversion to load (q8_0 and f32) */
    for (int r = 0; r < 2; r++) {
        char dir[2400];
        snprintf(dir, sizeof dir, "%s/model-%d", root, r);
        dp_write_opts o = {0};
        o.recipe = r ? DP_RECIPE_F32 : DP_RECIPE_Q8_0;
        CHECK_MSG(dp_convert_hf(src, dir, &o, &e) == DP_OK, "%s", e.msg);
        sweep(r ? "model load f32" : "model load q8_0", op_load, dir);
    }
    char dir[2400];
    snprintf(dir, sizeof dir, "%s/model-1", root);
    sweep("perplexity and KL divergence (f32)", op_perplexity, dir);

    const char *peft = t_shared("fixtures/lora/llama/adapter_a");
    CHECK_MSG(peft || !getenv("CI"), "fixtures/lora/llama missing (CI)");
    if (peft) {
        char base[2400], ada[2400], peft_dir[2048];
        snprintf(peft_dir, sizeof peft_dir, "%s", peft);
        snprintf(base, sizeof base, "%s/model-1", root); /* the f32 conversion above */
        lora_ctx l = {peft_dir, base, {0}};
        snprintf(l.out, sizeof l.out, "%s", t_tmpdir("alloc_fail_lora"));
        sweep("convert lora (llama adapter_a)", op_convert_lora, &l);
        snprintf(ada, sizeof ada, "%s/adapter", root);
        CHECK_MSG(dp_convert_lora(peft_dir, ada, base, NULL, &e) == DP_OK, "%s", e.msg);
        const char *dirs[2] = {base, ada};
        sweep("model + adapter load, set, eval", op_adapter, (void *)dirs);
    }
    return t_done("test_alloc_fail");
}
