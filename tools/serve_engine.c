/* serve_engine.c — slots, the queue and the engine thread of `doppler serve` (serve_engine.h).
 *
 * Text: each step decodes the slot's generated ids with dp_detokenize (the public call; decoding
 * a prefix of the ids gives a prefix of the bytes), turns the new bytes into valid UTF-8 (a
 * sequence cut by the token boundary waits for its next token; bytes that can never form one
 * become U+FFFD) and holds back any tail that could be the start of a stop sequence. */
#include "serve_engine.h"

#include "base/base.h" /* dp_time_now */

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct srv_job {
    atomic_int refs;
    /* input: fixed once submitted */
    int32_t *prompt;
    int32_t n_prompt;
    int32_t max_tokens;
    dp_sampling sampling;
    dp_adapter *adapter;  /* NULL: the base model */
    float lora_scale;
    char *stop[SRV_MAX_STOP];
    size_t stop_len[SRV_MAX_STOP];
    int n_stop;
    /* output and state: under the engine's mutex */
    dp_buf text;
    int32_t n_gen;
    bool queued, done, cancelled;
    const char *finish;
    srv_err err;
    srv_job *next;        /* queue link */
};

typedef struct slot {
    dp_ctx *ctx;
    srv_job *job;         /* NULL: free */
    bool started;
    bool pending;         /* `next` was sampled and is to be evaluated next round */
    int32_t next;
    int32_t *gen;         /* generated ids, room for n_ctx */
    int32_t n_gen;
    char *raw;            /* dp_detokenize of gen */
    size_t raw_cap, raw_done;
    dp_buf vis;           /* valid UTF-8 text so far */
    size_t committed;     /* bytes of vis handed to the job */
} slot;

#define RATE_WINDOW 10

struct srv_engine {
    dp_model *m;
    const dp_tokenizer *t;
    int32_t n_ctx;
    pthread_mutex_t mu;
    pthread_cond_t work;      /* the engine thread waits here for jobs */
    pthread_cond_t progress;  /* connections wait here for text (CLOCK_MONOTONIC) */
    pthread_t thread;
    bool running;             /* the thread was started and not joined */
    slot *slots;
    int n_slots, n_active;
    dp_batch *batch;          /* the pending tokens of all slots in one pass */
    dp_ctx **batch_ctx;
    int32_t *batch_ids;
    slot **batch_slot;
    srv_job *qhead, *qtail;
    int n_queued, queue_cap;
    bool stopping, quit;
    int64_t deadline_ms;      /* while stopping: cancel running jobs after this */
    srv_stats st;
    int64_t rate_sec[RATE_WINDOW];
    uint32_t rate_n[RATE_WINDOW];
};

static int64_t now_ms(void) { return (int64_t)(dp_time_now() * 1000.0); }

/* ---- jobs ---- */

srv_job *srv_job_new(srv_req *r, const int32_t *ids, int32_t n, uint64_t seed) {
    srv_job *j = calloc(1, sizeof *j);
    if (!j || !(j->prompt = malloc((size_t)(n > 0 ? n : 1) * sizeof *ids))) {
        free(j);
        return NULL;
    }
    atomic_init(&j->refs, 1);
    memcpy(j->prompt, ids, (size_t)n * sizeof *ids);
    j->n_prompt = n;
    j->max_tokens = r->max_tokens;
    j->sampling = (dp_sampling){r->temperature, r->top_k, r->top_p, seed};
    j->lora_scale = 1.0f;
    for (int i = 0; i < r->n_stop; i++) {
        j->stop[i] = r->stop[i];
        j->stop_len[i] = r->stop_len[i];
        r->stop[i] = NULL;
    }
    j->n_stop = r->n_stop;
    r->n_stop = 0;
    return j;
}

void srv_job_set_lora(srv_job *j, dp_adapter *a, float scale) {
    j->adapter = a;
    j->lora_scale = a ? scale : 1.0f;
}

void srv_job_release(srv_job *j) {
    if (!j || atomic_fetch_sub(&j->refs, 1) != 1) return;
    free(j->prompt);
    for (int i = 0; i < j->n_stop; i++) free(j->stop[i]);
    dp_buf_free(&j->text);
    free(j);
}

/* ---- text ---- */

/* Length of the UTF-8 sequence at p[0..n): > 0 a whole valid one; 0 a valid start cut by the end
 * of the bytes; -1 invalid (the first byte is to be replaced). */
