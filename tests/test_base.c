/* test_base.c — errors, allocation hook, dp_buf, readers and files, thread pool, f16/bf16,
 * dtypes. */
#include <math.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>
#include <string.h>

#include "base/base.h"
#include "format/dtype.h"
#include "testutil.h"

static float f32_of(uint32_t x) {
    float f;
    memcpy(&f, &x, 4);
    return f;
}

static uint32_t bits_of(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    return x;
}

static void test_errors(void) {
    CHECK(strcmp(dp_status_str(DP_OK), "ok") == 0);
    for (int s = DP_OK; s <= DP_ERR_INTERNAL; s++) CHECK(dp_status_str((dp_status)s)[0] != '\0');
    CHECK(strcmp(dp_status_str((dp_status)999), "unknown status") == 0);
    dp_error e = {0};
    CHECK(dp_err_set(&e, DP_ERR_IO, "cannot read %s", "x.bin") == DP_ERR_IO);
    CHECK(e.status == DP_ERR_IO && strcmp(e.msg, "cannot read x.bin") == 0);
    CHECK(dp_err_prefix(&e, "loading %s", "model") == DP_ERR_IO);
    CHECK(strcmp(e.msg, "loading model: cannot read x.bin") == 0);
    CHECK(dp_err_set(NULL, DP_ERR_LIMIT, "x") == DP_ERR_LIMIT);
    dp_err_prefix(NULL, "x");
    /* long messages truncate, never overflow */
    char longs[600];
    memset(longs, 'x', sizeof longs - 1);
    longs[sizeof longs - 1] = '\0';
    dp_err_set(&e, DP_ERR_FORMAT, "%s", longs);
    CHECK(strlen(e.msg) == sizeof e.msg - 1);
    dp_err_prefix(&e, "ctx");
    CHECK(strncmp(e.msg, "ctx: xxx", 8) == 0 && strlen(e.msg) == sizeof e.msg - 1);
    dp_err_prefix(&e, "%s", longs);
    CHECK(strlen(e.msg) == sizeof e.msg - 1);
}

typedef struct count_alloc {
    long calls, fail_at, live;
} count_alloc;

static void *counting_alloc(void *ud, void *ptr, size_t size) {
    count_alloc *ca = ud;
    if (size == 0) {
        if (ptr) ca->live--;
        free(ptr);
        return NULL;
    }
    if (++ca->calls == ca->fail_at) return NULL;
    void *p = realloc(ptr, size);
    if (p && !ptr) ca->live++;
    return p;
}

