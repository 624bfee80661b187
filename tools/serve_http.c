/* serve_http.c — the OpenAI-compatible HTTP API of `doppler serve` on libmicrohttpd.
 *
 * libmicrohttpd runs one thread per connection (MHD_USE_THREAD_PER_CONNECTION): a handler may
 * block while its request waits for a slot or for tokens, so a non-streaming answer is a plain
 * wait and a stream is a content-reader callback that blocks until the engine publishes text.
 * Both wait in 100 ms steps and look at the socket between them, so a client that goes away
 * cancels its job (the slot is free at the engine's next step). The number of connections is
 * bounded (slots + queue + 64), so threads are too.
 *
 * Every route answers JSON; errors are OpenAI's {"error": {message, type, param, code}}. */
#define _GNU_SOURCE
#include "serve_http.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "base/json.h"

#define MAX_BODY ((size_t)4 << 20)
#define WAIT_STEP_MS 100

enum { R_CHAT, R_COMPLETIONS, R_MODELS, R_HEALTH, R_METRICS, R_LORA, R_OTHER, R_COUNT };
static const char *const ROUTE_NAME[R_COUNT] = {"/v1/chat/completions", "/v1/completions", "/v1/models",
                                                "/health", "/metrics", "/lora-adapters", "other"};
static const int CODES[] = {200, 400, 401, 403, 404, 405, 413, 500, 503};
#define N_CODES (sizeof CODES / sizeof CODES[0])

struct srv_http {
    srv_http_opts o;
    struct MHD_Daemon *d;
    bool loopback;
    int port;
    atomic_int in_flight;
    atomic_ulong requests[R_COUNT][N_CODES];
    atomic_ulong id_counter;
    uint64_t id_salt;
};

typedef struct conn_state {
    int route;
    dp_buf body;
    bool too_large;
} conn_state;

/* ---- answers ---- */

static void count(srv_http *h, int route, unsigned status) {
    for (size_t i = 0; i < N_CODES; i++)
        if ((unsigned)CODES[i] == status) atomic_fetch_add(&h->requests[route][i], 1);
}

