/* serve_http.h — `doppler serve`'s HTTP side on libmicrohttpd (serve_http.c): routes, the API
 * key, the loopback Host guard, request bodies, JSON answers and server-sent event streams.
 * Built only when libmicrohttpd is found (DP_HAVE_MHD). */
#ifndef DP_SERVE_HTTP_H
#define DP_SERVE_HTTP_H

#include <stdbool.h>

#include "doppler.h"
#include "serve_engine.h"
#include "serve_shards.h"
#include "serve_lora.h"

typedef struct srv_http_opts {
    const char *host;      /* address to bind: "127.0.0.1", "::1", "0.0.0.0", a name */
    int port;              /* 0: a free port (srv_http_port says which) */
    const char *api_key;   /* NULL: no key */
    const char *model_name;
    dp_model *m;           /* borrowed, as the rest */
    const dp_tokenizer *t;
    srv_engine *g;
    const srv_chat *chat;  /* NULL: the model has no chat format (chat_err says why) */
    const char *chat_err;
    srv_shards *shards;    /* NULL, or --shards DIR served beside the API (no API key asked) */
    srv_lora *lora;        /* the --lora adapters (possibly none) */
} srv_http_opts;

typedef struct srv_http srv_http;

dp_status srv_http_start(const srv_http_opts *o, srv_http **out, dp_error *e);
int srv_http_port(const srv_http *h);
bool srv_http_loopback(const srv_http *h);
/* Stop accepting connections (requests already read go on). */
void srv_http_quiesce(srv_http *h);
/* Requests received and not yet completely answered. */
int srv_http_in_flight(srv_http *h);
/* Close every connection and free. NULL: no-op. */
void srv_http_stop(srv_http *h);

#endif
