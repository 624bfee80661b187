/* api.c — the exports of doppler.wasm that the JavaScript host (web/engine.mjs) calls.
 *
 * Thin wrappers over include/doppler.h with plain integer/pointer arguments. A failing call
 * returns 0 (handles) or a status, and dpw_error() / dpw_error_status() hold the reason and the
 * status of the last failing call. That last error is the module's one piece of mutable state
 * outside the objects (the module is single-threaded: the host calls it from one thread).
 *
 * Step machine: on the WebGPU backend, dpw_ctx_eval's logits and dpw_ctx_sample's token are
 * delivered into module memory when the host settles (awaits the GPU); the host awaits between
 * a call and reading what it returns. On the CPU backend they are there at return. Generation
 * is the library's loop (dp_gen): the host calls dpw_gen_step_begin, settles, then
 * dpw_gen_step_end (web/engine.mjs Generator). */
#include <stdlib.h>
#include <string.h>

#include "backend/webgpu/webgpu.h"
#include "base/base.h"
#include "base/sha256.h"
#include "doppler.h"
#include "policy/policy.h"
#include "runtime/runtime.h"

#define EXPORT(name) __attribute__((export_name(name)))

static dp_error last_error;

EXPORT("dpw_alloc") void *dpw_alloc(uint32_t n);
EXPORT("dpw_free") void dpw_free(void *p);
EXPORT("dpw_error") const char *dpw_error(void);
EXPORT("dpw_error_status") int dpw_error_status(void);
EXPORT("dpw_backend_new") dp_backend *dpw_backend_new(const char *kind, int threads);
EXPORT("dpw_backend_free") void dpw_backend_free(dp_backend *b);
EXPORT("dpw_model_load")
dp_model *dpw_model_load(const char *dir, const char *backend, int threads, dp_backend *be, double gpu_mem,
                         double ram_cache, const char *policy);
EXPORT("dpw_paging_stats") void dpw_paging_stats(const dp_model *m, double *out);
EXPORT("dpw_model_free") void dpw_model_free(dp_model *m);
EXPORT("dpw_model_info") void dpw_model_info(const dp_model *m, double *out);
EXPORT("dpw_model_family") const char *dpw_model_family(const dp_model *m);
EXPORT("dpw_model_dtype") const char *dpw_model_dtype(const dp_model *m);
EXPORT("dpw_model_is_eos") int dpw_model_is_eos(const dp_model *m, int32_t id);
EXPORT("dpw_ctx_new") dp_ctx *dpw_ctx_new(dp_model *m, int n_ctx, int n_batch, int logits_all);
EXPORT("dpw_ctx_free") void dpw_ctx_free(dp_ctx *c);
EXPORT("dpw_ctx_reset") void dpw_ctx_reset(dp_ctx *c);
EXPORT("dpw_ctx_pos") int dpw_ctx_pos(const dp_ctx *c);
EXPORT("dpw_ctx_eval") int dpw_ctx_eval(dp_ctx *c, const int32_t *ids, int n, float *logits);
EXPORT("dpw_ctx_sample")
int dpw_ctx_sample(dp_ctx *c, float temperature, int top_k, float top_p, double seed, int32_t *token);
EXPORT("dpw_ctx_truncate") int dpw_ctx_truncate(dp_ctx *c, int pos);
EXPORT("dpw_ctx_n_evaluated") double dpw_ctx_n_evaluated(const dp_ctx *c);
EXPORT("dpw_tokenizer_load") dp_tokenizer *dpw_tokenizer_load(const char *path);
EXPORT("dpw_tokenizer_free") void dpw_tokenizer_free(dp_tokenizer *t);
EXPORT("dpw_tokenize")
int dpw_tokenize(const dp_tokenizer *t, const char *text, int len, int32_t *ids, int cap, int32_t *n_ids);
EXPORT("dpw_chat_render") char *dpw_chat_render(const dp_tokenizer *t, const dp_model *m, const char *msgs, int n);
EXPORT("dpw_gen_new")
dp_gen *dpw_gen_new(dp_ctx *c, const dp_tokenizer *t, float temperature, int top_k, float top_p, double seed,
                    int n_max, int ignore_eos, const char *stops, dp_spec *spec);
