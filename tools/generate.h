/* generate.h — the token loop shared by `run` and `chat` (plain or speculative). */
#ifndef DP_GENERATE_H
#define DP_GENERATE_H

#include <stdio.h>

#include "doppler.h"
#include "tokenizer/tokenizer.h"

typedef struct gen_stats {
    int32_t n_prompt;    /* prompt tokens evaluated */
    long n_gen;          /* tokens sampled */
    double t_prompt;     /* seconds evaluating the prompt (0 for speculative runs: counted in t_gen) */
    double t_gen;        /* seconds sampling and evaluating the generated tokens */
} gen_stats;

/* "prompt N tokens (x tok/s), generated M tokens (y tok/s)" on f */
void gen_stats_print(const gen_stats *s, FILE *f);

typedef struct gen_opts {
    dp_sampling sampling;
    long n_max;          /* tokens to generate at most */
    bool ignore_eos;
    bool print_ids;      /* " id" per token instead of text */
    FILE *out;
    dp_spec *spec;       /* NULL: plain decode; else speculative steps (the context must start
                            empty: the prompt is the whole sequence) */
    gen_stats *stats;    /* filled when not NULL */
} gen_opts;

/* Evaluates prompt[0..n) at the context's position, then samples up to n_max tokens, streaming
 * them to o->out (text through tok when given, else ids). Generated ids are appended to *gen
 * when gen is not NULL. Stops at an end-of-generation token unless ignore_eos (the stop token is
 * evaluated into the cache so a conversation can go on). Fewer than n_max tokens without an end
 * token (the context filled up) is DP_ERR_LIMIT saying how many came out: never a silent cut. */
dp_status gen_run(dp_ctx *c, dp_model *m, const dp_tokenizer *tok, const int32_t *prompt, int32_t n,
                  const gen_opts *o, dp_tokens *gen, dp_error *e);

#endif