static void test_alloc(void) {
    size_t z = 0;
    uint64_t u = 0;
    CHECK(dp_mul_ok(3, 5, &z) && z == 15);
    CHECK(!dp_mul_ok(SIZE_MAX / 2 + 1, 2, &z));
    CHECK(dp_mul_ok(0, SIZE_MAX, &z) && z == 0);
    CHECK(dp_mul_u64(1ull << 32, 1ull << 31, &u) && u == 1ull << 63);
    CHECK(!dp_mul_u64(1ull << 32, 1ull << 32, &u));
    CHECK(dp_add_u64(UINT64_MAX - 1, 1, &u) && u == UINT64_MAX);
    CHECK(!dp_add_u64(UINT64_MAX, 1, &u));

    count_alloc ca = {0, 0, 0};
    dp_set_allocator(counting_alloc, &ca);
    void *p = dp_malloc(0);
    CHECK(p != NULL && ca.live == 1);
    p = dp_realloc(p, 100);
    CHECK(p != NULL && ca.live == 1);
    dp_free(p);
    dp_free(NULL);
    CHECK(ca.live == 0);
    unsigned char *c = dp_calloc(10, 10);
    CHECK(c && c[0] == 0 && c[99] == 0);
    dp_free(c);
    CHECK(dp_calloc(SIZE_MAX / 2, 4) == NULL);
    char *s = dp_strdup("hello");
    CHECK(s && strcmp(s, "hello") == 0);
    dp_free(s);
    s = dp_strndup("hello", 3);
    CHECK(s && strcmp(s, "hel") == 0);
    dp_free(s);
    s = dp_strndup("hi", 10);
    CHECK(s && strcmp(s, "hi") == 0);
    dp_free(s);
    CHECK(dp_strdup(NULL) == NULL);
    ca.fail_at = ca.calls + 1;
    CHECK(dp_malloc(10) == NULL);
    CHECK(ca.live == 0);
    /* a failing buffer append is sticky and keeps old content */
    dp_buf b = {0};
    dp_buf_puts(&b, "abc");
    ca.fail_at = ca.calls + 1;
    char big[1000];
    memset(big, 'z', sizeof big);
    dp_buf_append(&b, big, sizeof big);
    CHECK(b.oom && b.len == 3 && strcmp(b.data, "abc") == 0);
    dp_buf_puts(&b, "d");
    CHECK(b.oom && b.len == 3);
    dp_buf_free(&b);
    CHECK(!b.oom && b.data == NULL);
    /* pool creation under failure: every failure point cleans up */
    for (long at = 1; at < 20; at++) {
        ca.calls = 0;
        ca.fail_at = at;
        dp_pool *pool = NULL;
        dp_error e = {0};
        dp_status st = dp_pool_new(3, &pool, &e);
        CHECK(st == DP_OK || (st == DP_ERR_NOMEM && pool == NULL));
        dp_pool_free(pool);
        CHECK_MSG(ca.live == 0, "pool fail at %ld leaked %ld", at, ca.live);
    }
    dp_set_allocator(NULL, NULL);
}

static void test_buf(void) {
    dp_buf b = {0};
    dp_buf_append(&b, "", 0);
    CHECK(b.len == 0 && b.data && b.data[0] == '\0');
    dp_buf_puts(&b, "hello");
    dp_buf_append(&b, ", ", 2);
    dp_buf_printf(&b, "%s %d", "world", 42);
    CHECK(b.len == 15 && strcmp(b.data, "hello, world 42") == 0);
    /* a printf longer than any internal scratch */
    char longs[5000];
    memset(longs, 'q', sizeof longs - 1);
    longs[sizeof longs - 1] = '\0';
    dp_buf_printf(&b, "[%s]", longs);
    CHECK(b.len == 15 + 5001 && b.data[15] == '[' && b.data[b.len - 1] == ']' && !b.data[b.len]);
    for (int i = 0; i < 10000; i++) dp_buf_append(&b, "0123456789", 10);
    CHECK(b.len == 15 + 5001 + 100000 && !b.oom && b.cap > b.len);
    CHECK(memcmp(b.data + b.len - 10, "0123456789", 10) == 0);
    dp_buf_free(&b);
    dp_buf_free(NULL);
}

