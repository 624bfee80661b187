/* alloc.c — every allocation of the library goes through the one allocator hook.
 * The hook (function + user data) is the only global mutable state of the library. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

static void *default_alloc(void *ud, void *ptr, size_t size) {
    (void)ud;
    if (size == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, size);
}

static dp_alloc_fn g_alloc = default_alloc;
static void *g_alloc_ud = NULL;

void dp_set_allocator(dp_alloc_fn fn, void *ud) {
    g_alloc = fn ? fn : default_alloc;
    g_alloc_ud = fn ? ud : NULL;
}

void *dp_malloc(size_t n) { return g_alloc(g_alloc_ud, NULL, n ? n : 1); }

void *dp_calloc(size_t count, size_t size) {
    size_t n;
    if (!dp_mul_ok(count, size, &n)) return NULL;
    void *p = dp_malloc(n);
    if (p) memset(p, 0, n);
    return p;
}

/* n == 0 keeps a 1-byte block (never frees: use dp_free). On failure p is left untouched. */
void *dp_realloc(void *p, size_t n) { return g_alloc(g_alloc_ud, p, n ? n : 1); }

void dp_free(void *p) {
    if (p) g_alloc(g_alloc_ud, p, 0);
}

char *dp_strdup(const char *s) { return s ? dp_strndup(s, strlen(s)) : NULL; }

char *dp_strndup(const char *s, size_t n) {
    if (!s) return NULL;
    size_t len = 0;
    while (len < n && s[len]) len++;
    if (len == SIZE_MAX) return NULL;
    char *d = dp_malloc(len + 1);
    if (!d) return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

bool dp_mul_ok(size_t a, size_t b, size_t *out) {
    if (a && b > SIZE_MAX / a) return false;
    *out = a * b;
    return true;
}

bool dp_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    if (a && b > UINT64_MAX / a) return false;
    *out = a * b;
    return true;
}

bool dp_add_u64(uint64_t a, uint64_t b, uint64_t *out) {
    if (b > UINT64_MAX - a) return false;
    *out = a + b;
    return true;
}
