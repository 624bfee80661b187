/* serve_request.h — `doppler serve`: an OpenAI request body into a checked request, and the
 * OpenAI-style error body. No model, no sockets: pure functions over bytes, so the parser is a
 * fuzz target (fuzz/serve_request). Every refusal is a 4xx with a one-line reason naming the
 * field; nothing a client sends can make the server answer 500 or crash. */
#ifndef DP_SERVE_REQUEST_H
#define DP_SERVE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* An HTTP error the server answers with {"error":{"message","type","param","code"}}. */
typedef struct srv_err {
    int http;              /* 400, 401, 403, 404, 405, 413, 503, 500 */
    const char *type;      /* "invalid_request_error", "authentication_error", ... (static) */
    const char *code;      /* static; NULL: JSON null */
    char param[64];        /* the field at fault; "" = JSON null */
    char msg[256];
} srv_err;

/* Fill err and return false (so `return srv_fail(...)` reads as a refusal). */
bool srv_fail(srv_err *err, int http, const char *type, const char *code, const char *param,
              const char *fmt, ...) DP_PRINTF(6, 7);
/* The error body into b (appended). */
void srv_err_json(const srv_err *err, dp_buf *b);

typedef enum srv_kind { SRV_CHAT, SRV_COMPLETION } srv_kind;

#define SRV_MAX_STOP 4           /* OpenAI's bound on stop sequences */
#define SRV_MAX_STOP_LEN 256     /* bytes per stop sequence */
#define SRV_MAX_MESSAGES 4096

typedef struct srv_msg {
    const char *role;      /* static: "system", "user" or "assistant" ("developer" is system) */
    char *content;         /* malloc'd, NUL-terminated, no NUL inside */
    size_t len;
} srv_msg;

/* What the parser checks against (from the loaded model and the server's options). */
typedef struct srv_limits {
    int32_t n_ctx;         /* max_tokens may not exceed it */
    int32_t n_vocab;       /* top_k may not exceed it */
} srv_limits;

#define SRV_MAX_LORA 16           /* entries of a "lora" list */
#define SRV_LORA_NAME 64

/* One entry of a "lora" list (a request's, or POST /lora-adapters'), as llama-server takes it:
 * {"id": N, "scale": X}, or {"name": "<adapter name>", "scale": X} (Doppler's addition). */
typedef struct srv_lora_ref {
    int32_t id;                /* -1: by name */
    char name[SRV_LORA_NAME];  /* when id < 0 */
    float scale;               /* finite, |scale| <= SRV_MAX_LORA_SCALE */
} srv_lora_ref;
#define SRV_MAX_LORA_SCALE 100.0

typedef struct srv_req {
    srv_kind kind;
    srv_msg *msgs;         /* chat: n_msgs >= 1 */
    size_t n_msgs;
    char *prompt;          /* completion: malloc'd (may hold NUL bytes; prompt_len counts them) */
    size_t prompt_len;
    int32_t max_tokens;    /* 0: not given (fill the context) */
    float temperature;     /* default 1 */
    float top_p;           /* default 1 */
    int32_t top_k;         /* default 0 (off) */
    uint64_t seed;
    bool has_seed;
    char *stop[SRV_MAX_STOP]; /* malloc'd, non-empty */
    size_t stop_len[SRV_MAX_STOP];
    int n_stop;
    bool stream;
    bool include_usage;    /* stream_options.include_usage */
    bool has_lora;         /* "lora" given: the request's own adapter choice, else the server's */
    srv_lora_ref lora[SRV_MAX_LORA];
    int n_lora;
} srv_req;

/* Parse and check body[0..n) as a chat completion or a completion request. On success *out
 * owns its strings (srv_req_free). On failure *out is zeroed, err says why (400 or 413) and
 * nothing is left allocated. */
bool srv_req_parse(srv_kind kind, const char *body, size_t n, const srv_limits *lim, srv_req *out,
                   srv_err *err);
void srv_req_free(srv_req *r);
/* The body of POST /lora-adapters: a "lora" list (a JSON array of entries) into out[0..*n).
 * false with err (400) when it is not one: not an array, over SRV_MAX_LORA entries, an entry
 * without id or name or scale, an unknown key, an id or name given twice, a scale not finite or
 * over SRV_MAX_LORA_SCALE in magnitude. */
bool srv_lora_body_parse(const char *body, size_t n, srv_lora_ref *out, int *count, srv_err *err);

/* The last component of a directory path (trailing slashes ignored) into out: the name a client
 * sees for the model and for each --lora adapter. */
void srv_dir_name(const char *dir, char *out, size_t cap);

/* Whether a Host header value (with or without a port) names the loopback interface:
 * localhost, 127.0.0.0/8 in dotted form, or [::1]. The guard against DNS rebinding when the
 * server listens on a loopback address. */
bool srv_host_is_loopback(const char *host);

#endif