EXPORT("dpw_spec_new") dp_spec *dpw_spec_new(dp_ctx *target, dp_ctx *draft, int draft_max, int lookup, int adaptive);
EXPORT("dpw_spec_free") void dpw_spec_free(dp_spec *s);
EXPORT("dpw_spec_stats") void dpw_spec_stats(const dp_spec *s, double *out);
EXPORT("dpw_spec_stats_reset") void dpw_spec_stats_reset(dp_spec *s);
EXPORT("dpw_gen_free") void dpw_gen_free(dp_gen *g);
EXPORT("dpw_gen_prompt") int dpw_gen_prompt(dp_gen *g, const int32_t *ids, int n);
EXPORT("dpw_gen_step_begin") int dpw_gen_step_begin(dp_gen *g);
EXPORT("dpw_gen_step_end") int dpw_gen_step_end(dp_gen *g, int32_t *out);
EXPORT("dpw_gen_n_tokens") int dpw_gen_n_tokens(const dp_gen *g);
EXPORT("dpw_adapter_load") dp_adapter *dpw_adapter_load(dp_model *m, const char *dir);
EXPORT("dpw_adapter_free") void dpw_adapter_free(dp_adapter *a);
EXPORT("dpw_ctx_set_adapter") int dpw_ctx_set_adapter(dp_ctx *c, dp_adapter *a, float scale, int flags);
EXPORT("dpw_gpu_stats") void dpw_gpu_stats(const dp_model *m, double *out);
EXPORT("dpw_tune") int dpw_tune(dp_model *m, const char *key, int value);
EXPORT("dpw_kreg_new") dp_kreg *dpw_kreg_new(void);
EXPORT("dpw_kreg_free") void dpw_kreg_free(dp_kreg *r);
EXPORT("dpw_kreg_override") int dpw_kreg_override(dp_kreg *r, const char *spec);
EXPORT("dpw_kreg_revert") int dpw_kreg_revert(dp_kreg *r, const char *op);
EXPORT("dpw_kreg_text") const char *dpw_kreg_text(const dp_kreg *r, const char *op);
EXPORT("dpw_kreg_list") char *dpw_kreg_list(const dp_kreg *r);
EXPORT("dpw_model_set_kernels") void dpw_model_set_kernels(dp_model *m, const dp_kreg *r);
EXPORT("dpw_kernels_used") char *dpw_kernels_used(const dp_model *m);
EXPORT("dpw_bundle_parse") dp_bundle *dpw_bundle_parse(const char *text, uint32_t n);
EXPORT("dpw_bundle_free") void dpw_bundle_free(dp_bundle *b);
EXPORT("dpw_bundle_message") char *dpw_bundle_message(const dp_bundle *b);
EXPORT("dpw_bundle_signature") char *dpw_bundle_signature(const dp_bundle *b);
EXPORT("dpw_policy_new") dp_policy *dpw_policy_new(dp_bundle *b);
EXPORT("dpw_policy_free") void dpw_policy_free(dp_policy *p);
EXPORT("dpw_policy_check_model") int dpw_policy_check_model(const dp_policy *p, const char *dir);
EXPORT("dpw_policy_check_kernels") int dpw_policy_check_kernels(const dp_policy *p, const dp_kreg *r);

void *dpw_alloc(uint32_t n) { return malloc(n ? n : 1); }
void dpw_free(void *p) { free(p); }
const char *dpw_error(void) { return last_error.msg; }
int dpw_error_status(void) { return (int)last_error.status; }

dp_backend *dpw_backend_new(const char *kind, int threads) {
    dp_backend_params p;
    dp_backend_params_default(&p);
    p.n_threads = threads;
    dp_backend *b = NULL;
    memset(&last_error, 0, sizeof last_error);
    if (dp_backend_new(kind, &p, &b, &last_error) != DP_OK) return NULL;
    return b;
}

void dpw_backend_free(dp_backend *b) { dp_backend_free(b); }

/* be: a backend from dpw_backend_new shared with other models (backend and threads are then
 * ignored), or NULL for one of the model's own. gpu_mem, ram_cache: dp_load_params' (bytes; 0,
 * negative or NaN: 0); policy: the expert policy ("" or NULL: the default). */