static int utf8_len(const unsigned char *p, size_t n) {
    unsigned c = p[0];
    if (c < 0x80) return 1;
    int len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return -1;
    }
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n) return 0;
        if (p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xBF)) return -1;
    }
    return len;
}

/* New bytes raw[s->raw_done..n) into s->vis as valid UTF-8; final: a cut sequence is U+FFFD. */
static void take_utf8(slot *s, size_t n, bool final) {
    const unsigned char *p = (const unsigned char *)s->raw;
    size_t i = s->raw_done;
    while (i < n) {
        int l = utf8_len(p + i, n - i);
        if (l == 0 && !final) break;
        if (l <= 0) {
            dp_buf_append(&s->vis, "\xEF\xBF\xBD", 3);
            i++;
        } else {
            dp_buf_append(&s->vis, p + i, (size_t)l);
            i += (size_t)l;
        }
    }
    s->raw_done = i;
}

/* Where the first stop sequence starts in vis, searching the bytes that the last append could
 * have completed; -1 when none. */
static long find_stop(const slot *s, const srv_job *j, size_t old_len) {
    long best = -1;
    for (int k = 0; k < j->n_stop; k++) {
        size_t sl = j->stop_len[k];
        if (s->vis.len < sl) continue;
        size_t from = old_len >= sl ? old_len - sl + 1 : 0;
        for (size_t i = from; i + sl <= s->vis.len; i++)
            if (!memcmp(s->vis.data + i, j->stop[k], sl)) {
                if (best < 0 || (long)i < best) best = (long)i;
                break;
            }
    }
    return best;
}

/* Bytes at the end of vis that could begin a stop sequence (held back until decided). */
static size_t stop_holdback(const slot *s, const srv_job *j) {
    size_t hold = 0;
    for (int k = 0; k < j->n_stop; k++)
        for (size_t l = j->stop_len[k] - 1; l > hold; l--)
            if (l <= s->vis.len && !memcmp(s->vis.data + s->vis.len - l, j->stop[k], l)) {
                hold = l;
                break;
            }
    return hold;
}

/* ---- the engine thread ---- */

static void count_tokens_locked(srv_engine *g, uint32_t n) {
    int64_t sec = now_ms() / 1000;
    int idx = (int)(sec % RATE_WINDOW);
    if (g->rate_sec[idx] != sec) {
        g->rate_sec[idx] = sec;
        g->rate_n[idx] = 0;
    }
    g->rate_n[idx] += n;
    g->st.completion_tokens += n;
}

/* Hand text up to vis[upto) to the job and wake its connection. */
static void publish_locked(srv_engine *g, slot *s, size_t upto) {
    srv_job *j = s->job;
    if (upto > s->committed) {
        dp_buf_append(&j->text, s->vis.data + s->committed, upto - s->committed);
        s->committed = upto;
    }
    j->n_gen = s->n_gen;
    pthread_cond_broadcast(&g->progress);
}

/* The job leaves its slot: done, with finish or err (http != 0), and the engine's reference goes. */
static void finish_locked(srv_engine *g, slot *s, const char *finish, const srv_err *err) {
    srv_job *j = s->job;
    j->done = true;
    j->finish = finish;
    if (err) j->err = *err;
    if (j->text.oom && !j->err.http) srv_fail(&j->err, 500, "server_error", NULL, NULL, "out of memory");
    if (j->cancelled) g->st.jobs_cancelled++;
    else if (j->err.http) g->st.jobs_failed++;
    else g->st.jobs_done++;
    s->job = NULL;
    s->started = false;
    g->n_active--;
    pthread_cond_broadcast(&g->progress);
    srv_job_release(j);
}

static void fail_locked(srv_engine *g, slot *s, int http, const char *msg) {
    srv_err err;
    srv_fail(&err, http, http == 503 ? "server_error" : "server_error", http == 503 ? "server_shutting_down" : NULL, NULL,
             "%s", msg);
    finish_locked(g, s, NULL, &err);
}

static dp_status decode_all(srv_engine *g, slot *s, size_t *n, dp_error *e) {
    for (;;) {
        dp_status st = dp_detokenize(g->t, s->gen, (size_t)s->n_gen, 0, s->raw, s->raw_cap, n, e);
        if (st != DP_ERR_LIMIT) return st;
        size_t cap = *n + 1 > 2 * s->raw_cap ? *n + 1 : 2 * s->raw_cap;
        char *r = realloc(s->raw, cap);
        if (!r) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
        s->raw = r;
        s->raw_cap = cap;
    }
}