static void test_io(void) {
    const char *dir = t_tmpdir("test_base");
    dp_error e = {0};
    char *sub = dp_path_join(dir, "a/b//c/");
    CHECK(sub != NULL);
    CHECK_MSG(dp_mkdir_p(sub, &e) == DP_OK, "%s", e.msg);
    CHECK(dp_mkdir_p(sub, &e) == DP_OK); /* exists already: fine */
    CHECK(dp_file_exists(sub));
    char *file = dp_path_join(sub, "data.bin");
    const char payload[] = "0123456789abcdefghij";
    CHECK_MSG(dp_file_write_all(file, payload, 20, &e) == DP_OK, "%s", e.msg);
    CHECK(dp_file_exists(file));
    char *data = NULL;
    size_t n = 0;
    CHECK(dp_file_read_all(file, 100, &data, &n, &e) == DP_OK && n == 20 &&
          memcmp(data, payload, 20) == 0 && data[20] == '\0');
    dp_free(data);
    CHECK(dp_file_read_all(file, 19, &data, &n, &e) == DP_ERR_LIMIT);
    /* overwrite is atomic and leaves no temp files behind */
    CHECK(dp_file_write_all(file, "xy", 2, &e) == DP_OK);
    CHECK(dp_file_read_all(file, 100, &data, &n, &e) == DP_OK && n == 2 && !strcmp(data, "xy"));
    dp_free(data);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "test $(ls -a '%s' | wc -l) -eq 3", sub);
    CHECK(system(cmd) == 0);
    /* a file where a directory should be */
    char *clash = dp_path_join(file, "x");
    CHECK(dp_mkdir_p(clash, &e) == DP_ERR_IO && strstr(e.msg, "data.bin") != NULL);
    dp_free(clash);
    /* missing files */
    char *missing = dp_path_join(dir, "missing.bin");
    CHECK(!dp_file_exists(missing));
    CHECK(dp_file_read_all(missing, 100, &data, &n, &e) == DP_ERR_NOT_FOUND);
    CHECK(strstr(e.msg, "missing.bin") != NULL);
    dp_reader r;
    CHECK(dp_reader_open_file(&r, missing, &e) == DP_ERR_NOT_FOUND);
    dp_free(missing);

    /* file reader */
    CHECK(dp_file_write_all(file, payload, 20, &e) == DP_OK);
    CHECK(dp_reader_open_file(&r, file, &e) == DP_OK && r.size == 20);
    char got[32] = {0};
    CHECK(dp_reader_read(&r, 5, got, 10, &e) == DP_OK && memcmp(got, "56789abcde", 10) == 0);
    CHECK(dp_reader_read(&r, 15, got, 6, &e) == DP_ERR_FORMAT && strstr(e.msg, "offset 15"));
    CHECK(dp_reader_read(&r, UINT64_MAX, got, 1, &e) == DP_ERR_FORMAT);
    CHECK(dp_reader_read(&r, 20, got, 0, &e) == DP_OK);
    dp_reader_close(&r);
    dp_reader_close(&r); /* twice is harmless */
    { /* uncached reads (O_DIRECT for the aligned middle): the same bytes at any offset and alignment */
        enum { BIG = 5 * 4096 + 123 };
        uint8_t *src = malloc(BIG), *raw = malloc(BIG + 2 * 4096);
        for (size_t i = 0; src && i < BIG; i++) src[i] = (uint8_t)(i * 131u + (i >> 9));
        CHECK(src && raw && dp_file_write_all(file, src, BIG, &e) == DP_OK && dp_reader_open_file(&r, file, &e) == DP_OK);
        uint8_t *al = (uint8_t *)(((uintptr_t)raw + 4095) & ~(uintptr_t)4095);
        static const uint64_t OFFS[] = {0, 256, 4096, 4096 + 100};
        for (size_t k = 0; src && raw && k < sizeof OFFS / sizeof OFFS[0]; k++) {
            uint64_t o = OFFS[k];
            uint8_t *dst = al + o % 4096; /* dst + k page-aligned where o + k is */
            memset(dst, 0, BIG - o);
            CHECK(dp_reader_read_uncached(&r, o, dst, BIG - o, &e) == DP_OK && memcmp(dst, src + o, BIG - o) == 0);
            CHECK(dp_reader_read_uncached(&r, o, dst + 1, BIG - o - 1, &e) == DP_OK && memcmp(dst + 1, src + o, BIG - o - 1) == 0);
        }
        CHECK(dp_reader_read_uncached(&r, 1, al, BIG, &e) == DP_ERR_FORMAT);
        dp_reader_close(&r);
        free(src);
        free(raw);
    }
    /* memory reader */
    dp_reader_open_mem(&r, payload, 20);
    CHECK(dp_reader_read(&r, 0, got, 20, &e) == DP_OK && memcmp(got, payload, 20) == 0);
    CHECK(dp_reader_read(&r, 1, got, 20, &e) == DP_ERR_FORMAT);
    dp_reader_close(&r);
    /* directories are not files */
    CHECK(dp_reader_open_file(&r, sub, &e) == DP_ERR_IO);
    CHECK(dp_file_read_all(sub, 100, &data, &n, &e) == DP_ERR_IO);

    char *j = dp_path_join("a/", "b");
    CHECK(j && strcmp(j, "a/b") == 0);
    dp_free(j);
    j = dp_path_join("", "b");
    CHECK(j && strcmp(j, "b") == 0);
    dp_free(j);
    /* relative paths, repeated slashes, a component at a time */
    char *rel = dp_path_join(dir, "rel");
    CHECK(dp_mkdir_p(rel, &e) == DP_OK);
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) && chdir(rel) == 0) {
        CHECK_MSG(dp_mkdir_p("p//q///r/", &e) == DP_OK, "%s", e.msg);
        CHECK(dp_file_exists("p/q/r"));
        CHECK(dp_mkdir_p("single", &e) == DP_OK && dp_file_exists("single"));
        CHECK(dp_mkdir_p("p/q", &e) == DP_OK);
        CHECK(dp_mkdir_p(".", &e) == DP_OK);
        CHECK(dp_file_write_all("p/file", "x", 1, &e) == DP_OK);
        CHECK(dp_mkdir_p("p/file", &e) == DP_ERR_IO && strstr(e.msg, "not a directory"));
        CHECK(dp_mkdir_p("p/file/deeper/still", &e) == DP_ERR_IO);
        CHECK(chdir(cwd) == 0);
    }
    dp_free(rel);
    CHECK(dp_mkdir_p("", &e) == DP_ERR_INVALID_ARG);
    CHECK(dp_mkdir_p("/", &e) == DP_OK);

    /* every allocation failure inside the file helpers is reported and leaks nothing */
    char *nested = dp_path_join(dir, "fault/x/y");
    char *nfile = dp_path_join(dir, "fault/x/y/f.bin");
    for (long at = 1; at < 50; at++) {
        count_alloc ca = {0, at, 0};
        dp_set_allocator(counting_alloc, &ca);
        dp_status s1 = dp_mkdir_p(nested, &e);
        dp_status s2 = s1 == DP_OK ? dp_file_write_all(nfile, "abc", 3, &e) : DP_ERR_NOMEM;
        char *dd = NULL;
        size_t nn = 0;
        dp_status s3 = s2 == DP_OK ? dp_file_read_all(nfile, 10, &dd, &nn, &e) : DP_ERR_NOMEM;
        if (s3 == DP_OK) {
            CHECK(nn == 3 && strcmp(dd, "abc") == 0);
            dp_free(dd);
        }
        dp_reader rr;
        dp_status s4 = s2 == DP_OK ? dp_reader_open_file(&rr, nfile, &e) : DP_ERR_NOMEM;
        if (s4 == DP_OK) dp_reader_close(&rr);
        char *pj = dp_path_join("a", "b");
        dp_free(pj);
        dp_set_allocator(NULL, NULL);
        CHECK(s1 == DP_OK || s1 == DP_ERR_NOMEM);
        CHECK(s2 == DP_OK || s2 == DP_ERR_NOMEM);
        CHECK(s3 == DP_OK || s3 == DP_ERR_NOMEM);
        CHECK(s4 == DP_OK || s4 == DP_ERR_NOMEM);
        CHECK_MSG(ca.live == 0, "file helpers, fail at %ld: %ld leaked", at, ca.live);
        char rmcmd[4300];
        snprintf(rmcmd, sizeof rmcmd, "rm -rf '%s/fault'", dir);
        CHECK(system(rmcmd) == 0);
    }
    dp_free(nested);
    dp_free(nfile);

    j = dp_path_join("/x", "y/z");
    CHECK(j && strcmp(j, "/x/y/z") == 0);
    dp_free(j);
    dp_free(file);
    dp_free(sub);
}

