/* status.c — status names and the one-line error helpers. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"

const char *dp_status_str(dp_status status) {
    switch (status) {
    case DP_OK: return "ok";
    case DP_ERR_INVALID_ARG: return "invalid argument";
    case DP_ERR_NOMEM: return "out of memory";
    case DP_ERR_IO: return "I/O error";
    case DP_ERR_FORMAT: return "bad format";
    case DP_ERR_UNSUPPORTED: return "unsupported";
    case DP_ERR_HASH: return "hash mismatch";
    case DP_ERR_NOT_FOUND: return "not found";
    case DP_ERR_LIMIT: return "over a limit";
    case DP_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

dp_status dp_err_set(dp_error *e, dp_status status, const char *fmt, ...) {
    if (!e) return status;
    e->status = status;
    e->msg[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    if (!e->msg[0]) snprintf(e->msg, sizeof e->msg, "%s", dp_status_str(status));
    return status;
}

dp_status dp_err_prefix(dp_error *e, const char *fmt, ...) {
    if (!e) return DP_ERR_INTERNAL; /* callers should return their own status instead */
    char pre[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    if (k < 0) return e->status;
    size_t plen = strlen(pre), mlen = strlen(e->msg), cap = sizeof e->msg;
    /* new = pre + ": " + old, truncated to fit */
    if (plen + 2 >= cap) {
        memcpy(e->msg, pre, cap - 1);
        e->msg[cap - 1] = '\0';
        return e->status;
    }
    size_t keep = mlen;
    if (plen + 2 + keep >= cap) keep = cap - 1 - plen - 2;
    memmove(e->msg + plen + 2, e->msg, keep);
    memcpy(e->msg, pre, plen);
    e->msg[plen] = ':';
    e->msg[plen + 1] = ' ';
    e->msg[plen + 2 + keep] = '\0';
    return e->status;
}
