/* fuzz_common.h — shared pieces of the libFuzzer targets (docs/SECURITY.md).
 *
 * Every target routes the library's allocations through fz_alloc while it handles one input:
 * a single allocation larger than FZ_SLACK + FZ_FACTOR x the input's size means the parser
 * sized memory by a number it read instead of by the bytes it has, and the target aborts so
 * libFuzzer reports it (with the input). -malloc_limit_mb in run.sh is the coarser backstop.
 * The hook also counts live blocks, so a target can assert that a failed load freed
 * everything (LeakSanitizer covers the rest). */
#ifndef DP_FUZZ_COMMON_H
#define DP_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/json.h"

#define FZ_SLACK ((size_t)8 << 20)
#define FZ_FACTOR ((size_t)64)

static size_t fz_cap = SIZE_MAX;
static long fz_live;

static void *fz_alloc(void *ud, void *p, size_t n) {
    (void)ud;
    if (n == 0) {
        if (p) fz_live--;
        free(p);
        return NULL;
    }
    if (n > fz_cap) {
        fprintf(stderr, "fuzz: one allocation of %zu bytes, over the cap of %zu for this input "
                        "(sized by an untrusted number?)\n", n, fz_cap);
        abort();
    }
    void *q = realloc(p, n);
    if (q && !p) fz_live++;
    return q;
}

/* Start handling an input of n bytes (sets the hook and the cap). */
static inline void fz_begin(size_t n) {
    fz_cap = FZ_SLACK + FZ_FACTOR * n;
    fz_live = 0;
    dp_set_allocator(fz_alloc, NULL);
}

/* Done with the input: every block the library allocated for it is back. */
static inline void fz_end(void) {
    if (fz_live != 0) {
        fprintf(stderr, "fuzz: %ld allocations still live after the input was handled\n", fz_live);
        abort();
    }
    fz_cap = SIZE_MAX;
}

/* Reads every byte of [p, p+n) so AddressSanitizer checks the range; returns a checksum that
 * the caller feeds to fz_sink so the reads are not optimised away. */
static inline uint32_t fz_touch(const void *p, size_t n) {
    const volatile uint8_t *b = p;
    uint32_t h = 0;
    for (size_t i = 0; i < n; i++) h = h * 31u + b[i];
    return h;
}

static volatile uint32_t fz_sink_v;
static inline void fz_sink(uint32_t h) { fz_sink_v += h; }

/* A NUL-terminated copy of the input (for APIs that take C strings), owned by the caller. */
static inline char *fz_cstr(const uint8_t *data, size_t n) {
    char *s = malloc(n + 1);
    if (!s) abort();
    if (n) memcpy(s, data, n);
    s[n] = 0;
    return s;
}

/* The JSON a writer put in b, parsed: aborts (naming who) when it does not parse; NULL when the
 * writer ran out of memory (nothing to check). Frees b either way; the caller frees the doc. */
static inline dp_json_doc *fz_json_written(dp_buf *b, const char *who) {
    dp_json_doc *doc = NULL;
    dp_error e = {0};
    if (!b->oom && dp_json_parse(b->data, b->len, &doc, &e) != DP_OK) {
        fprintf(stderr, "%s: written JSON does not parse back: %s\n", who, e.msg);
        abort();
    }
    dp_buf_free(b);
    return doc;
}

#endif