static enum MHD_Result send_buf(srv_http *h, struct MHD_Connection *c, int route, unsigned status, const char *type,
                                const dp_buf *b, const char *retry_after) {
    if (b->oom) return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(b->len, b->len ? b->data : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (retry_after) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
    if (status == 401) MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    count(h, route, status);
    return ok;
}

static enum MHD_Result send_json(srv_http *h, struct MHD_Connection *c, int route, unsigned status, dp_buf *b) {
    enum MHD_Result ok = send_buf(h, c, route, status, "application/json", b, NULL);
    dp_buf_free(b);
    return ok;
}

static enum MHD_Result send_err(srv_http *h, struct MHD_Connection *c, int route, const srv_err *err) {
    dp_buf b = {0};
    srv_err_json(err, &b);
    enum MHD_Result ok = send_buf(h, c, route, (unsigned)err->http, "application/json", &b,
                                  err->http == 503 ? "1" : NULL);
    dp_buf_free(&b);
    return ok;
}

/* ---- helpers ---- */

static bool client_gone(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return true;
    struct pollfd p = {ci->connect_fd, POLLRDHUP, 0};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

static bool key_ok(const srv_http *h, struct MHD_Connection *c, srv_err *err) {
    if (!h->o.api_key) return true;
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!auth || strncasecmp(auth, "Bearer ", 7))
        return srv_fail(err, 401, "invalid_request_error", "invalid_api_key", NULL,
                        "You didn't provide an API key: send it as 'Authorization: Bearer <key>'");
    const char *k = auth + 7, *want = h->o.api_key;
    while (*k == ' ') k++;
    size_t n = strlen(k), m = strlen(want);
    unsigned diff = n != m;
    for (size_t i = 0; i < m; i++) diff |= (unsigned)(unsigned char)want[i] ^ (unsigned)(unsigned char)(i < n ? k[i] : 0);
    if (diff) return srv_fail(err, 401, "invalid_request_error", "invalid_api_key", NULL, "Incorrect API key provided");
    return true;
}

static void new_id(srv_http *h, const char *prefix, char *out, size_t cap) {
    unsigned long n = atomic_fetch_add(&h->id_counter, 1);
    snprintf(out, cap, "%s-%016llx%08lx", prefix, (unsigned long long)h->id_salt, n);
}

static uint64_t random_u64(void) {
    uint64_t x = 0;
    if (getentropy(&x, sizeof x) != 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        x = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_sec ^ (uint64_t)getpid() << 32;
    }
    return x;
}

static void put_str(dp_buf *b, const char *s) { dp_json_write_str(b, s, strlen(s)); }

static void put_usage(dp_buf *b, const srv_progress *p) {
    dp_buf_printf(b, "{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d}", p->prompt_tokens,
                  p->completion_tokens, p->prompt_tokens + p->completion_tokens);
}

/* ---- GET routes ---- */

static void put_model(const srv_http *h, dp_buf *b) {
    dp_buf_puts(b, "{\"id\":");
    put_str(b, h->o.model_name);
    dp_buf_printf(b, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"doppler\"}", (long long)time(NULL));
}

static enum MHD_Result get_models(srv_http *h, struct MHD_Connection *c, const char *url) {
    dp_buf b = {0};
    if (!strcmp(url, "/v1/models")) {
        dp_buf_puts(&b, "{\"object\":\"list\",\"data\":[");
        put_model(h, &b);
        dp_buf_puts(&b, "]}");
        return send_json(h, c, R_MODELS, 200, &b);
    }
    if (!strcmp(url + strlen("/v1/models/"), h->o.model_name)) {
        put_model(h, &b);
        return send_json(h, c, R_MODELS, 200, &b);
    }
    srv_err err;
    srv_fail(&err, 404, "invalid_request_error", "model_not_found", "model", "The model '%s' does not exist",
             url + strlen("/v1/models/"));
    return send_err(h, c, R_MODELS, &err);
}

/* One metric without labels: help, type and its value. */
static void metric(dp_buf *b, const char *name, const char *type, const char *help, double v) {
    dp_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %.15g\n", name, help, name, type, name, v);
}

static enum MHD_Result get_metrics(srv_http *h, struct MHD_Connection *c) {
    srv_stats s;
    srv_engine_stats(h->o.g, &s);
    dp_buf b = {0};
    dp_buf_puts(&b, "# HELP doppler_requests_total HTTP requests answered, by route and status code.\n"
                    "# TYPE doppler_requests_total counter\n");
    for (int r = 0; r < R_COUNT; r++)
        for (size_t i = 0; i < N_CODES; i++) {
            unsigned long n = atomic_load(&h->requests[r][i]);
            if (n) dp_buf_printf(&b, "doppler_requests_total{route=\"%s\",code=\"%d\"} %lu\n", ROUTE_NAME[r], CODES[i], n);
        }
    dp_buf_printf(&b, "# HELP doppler_generations_total Generations that left the engine, by outcome.\n"
                      "# TYPE doppler_generations_total counter\n"
                      "doppler_generations_total{outcome=\"done\"} %llu\n"
                      "doppler_generations_total{outcome=\"cancelled\"} %llu\n"
                      "doppler_generations_total{outcome=\"failed\"} %llu\n",
                  (unsigned long long)s.jobs_done, (unsigned long long)s.jobs_cancelled, (unsigned long long)s.jobs_failed);
    metric(&b, "doppler_requests_rejected_total", "counter", "Requests refused with 503 because the queue was full.",
           (double)s.rejected_full);
    metric(&b, "doppler_prompt_tokens_total", "counter", "Prompt tokens evaluated.", (double)s.prompt_tokens);
    metric(&b, "doppler_generated_tokens_total", "counter", "Tokens generated.", (double)s.completion_tokens);
    metric(&b, "doppler_tokens_per_second", "gauge", "Tokens generated per second over the last 10 seconds.",
           s.tokens_per_second);
    metric(&b, "doppler_engine_busy_seconds_total", "counter", "Seconds the engine spent evaluating and sampling.",
           s.busy_seconds);
    metric(&b, "doppler_queue_depth", "gauge", "Requests waiting for a slot.", s.queued);
    metric(&b, "doppler_queue_capacity", "gauge", "Requests that may wait (--queue).", s.queue_cap);
    metric(&b, "doppler_slots", "gauge", "Sequences decoded at once (--slots).", s.slots);
    metric(&b, "doppler_slots_busy", "gauge", "Slots holding a request.", s.slots_busy);
    enum MHD_Result ok = send_buf(h, c, R_METRICS, 200, "text/plain; version=0.0.4; charset=utf-8", &b, NULL);
    dp_buf_free(&b);
    return ok;
}

/* GET /lora-adapters: the list; POST: new server scales (llama-server's body), then the list. */
static enum MHD_Result lora_adapters(srv_http *h, struct MHD_Connection *c, const dp_buf *body) {
    if (body) {
        srv_lora_ref refs[SRV_MAX_LORA];
        int n = 0;
        srv_err err;
        if (!srv_lora_body_parse(body->len ? body->data : "", body->len, refs, &n, &err) ||
            !srv_lora_set(h->o.lora, refs, n, &err))
            return send_err(h, c, R_LORA, &err);
    }
    dp_buf b = {0};
    srv_lora_json(h->o.lora, &b);
    return send_json(h, c, R_LORA, 200, &b);
}

/* ---- generation ---- */

typedef struct gen_info {
    srv_kind kind;
    char id[48];
    long long created;
} gen_info;

/* A complete answer (non-streaming). */
static void put_completion(const srv_http *h, const gen_info *gi, const dp_buf *text, const srv_progress *p, dp_buf *b) {
    bool chat = gi->kind == SRV_CHAT;
    dp_buf_puts(b, "{\"id\":");
    put_str(b, gi->id);
    dp_buf_printf(b, ",\"object\":\"%s\",\"created\":%lld,\"model\":", chat ? "chat.completion" : "text_completion", gi->created);
    put_str(b, h->o.model_name);
    dp_buf_puts(b, chat ? ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
                        : ",\"choices\":[{\"index\":0,\"text\":");
    dp_json_write_str(b, text->len ? text->data : "", text->len);
    dp_buf_printf(b, "%s,\"logprobs\":null,\"finish_reason\":\"%s\"}],\"usage\":", chat ? "}" : "", p->finish);
    put_usage(b, p);
    dp_buf_puts(b, "}");
}

/* One server-sent event of a stream: a chunk with text (or the role), a finish reason, or both
 * NULL for the usage chunk. */
static void put_chunk(const srv_http *h, const gen_info *gi, const char *text, size_t len, bool role, const char *finish,
                      const srv_progress *usage, bool with_usage_field, dp_buf *b) {
    bool chat = gi->kind == SRV_CHAT;
    dp_buf_puts(b, "data: {\"id\":");
    put_str(b, gi->id);
    dp_buf_printf(b, ",\"object\":\"%s\",\"created\":%lld,\"model\":", chat ? "chat.completion.chunk" : "text_completion",
                  gi->created);
    put_str(b, h->o.model_name);
    if (usage) {
        dp_buf_puts(b, ",\"choices\":[],\"usage\":");
        put_usage(b, usage);
        dp_buf_puts(b, "}\n\n");
        return;
    }
    dp_buf_puts(b, ",\"choices\":[{\"index\":0,");
    if (chat) {
        dp_buf_puts(b, "\"delta\":{");
        if (role) dp_buf_puts(b, "\"role\":\"assistant\",\"content\":\"\"");
        else if (text) {
            dp_buf_puts(b, "\"content\":");
            dp_json_write_str(b, text, len);
        }
        dp_buf_puts(b, "}");
    } else {
        dp_buf_puts(b, "\"text\":");
        dp_json_write_str(b, text ? text : "", text ? len : 0);
    }
    dp_buf_puts(b, ",\"logprobs\":null,\"finish_reason\":");
    if (finish) dp_buf_printf(b, "\"%s\"", finish);
    else dp_buf_puts(b, "null");
    dp_buf_puts(b, "}]");
    if (with_usage_field) dp_buf_puts(b, ",\"usage\":null");
    dp_buf_puts(b, "}\n\n");
}

typedef struct stream_state {
    srv_http *h;
    srv_job *job;
    struct MHD_Connection *c;
    gen_info gi;
    bool include_usage, role_sent, finished;
    size_t from;          /* text bytes already sent */
    dp_buf out;           /* event bytes not yet handed to MHD */
    size_t out_off;
} stream_state;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream_state *ss = cls;
    srv_engine *g = ss->h->o.g;
    while (ss->out_off == ss->out.len) {
        if (ss->finished) return MHD_CONTENT_READER_END_OF_STREAM;
        ss->out.len = 0;
        ss->out_off = 0;
        if (ss->gi.kind == SRV_CHAT && !ss->role_sent) {
            put_chunk(ss->h, &ss->gi, NULL, 0, true, NULL, NULL, ss->include_usage, &ss->out);
            ss->role_sent = true;
            continue;
        }
        dp_buf text = {0};
        srv_progress p;
        srv_job_wait(g, ss->job, ss->from, WAIT_STEP_MS, &text, &p);
        ss->from = p.total;
        if (text.len) put_chunk(ss->h, &ss->gi, text.data, text.len, false, NULL, NULL, ss->include_usage, &ss->out);
        dp_buf_free(&text);
        if (p.done) {
            if (p.err.http) {
                dp_buf_puts(&ss->out, "data: ");
                srv_err_json(&p.err, &ss->out);
                dp_buf_puts(&ss->out, "\n\n");
            } else {
                put_chunk(ss->h, &ss->gi, NULL, 0, false, p.finish, NULL, ss->include_usage, &ss->out);
                if (ss->include_usage) put_chunk(ss->h, &ss->gi, NULL, 0, false, NULL, &p, true, &ss->out);
            }
            dp_buf_puts(&ss->out, "data: [DONE]\n\n");
            ss->finished = true;
        } else if (ss->out.len == 0 && client_gone(ss->c)) {
            srv_job_cancel(g, ss->job);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (ss->out.oom) {
            srv_job_cancel(g, ss->job);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    size_t n = ss->out.len - ss->out_off;
    if (n > max) n = max;
    memcpy(buf, ss->out.data + ss->out_off, n);
    ss->out_off += n;
    return (ssize_t)n;
}

static void stream_free(void *cls) {
    stream_state *ss = cls;
    srv_job_cancel(ss->h->o.g, ss->job); /* a no-op when it is done */
    srv_job_release(ss->job);
    dp_buf_free(&ss->out);
    free(ss);
}

static enum MHD_Result start_stream(srv_http *h, struct MHD_Connection *c, int route, srv_job *job, const gen_info *gi,
                                    bool include_usage) {
    stream_state *ss = calloc(1, sizeof *ss);
    if (!ss) {
        srv_job_cancel(h->o.g, job);
        srv_job_release(job);
        return MHD_NO;
    }
    *ss = (stream_state){.h = h, .job = job, .c = c, .gi = *gi, .include_usage = include_usage};
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, ss, stream_free);
    if (!r) {
        stream_free(ss);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    enum MHD_Result ok = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    count(h, route, 200);
    return ok;
}

/* The prompt's ids: the chat rendered by the model's template, or the completion prompt. */
static bool prompt_ids(srv_http *h, const srv_req *r, int32_t **ids, int32_t *n, srv_err *err) {
    char *text = r->prompt;
    size_t len = r->prompt_len;
    dp_error e = {0};
    if (r->kind == SRV_CHAT) {
        if (!h->o.chat)
            return srv_fail(err, 400, "invalid_request_error", "no_chat_template", "messages",
                            "this model has no chat format (%s); use /v1/completions", h->o.chat_err);
        if (srv_chat_render(h->o.chat, r->msgs, r->n_msgs, &text, &len, &e) != DP_OK)
            return srv_fail(err, e.status == DP_ERR_NOMEM ? 500 : 400, e.status == DP_ERR_NOMEM ? "server_error" : "invalid_request_error",
                            NULL, "messages", "%s", e.msg);
    }
    size_t need = 0;
    dp_status st = dp_tokenize(h->o.t, text, len, 1, 1, NULL, 0, &need, &e);
    int32_t *v = NULL;
    if (st == DP_ERR_LIMIT || st == DP_OK) {
        v = malloc((need + 1) * sizeof *v);
        st = v ? dp_tokenize(h->o.t, text, len, 1, 1, v, need + 1, &need, &e) : dp_err_set(&e, DP_ERR_NOMEM, "out of memory");
    }
    if (text != r->prompt) free(text);
    if (st == DP_OK && need == 0) { /* an empty prompt starts from BOS alone */
        int32_t bos = dp_model_bos(h->o.m);
        if (bos < 0) {
            free(v);
            return srv_fail(err, 400, "invalid_request_error", "invalid_value", r->kind == SRV_CHAT ? "messages" : "prompt",
                            "the prompt is empty and the model has no BOS token to start from");
        }
        v[need++] = bos;
    }
    if (st != DP_OK) {
        free(v);
        return srv_fail(err, st == DP_ERR_NOMEM ? 500 : 400, st == DP_ERR_NOMEM ? "server_error" : "invalid_request_error", NULL,
                        r->kind == SRV_CHAT ? "messages" : "prompt", "%s", e.msg);
    }
    *ids = v;
    *n = (int32_t)need;
    return true;
}

static enum MHD_Result generate(srv_http *h, struct MHD_Connection *c, int route, const dp_buf *body) {
    srv_kind kind = route == R_CHAT ? SRV_CHAT : SRV_COMPLETION;
    int32_t n_ctx = srv_engine_n_ctx(h->o.g);
    srv_limits lim = {n_ctx, dp_model_n_vocab(h->o.m)};
    srv_req r;
    srv_err err = {0};
    if (!srv_req_parse(kind, body->len ? body->data : "", body->len, &lim, &r, &err)) return send_err(h, c, route, &err);
    dp_adapter *adapter = NULL;
    float lora_scale = 1.0f;
    if (!srv_lora_choose(h->o.lora, r.has_lora, r.lora, r.n_lora, &adapter, &lora_scale, &err)) {
        srv_req_free(&r);
        return send_err(h, c, route, &err);
    }
    int32_t *ids = NULL, n = 0;
    if (!prompt_ids(h, &r, &ids, &n, &err)) {
        srv_req_free(&r);
        return send_err(h, c, route, &err);
    }
    const char *param = kind == SRV_CHAT ? "messages" : "prompt";
    if (n >= n_ctx || (r.max_tokens && (int64_t)n + r.max_tokens > n_ctx)) {
        srv_fail(&err, 400, "invalid_request_error", "context_length_exceeded", param,
                 "This model's maximum context length is %d tokens. However, you requested %lld tokens (%d in the %s, %d "
                 "for the completion). Please reduce the length of the %s or the completion.",
                 n_ctx, (long long)n + (r.max_tokens ? r.max_tokens : 1), n, param, r.max_tokens ? r.max_tokens : 1, param);
        free(ids);
        srv_req_free(&r);
        return send_err(h, c, route, &err);
    }
    if (!r.max_tokens) r.max_tokens = n_ctx - n;
    uint64_t seed = r.has_seed ? r.seed : (random_u64() | 1);
    srv_job *job = srv_job_new(&r, ids, n, seed);
    bool stream = r.stream, include_usage = r.include_usage;
    free(ids);
    srv_req_free(&r);
    if (!job) {
        srv_fail(&err, 500, "server_error", NULL, NULL, "out of memory");
        return send_err(h, c, route, &err);
    }
    srv_job_set_lora(job, adapter, lora_scale);
    srv_submit sub = srv_engine_submit(h->o.g, job);
    if (sub != SRV_SUBMIT_OK) {
        srv_job_release(job);
        if (sub == SRV_SUBMIT_FULL)
            srv_fail(&err, 503, "server_error", "queue_full", NULL, "The server is busy: every slot is taken and the queue is full; retry later");
        else
            srv_fail(&err, 503, "server_error", "server_shutting_down", NULL, "the server is shutting down");
        return send_err(h, c, route, &err);
    }
    gen_info gi = {kind, "", (long long)time(NULL)};
    new_id(h, kind == SRV_CHAT ? "chatcmpl" : "cmpl", gi.id, sizeof gi.id);
    if (stream) return start_stream(h, c, route, job, &gi, include_usage);

    dp_buf text = {0};
    srv_progress p;
    size_t from = 0;
    for (;;) {
        srv_job_wait(h->o.g, job, from, WAIT_STEP_MS, &text, &p);
        from = p.total;
        if (p.done) break;
        if (client_gone(c)) {
            srv_job_cancel(h->o.g, job);
            srv_job_release(job);
            dp_buf_free(&text);
            return MHD_NO;
        }
    }
    srv_job_release(job);
    enum MHD_Result ok;
    if (p.err.http) {
        ok = send_err(h, c, route, &p.err);
    } else {
        dp_buf b = {0};
        put_completion(h, &gi, &text, &p, &b);
        ok = send_json(h, c, route, 200, &b);
    }
    dp_buf_free(&text);
    return ok;
}

/* ---- dispatch ---- */

static int route_of(const char *url) {
    if (!strcmp(url, "/v1/chat/completions")) return R_CHAT;
    if (!strcmp(url, "/v1/completions")) return R_COMPLETIONS;
    if (!strcmp(url, "/v1/models") || !strncmp(url, "/v1/models/", 11)) return R_MODELS;
    if (!strcmp(url, "/health")) return R_HEALTH;
    if (!strcmp(url, "/metrics")) return R_METRICS;
    if (!strcmp(url, "/lora-adapters")) return R_LORA;
    return R_OTHER;
}

/* Checks made on the headers alone; false with err when refused. */
static bool admit(srv_http *h, struct MHD_Connection *c, const char *url, const char *method, int route, srv_err *err) {
    if (h->loopback) {
        const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
        if (host && !srv_host_is_loopback(host)) {
            char esc[64];
            dp_str_escape(esc, sizeof esc, host, strlen(host));
            return srv_fail(err, 403, "invalid_request_error", "host_not_allowed", NULL,
                            "Host '%s' is not a loopback name: this server listens on loopback only", esc);
        }
    }
    if (route == R_OTHER) return srv_fail(err, 404, "invalid_request_error", "not_found", NULL, "no route for %s", url);
    bool post = route == R_CHAT || route == R_COMPLETIONS || (route == R_LORA && !strcmp(method, "POST"));
    const char *takes = route == R_LORA ? "GET or POST" : post ? "POST" : "GET";
    if (strcmp(method, post ? "POST" : "GET"))
        return srv_fail(err, 405, "invalid_request_error", "method_not_allowed", NULL, "%s takes %s", ROUTE_NAME[route], takes);
    if (route != R_HEALTH && !key_ok(h, c, err)) return false;
    if (post) {
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > MAX_BODY)
            return srv_fail(err, 413, "invalid_request_error", "request_too_large", NULL, "the body is over %zu bytes", MAX_BODY);
    }
    return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    srv_http *h = cls;
    conn_state *cs = *con_cls;
    if (!cs && h->o.shards && srv_shards_route(h->o.shards, url)) return srv_shards_answer(h->o.shards, c, url, method);
    if (!cs) {
        if (!(cs = calloc(1, sizeof *cs))) return MHD_NO;
        *con_cls = cs;
        atomic_fetch_add(&h->in_flight, 1);
        cs->route = route_of(url);
        srv_err err;
        if (!admit(h, c, url, method, cs->route, &err)) return send_err(h, c, cs->route == R_OTHER ? R_OTHER : cs->route, &err);
        if (cs->route == R_HEALTH) {
            dp_buf b = {0};
            dp_buf_puts(&b, "{\"status\":\"ok\"}");
            return send_json(h, c, R_HEALTH, 200, &b);
        }
        if (cs->route == R_METRICS) return get_metrics(h, c);
        if (cs->route == R_MODELS) return get_models(h, c, url);
        if (cs->route == R_LORA && !strcmp(method, "GET")) return lora_adapters(h, c, NULL);
        return MHD_YES; /* POST: the body comes next */
    }
    if (*upload_size) {
        if (cs->body.len + *upload_size > MAX_BODY) cs->too_large = true;
        else dp_buf_append(&cs->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (cs->too_large) {
        srv_err err;
        srv_fail(&err, 413, "invalid_request_error", "request_too_large", NULL, "the body is over %zu bytes", MAX_BODY);
        return send_err(h, c, cs->route, &err);
    }
    if (cs->body.oom) return MHD_NO;
    if (cs->route == R_LORA) return lora_adapters(h, c, &cs->body);
    return generate(h, c, cs->route, &cs->body);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)c;
    (void)toe;
    srv_http *h = cls;
    conn_state *cs = *con_cls;
    if (!cs) return;
    dp_buf_free(&cs->body);
    free(cs);
    *con_cls = NULL;
    atomic_fetch_sub(&h->in_flight, 1);
}

/* ---- the daemon ---- */

static bool addr_is_loopback(const struct sockaddr *sa) {
    if (sa->sa_family == AF_INET) return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a)) return true;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return false;
}

dp_status srv_http_start(const srv_http_opts *o, srv_http **out, dp_error *e) {
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int rc = getaddrinfo(o->host, NULL, &hints, &ai);
    if (rc != 0) return dp_err_set(e, DP_ERR_INVALID_ARG, "cannot resolve --host %s: %s", o->host, gai_strerror(rc));
    srv_http *h = calloc(1, sizeof *h);
    if (!h) {
        freeaddrinfo(ai);
        return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    h->o = *o;
    h->id_salt = random_u64();
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    bool v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    if (v6) ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)o->port);
    else ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)o->port);
    h->loopback = addr_is_loopback((struct sockaddr *)&ss);
    srv_stats st;
    srv_engine_stats(o->g, &st);
    unsigned limit = (unsigned)(st.slots + st.queue_cap + 64);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | (v6 ? MHD_USE_IPv6 : 0);
    h->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_END);
    if (!h->d) {
        free(h);
        return dp_err_set(e, DP_ERR_IO, "cannot listen on %s port %d (in use, or not an address of this machine?)", o->host, o->port);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : o->port;
    *out = h;
    return DP_OK;
}

int srv_http_port(const srv_http *h) { return h->port; }
bool srv_http_loopback(const srv_http *h) { return h->loopback; }

void srv_http_quiesce(srv_http *h) {
    MHD_socket s = MHD_quiesce_daemon(h->d);
    if (s != MHD_INVALID_SOCKET) close(s);
}

int srv_http_in_flight(srv_http *h) { return atomic_load(&h->in_flight); }

void srv_http_stop(srv_http *h) {
    if (!h) return;
    MHD_stop_daemon(h->d);
    free(h);
}
