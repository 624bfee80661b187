/* bench.h — `doppler bench`'s parts: the plain pp/tg bench (cmd_bench.c) and speculative
 * decoding against plain decode of the same target (bench_spec.c). */
#ifndef DP_BENCH_H
#define DP_BENCH_H

#include <stdbool.h>
#include <stddef.h>

#include "spec.h"

typedef struct bench_stats { double mean, sd; } bench_stats;

/* mean and sample standard deviation of v[0, n) */
bench_stats bench_summarize(const double *v, int n);
/* the CPU's model name from /proc/cpuinfo, else "unknown cpu" */
void bench_cpu_name(char *buf, size_t n);

typedef struct bench_spec_opts {
    const char *model;
    cli_spec *spec;       /* --draft / --lookup / --draft-max */
    const char *prompt;   /* NULL: a built-in text (or ids when the model has no tokenizer) */
    dp_sampling sampling; /* temperature 0: greedy (then outputs are checked identical) */
    long n_gen, reps;
    int threads;
    bool sweep;           /* fixed K = 1..draft-max, then adaptive; else adaptive only */
    bool json;
} bench_spec_opts;

/* Runs the comparison and prints it; returns the exit status. */
int bench_spec(const bench_spec_opts *o);

/* --rows: the cost of a forward pass of n rows against one row (bench_rows.c) */
#define BENCH_ROWS_MAX 64
#define BENCH_ALPHA_MAX 8
typedef struct bench_rows_opts {
    const char *model, *draft; /* draft: NULL, or a model whose one-row pass is timed too */
    int rows[BENCH_ROWS_MAX], n_rows;  /* ascending from 1 */
    double alpha[BENCH_ALPHA_MAX];     /* acceptance rates of the predicted speedups */
    int n_alpha;
    int at;               /* cached positions before each pass */
    long reps;
    int threads;
    bool json;
} bench_rows_opts;

/* Times the passes and prints them (and with a draft the predicted speedups); the exit status. */
int bench_rows(const bench_rows_opts *o);
/* "1,2,4": strictly ascending from 1, each <= hi, at most cap; false on a bad list */
bool bench_rows_parse(const char *s, int *v, int cap, int *n, int hi);
/* "0.65,0.7": each in [0, 1], at most cap; false on a bad list */
bool bench_alpha_parse(const char *s, double *v, int cap, int *n);

#endif