#define SUM_N 10000LL
#define SUM_ALL (SUM_N * (SUM_N - 1) / 2)

typedef struct sum_job {
    atomic_llong sum;
    atomic_int calls;
    int nth_seen;
    long per[64];
} sum_job;

static void sum_fn(void *arg, int ith, int nth) {
    sum_job *j = arg;
    /* split 0..SUM_N-1 by (ith, nth) */
    long long lo = SUM_N * ith / nth, hi = SUM_N * (ith + 1) / nth, s = 0;
    for (long long i = lo; i < hi; i++) s += i;
    j->per[ith] += 1;
    j->nth_seen = nth;
    atomic_fetch_add(&j->sum, s);
    atomic_fetch_add(&j->calls, 1);
}

static void test_pool(void) {
    CHECK(dp_cpu_count() >= 1);
    for (int nt = 1; nt <= 5; nt++) {
        dp_pool *p = NULL;
        dp_error e = {0};
        CHECK_MSG(dp_pool_new(nt, &p, &e) == DP_OK, "%s", e.msg);
        if (!p) continue;
#if defined(__wasm__)
        CHECK(dp_pool_size(p) == 1); /* single-threaded build: the pool degrades to the caller */
#else
        CHECK(dp_pool_size(p) == nt);
#endif
        int nth = dp_pool_size(p);
        sum_job j;
        memset(&j, 0, sizeof j);
        const int runs = 20000; /* many short jobs: shakes out hand-off races */
        double t0 = dp_time_now();
        for (int r = 0; r < runs; r++) dp_pool_run(p, sum_fn, &j);
        double dt = dp_time_now() - t0;
        CHECK_MSG(atomic_load(&j.sum) == SUM_ALL * runs, "threads %d: sum %lld", nt,
                  (long long)atomic_load(&j.sum));
        CHECK(atomic_load(&j.calls) == nth * runs && j.nth_seen == nth);
        for (int i = 0; i < nth; i++) CHECK(j.per[i] == runs);
        printf("pool %d threads: %.2f us per run\n", nt, dt / runs * 1e6);
        /* after idling long enough for workers to sleep, runs still complete */
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        memset(&j, 0, sizeof j);
        dp_pool_run(p, sum_fn, &j);
        CHECK(atomic_load(&j.sum) == SUM_ALL);
        dp_pool_free(p);
    }
    sum_job j;
    memset(&j, 0, sizeof j);
    dp_pool_run(NULL, sum_fn, &j);
    CHECK(atomic_load(&j.sum) == SUM_ALL && j.nth_seen == 1);
    CHECK(dp_pool_size(NULL) == 1);
    dp_pool_free(NULL);
    dp_pool *p = NULL;
    CHECK(dp_pool_new(0, &p, NULL) == DP_OK && dp_pool_size(p) == dp_cpu_count());
    dp_pool_free(p);
    double t0 = dp_time_now(), t1 = dp_time_now();
    CHECK(t1 >= t0 && t0 > 0);
}