/* After a sample (st its status): the token's text, a stop sequence, the length bound; the slot
 * is left pending (its token to evaluate next round) or finished, and the text published. Called
 * unlocked; locks to publish. */
static void after_sample(srv_engine *g, slot *s, dp_status st, int32_t id, bool first, double t0, dp_error *e) {
    srv_job *j = s->job;
    const char *finish = NULL;
    size_t n = s->raw_done, upto = 0;
    bool produced = false;
    s->pending = false;
    if (st == DP_OK && srv_is_end(g->m, g->t, id)) {
        finish = "stop";
    } else if (st == DP_OK) {
        s->gen[s->n_gen++] = id;
        produced = true;
        size_t old = s->vis.len;
        st = decode_all(g, s, &n, e);
        if (st == DP_OK) {
            if (n < s->raw_done) n = s->raw_done; /* never shrinks (a prefix decodes to a prefix) */
            take_utf8(s, n, false);
            long at = find_stop(s, j, old);
            if (at >= 0) {
                s->vis.len = (size_t)at;
                finish = "stop";
            } else if (s->n_gen >= j->max_tokens || dp_ctx_pos(s->ctx) >= dp_ctx_n_ctx(s->ctx)) {
                finish = "length";
            } else {
                s->pending = true;
                s->next = id;
            }
        }
    }
    if (st == DP_OK && s->vis.oom) st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    if (st == DP_OK && finish && (strcmp(finish, "stop") || !produced)) take_utf8(s, n, true); /* not after a cut */
    if (st == DP_OK) upto = finish ? s->vis.len : s->vis.len - stop_holdback(s, j);
    pthread_mutex_lock(&g->mu);
    g->st.busy_seconds += dp_time_now() - t0;
    if (first && st == DP_OK) g->st.prompt_tokens += (uint64_t)j->n_prompt;
    if (produced) count_tokens_locked(g, 1);
    if (st != DP_OK) {
        s->pending = false;
        fail_locked(g, s, 500, e->msg[0] ? e->msg : dp_status_str(st));
    } else {
        publish_locked(g, s, upto);
        if (finish) finish_locked(g, s, finish, NULL);
    }
    pthread_mutex_unlock(&g->mu);
}

/* A slot's first step: its whole prompt, then its first token. */
static void start_slot(srv_engine *g, slot *s) {
    srv_job *j = s->job;
    dp_error e = {0};
    double t0 = dp_time_now();
    dp_ctx_reset(s->ctx);
    s->started = true;
    s->n_gen = 0;
    s->raw_done = 0;
    s->vis.len = 0;
    s->committed = 0;
    int32_t id = -1;
    /* the job's adapter (a change resets the context, which the reset above did anyway) */
    dp_status st = dp_ctx_set_adapter(s->ctx, j->adapter, j->lora_scale, 0, &e);
    if (st == DP_OK) st = dp_ctx_eval(s->ctx, j->prompt, j->n_prompt, NULL, &e);
    if (st == DP_OK) st = dp_ctx_sample(s->ctx, &j->sampling, &id, &e);
    after_sample(g, s, st, id, true, t0, &e);
}

/* The pending tokens of slots[0..k) (all with one adapter and scale) in one batched pass; each
 * slot samples its next. */
static void batch_step(srv_engine *g, slot **slots, int k) {
    for (int i = 0; i < k; i++) {
        g->batch_ctx[i] = slots[i]->ctx;
        g->batch_ids[i] = slots[i]->next;
    }
    dp_error e = {0};
    double t0 = dp_time_now();
    dp_status st = dp_batch_eval(g->batch, g->batch_ctx, g->batch_ids, k, &e);
    for (int i = 0; i < k; i++) {
        slot *s = slots[i];
        int32_t id = -1;
        dp_status sst = st == DP_OK ? dp_ctx_sample(s->ctx, &s->job->sampling, &id, &e) : st;
        after_sample(g, s, sst, id, false, t0, &e);
        t0 = dp_time_now();
    }
}

/* One round: cancelled jobs leave, new ones evaluate their prompts, then the pending token of
 * every running slot goes through the model in a batched pass (dp_batch_eval) and each slot
 * samples its next. One pass applies one adapter: the running slots are grouped by (adapter,
 * scale) and each group is its own pass in the round (all slots in one pass when they share
 * it, the usual case). */
