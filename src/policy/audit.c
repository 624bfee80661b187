/* audit.c — audit records of static mode (audit.h). */
#include "policy/audit.h"

#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/json.h"
#include "base/sha256.h"

static void ids_sha256(const int32_t *ids, int64_t n, char hex[65]) {
    dp_sha256_ctx s;
    dp_sha256_init(&s);
    for (int64_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)ids[i];
        uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
        dp_sha256_update(&s, b, 4);
    }
    uint8_t d[32];
    dp_sha256_final(&s, d);
    dp_sha256_hex(d, hex);
}

void dp_audit_format(const dp_audit_rec *r, int64_t t, dp_buf *out) {
    time_t tt = (time_t)t;
    struct tm tm;
    char when[32] = "1970-01-01T00:00:00Z";
    if (gmtime_r(&tt, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    dp_buf_printf(out, "{\"time\": \"%s\", \"model\": ", when);
    dp_json_write_str(out, r->model_id, strlen(r->model_id));
    dp_buf_puts(out, ", \"kernels\": [");
    for (int i = 0; i < r->n_kernels; i++) {
        char hex[65];
        dp_sha256_hex(r->kernels[i].key, hex);
        dp_buf_puts(out, i ? ", {\"op\": " : "{\"op\": ");
        dp_json_write_str(out, r->kernels[i].op, strlen(r->kernels[i].op));
        dp_buf_puts(out, ", \"entry\": ");
        dp_json_write_str(out, r->kernels[i].entry, strlen(r->kernels[i].entry));
        dp_buf_printf(out, ", \"key\": \"%s\"}", hex);
    }
    dp_buf_puts(out, "], \"adapters\": [");
    for (int i = 0; i < r->n_adapters; i++) {
        if (i) dp_buf_puts(out, ", ");
        dp_json_write_str(out, r->adapter_ids[i], strlen(r->adapter_ids[i]));
    }
    char ph[65], oh[65];
    ids_sha256(r->prompt, r->n_prompt, ph);
    ids_sha256(r->output, r->n_output, oh);
    dp_buf_printf(out,
                  "], \"sampling\": {\"temperature\": %g, \"top_k\": %d, \"top_p\": %g, \"seed\": %llu}, "
                  "\"n_prompt\": %lld, \"n_output\": %lld, \"prompt_sha256\": \"%s\", \"output_sha256\": \"%s\"}\n",
                  (double)r->sampling.temperature, (int)r->sampling.top_k, (double)r->sampling.top_p,
                  (unsigned long long)r->sampling.seed, (long long)r->n_prompt, (long long)r->n_output, ph, oh);
}

dp_status dp_audit_append(const char *path, const dp_audit_rec *r, dp_error *e) {
    dp_buf b = {0};
    dp_audit_format(r, (int64_t)time(NULL), &b);
    if (b.oom) {
        dp_buf_free(&b);
        return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    dp_status st = DP_OK;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) st = dp_err_set(e, DP_ERR_IO, "audit log %s: cannot open", path);
    else {
        if (write(fd, b.data, b.len) != (ssize_t)b.len) st = dp_err_set(e, DP_ERR_IO, "audit log %s: write failed", path);
        if (close(fd) && st == DP_OK) st = dp_err_set(e, DP_ERR_IO, "audit log %s: write failed", path);
    }
    dp_buf_free(&b);
    return st;
}
