/* cmd_serve.c — `doppler serve <model>`: the OpenAI-compatible HTTP API (chat completions,
 * completions, models) plus /health and /metrics, over --slots contexts on the one loaded model.
 * serve_request.c checks request bodies, serve_engine.c runs the slots and the queue,
 * serve_http.c speaks HTTP through libmicrohttpd (an optional dependency: without it this command
 * says how to get it), serve_lora.c holds the --lora adapters (GET/POST /lora-adapters and each
 * request's "lora" list, as llama-server). SIGTERM / SIGINT: stop accepting, answer queued requests 503,
 * let running ones finish for a grace period, cancel the rest, exit 0.
 * --shards DIR also serves a model folder as a mirror / web seed (serve_shards.c: /manifest.json,
 * /shards/<sha256>.bin, tokenizer files, with Range and CORS); given alone, without a model, only
 * that is served. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h" /* dp_time_now */
#include "cli.h"
#include "commands.h"

static const char USAGE[] =
    "serve <model> [--host 127.0.0.1] [--port 8080] [--api-key K] [--slots 1] [--ctx N] [--queue 16]\n"
    "              [--template NAME] [--grace SECONDS] [-t threads] [--lora DIR[:scale]]... [--shards DIR]\n"
    "       serve --shards DIR [--host H] [--port N]   (a model folder as a mirror / web seed)";

#ifndef DP_HAVE_MHD

int cmd_serve(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "doppler serve: this doppler was built without libmicrohttpd; install it "
                    "(Debian: apt-get install libmicrohttpd-dev, or scripts/deps.sh test) and rebuild\n"
                    "usage: doppler %s\n", USAGE);
    return 1;
}

#else

#include "serve_http.h"
#include "serve_shards.h"

/* --shards without a model: a mirror until SIGTERM / SIGINT */
static int serve_shards_only(srv_shards *sh, const char *host, int port, sigset_t *sigs) {
    dp_error e = {0};
    if (srv_shards_start(sh, host, port, &e) != DP_OK) {
        srv_shards_free(sh);
        return cli_fail("serve", &e);
    }
    fprintf(stderr, "doppler serve: shards on http://%s%s%s:%d\n", strchr(host, ':') ? "[" : "", host,
            strchr(host, ':') ? "]" : "", srv_shards_port(sh));
    int sig = 0;
    sigwait(sigs, &sig);
    fprintf(stderr, "doppler serve: stopped (%lu requests)\n", srv_shards_count(sh));
    srv_shards_free(sh);
    return 0;
}

typedef struct serve_args {
    const char *model, *host, *key, *tmpl, *shards_dir;
    long port, slots, n_ctx, queue, threads, grace;
    cli_lora lora[SRV_MAX_LORA];
    char *lora_dir[SRV_MAX_LORA];
    float lora_scale[SRV_MAX_LORA];
    int n_lora;
} serve_args;

/* argv into a; false (after a message) on bad arguments. */
static bool parse_args(int argc, char **argv, serve_args *a) {
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(k, "--lora") && v) {
            if (a->n_lora == SRV_MAX_LORA) {
                fprintf(stderr, "doppler serve: at most %d --lora adapters\n", SRV_MAX_LORA);
                return false;
            }
            if (!cli_lora_parse("serve", argv[++i], &a->lora[a->n_lora])) return false;
            a->lora_dir[a->n_lora] = a->lora[a->n_lora].dir;
            a->lora_scale[a->n_lora] = a->lora[a->n_lora].scale;
            a->n_lora++;
        }
        else if (!strcmp(k, "--host") && v) a->host = argv[++i];
        else if (!strcmp(k, "--api-key") && v) a->key = argv[++i];
        else if (!strcmp(k, "--template") && v) a->tmpl = argv[++i];
        else if (!strcmp(k, "--shards") && v) a->shards_dir = argv[++i];
        else if (!strcmp(k, "--port") && v) { if (!cli_int("serve", k, argv[++i], 0, 65535, &a->port)) return false; }
        else if (!strcmp(k, "--slots") && v) { if (!cli_int("serve", k, argv[++i], 1, 256, &a->slots)) return false; }
        else if (!strcmp(k, "--ctx") && v) { if (!cli_int("serve", k, argv[++i], 16, 1 << 24, &a->n_ctx)) return false; }
        else if (!strcmp(k, "--queue") && v) { if (!cli_int("serve", k, argv[++i], 0, 4096, &a->queue)) return false; }
        else if (!strcmp(k, "--grace") && v) { if (!cli_int("serve", k, argv[++i], 0, 3600, &a->grace)) return false; }
        else if (!strcmp(k, "-t") && v) { if (!cli_int("serve", k, argv[++i], 0, 1024, &a->threads)) return false; }
        else if (k[0] == '-' || a->model) return cli_usage(USAGE), false;
        else a->model = k;
    }
    if (!a->model && !a->shards_dir) return cli_usage(USAGE), false;
    if (!a->key) a->key = getenv("DOPPLER_API_KEY");
    if (a->key && !a->key[0]) {
        fprintf(stderr, "doppler serve: the API key is empty\n");
        return false;
    }
    return true;
}

