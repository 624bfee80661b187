/* generate.h — `run` and `chat` around the library's token loop (dp_gen, doppler.h): print each
 * step, keep what a conversation needs, and turn a context that filled up into an error. Uses
 * doppler.h only. */
#ifndef DP_GENERATE_H
#define DP_GENERATE_H

#include <stdbool.h>
#include <stdio.h>

#include "doppler.h"

/* What a generation produced: ids in order and the text shown (NUL-terminated). */
typedef struct gen_reply {
    int32_t *ids;
    size_t n, cap;
    char *text;
    size_t len, text_cap;
} gen_reply;
void gen_reply_free(gen_reply *r);

/* Where a generation's time went (run --stats). */
typedef struct gen_stats {
    int32_t n_prompt;    /* prompt tokens */
    int32_t n_gen;       /* tokens produced */
    double t_prompt;     /* seconds in dp_gen_prompt */
    double t_gen;        /* seconds in the steps */
} gen_stats;

/* "prompt N tokens (x tok/s), generated M tokens (y tok/s)" on f */
void gen_stats_print(const gen_stats *s, FILE *f);

/* Evaluates prompt[0..n) at the context's position, then steps g until it stops, writing each
 * step to out (" <id>" with print_ids, else the text). reply, when not NULL, gets the ids and
 * text (appended); stats, when not NULL, the timing. A context that filled before n_max tokens without an end token is
 * DP_ERR_LIMIT saying how many came out: never a silent cut. */
dp_status gen_print(dp_gen *g, const dp_ctx *c, int32_t n_max, const int32_t *prompt, int32_t n, bool print_ids,
                    FILE *out, gen_reply *reply, gen_stats *stats, dp_error *e);

/* dp_tokenize into a malloc'd array (*ids, *n); false and e on failure. */
dp_status gen_tokenize(const dp_tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n, dp_error *e);

#endif