static void round_of_slots(srv_engine *g) {
    int k = 0;
    for (int i = 0; i < g->n_slots; i++) {
        slot *s = &g->slots[i];
        if (!s->job) continue;
        pthread_mutex_lock(&g->mu);
        bool cancelled = s->job->cancelled;
        if (cancelled) {
            s->pending = false;
            finish_locked(g, s, NULL, NULL);
        }
        pthread_mutex_unlock(&g->mu);
        if (cancelled) continue;
        if (!s->started) start_slot(g, s);
        if (s->job && s->pending) g->batch_slot[k++] = s;
    }
    /* groups of one (adapter, scale), in slot order: the group is moved to the front of what is
     * left, then stepped */
    for (int done = 0; done < k;) {
        const srv_job *lead = g->batch_slot[done]->job;
        int n = done + 1;
        for (int i = done + 1; i < k; i++) {
            slot *s = g->batch_slot[i];
            if (s->job->adapter != lead->adapter || s->job->lora_scale != lead->lora_scale) continue;
            g->batch_slot[i] = g->batch_slot[n];
            g->batch_slot[n++] = s;
        }
        batch_step(g, g->batch_slot + done, n - done);
        done = n;
    }
}

static void *engine_main(void *arg) {
    srv_engine *g = arg;
    pthread_mutex_lock(&g->mu);
    for (;;) {
        if (g->stopping && g->deadline_ms && now_ms() >= g->deadline_ms)
            for (int i = 0; i < g->n_slots; i++)
                if (g->slots[i].job) fail_locked(g, &g->slots[i], 503, "the server is shutting down");
        for (int i = 0; i < g->n_slots && g->qhead; i++) {
            if (g->slots[i].job) continue;
            srv_job *j = g->qhead;
            g->slots[i].pending = false;
            g->qhead = j->next;
            if (!g->qhead) g->qtail = NULL;
            g->n_queued--;
            j->queued = false;
            g->slots[i].job = j;
            g->slots[i].started = false;
            g->n_active++;
        }
        if (!g->n_active) {
            if (g->quit) break;
            pthread_cond_wait(&g->work, &g->mu);
            continue;
        }
        pthread_mutex_unlock(&g->mu);
        round_of_slots(g);
        pthread_mutex_lock(&g->mu);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/* ---- the engine ---- */

dp_status srv_engine_new(dp_model *m, const dp_tokenizer *t, const srv_engine_opts *o, srv_engine **out, dp_error *e) {
    if (o->slots < 1 || o->queue < 0) return dp_err_set(e, DP_ERR_INVALID_ARG, "serve: need at least one slot");
    srv_engine *g = calloc(1, sizeof *g);
    if (!g) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    g->m = m;
    g->t = t;
    g->queue_cap = o->queue;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->work, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->progress, &ca);
    pthread_condattr_destroy(&ca);
    dp_status st = DP_OK;
    if (!(g->slots = calloc((size_t)o->slots, sizeof *g->slots))) st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    else g->n_slots = o->slots;
    dp_ctx_params cp;
    dp_ctx_params_default(&cp);
    cp.n_ctx = o->n_ctx;
    for (int i = 0; st == DP_OK && i < g->n_slots; i++) {
        slot *s = &g->slots[i];
        st = dp_ctx_new(m, &cp, &s->ctx, e);
        if (st != DP_OK) break;
        g->n_ctx = dp_ctx_n_ctx(s->ctx);
        s->raw_cap = 4096;
        if (!(s->gen = malloc((size_t)g->n_ctx * sizeof *s->gen)) || !(s->raw = malloc(s->raw_cap)))
            st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    if (st == DP_OK) st = dp_batch_new(m, g->n_slots, &g->batch, e);
    if (st == DP_OK && (!(g->batch_ctx = calloc((size_t)g->n_slots, sizeof *g->batch_ctx)) ||
                        !(g->batch_ids = calloc((size_t)g->n_slots, sizeof *g->batch_ids)) ||
                        !(g->batch_slot = calloc((size_t)g->n_slots, sizeof *g->batch_slot))))
        st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    if (st == DP_OK && pthread_create(&g->thread, NULL, engine_main, g) != 0)
        st = dp_err_set(e, DP_ERR_INTERNAL, "serve: cannot start the engine thread");
    if (st != DP_OK) {
        srv_engine_free(g);
        return st;
    }
    g->running = true;
    *out = g;
    return DP_OK;
}

int32_t srv_engine_n_ctx(const srv_engine *g) { return g->n_ctx; }

srv_submit srv_engine_submit(srv_engine *g, srv_job *j) {
    srv_submit r = SRV_SUBMIT_OK;
    pthread_mutex_lock(&g->mu);
    if (g->stopping) {
        r = SRV_SUBMIT_STOPPING;
    } else if (g->n_active + g->n_queued >= g->n_slots + g->queue_cap) {
        r = SRV_SUBMIT_FULL;
        g->st.rejected_full++;
    } else {
        atomic_fetch_add(&j->refs, 1);
        j->queued = true;
        j->next = NULL;
        if (g->qtail) g->qtail->next = j;
        else g->qhead = j;
        g->qtail = j;
        g->n_queued++;
        pthread_cond_signal(&g->work);
    }
    pthread_mutex_unlock(&g->mu);
    return r;
}

/* Take a queued job out of the queue, done (the engine's reference goes). */
static void unqueue_locked(srv_engine *g, srv_job *j, const srv_err *err) {
    srv_job **pp = &g->qhead, *prev = NULL;
    while (*pp && *pp != j) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp) return;
    *pp = j->next;
    if (g->qtail == j) g->qtail = prev;
    g->n_queued--;
    j->queued = false;
    j->done = true;
    if (err) {
        j->err = *err;
        g->st.jobs_failed++;
    } else {
        g->st.jobs_cancelled++;
    }
    pthread_cond_broadcast(&g->progress);
    srv_job_release(j);
}

void srv_job_cancel(srv_engine *g, srv_job *j) {
    pthread_mutex_lock(&g->mu);
    j->cancelled = true;
    if (j->queued) unqueue_locked(g, j, NULL);
    pthread_mutex_unlock(&g->mu);
}

void srv_job_wait(srv_engine *g, srv_job *j, size_t from, int timeout_ms, dp_buf *out, srv_progress *p) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&g->mu);
    while (j->text.len <= from && !j->done)
        if (pthread_cond_timedwait(&g->progress, &g->mu, &until) == ETIMEDOUT) break;
    if (j->text.len > from) dp_buf_append(out, j->text.data + from, j->text.len - from);
    p->total = j->text.len;
    p->done = j->done;
    p->finish = j->finish;
    p->prompt_tokens = j->n_prompt;
    p->completion_tokens = j->n_gen;
    p->err = j->err;
    pthread_mutex_unlock(&g->mu);
}

