/* testutil.h — tiny test harness: CHECK macros, fixture paths, skip code. */
#ifndef DP_TESTUTIL_H
#define DP_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>

#define TEST_SKIP 77

extern int t_failures;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);  \
            t_failures++;                                                             \
        }                                                                             \
    } while (0)

#define CHECK_MSG(cond, ...)                                                          \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);  \
            fprintf(stderr, __VA_ARGS__);                                             \
            fprintf(stderr, "\n");                                                    \
            t_failures++;                                                             \
        }                                                                             \
    } while (0)

/* ../shared (env DP_SHARED) joined with rel into a static buffer; NULL if it does not exist. */
const char *t_shared(const char *rel);
/* $DP_ROOT/tests/data/<rel> (the repository's own fixtures) when it exists, else NULL. */
const char *t_data(const char *rel);
/* A fresh scratch directory under DP_TMP (or /tmp) named for the test; static buffer. */
const char *t_tmpdir(const char *name);
/* Path to the doppler tool (env DP_TOOL). */
const char *t_tool(void);
/* Largest |a[i] - b[i]| over n floats; NaN anywhere makes it NaN (so a bound check fails). */
double t_max_diff(const float *a, const float *b, size_t n);
/* A tiktoken tokenizer of the 256 single bytes only (id = byte): every multi-byte character is
 * split over several tokens. NULL (and a failed CHECK) when it cannot be made. */
struct dp_tokenizer *t_bytes_tokenizer(void);
/* A SentencePiece-style tokenizer.json (Prepend + Replace normalizers, byte fallback): ids 0..2
 * <unk> <s> </s> (BOS <s>), 3..258 the <0xXX> byte tokens, then pieces[] in order; merges[]
 * ("a b"). Returns a NUL-terminated string to dp_free; NULL when out of memory. */
char *t_spm_json(const char *const *pieces, size_t n_pieces, const char *const *merges, size_t n_merges);
/* A part of the test could not run here (its fixtures are absent): says so, and t_done then
 * returns TEST_SKIP instead of 0, so the run is reported skipped (a failure under
 * DP_STRICT_TESTS) rather than passed. */
void t_skip_part(const char *what);
/* Exit with the summary: 1 when a CHECK failed, else TEST_SKIP after t_skip_part, else 0. */
int t_done(const char *name);

#endif
