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
/* max |a[i] - b[i]| over n values; NaN anywhere gives NaN (a failure for any "<= tol"). */
double t_max_diff(const float *a, const float *b, size_t n);
/* Exit with the summary: 0 when no CHECK failed. */
int t_done(const char *name);

#endif
