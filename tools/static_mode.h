/* static_mode.h — `--static BUNDLE --pubkey KEY [--audit FILE]` for run, eval and bench
 * (docs/KERNELS.md): the signed bundle is verified and the model checked against it before the
 * model loads; `run` appends an audit record per generation. */
#ifndef DP_STATIC_MODE_H
#define DP_STATIC_MODE_H

#include <stdbool.h>

#include "doppler.h"

typedef struct static_opts {
    const char *bundle, *pubkey, *audit;
    char model_id[65];   /* set by static_check */
    char adapter_id[65]; /* set by static_check when an adapter is given; else "" */
} static_opts;

/* Takes argv[*i] (and its value) when it is one of the options above; false otherwise. */
bool static_opt(static_opts *s, int argc, char **argv, int *i);
/* 0 when the options are usable and, in static mode, the bundle verifies with the key and lists
 * the model and the adapter (adapter_dir, --lora; NULL: none); else prints "doppler <cmd>: ..."
 * and returns the exit status (1, or 2 for usage). */
int static_check(static_opts *s, const char *cmd, const char *model_dir, const char *adapter_dir);
/* Appends the audit record of one generation when --audit was given (no kernels: the CPU path;
 * the adapter when static_check had one).
 * 0, or 1 after printing why. */
int static_audit(const static_opts *s, const char *cmd, const char *model_dir, const dp_sampling *sp,
                 const int32_t *prompt, int32_t n_prompt, const int32_t *out, int64_t n_out);

#endif
