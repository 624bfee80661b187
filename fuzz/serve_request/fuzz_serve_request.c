/* fuzz_serve_request.c — tools/serve_request.c: `doppler serve`'s request parser on arbitrary
 * bodies. The first byte picks the route (chat or completions) and the limits; the rest is the
 * body. An accepted request must hold only what the checks allow (roles, ranges, stop
 * sequences, sampling settings the library takes); a refused one must be a 4xx (or a 500 for
 * out of memory) whose error body is valid JSON of OpenAI's shape. The Host guard and the
 * POST /lora-adapters body parser run on the same bytes. */
#include <math.h>

#include "fuzz_common.h"

#include "serve_request.h"

static void check_error_body(const srv_err *err) {
    if (!err->msg[0] || !err->type || !((err->http >= 400 && err->http < 500) || err->http == 500)) abort();
    dp_buf b = {0};
    srv_err_json(err, &b);
    dp_json_doc *doc = fz_json_written(&b, "fuzz_serve_request: error body");
    if (!doc) return;
    const dp_json *o = dp_json_get(dp_json_root(doc), "error");
    const char *s;
    if (!dp_json_str(dp_json_get(o, "message"), &s) || !dp_json_str(dp_json_get(o, "type"), &s) ||
        !dp_json_get(o, "param") || !dp_json_get(o, "code") || o->len != 4)
        abort();
    dp_json_free(doc);
}

/* A "lora" list: bounded, each entry an id or a name, a finite scale in range, no repeats. */
static void check_lora(const srv_lora_ref *v, int n) {
    if (n < 0 || n > SRV_MAX_LORA) abort();
    for (int i = 0; i < n; i++) {
        size_t len = strnlen(v[i].name, SRV_LORA_NAME);
        if (len == SRV_LORA_NAME || (v[i].id < 0) != (len > 0)) abort();
        if (!(fabsf(v[i].scale) <= SRV_MAX_LORA_SCALE)) abort();
        for (int j = 0; j < i; j++)
            if (v[j].id == v[i].id && !strcmp(v[j].name, v[i].name)) abort();
    }
}

static void check_request(const srv_req *r, const srv_limits *lim) {
    if (r->kind == SRV_CHAT) {
        if (!r->n_msgs || r->n_msgs > SRV_MAX_MESSAGES || r->prompt) abort();
        for (size_t i = 0; i < r->n_msgs; i++) {
            const char *role = r->msgs[i].role;
            if (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant")) abort();
            if (!r->msgs[i].content || strlen(r->msgs[i].content) != r->msgs[i].len) abort();
        }
    } else if (!r->prompt || r->msgs) {
        abort();
    }
    if (r->max_tokens < 0 || r->max_tokens > lim->n_ctx || r->top_k < 0 || r->top_k > lim->n_vocab) abort();
    if (r->n_stop < 0 || r->n_stop > SRV_MAX_STOP) abort();
    for (int i = 0; i < r->n_stop; i++)
        if (!r->stop[i] || !r->stop_len[i] || r->stop_len[i] > SRV_MAX_STOP_LEN) abort();
    if (r->include_usage && !r->stream) abort();
    dp_sampling sp = {r->temperature, r->top_k, r->top_p, r->seed};
    if (dp_sampling_check(&sp, NULL) != DP_OK) abort();
    check_lora(r->lora, r->has_lora ? r->n_lora : 0);
    if (!r->has_lora && r->n_lora) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    fz_begin(size);
    srv_kind kind = data[0] & 1 ? SRV_COMPLETION : SRV_CHAT;
    srv_limits lim = {(int32_t)(1 + (data[0] >> 1) * 64), 32000};
    /* the parser gets exactly the body's bytes */
    size_t n = size - 1;
    char *body = malloc(n ? n : 1);
    if (!body) abort();
    if (n) memcpy(body, data + 1, n);
    srv_req r;
    srv_err err = {0};
    if (srv_req_parse(kind, body, n, &lim, &r, &err)) {
        check_request(&r, &lim);
        srv_req_free(&r);
    } else {
        check_error_body(&err);
        for (size_t i = 0; i < sizeof r; i++)
            if (((const unsigned char *)&r)[i]) abort(); /* nothing left behind in *out */
    }
    /* the same bytes as a POST /lora-adapters body */
    srv_lora_ref lora[SRV_MAX_LORA];
    int n_lora = -1;
    if (srv_lora_body_parse(body, n, lora, &n_lora, &err)) check_lora(lora, n_lora);
    else check_error_body(&err);
    free(body);
    char *host = fz_cstr(data + 1, n);
    fz_sink((uint32_t)srv_host_is_loopback(host));
    free(host);
    fz_end();
    return 0;
}