dp_model *dpw_model_load(const char *dir, const char *backend, int threads, dp_backend *be, double gpu_mem,
                         double ram_cache, const char *policy) {
    dp_load_params p;
    dp_load_params_default(&p);
    p.n_threads = threads;
    p.be = be;
    p.gpu_mem = gpu_mem >= 1 && gpu_mem < 1.8e19 ? (uint64_t)gpu_mem : 0;
    p.ram_cache = ram_cache >= 1 && ram_cache < 1.8e19 ? (uint64_t)ram_cache : 0;
    if (policy && policy[0]) p.expert_policy = policy;
    if (backend && backend[0]) p.backend = backend;
    dp_model *m = NULL;
    memset(&last_error, 0, sizeof last_error);
    if (dp_model_load(dir, &p, &m, &last_error) != DP_OK) return NULL;
    return m;
}

void dpw_model_free(dp_model *m) { dp_model_free(m); }

/* out[0..12] = paged, lru (1) or lfu (0), RAM slots, slot bytes, device slots, uses, device hits,
 * RAM hits, source reads, bytes paged to the device, bytes read from the source, seconds
 * waiting, top-2 share (dp_paging_stats) */
void dpw_paging_stats(const dp_model *m, double *out) {
    dp_paging_stats s;
    dp_model_paging_stats(m, &s);
    double v[13] = {s.paged, s.policy && !strncmp(s.policy, "lru", 3), (double)s.ram_slots, (double)s.slot_bytes,
                    (double)s.device_slots, (double)s.uses, (double)s.device_hits, (double)s.ram_hits,
                    (double)s.source_reads, (double)s.device_bytes, (double)s.source_bytes, s.wait_s, s.top2_share};
    memcpy(out, v, sizeof v);
}

/* out[0..5] = vocab, layers, params, weight bytes, bos, max positions */
void dpw_model_info(const dp_model *m, double *out) {
    out[0] = dp_model_n_vocab(m);
    out[1] = dp_model_n_layers(m);
    out[2] = (double)dp_model_n_params(m);
    out[3] = (double)dp_model_weight_bytes(m);
    out[4] = dp_model_bos(m);
    out[5] = (double)m->d.max_pos;
}

const char *dpw_model_family(const dp_model *m) { return dp_model_family(m); }
const char *dpw_model_dtype(const dp_model *m) { return dp_model_dtype(m); }
int dpw_model_is_eos(const dp_model *m, int32_t id) { return dp_model_is_eos(m, id); }

dp_ctx *dpw_ctx_new(dp_model *m, int n_ctx, int n_batch, int logits_all) {
    dp_ctx_params p;
    dp_ctx_params_default(&p);
    p.n_ctx = n_ctx;
    p.n_batch = n_batch;
    p.logits_all = logits_all;
    dp_ctx *c = NULL;
    memset(&last_error, 0, sizeof last_error);
    if (dp_ctx_new(m, &p, &c, &last_error) != DP_OK) return NULL;
    return c;
}

void dpw_ctx_free(dp_ctx *c) { dp_ctx_free(c); }
void dpw_ctx_reset(dp_ctx *c) { dp_ctx_reset(c); }
int dpw_ctx_pos(const dp_ctx *c) { return dp_ctx_pos(c); }

int dpw_ctx_eval(dp_ctx *c, const int32_t *ids, int n, float *logits) {
    memset(&last_error, 0, sizeof last_error);
    return (int)dp_ctx_eval(c, ids, n, logits, &last_error);
}

int dpw_ctx_sample(dp_ctx *c, float temperature, int top_k, float top_p, double seed,
                   int32_t *token) {
    dp_sampling s = {temperature, top_k, top_p, (uint64_t)seed};
    memset(&last_error, 0, sizeof last_error);
    return (int)dp_ctx_sample(c, &s, token, &last_error);
}

int dpw_ctx_truncate(dp_ctx *c, int pos) {
    memset(&last_error, 0, sizeof last_error);
    return (int)dp_ctx_truncate(c, pos, &last_error);
}

double dpw_ctx_n_evaluated(const dp_ctx *c) { return (double)dp_ctx_n_evaluated(c); }

dp_tokenizer *dpw_tokenizer_load(const char *path) {
    dp_tokenizer *t = NULL;
    memset(&last_error, 0, sizeof last_error);
    return dp_tokenizer_load(path, &t, &last_error) == DP_OK ? t : NULL;
}

