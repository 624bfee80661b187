/* buf.c — growable byte buffer with a sticky out-of-memory flag. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"

/* Make room for n more bytes plus the NUL; false (and oom set) on failure. */
static bool buf_reserve(dp_buf *b, size_t n) {
    if (b->oom) return false;
    if (n >= SIZE_MAX - b->len) {
        b->oom = true;
        return false;
    }
    size_t need = b->len + n + 1;
    if (need <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *d = dp_realloc(b->data, cap);
    if (!d) {
        b->oom = true;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

void dp_buf_append(dp_buf *b, const void *data, size_t n) {
    if (!buf_reserve(b, n)) return;
    if (n) memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void dp_buf_puts(dp_buf *b, const char *s) { dp_buf_append(b, s, strlen(s)); }

void dp_buf_printf(dp_buf *b, const char *fmt, ...) {
    if (b->oom) return;
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) {
        b->oom = true; /* encoding error: treat as a failed append */
        return;
    }
    if ((size_t)k < sizeof tmp) {
        dp_buf_append(b, tmp, (size_t)k);
        return;
    }
    if (!buf_reserve(b, (size_t)k)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)k;
}

void dp_buf_free(dp_buf *b) {
    if (!b) return;
    dp_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = false;
}