static int serve(const serve_args *a) {
    /* signals are taken by sigwait below; every thread started from here on blocks them */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    dp_error e = {0};
    srv_shards *sh = NULL;
    if (a->shards_dir && srv_shards_new(a->shards_dir, &sh, &e) != DP_OK) return cli_fail("serve", &e);
    if (!a->model) return serve_shards_only(sh, a->host, (int)a->port, &sigs);
    dp_model *m = NULL;
    dp_tokenizer *tok = NULL;
    srv_chat *chat = NULL;
    srv_lora *lora = NULL;
    srv_engine *g = NULL;
    srv_http *h = NULL;
    dp_error chat_e = {0};
    char name[256];
    srv_dir_name(a->model, name, sizeof name);
    const char *model = cli_model_dir("serve", a->model);
    if (!model) { /* a URL: mounted lazily */
        srv_shards_free(sh);
        return 1;
    }
    int rc = 0;
    dp_status st = cli_load(model, (int)a->threads, &m, &e);
    if (st == DP_OK) st = dp_tokenizer_load(model, &tok, &e);
    if (st == DP_OK && srv_chat_new(m, tok, a->tmpl, &chat, &chat_e) != DP_OK && a->tmpl) st = (e = chat_e).status;
    if (st == DP_OK) st = srv_lora_new(m, a->lora_dir, a->lora_scale, a->n_lora, &lora, &e);
    srv_engine_opts eo = {(int)a->slots, (int)a->queue, (int32_t)a->n_ctx};
    if (st == DP_OK) st = srv_engine_new(m, tok, &eo, &g, &e);
    if (st == DP_OK) {
        srv_http_opts ho = {a->host, (int)a->port, a->key, name, m, tok, g, chat, chat_e.msg, sh, lora};
        st = srv_http_start(&ho, &h, &e);
    }
    if (st != DP_OK) {
        rc = cli_fail("serve", &e);
        goto done;
    }
    if (sh) fprintf(stderr, "doppler serve: %s served as a mirror (/manifest.json, /shards/)\n", a->shards_dir);
    const char *host = a->host;
    if (!chat) fprintf(stderr, "doppler serve: no chat format (%s): /v1/chat/completions answers 400\n", chat_e.msg);
    fprintf(stderr, "doppler serve: %s on http://%s%s%s:%d (%ld slot%s of %d tokens, queue %ld%s%s%s", name,
            strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", srv_http_port(h), a->slots,
            a->slots == 1 ? "" : "s", srv_engine_n_ctx(g), a->queue, chat ? ", chat " : "", chat ? srv_chat_name(chat) : "",
            a->key ? ", API key required" : "");
    if (a->n_lora) fprintf(stderr, ", %d LoRA adapter%s", a->n_lora, a->n_lora == 1 ? "" : "s");
    fprintf(stderr, ")\n");
    if (!a->key && !srv_http_loopback(h))
        fprintf(stderr, "doppler serve: warning: listening beyond loopback without --api-key\n");

    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "doppler serve: %s: finishing requests (up to %ld s)\n", sig == SIGTERM ? "SIGTERM" : "SIGINT", a->grace);
    srv_http_quiesce(h);
    srv_engine_stop(g, (int)a->grace * 1000);
    /* every job is done now; let the connections send their last bytes */
    for (double until = dp_time_now() + 2.0; srv_http_in_flight(h) > 0 && dp_time_now() < until;) usleep(10 * 1000);
    fprintf(stderr, "doppler serve: stopped\n");

done:
    srv_http_stop(h);
    srv_shards_free(sh);
    srv_engine_free(g); /* its contexts go before the adapters they use */
    srv_lora_free(lora);
    srv_chat_free(chat);
    dp_tokenizer_free(tok);
    dp_model_free(m);
    return rc;
}

int cmd_serve(int argc, char **argv) {
    serve_args a = {.host = "127.0.0.1", .port = 8080, .slots = 1, .queue = 16, .grace = 5};
    int rc = parse_args(argc, argv, &a) ? serve(&a) : 2;
    for (int i = 0; i < a.n_lora; i++) free(a.lora[i].dir);
    return rc;
}

#endif