void srv_engine_stats(srv_engine *g, srv_stats *s) {
    pthread_mutex_lock(&g->mu);
    *s = g->st;
    s->slots = g->n_slots;
    s->slots_busy = g->n_active;
    s->queued = g->n_queued;
    s->queue_cap = g->queue_cap;
    int64_t sec = now_ms() / 1000;
    uint64_t n = 0;
    for (int i = 0; i < RATE_WINDOW; i++)
        if (sec - g->rate_sec[i] < RATE_WINDOW) n += g->rate_n[i];
    s->tokens_per_second = (double)n / RATE_WINDOW;
    pthread_mutex_unlock(&g->mu);
}

void srv_engine_stop(srv_engine *g, int grace_ms) {
    if (!g) return;
    srv_err err;
    srv_fail(&err, 503, "server_error", "server_shutting_down", NULL, "the server is shutting down");
    pthread_mutex_lock(&g->mu);
    g->stopping = true;
    while (g->qhead) unqueue_locked(g, g->qhead, &err);
    g->deadline_ms = now_ms() + (grace_ms > 0 ? grace_ms : 1);
    g->quit = true;
    pthread_cond_signal(&g->work);
    bool running = g->running;
    g->running = false;
    pthread_mutex_unlock(&g->mu);
    if (running) pthread_join(g->thread, NULL);
}

void srv_engine_free(srv_engine *g) {
    if (!g) return;
    srv_engine_stop(g, 0);
    for (int i = 0; i < g->n_slots; i++) {
        slot *s = &g->slots[i];
        dp_ctx_free(s->ctx);
        free(s->gen);
        free(s->raw);
        dp_buf_free(&s->vis);
    }
    free(g->slots);
    dp_batch_free(g->batch);
    free(g->batch_ctx);
    free(g->batch_ids);
    free(g->batch_slot);
    pthread_cond_destroy(&g->work);
    pthread_cond_destroy(&g->progress);
    pthread_mutex_destroy(&g->mu);
    free(g);
}