/* Reference: the f16 nearest to x (ties to even) by brute force over the candidates. */
static void test_f16(void) {
    /* every f16 round-trips through f32 exactly (NaNs stay NaN with the same sign) */
    for (uint32_t h = 0; h < 65536; h++) {
        float f = dp_f16_to_f32((uint16_t)h);
        uint16_t back = dp_f32_to_f16(f);
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) {
            CHECK(isnan(f) && (back & 0x7c00) == 0x7c00 && (back & 0x3ff) && (back >> 15) == (h >> 15));
        } else {
            CHECK_MSG(back == h, "f16 %04x -> %g -> %04x", h, (double)f, back);
        }
    }
    /* every midpoint between neighbouring finite f16s rounds to the even one, and one f32 ulp
     * either side rounds to the nearer */
    for (uint32_t h = 0; h < 0x7c00; h++) {
        double lo = dp_f16_to_f32((uint16_t)h);
        double hi = h + 1 == 0x7c00 ? 65536.0 : (double)dp_f16_to_f32((uint16_t)(h + 1));
        float mid = (float)((lo + hi) / 2); /* exact in f32 */
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        CHECK_MSG(dp_f32_to_f16(mid) == even, "mid of %04x", h);
        CHECK_MSG(dp_f32_to_f16(-mid) == (even | 0x8000), "-mid of %04x", h);
        CHECK_MSG(dp_f32_to_f16(f32_of(bits_of(mid) - 1)) == h, "below mid of %04x", h);
        CHECK_MSG(dp_f32_to_f16(f32_of(bits_of(mid) + 1)) == h + 1, "above mid of %04x", h);
    }
    CHECK(dp_f32_to_f16(65504.0f) == 0x7bff);
    CHECK(dp_f32_to_f16(65519.99f) == 0x7bff);
    CHECK(dp_f32_to_f16(65520.0f) == 0x7c00);
    CHECK(dp_f32_to_f16(1e10f) == 0x7c00);
    CHECK(dp_f32_to_f16(-1e10f) == 0xfc00);
    CHECK(dp_f32_to_f16(INFINITY) == 0x7c00 && dp_f32_to_f16(-INFINITY) == 0xfc00);
    CHECK(isinf(dp_f16_to_f32(0x7c00)) && dp_f16_to_f32(0xfc00) < 0);
    uint16_t hn = dp_f32_to_f16(NAN);
    CHECK((hn & 0x7c00) == 0x7c00 && (hn & 0x3ff) != 0);
    hn = dp_f32_to_f16(f32_of(0x7f800001)); /* signalling NaN with a low payload stays NaN */
    CHECK((hn & 0x7c00) == 0x7c00 && (hn & 0x3ff) != 0);
    CHECK(dp_f32_to_f16(0.0f) == 0 && dp_f32_to_f16(-0.0f) == 0x8000);
    CHECK(dp_f16_to_f32(0x0001) == ldexpf(1.0f, -24));
    CHECK(dp_f16_to_f32(0x03ff) == ldexpf(1023.0f, -24));
    CHECK(dp_f16_to_f32(0x0400) == ldexpf(1.0f, -14));
    CHECK(dp_f32_to_f16(ldexpf(1.0f, -25)) == 0);           /* tie: to even (zero) */
    CHECK(dp_f32_to_f16(ldexpf(1.5f, -25)) == 1);
    CHECK(dp_f32_to_f16(ldexpf(1.0f, -26)) == 0);
    CHECK(dp_f32_to_f16(ldexpf(3.0f, -25)) == 2);           /* 1.5 ulp: tie to even 2 */
    CHECK(dp_f32_to_f16(f32_of(1)) == 0);                   /* smallest f32 subnormal */
    CHECK(dp_f32_to_f16(1.0f) == 0x3c00 && dp_f32_to_f16(-2.0f) == 0xc000);
    CHECK(dp_f32_to_f16(0.1f) == 0x2e66);

    /* bf16: every value round-trips, midpoints tie to even, specials */
    for (uint32_t h = 0; h < 65536; h++) {
        float f = dp_bf16_to_f32((uint16_t)h);
        uint16_t back = dp_f32_to_bf16(f);
        if ((h & 0x7f80) == 0x7f80 && (h & 0x7f)) CHECK(isnan(dp_bf16_to_f32(back)));
        else CHECK_MSG(back == h, "bf16 %04x -> %04x", h, back);
        if ((h & 0x7f80) != 0x7f80 && (h & 0x7fff) != 0x7f7f) {
            uint32_t mid = (h << 16) | 0x8000;
            uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
            CHECK(dp_f32_to_bf16(f32_of(mid)) == even);
            CHECK(dp_f32_to_bf16(f32_of(mid - 1)) == h);
            CHECK(dp_f32_to_bf16(f32_of(mid + 1)) == ((h + 1) & 0xffff));
        }
    }
    CHECK(dp_f32_to_bf16(f32_of(0x7f7fffff)) == 0x7f80); /* max float rounds to inf */
    CHECK(dp_f32_to_bf16(INFINITY) == 0x7f80 && dp_f32_to_bf16(-INFINITY) == 0xff80);
    CHECK(isnan(dp_bf16_to_f32(dp_f32_to_bf16(f32_of(0x7f800001)))));
    CHECK(isnan(dp_bf16_to_f32(dp_f32_to_bf16(f32_of(0xffffffff)))));
    CHECK(dp_f32_to_bf16(1.0f) == 0x3f80 && dp_bf16_to_f32(0x3f80) == 1.0f);
}

