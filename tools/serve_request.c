/* serve_request.c — OpenAI request bodies into checked requests (serve_request.h).
 *
 * Every member of the body is looked at: a known field of the wrong type or out of its range, an
 * unknown field, or a feature this server does not have (n > 1, penalties, logprobs, tools) is a
 * 400 naming the field, as OpenAI's own API answers. JSON null is "not given" for optional
 * fields, as there. Beside OpenAI's fields: llama-server's "lora" list (an adapter and its scale
 * for this request). */
#include "serve_request.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/json.h"

static const char INVALID[] = "invalid_request_error";

bool srv_fail(srv_err *err, int http, const char *type, const char *code, const char *param,
              const char *fmt, ...) {
    err->http = http;
    err->type = type;
    err->code = code;
    snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    char raw[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    dp_str_escape(err->msg, sizeof err->msg, raw, strlen(raw));
    return false;
}

void srv_err_json(const srv_err *err, dp_buf *b) {
    dp_buf_puts(b, "{\"error\":{\"message\":");
    dp_json_write_str(b, err->msg, strlen(err->msg));
    dp_buf_puts(b, ",\"type\":");
    dp_json_write_str(b, err->type, strlen(err->type));
    dp_buf_puts(b, ",\"param\":");
    if (err->param[0]) dp_json_write_str(b, err->param, strlen(err->param));
    else dp_buf_puts(b, "null");
    dp_buf_puts(b, ",\"code\":");
    if (err->code) dp_json_write_str(b, err->code, strlen(err->code));
    else dp_buf_puts(b, "null");
    dp_buf_puts(b, "}}");
}

/* ---- typed fields: each returns false with err filled ---- */

static bool bad(srv_err *err, const char *param, const char *fmt, ...) DP_PRINTF(3, 4);
static bool bad(srv_err *err, const char *param, const char *fmt, ...) {
    char m[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return srv_fail(err, 400, INVALID, "invalid_value", param, "'%s': %s", param, m);
}

static bool is_null(const dp_json *v) { return v->type == DP_JSON_NULL; }

static bool get_int(const dp_json *v, const char *name, int64_t lo, int64_t hi, int64_t *out, srv_err *err) {
    int64_t x;
    if (v->type != DP_JSON_NUMBER) return bad(err, name, "expected an integer");
    if (!dp_json_i64(v, &x) || x < lo || x > hi)
        return bad(err, name, "expected an integer in [%lld, %lld]", (long long)lo, (long long)hi);
    *out = x;
    return true;
}

/* lo_open: the range excludes lo */
static bool get_num(const dp_json *v, const char *name, double lo, bool lo_open, double hi, float *out, srv_err *err) {
    double d;
    if (!dp_json_num(v, &d)) return bad(err, name, "expected a number");
    if (!(lo_open ? d > lo : d >= lo) || !(d <= hi))
        return bad(err, name, "expected a number in %c%g, %g]", lo_open ? '(' : '[', lo, hi);
    *out = (float)d;
    return true;
}

static bool get_bool(const dp_json *v, const char *name, bool *out, srv_err *err) {
    if (!dp_json_bool(v, out)) return bad(err, name, "expected true or false");
    return true;
}

/* a feature this server lacks: accepted only at the value that means "off" */
static bool unsupported(srv_err *err, const char *name, const char *what) {
    return srv_fail(err, 400, INVALID, "unsupported_parameter", name, "'%s' is not supported by this server (%s)",
                    name, what);
}

static char *dup_bytes(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        if (n) memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static bool oom(srv_err *err) {
    return srv_fail(err, 500, "server_error", NULL, NULL, "out of memory");
}

static bool get_stop(const dp_json *v, srv_req *r, srv_err *err) {
    if (v->type == DP_JSON_STRING) {
        if (v->len == 0) return bad(err, "stop", "a stop sequence may not be empty");
        if (v->len > SRV_MAX_STOP_LEN) return bad(err, "stop", "a stop sequence is limited to %d bytes", SRV_MAX_STOP_LEN);
        if (!(r->stop[0] = dup_bytes(v->u.str, v->len))) return oom(err);
        r->stop_len[0] = v->len;
        r->n_stop = 1;
        return true;
    }
    if (v->type != DP_JSON_ARRAY) return bad(err, "stop", "expected a string or an array of strings");
    if (v->len > SRV_MAX_STOP) return bad(err, "stop", "at most %d stop sequences", SRV_MAX_STOP);
    for (uint32_t i = 0; i < v->len; i++) {
        const dp_json *s = &v->u.items[i];
        if (s->type != DP_JSON_STRING) return bad(err, "stop", "expected a string or an array of strings");
        if (s->len == 0) return bad(err, "stop", "a stop sequence may not be empty");
        if (s->len > SRV_MAX_STOP_LEN) return bad(err, "stop", "a stop sequence is limited to %d bytes", SRV_MAX_STOP_LEN);
        if (!(r->stop[i] = dup_bytes(s->u.str, s->len))) return oom(err);
        r->stop_len[i] = s->len;
        r->n_stop = (int)i + 1;
    }
    return true;
}

/* Text of a message: a string, or an array of {"type":"text","text":...} parts. */
static bool get_content(const dp_json *v, size_t idx, srv_msg *m, srv_err *err) {
    char param[64];
    snprintf(param, sizeof param, "messages[%zu].content", idx);
    if (v->type == DP_JSON_STRING) {
        if (memchr(v->u.str, 0, v->len)) return bad(err, param, "may not contain NUL characters");
        if (!(m->content = dup_bytes(v->u.str, v->len))) return oom(err);
        m->len = v->len;
        return true;
    }
    if (v->type != DP_JSON_ARRAY) return bad(err, param, "expected a string or an array of text parts");
    dp_buf b = {0};
    dp_buf_append(&b, "", 0);
    for (uint32_t i = 0; i < v->len; i++) {
        const dp_json *part = &v->u.items[i], *type = dp_json_get(part, "type"), *text = dp_json_get(part, "text");
        const char *t;
        if (part->type != DP_JSON_OBJECT || !dp_json_str(type, &t) || strcmp(t, "text") || !dp_json_is(text, DP_JSON_STRING) ||
            part->len != 2) {
            dp_buf_free(&b);
            return bad(err, param, "only parts of the form {\"type\": \"text\", \"text\": \"...\"} are supported");
        }
        if (memchr(text->u.str, 0, text->len)) {
            dp_buf_free(&b);
            return bad(err, param, "may not contain NUL characters");
        }
        dp_buf_append(&b, text->u.str, text->len);
    }
    if (b.oom) {
        dp_buf_free(&b);
        return oom(err);
    }
    m->content = dup_bytes(b.data, b.len);
    m->len = b.len;
    dp_buf_free(&b);
    return m->content ? true : oom(err);
}

static bool get_messages(const dp_json *v, srv_req *r, srv_err *err) {
    if (v->type != DP_JSON_ARRAY) return bad(err, "messages", "expected an array of messages");
    if (v->len == 0) return bad(err, "messages", "at least one message is needed");
    if (v->len > SRV_MAX_MESSAGES) return bad(err, "messages", "at most %d messages", SRV_MAX_MESSAGES);
    if (!(r->msgs = calloc(v->len, sizeof *r->msgs))) return oom(err);
    for (uint32_t i = 0; i < v->len; i++) {
        const dp_json *m = &v->u.items[i];
        char param[64];
        snprintf(param, sizeof param, "messages[%u]", i);
        if (m->type != DP_JSON_OBJECT) return bad(err, param, "expected an object with a role and a content");
        const dp_json *role = NULL, *content = NULL;
        for (uint32_t k = 0; k < m->len; k++) {
            const dp_json *f = &m->u.items[k];
            if (f->key_len == 4 && !memcmp(f->key, "role", 4)) role = f;
            else if (f->key_len == 7 && !memcmp(f->key, "content", 7)) content = f;
            else if (f->key_len == 4 && !memcmp(f->key, "name", 4)) {
                if (f->type != DP_JSON_STRING) return bad(err, param, "'name' must be a string");
            } else {
                char key[32];
                dp_str_escape(key, sizeof key, f->key, f->key_len);
                snprintf(param, sizeof param, "messages[%u].%s", i, key);
                return srv_fail(err, 400, INVALID, "unsupported_parameter", param, "unrecognized message field '%s'", key);
            }
        }
        snprintf(param, sizeof param, "messages[%u].role", i);
        const char *rs;
        if (!role || !dp_json_str(role, &rs)) return bad(err, param, "expected one of system, developer, user, assistant");
        if (!strcmp(rs, "system") || !strcmp(rs, "developer")) r->msgs[i].role = "system";
        else if (!strcmp(rs, "user")) r->msgs[i].role = "user";
        else if (!strcmp(rs, "assistant")) r->msgs[i].role = "assistant";
        else if (!strcmp(rs, "tool") || !strcmp(rs, "function"))
            return srv_fail(err, 400, INVALID, "unsupported_parameter", param, "role '%s' is not supported by this server (no tool calls)", rs);
        else {
            char esc[40];
            dp_str_escape(esc, sizeof esc, rs, role->len);
            return bad(err, param, "unknown role '%s' (system, developer, user or assistant)", esc);
        }
        r->n_msgs = i + 1;
        if (!content || is_null(content)) {
            snprintf(param, sizeof param, "messages[%u].content", i);
            return bad(err, param, "every message needs a content");
        }
        if (!get_content(content, i, &r->msgs[i], err)) return false;
    }
    return true;
}

static bool get_prompt(const dp_json *v, srv_req *r, srv_err *err) {
    if (v->type == DP_JSON_ARRAY && v->len == 1) v = &v->u.items[0];
    else if (v->type == DP_JSON_ARRAY) return bad(err, "prompt", "one prompt per request (n = 1): a string or an array of one string");
    if (v->type != DP_JSON_STRING) return bad(err, "prompt", "expected a string");
    if (!(r->prompt = dup_bytes(v->u.str, v->len))) return oom(err);
    r->prompt_len = v->len;
    return true;
}

static bool key_is(const dp_json *f, const char *name) {
    size_t n = strlen(name);
    return f->key_len == n && !memcmp(f->key, name, n);
}

/* A "lora" list: [{"id": N | "name": S, "scale": X}, ...]. */
static bool get_lora(const dp_json *v, const char *param, srv_lora_ref *out, int *count, srv_err *err) {
    if (v->type != DP_JSON_ARRAY) return bad(err, param, "expected an array of {\"id\", \"scale\"} objects");
    if (v->len > SRV_MAX_LORA) return bad(err, param, "at most %d entries", SRV_MAX_LORA);
    for (uint32_t i = 0; i < v->len; i++) {
        const dp_json *o = &v->u.items[i];
        srv_lora_ref *r = &out[i];
        bool has_scale = false, has_ref = false;
        int64_t x;
        if (o->type != DP_JSON_OBJECT) return bad(err, param, "expected an array of {\"id\", \"scale\"} objects");
        r->id = -1;
        r->name[0] = 0;
        for (uint32_t k = 0; k < o->len; k++) {
            const dp_json *f = &o->u.items[k];
            if (key_is(f, "id") && !has_ref) {
                if (!get_int(f, param, 0, INT32_MAX, &x, err)) return false;
                r->id = (int32_t)x;
                has_ref = true;
            } else if (key_is(f, "name") && !has_ref) {
                if (f->type != DP_JSON_STRING || f->len == 0 || f->len >= SRV_LORA_NAME || memchr(f->u.str, 0, f->len))
                    return bad(err, param, "a name is a string of 1 to %d bytes", SRV_LORA_NAME - 1);
                memcpy(r->name, f->u.str, f->len);
                r->name[f->len] = 0;
                has_ref = true;
            } else if (key_is(f, "scale")) {
                if (!get_num(f, param, -SRV_MAX_LORA_SCALE, false, SRV_MAX_LORA_SCALE, &r->scale, err)) return false;
                has_scale = true;
            } else {
                return bad(err, param, "an entry holds \"id\" (or \"name\") and \"scale\" only");
            }
        }
        if (!has_ref || !has_scale) return bad(err, param, "each entry needs \"id\" (or \"name\") and \"scale\"");
        for (uint32_t j = 0; j < i; j++)
            if (out[j].id == r->id && !strcmp(out[j].name, r->name)) return bad(err, param, "an adapter is listed twice");
    }
    *count = (int)v->len;
    return true;
}

/* One top-level member; false with err when it is refused. */
static bool field(srv_kind kind, const dp_json *f, const srv_limits *lim, srv_req *r, bool *seen_max, srv_err *err) {
    bool chat = kind == SRV_CHAT, b;
    int64_t x;
    float d;
    if (key_is(f, "model")) {
        if (f->type != DP_JSON_STRING) return bad(err, "model", "expected a string");
        return true;
    }
    if (chat && key_is(f, "messages")) return get_messages(f, r, err);
    if (!chat && key_is(f, "prompt")) return get_prompt(f, r, err);
    if (key_is(f, "max_tokens") || (chat && key_is(f, "max_completion_tokens"))) {
        const char *name = key_is(f, "max_tokens") ? "max_tokens" : "max_completion_tokens";
        if (is_null(f)) return true;
        if (*seen_max) return bad(err, name, "give max_tokens or max_completion_tokens, not both");
        *seen_max = true;
        if (!get_int(f, name, 1, lim->n_ctx, &x, err)) return false;
        r->max_tokens = (int32_t)x;
        return true;
    }
    if (key_is(f, "temperature")) return is_null(f) || get_num(f, "temperature", 0, false, 2, &r->temperature, err);
    if (key_is(f, "top_p")) return is_null(f) || get_num(f, "top_p", 0, true, 1, &r->top_p, err);
    if (key_is(f, "top_k")) {
        if (is_null(f)) return true;
        if (!get_int(f, "top_k", 0, lim->n_vocab, &x, err)) return false;
        r->top_k = (int32_t)x;
        return true;
    }
    if (key_is(f, "seed")) {
        if (is_null(f)) return true;
        if (!get_int(f, "seed", 0, (int64_t)1 << 53, &x, err)) return false;
        r->seed = (uint64_t)x;
        r->has_seed = true;
        return true;
    }
    if (key_is(f, "stop")) return is_null(f) || get_stop(f, r, err);
    if (key_is(f, "lora")) {
        if (is_null(f)) return true;
        r->has_lora = true;
        return get_lora(f, "lora", r->lora, &r->n_lora, err);
    }
    if (key_is(f, "n") || (!chat && key_is(f, "best_of"))) {
        const char *name = key_is(f, "n") ? "n" : "best_of";
        if (is_null(f)) return true;
        if (!get_int(f, name, 1, 1, &x, err)) return unsupported(err, name, "one choice per request: 1 only");
        return true;
    }
    if (key_is(f, "stream")) return is_null(f) || get_bool(f, "stream", &r->stream, err);
    if (key_is(f, "stream_options")) {
        if (is_null(f)) return true;
        if (f->type != DP_JSON_OBJECT) return bad(err, "stream_options", "expected an object");
        for (uint32_t i = 0; i < f->len; i++) {
            const dp_json *o = &f->u.items[i];
            if (!key_is(o, "include_usage")) return unsupported(err, "stream_options", "only include_usage");
            if (!is_null(o) && !get_bool(o, "stream_options.include_usage", &r->include_usage, err)) return false;
        }
        return true;
    }
    if (key_is(f, "frequency_penalty") || key_is(f, "presence_penalty")) {
        const char *name = key_is(f, "frequency_penalty") ? "frequency_penalty" : "presence_penalty";
        if (is_null(f)) return true;
        if (!get_num(f, name, -2, false, 2, &d, err)) return false;
        return d == 0 || unsupported(err, name, "0 only");
    }
    if (key_is(f, "logprobs")) {
        if (is_null(f)) return true;
        if (chat ? dp_json_bool(f, &b) && !b : dp_json_i64(f, &x) && x == 0) return true;
        return unsupported(err, "logprobs", chat ? "false only" : "null or 0 only");
    }
    if (chat && key_is(f, "top_logprobs")) return is_null(f) || unsupported(err, "top_logprobs", "null only");
    if (!chat && key_is(f, "echo")) {
        if (is_null(f)) return true;
        if (!get_bool(f, "echo", &b, err)) return false;
        return !b || unsupported(err, "echo", "false only");
    }
    if (!chat && key_is(f, "suffix")) return is_null(f) || unsupported(err, "suffix", "null only");
    if (key_is(f, "logit_bias")) {
        if (is_null(f)) return true;
        if (f->type != DP_JSON_OBJECT) return bad(err, "logit_bias", "expected an object");
        return f->len == 0 || unsupported(err, "logit_bias", "an empty object only");
    }
    if (key_is(f, "user")) return f->type == DP_JSON_STRING || bad(err, "user", "expected a string");
    if (chat && key_is(f, "response_format")) {
        if (is_null(f)) return true;
        const char *t;
        if (f->type == DP_JSON_OBJECT && f->len == 1 && dp_json_str(dp_json_get(f, "type"), &t) && !strcmp(t, "text"))
            return true;
        return unsupported(err, "response_format", "{\"type\": \"text\"} only");
    }
    if (chat && (key_is(f, "tools") || key_is(f, "tool_choice") || key_is(f, "functions") || key_is(f, "function_call") ||
                 key_is(f, "parallel_tool_calls"))) {
        char name[32];
        dp_str_escape(name, sizeof name, f->key, f->key_len);
        return is_null(f) || unsupported(err, name, "no tool calls");
    }
    char name[40];
    dp_str_escape(name, sizeof name, f->key, f->key_len);
    return srv_fail(err, 400, INVALID, "unsupported_parameter", name, "Unrecognized request argument supplied: %s", name);
}

bool srv_req_parse(srv_kind kind, const char *body, size_t n, const srv_limits *lim, srv_req *out, srv_err *err) {
    srv_req r = {0};
    r.kind = kind;
    r.temperature = 1;
    r.top_p = 1;
    memset(out, 0, sizeof *out);
    dp_json_doc *doc = NULL;
    dp_error e = {0};
    dp_status st = dp_json_parse(body, n, &doc, &e);
    if (st == DP_ERR_NOMEM) return oom(err);
    if (st != DP_OK)
        return srv_fail(err, 400, INVALID, "invalid_json", NULL, "the body is not valid JSON: %s", e.msg);
    const dp_json *root = dp_json_root(doc);
    bool ok = true, seen_max = false;
    if (root->type != DP_JSON_OBJECT) ok = srv_fail(err, 400, INVALID, "invalid_json", NULL, "the body must be a JSON object");
    for (uint32_t i = 0; ok && i < root->len; i++) ok = field(kind, &root->u.items[i], lim, &r, &seen_max, err);
    if (ok && kind == SRV_CHAT && !r.msgs)
        ok = srv_fail(err, 400, INVALID, "missing_required_parameter", "messages", "'messages' is required");
    if (ok && kind == SRV_COMPLETION && !r.prompt)
        ok = srv_fail(err, 400, INVALID, "missing_required_parameter", "prompt", "'prompt' is required");
    if (ok && r.include_usage && !r.stream)
        ok = srv_fail(err, 400, INVALID, "invalid_value", "stream_options", "'stream_options' is only allowed with stream: true");
    dp_json_free(doc);
    if (!ok) {
        srv_req_free(&r);
        return false;
    }
    *out = r;
    return true;
}

bool srv_lora_body_parse(const char *body, size_t n, srv_lora_ref *out, int *count, srv_err *err) {
    dp_json_doc *doc = NULL;
    dp_error e = {0};
    *count = 0;
    dp_status st = dp_json_parse(body, n, &doc, &e);
    if (st == DP_ERR_NOMEM) return oom(err);
    if (st != DP_OK) return srv_fail(err, 400, INVALID, "invalid_json", NULL, "the body is not valid JSON: %s", e.msg);
    bool ok = get_lora(dp_json_root(doc), "lora", out, count, err);
    dp_json_free(doc);
    return ok;
}

void srv_req_free(srv_req *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n_msgs; i++) free(r->msgs[i].content);
    free(r->msgs);
    free(r->prompt);
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    memset(r, 0, sizeof *r);
}

void srv_dir_name(const char *dir, char *out, size_t cap) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    size_t i = n;
    while (i > 0 && dir[i - 1] != '/') i--;
    snprintf(out, cap, "%.*s", (int)(n - i), dir + i);
}

bool srv_host_is_loopback(const char *host) {
    if (!host) return false;
    size_t n = strlen(host);
    const char *end = host + n;
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        if (!close || (close[1] && close[1] != ':')) return false;
        return close - host == 4 && !memcmp(host, "[::1", 4);
    }
    const char *colon = strchr(host, ':');
    if (colon) {
        for (const char *p = colon + 1; p < end; p++)
            if (!isdigit((unsigned char)*p)) return false;
        end = colon;
    }
    size_t len = (size_t)(end - host);
    if (len && host[len - 1] == '.') len--; /* "localhost." is the same name */
    if (len == 9 && !strncasecmp(host, "localhost", 9)) return true;
    /* 127.a.b.c: four decimal parts of at most 3 digits, each <= 255 */
    int parts = 0, val = -1, digits = 0;
    for (const char *p = host; p <= host + len; p++) {
        if (p < host + len && isdigit((unsigned char)*p)) {
            val = (val < 0 ? 0 : val) * 10 + (*p - '0');
            if (++digits > 3 || val > 255) return false;
        } else if (p == host + len || *p == '.') {
            if (val < 0 || (parts == 0 && val != 127)) return false;
            parts++;
            val = -1;
            digits = 0;
        } else {
            return false;
        }
    }
    return parts == 4;
}
