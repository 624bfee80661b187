/* serve_engine.h — `doppler serve`'s slots: one loaded model, --slots contexts (one sequence
 * each), a bounded queue of waiting requests, and one engine thread that owns every dp_ctx.
 *
 * The engine thread is the only caller of dp_ctx_* (the model's backend keeps scratch that two
 * concurrent forward passes would share). Each round it evaluates the prompts of slots that
 * just took a request, then the next token of every running slot in one dp_batch_eval pass
 * (continuous batching; slots whose requests chose different LoRA adapters or scales run as
 * one pass per adapter and scale); connection threads only tokenize, submit and wait. A job is shared by its connection and the engine and freed by the
 * last of them to let go. */
#ifndef DP_SERVE_ENGINE_H
#define DP_SERVE_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "serve_request.h"

typedef struct srv_engine srv_engine;
typedef struct srv_job srv_job;

typedef struct srv_engine_opts {
    int slots;             /* contexts, >= 1 */
    int queue;             /* requests waiting for a slot, >= 0; past it submit says full */
    int32_t n_ctx;         /* per context; <= 0: the library's default */
} srv_engine_opts;

/* The model and tokenizer are borrowed and must outlive the engine. Starts the engine thread. */
dp_status srv_engine_new(dp_model *m, const dp_tokenizer *t, const srv_engine_opts *o, srv_engine **out, dp_error *e);
/* Stops taking requests, answers the queued ones 503, lets running ones finish for grace_ms,
 * cancels what is left (503) and joins the thread. Jobs stay readable (srv_job_wait) until
 * srv_engine_free, which comes after every connection is done. */
void srv_engine_stop(srv_engine *g, int grace_ms);
void srv_engine_free(srv_engine *g); /* stops first when needed; NULL: no-op */
int32_t srv_engine_n_ctx(const srv_engine *g);

/* A job from a checked request and its prompt ids (copied). Takes the request's stop strings
 * (r keeps the rest). NULL when out of memory. The caller holds one reference. */
srv_job *srv_job_new(srv_req *r, const int32_t *ids, int32_t n, uint64_t seed);
void srv_job_release(srv_job *j);
/* The adapter (NULL: none, the default) and scale the job's slot applies; before submitting.
 * The adapter must outlive the engine. */
void srv_job_set_lora(srv_job *j, dp_adapter *a, float scale);

typedef enum srv_submit {
    SRV_SUBMIT_OK,
    SRV_SUBMIT_FULL,       /* --queue requests already wait: 503 + Retry-After */
    SRV_SUBMIT_STOPPING    /* the server is shutting down: 503 */
} srv_submit;
/* On OK the engine holds its own reference until the job is done. */
srv_submit srv_engine_submit(srv_engine *g, srv_job *j);

/* What a connection reads: the text is valid UTF-8 with stop sequences removed. */
typedef struct srv_progress {
    size_t total;          /* bytes of text so far */
    bool done;
    const char *finish;    /* "stop" or "length" when done without error */
    int32_t prompt_tokens, completion_tokens;
    srv_err err;           /* err.http != 0: failed (shutdown 503, engine error 500) */
} srv_progress;

/* Waits at most timeout_ms for text past byte `from` or the end, appends the text past `from`
 * to out and fills p. */
void srv_job_wait(srv_engine *g, srv_job *j, size_t from, int timeout_ms, dp_buf *out, srv_progress *p);
/* The client is gone: the engine frees the slot at its next step (or drops the queued job). */
void srv_job_cancel(srv_engine *g, srv_job *j);

/* Counters for /metrics. */
typedef struct srv_stats {
    int slots, slots_busy, queued, queue_cap;
    uint64_t prompt_tokens, completion_tokens;
    uint64_t jobs_done, jobs_cancelled, jobs_failed, rejected_full;
    double tokens_per_second;  /* generated tokens over the last 10 s */
    double busy_seconds;       /* time the engine spent in forward passes and sampling */
} srv_stats;
void srv_engine_stats(srv_engine *g, srv_stats *s);

/* ---- the model's chat format (serve_chat.c, on doppler.h's dp_chat_render) ---- */

typedef struct srv_chat srv_chat;
/* template: a name (as `doppler chat --template`) or NULL for the model's own. Fails with a
 * reason when the model has none; the server then answers chat requests 400. */
dp_status srv_chat_new(const dp_model *m, const dp_tokenizer *t, const char *template_name, srv_chat **out, dp_error *e);
void srv_chat_free(srv_chat *c);
const char *srv_chat_name(const srv_chat *c);
/* The messages rendered as prompt text with the assistant header appended; *out malloc'd. */
dp_status srv_chat_render(const srv_chat *c, const srv_msg *msgs, size_t n, char **out, size_t *len, dp_error *e);
/* Whether id ends a reply: the model's EOS ids and the tokenizer's end-of-turn tokens. */
bool srv_is_end(const dp_model *m, const dp_tokenizer *t, int32_t id);

#endif