void dpw_tokenizer_free(dp_tokenizer *t) { dp_tokenizer_free(t); }

/* text[0..len) with add_special and parse_special (a prompt) into ids[0..cap); *n_ids = the
 * count (also when cap is short: DP_ERR_LIMIT). */
int dpw_tokenize(const dp_tokenizer *t, const char *text, int len, int32_t *ids, int cap, int32_t *n_ids) {
    size_t n = 0;
    memset(&last_error, 0, sizeof last_error);
    dp_status st = dp_tokenize(t, text, (size_t)len, 1, 1, ids, (size_t)cap, &n, &last_error);
    *n_ids = (int32_t)n;
    return (int)st;
}

/* The prompt text of a conversation through the chat template the tokenizer carries (else the
 * one of m's family): msgs holds n (role, content) pairs as NUL-terminated strings one after
 * the other; ends with the assistant's header. In memory the host frees with dpw_free; NULL on
 * failure (dpw_error says why). */
char *dpw_chat_render(const dp_tokenizer *t, const dp_model *m, const char *msgs, int n) {
    memset(&last_error, 0, sizeof last_error);
    if (n < 0 || (n && !msgs)) {
        dp_err_set(&last_error, DP_ERR_INVALID_ARG, "chat: bad message list");
        return NULL;
    }
    dp_chat_msg *list = malloc((size_t)(n ? n : 1) * sizeof *list);
    char *text = NULL;
    size_t len = 0;
    if (!list) {
        dp_err_set(&last_error, DP_ERR_NOMEM, "chat: out of memory");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        list[i].role = msgs;
        msgs += strlen(msgs) + 1;
        list[i].content = msgs;
        msgs += strlen(msgs) + 1;
    }
    const char *family = m ? dp_model_family(m) : NULL;
    dp_status st = dp_chat_render(t, family, NULL, list, (size_t)n, 1, NULL, 0, &len, &last_error);
    if (st == DP_ERR_LIMIT) {
        memset(&last_error, 0, sizeof last_error);
        if (!(text = malloc(len + 1))) st = dp_err_set(&last_error, DP_ERR_NOMEM, "chat: out of memory");
        else st = dp_chat_render(t, family, NULL, list, (size_t)n, 1, text, len + 1, &len, &last_error);
    } else if (st == DP_OK) {
        text = strdup(""); /* n 0 */
        if (!text) st = dp_err_set(&last_error, DP_ERR_NOMEM, "chat: out of memory");
    }
    free(list);
    if (st != DP_OK) {
        free(text);
        return NULL;
    }
    return text;
}

/* stops: NUL-separated stop strings ending with an empty one ("a\0b\0\0"), or NULL; spec: the
 * speculative decoder whose target is c (dpw_spec_new), or NULL for plain decode. */
dp_gen *dpw_gen_new(dp_ctx *c, const dp_tokenizer *t, float temperature, int top_k, float top_p, double seed,
                    int n_max, int ignore_eos, const char *stops, dp_spec *spec) {
    enum { MAX_STOPS = 64 };
    const char *list[MAX_STOPS];
    dp_gen_params p;
    dp_gen_params_default(&p);
    p.sampling = (dp_sampling){temperature, top_k, top_p, (uint64_t)seed};
    p.n_max = n_max;
    p.ignore_eos = ignore_eos;
    p.spec = spec;
    for (const char *s = stops; s && *s && p.n_stop < MAX_STOPS; s += strlen(s) + 1) list[p.n_stop++] = s;
    p.stop = list;
    memset(&last_error, 0, sizeof last_error);
    if (stops && *stops && p.n_stop == MAX_STOPS) {
        dp_err_set(&last_error, DP_ERR_LIMIT, "generation: more than %d stop strings", MAX_STOPS - 1);
        return NULL;
    }
    dp_gen *g = NULL;
    return dp_gen_new(c, t, &p, &g, &last_error) == DP_OK ? g : NULL;
}

void dpw_gen_free(dp_gen *g) { dp_gen_free(g); }

int dpw_gen_prompt(dp_gen *g, const int32_t *ids, int n) {
    memset(&last_error, 0, sizeof last_error);
    return (int)dp_gen_prompt(g, ids, n, &last_error);
}

