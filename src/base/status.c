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

/* Length of the well-formed UTF-8 sequence at p (p[0] >= 0x80) within n bytes, or 0; its code
 * point in *cp. */
static size_t utf8_at(const unsigned char *p, size_t n, uint32_t *cp) {
    unsigned c = p[0];
    size_t len = c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
    if (!len || len > n) return 0;
    uint32_t v = c & (0x7fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        v = v << 6 | (p[i] & 0x3fu);
    }
    if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10ffff)) || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

/* Code points a terminal acts on rather than shows: C1 controls, line and paragraph separators,
 * bidirectional marks, embeddings, overrides and isolates. */
static bool cp_unsafe(uint32_t cp) {
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x200e || cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

const char *dp_str_escape(char *dst, size_t cap, const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    if (!cap) return dst;
    for (size_t i = 0; i < n;) {
        char esc[12];
        const char *piece = esc;
        size_t k = 1, plen;
        uint32_t cp = p[i];
        if (cp >= 0x20 && cp < 0x7f) {
            piece = (const char *)p + i;
            plen = 1;
        } else if (cp == '\n' || cp == '\r' || cp == '\t') {
            plen = (size_t)snprintf(esc, sizeof esc, "\\%c", cp == '\n' ? 'n' : cp == '\r' ? 'r' : 't');
        } else if (cp < 0x80 || !(k = utf8_at(p + i, n - i, &cp))) {
            k = 1;
            plen = (size_t)snprintf(esc, sizeof esc, "\\x%02x", p[i]);
        } else if (cp_unsafe(cp)) {
            plen = (size_t)snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
        } else {
            piece = (const char *)p + i;
            plen = k;
        }
        if (plen >= cap - o) break; /* whole pieces only, and room for the NUL */
        memcpy(dst + o, piece, plen);
        o += plen;
        i += k;
    }
    dst[o] = '\0';
    return dst;
}

/* The message as one escaped line (whatever names it quotes from a file). */
static void set_msg(dp_error *e, const char *text) {
    dp_str_escape(e->msg, sizeof e->msg, text, strlen(text));
}

dp_status dp_err_set(dp_error *e, dp_status status, const char *fmt, ...) {
    if (!e) return status;
    e->status = status;
    char text[sizeof e->msg];
    text[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof text, fmt, ap);
        va_end(ap);
    }
    set_msg(e, text[0] ? text : dp_status_str(status));
    return status;
}

dp_status dp_err_prefix(dp_error *e, const char *fmt, ...) {
    if (!e) return DP_ERR_INTERNAL; /* callers should return their own status instead */
    char text[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (k < 0) return e->status;
    /* new = pre + ": " + old, truncated to fit */
    size_t plen = strlen(text), mlen = strlen(e->msg);
    if (plen + 2 < sizeof text) {
        size_t keep = mlen < sizeof text - plen - 3 ? mlen : sizeof text - plen - 3;
        memcpy(text + plen, ": ", 2);
        memcpy(text + plen + 2, e->msg, keep);
        text[plen + 2 + keep] = '\0';
    }
    set_msg(e, text);
    return e->status;
}
