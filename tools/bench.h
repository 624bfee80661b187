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

#endif