static void test_dtype(void) {
    /* sizes and ids as in ggml-common.h / ggml.h */
    static const struct { const char *name; size_t values, bytes; int ggml; } want[DP_DTYPE_COUNT] = {
        {"f32", 1, 4, 0},        {"f16", 1, 2, 1},         {"bf16", 1, 2, 30},
        {"q8_0", 32, 34, 8},     {"q4_k", 256, 144, 12},   {"q5_k", 256, 176, 13},
        {"q6_k", 256, 210, 14},  {"i32", 1, 4, -1},        {"q4_0", 32, 18, 2},
        {"q4_1", 32, 20, 3},     {"q5_0", 32, 22, 6},      {"q5_1", 32, 24, 7},
        {"iq4_nl", 32, 18, 20},  {"q2_k", 256, 84, 10},    {"q3_k", 256, 110, 11},
        {"iq4_xs", 256, 136, 23},
    };
    for (int i = 0; i < DP_DTYPE_COUNT; i++) {
        dp_dtype t = (dp_dtype)i, back;
        CHECK_MSG(want[i].name != NULL, "dtype %d missing from the table", i);
        if (!want[i].name) continue;
        CHECK(strcmp(dp_dtype_name(t), want[i].name) == 0);
        CHECK(dp_dtype_ggml_id(t) == want[i].ggml);
        CHECK(want[i].ggml < 0 || (dp_dtype_from_ggml((uint32_t)want[i].ggml, &back) && back == t));
        CHECK(dp_dtype_act_block(t) == (want[i].values > 1 ? want[i].values : 0));
        CHECK(dp_dtype_parse(want[i].name, &back) && back == t);
        CHECK(dp_dtype_block_values(t) == want[i].values);
        CHECK(dp_dtype_block_bytes(t) == want[i].bytes);
        CHECK(dp_dtype_is_quant(t) == (want[i].values > 1));
    }
    dp_dtype t;
    CHECK(!dp_dtype_parse("F32", &t) && !dp_dtype_parse("q4", &t) && !dp_dtype_parse(NULL, &t));
    uint64_t b = 0;
    CHECK(dp_dtype_row_bytes(DP_DTYPE_Q4_K, 4096, &b) && b == 16 * 144);
    CHECK(!dp_dtype_row_bytes(DP_DTYPE_Q4_K, 4000, &b));
    CHECK(dp_dtype_row_bytes(DP_DTYPE_F16, 7, &b) && b == 14);
    CHECK(dp_dtype_row_bytes(DP_DTYPE_Q8_0, 0, &b) && b == 0);
    CHECK(!dp_dtype_row_bytes(DP_DTYPE_F32, UINT64_MAX / 2, &b));
    CHECK(!dp_dtype_row_bytes(DP_DTYPE_COUNT, 1, &b));
    CHECK(strcmp(dp_dtype_name(DP_DTYPE_COUNT), "?") == 0);
}

int main(void) {
    test_errors();
    test_alloc();
    test_buf();
    test_io();
    test_pool();
    test_f16();
    test_dtype();
    return t_done("test_base");
}
