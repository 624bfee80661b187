/* api.c — the exports of doppler.wasm that the JavaScript host (web/engine.mjs) calls.
 *
 * Thin wrappers over include/doppler.h with plain integer/pointer arguments. A failing call
 * returns 0 (handles) or a status, and dpw_error() holds the reason.
 *
 * Step machine: on the WebGPU backend, dpw_ctx_eval's logits and dpw_ctx_sample's token are
 * delivered into module memory when the host settles (awaits the GPU); the host awaits between
 * a call and reading what it returns. On the CPU backend they are there at return. */
#include <stdlib.h>
#include <string.h>

#include "backend/webgpu/webgpu.h"
#include "base/base.h"
#include "doppler.h"
#include "runtime/runtime.h"

#define EXPORT(name) __attribute__((export_name(name)))

static dp_error last_error;

EXPORT("dpw_alloc") void *dpw_alloc(uint32_t n);
EXPORT("dpw_free") void dpw_free(void *p);
EXPORT("dpw_error") const char *dpw_error(void);
EXPORT("dpw_model_load") dp_model *dpw_model_load(const char *dir, const char *backend, int threads);
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
EXPORT("dpw_ctx_eval_sampled") int dpw_ctx_eval_sampled(dp_ctx *c);
EXPORT("dpw_adapter_load") dp_adapter *dpw_adapter_load(dp_model *m, const char *dir);
EXPORT("dpw_adapter_free") void dpw_adapter_free(dp_adapter *a);
EXPORT("dpw_ctx_set_adapter") int dpw_ctx_set_adapter(dp_ctx *c, dp_adapter *a, float scale, int flags);
EXPORT("dpw_gpu_stats") void dpw_gpu_stats(const dp_model *m, double *out);
EXPORT("dpw_tune") int dpw_tune(dp_model *m, const char *key, int value);

void *dpw_alloc(uint32_t n) { return malloc(n ? n : 1); }
void dpw_free(void *p) { free(p); }
const char *dpw_error(void) { return last_error.msg; }

dp_model *dpw_model_load(const char *dir, const char *backend, int threads) {
    dp_load_params p;
    dp_load_params_default(&p);
    p.n_threads = threads;
    if (backend && backend[0]) p.backend = backend;
    dp_model *m = NULL;
    memset(&last_error, 0, sizeof last_error);
    if (dp_model_load(dir, &p, &m, &last_error) != DP_OK) return NULL;
    return m;
}

void dpw_model_free(dp_model *m) { dp_model_free(m); }

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

/* One decode step on the token the last dpw_ctx_sample picked, without the host knowing it yet:
 * the id is copied on the device from the sampler's output into the ids the forward pass
 * reads. With this the host records step N+1 before it awaits step N's token (the GPU always
 * has the next step queued). Mirrors dp_ctx_eval for one token; uses the runtime's internals
 * (to move into the runtime as dp_ctx_eval_sampled). */
int dpw_ctx_eval_sampled(dp_ctx *c) {
    memset(&last_error, 0, sizeof last_error);
    return (int)dp_ctx_eval_sampled(c, &last_error);
}

/* out[0..6] = dispatches, copies, submits, reads, pipelines, bind groups created, bytes */
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
