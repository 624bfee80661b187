/* pool.c — persistent worker threads; dp_pool_run hands every worker the same job and blocks
 * until all have finished. Called once per matmul, so the hand-off is cheap: workers spin on a
 * generation counter for a while before sleeping on a condition variable, and the caller spins
 * on the pending count before sleeping. The mutex is touched only when someone sleeps.
 *
 * Not reentrant: fn must not call dp_pool_run on the same pool, and one pool serves one caller
 * thread at a time. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* sched_getaffinity */
#endif
#include <time.h>
#include <unistd.h>

#include "base/base.h"

#if defined(__linux__)
#include <sched.h>
#endif

double dp_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int dp_cpu_count(void) {
#if defined(__wasm__)
    return 1;
#else
#if defined(__linux__) && defined(CPU_COUNT)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int k = CPU_COUNT(&set);
        if (k > 0) return k;
    }
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (n > 4096 ? 4096 : (int)n) : 1;
#endif
}

uint64_t dp_mem_total(void) {
#if defined(__wasm__) || !defined(_SC_PHYS_PAGES)
    return 0;
#else
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
#endif
}

#if defined(__wasm__)

struct dp_pool {
    int n;
};

dp_status dp_pool_new(int n_threads, dp_pool **out, dp_error *e) {
    (void)n_threads;
    dp_pool *p = dp_malloc(sizeof *p);
    if (!p) return dp_err_set(e, DP_ERR_NOMEM, "out of memory creating thread pool");
    p->n = 1;
    *out = p;
    return DP_OK;
}

int dp_pool_size(const dp_pool *p) { return p ? p->n : 1; }

void dp_pool_run(dp_pool *p, dp_pool_fn fn, void *arg) {
    (void)p;
    fn(arg, 0, 1);
}

void dp_pool_free(dp_pool *p) { dp_free(p); }

#else /* threads */

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

/* Spin iterations before sleeping (each a pause, ~10-40 ns): tens of microseconds. Every
 * POOL_YIELD_EVERY of them yield the CPU, so that when threads outnumber free cores the
 * spinners do not starve the thread they are waiting for. */
#define POOL_SPIN 4096
#define POOL_YIELD_EVERY 64

static void spin_pause(int i) {
    if ((i & (POOL_YIELD_EVERY - 1)) == POOL_YIELD_EVERY - 1) sched_yield();
    else cpu_relax();
}

typedef struct worker {
    struct dp_pool *pool;
    int ith;
} worker;

struct dp_pool {
    void *raw;              /* the allocation this 64-byte-aligned struct lives in */
    int n;
    int n_started;          /* threads 1..n_started are running */
    pthread_t *threads;
    worker *workers;
    pthread_mutex_t mu;
    pthread_cond_t cv_work; /* workers sleep here waiting for a new generation */
    pthread_cond_t cv_done; /* the caller sleeps here waiting for pending == 0 */
    /* read by spinning workers: written once per job */
    _Alignas(64) atomic_uint gen; /* bumped once per job */
    atomic_int stop;
    dp_pool_fn fn;                /* written before gen is bumped */
    void *arg;
    /* written by every worker as it finishes: kept off the line the workers spin on */
    _Alignas(64) atomic_int pending; /* workers (not the caller) still running the job */
    _Alignas(64) atomic_int sleepers; /* workers asleep (or about to be) on cv_work */
};

static void *worker_main(void *wp) {
    worker *w = wp;
    dp_pool *p = w->pool;
    unsigned seen = 0; /* gen at creation: a late-starting thread must not miss job 1 */
    for (;;) {
        unsigned g = seen;
        for (int i = 0; i < POOL_SPIN; i++) {
            g = atomic_load_explicit(&p->gen, memory_order_acquire);
            if (g != seen || atomic_load_explicit(&p->stop, memory_order_relaxed)) break;
            spin_pause(i);
        }
        if (g == seen && !atomic_load(&p->stop)) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1); /* seq_cst: pairs with the caller's gen bump */
            while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv_work, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) break;
        seen = g;
        p->fn(p->arg, w->ith, p->n);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

static void pool_stop(dp_pool *p) {
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i <= p->n_started; i++) pthread_join(p->threads[i], NULL);
}

dp_status dp_pool_new(int n_threads, dp_pool **out, dp_error *e) {
    int n = n_threads > 0 ? n_threads : dp_cpu_count();
    if (n > 1024) return dp_err_set(e, DP_ERR_LIMIT, "%d threads is over the limit of 1024", n);
    void *raw = dp_malloc(sizeof(dp_pool) + 63);
    if (!raw) return dp_err_set(e, DP_ERR_NOMEM, "out of memory creating thread pool");
    dp_pool *p = (dp_pool *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
    memset(p, 0, sizeof *p);
    p->raw = raw;
    p->n = n;
    p->threads = dp_calloc((size_t)n, sizeof *p->threads);
    p->workers = dp_calloc((size_t)n, sizeof *p->workers);
    if (!p->threads || !p->workers) {
        dp_free(p->threads);
        dp_free(p->workers);
        dp_free(p->raw);
        return dp_err_set(e, DP_ERR_NOMEM, "out of memory creating thread pool");
    }
    if (pthread_mutex_init(&p->mu, NULL) != 0) goto fail_mu;
    if (pthread_cond_init(&p->cv_work, NULL) != 0) goto fail_cv1;
    if (pthread_cond_init(&p->cv_done, NULL) != 0) goto fail_cv2;
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->stop, 0);
    for (int i = 1; i < n; i++) {
        p->workers[i].pool = p;
        p->workers[i].ith = i;
        int rc = pthread_create(&p->threads[i], NULL, worker_main, &p->workers[i]);
        if (rc != 0) {
            pool_stop(p);
            pthread_cond_destroy(&p->cv_done);
            pthread_cond_destroy(&p->cv_work);
            pthread_mutex_destroy(&p->mu);
            dp_free(p->threads);
            dp_free(p->workers);
            dp_free(p->raw);
            return dp_err_set(e, DP_ERR_INTERNAL, "cannot start worker thread %d of %d: %s", i,
                              n, strerror(rc));
        }
        p->n_started = i;
    }
    *out = p;
    return DP_OK;
fail_cv2:
    pthread_cond_destroy(&p->cv_work);
fail_cv1:
    pthread_mutex_destroy(&p->mu);
fail_mu:
    dp_free(p->threads);
    dp_free(p->workers);
    dp_free(p->raw);
    return dp_err_set(e, DP_ERR_INTERNAL, "cannot initialise thread pool locks");
}

int dp_pool_size(const dp_pool *p) { return p ? p->n : 1; }

void dp_pool_run(dp_pool *p, dp_pool_fn fn, void *arg) {
    if (!p || p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    atomic_fetch_add(&p->gen, 1); /* seq_cst: publishes fn/arg/pending */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv_work);
        pthread_mutex_unlock(&p->mu);
    }
    fn(arg, 0, p->n);
    for (int i = 0; i < POOL_SPIN; i++) {
        if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0) return;
        spin_pause(i);
    }
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->pending, memory_order_acquire) != 0)
        pthread_cond_wait(&p->cv_done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void dp_pool_free(dp_pool *p) {
    if (!p) return;
    pool_stop(p);
    pthread_cond_destroy(&p->cv_done);
    pthread_cond_destroy(&p->cv_work);
    pthread_mutex_destroy(&p->mu);
    dp_free(p->threads);
    dp_free(p->workers);
    dp_free(p->raw);
}

#endif /* threads */