/* Samples and queues the evaluation of the sampled id; the id lands when the host settles. */
int dpw_gen_step_begin(dp_gen *g) {
    memset(&last_error, 0, sizeof last_error);
    return (int)dp_gen_step_begin(g, &last_error);
}

/* After the host settled: out[0..3] = id, text pointer, text length, dp_gen_stop. */
int dpw_gen_step_end(dp_gen *g, int32_t *out) {
    dp_gen_token t;
    memset(&last_error, 0, sizeof last_error);
    dp_status st = dp_gen_step_end(g, &t, &last_error);
    if (st != DP_OK) return (int)st;
    out[0] = t.id;
    out[1] = (int32_t)(uintptr_t)t.text;
    out[2] = (int32_t)t.len;
    out[3] = (int32_t)t.stop;
    return DP_OK;
}

int dpw_gen_n_tokens(const dp_gen *g) { return dp_gen_n_tokens(g); }

/* Speculative decoding for target with the draft context draft (NULL: prompt lookup of n-grams
 * up to lookup tokens); draft_max / lookup <= 0: the defaults; adaptive: K adapts. On WebGPU the
 * draft's model must be on the target's backend (dpw_backend_new shared by both loads). */
dp_spec *dpw_spec_new(dp_ctx *target, dp_ctx *draft, int draft_max, int lookup, int adaptive) {
    dp_spec_params p;
    dp_spec_params_default(&p);
    p.draft_max = draft_max;
    p.lookup = lookup;
    p.adaptive = adaptive;
    dp_spec *s = NULL;
    memset(&last_error, 0, sizeof last_error);
    return dp_spec_new(target, draft, &p, &s, &last_error) == DP_OK ? s : NULL;
}

void dpw_spec_free(dp_spec *s) { dp_spec_free(s); }

/* out[0..4] = steps (target passes), proposed, accepted, emitted, the next K */
void dpw_spec_stats(const dp_spec *s, double *out) {
    dp_spec_stats st;
    dp_spec_stats_get(s, &st);
    out[0] = (double)st.steps;
    out[1] = (double)st.proposed;
    out[2] = (double)st.accepted;
    out[3] = (double)st.emitted;
    out[4] = st.k;
}

void dpw_spec_stats_reset(dp_spec *s) { dp_spec_stats_reset(s); }

dp_adapter *dpw_adapter_load(dp_model *m, const char *dir) {
    dp_adapter *a = NULL;
    memset(&last_error, 0, sizeof last_error);
    if (dp_adapter_load(m, dir, &a, &last_error) != DP_OK) return NULL;
    return a;
}

void dpw_adapter_free(dp_adapter *a) { dp_adapter_free(a); }

int dpw_ctx_set_adapter(dp_ctx *c, dp_adapter *a, float scale, int flags) {
    memset(&last_error, 0, sizeof last_error);
    return (int)dp_ctx_set_adapter(c, a, scale, (uint32_t)flags, &last_error);
}

/* out[0..6] = dispatches, copies, submits, reads, pipelines, bind groups created, bytes: of the
 * model's backend (shared with every model on it) */
void dpw_gpu_stats(const dp_model *m, double *out) {
    dp_webgpu_stats s;
    dp_backend_webgpu_stats(m->be, &s);
    out[0] = (double)s.dispatches;
    out[1] = (double)s.copies;
    out[2] = (double)s.submits;
    out[3] = (double)s.reads;
    out[4] = (double)s.pipelines;
    out[5] = (double)s.bind_groups_created;
    out[6] = (double)s.bytes_allocated;
}

/* WebGPU experiment knobs (dp_backend_webgpu_tune) on a loaded model's backend. */
int dpw_tune(dp_model *m, const char *key, int value) {
    memset(&last_error, 0, sizeof last_error);
    return (int)dp_backend_webgpu_tune(m->be, key, value, &last_error);
}

/* ---- the kernel registry (src/backend/webgpu/wg_registry.h) ---- */

dp_kreg *dpw_kreg_new(void) {
    dp_kreg *r = NULL;
    memset(&last_error, 0, sizeof last_error);
    return dp_kreg_new(&r, &last_error) == DP_OK ? r : NULL;
}

void dpw_kreg_free(dp_kreg *r) { dp_kreg_free(r); }

/* "op=path.wgsl" (a path in the WASI file system) */
int dpw_kreg_override(dp_kreg *r, const char *spec) {
    memset(&last_error, 0, sizeof last_error);
    return (int)dp_kreg_override_spec(r, spec, &last_error);
}

int dpw_kreg_revert(dp_kreg *r, const char *op) {
    memset(&last_error, 0, sizeof last_error);
    return (int)dp_kreg_revert(r, op, &last_error);
}

/* The WGSL text serving op (NUL-terminated), NULL when there is no such op. */
const char *dpw_kreg_text(const dp_kreg *r, const char *op) {
    for (int i = 0; i < dp_kreg_count(r); i++)
        if (!strcmp(dp_kreg_at(r, i)->op, op)) return dp_kreg_at(r, i)->text;
    return NULL;
}

/* one line per entry: "op\tentry\tkey\ttext-sha256\tsource\n" */
static void entry_line(dp_buf *b, const dp_kentry *k) {
    char key[65], text[65];
    dp_sha256_hex(k->key, key);
    dp_sha256_hex(k->text_sha256, text);
    dp_buf_printf(b, "%s\t%s\t%s\t%s\t%s\n", k->op, k->entry, key, text, k->source);
}

/* b's text in memory the host frees with dpw_free (NULL when out of memory); b is freed */
static char *buf_take(dp_buf *b) {
    char *o = b->oom ? NULL : strdup(b->data ? b->data : "");
    dp_buf_free(b);
    return o;
}

/* Every entry of r as lines (entry_line); the caller frees the result with dpw_free. */
char *dpw_kreg_list(const dp_kreg *r) {
    dp_buf b = {0};
    for (int i = 0; i < dp_kreg_count(r); i++) entry_line(&b, dp_kreg_at(r, i));
    return buf_take(&b);
}

/* Pipelines of m's WebGPU backend come from r from now on (borrowed: r outlives m). */
void dpw_model_set_kernels(dp_model *m, const dp_kreg *r) { dp_backend_webgpu_set_registry(m->be, r); }

/* The entries that ran on m's backend (entry_line lines); freed with dpw_free. */
char *dpw_kernels_used(const dp_model *m) {
    const dp_kentry *used[512];
    int n = dp_backend_webgpu_kernels_used(m->be, used, 512);
    dp_buf b = {0};
    for (int i = 0; i < n; i++) entry_line(&b, used[i]);
    return buf_take(&b);
}

/* ---- static mode (src/policy/): the host verifies the signature (WebCrypto Ed25519) over
 * dpw_bundle_message with the key it trusts, then makes the policy from the bundle ---- */

dp_bundle *dpw_bundle_parse(const char *text, uint32_t n) {
    dp_bundle *b = NULL;
    memset(&last_error, 0, sizeof last_error);
    return dp_bundle_parse(text, n, &b, &last_error) == DP_OK ? b : NULL;
}

void dpw_bundle_free(dp_bundle *b) { dp_bundle_free(b); }

/* the signed message (bundle.h); freed with dpw_free */
char *dpw_bundle_message(const dp_bundle *b) {
    dp_buf m = {0};
    dp_bundle_message(b, &m);
    return buf_take(&m);
}

/* the signature as 128 hex digits, "" when unsigned; freed with dpw_free */
char *dpw_bundle_signature(const dp_bundle *b) {
    const uint8_t *sig = dp_bundle_signature(b);
    dp_buf h = {0};
    for (int i = 0; sig && i < 64; i++) dp_buf_printf(&h, "%02x", sig[i]);
    return buf_take(&h);
}

/* takes b, whose signature the host verified */
dp_policy *dpw_policy_new(dp_bundle *b) {
    dp_policy *p = NULL;
    memset(&last_error, 0, sizeof last_error);
    return dp_policy_from_verified(b, &p, &last_error) == DP_OK ? p : NULL;
}

void dpw_policy_free(dp_policy *p) { dp_policy_free(p); }

int dpw_policy_check_model(const dp_policy *p, const char *dir) {
    memset(&last_error, 0, sizeof last_error);
    return (int)dp_policy_check_model(p, dir, NULL, &last_error);
}

int dpw_policy_check_kernels(const dp_policy *p, const dp_kreg *r) {
    memset(&last_error, 0, sizeof last_error);
    return (int)dp_policy_check_kernels(p, r, &last_error);
}
