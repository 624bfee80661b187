/* audit.h — the audit log of static mode: one JSON line per generation (docs/KERNELS.md).
 *
 *   {"time": "2026-12-03T14:20:00Z", "model": "<model id>",
 *    "kernels": [{"op": "rms_norm", "entry": "main", "key": "<64 hex>"}, ...],   the kernels that ran
 *    "adapters": ["<adapter id>", ...],
 *    "sampling": {"temperature": 0, "top_k": 40, "top_p": 0.95, "seed": 0},
 *    "n_prompt": 4, "n_output": 16,
 *    "prompt_sha256": "<64 hex>", "output_sha256": "<64 hex>"}
 * prompt_sha256 / output_sha256: SHA-256 of the prompt's / the generated token ids, each a 32-bit
 * little-endian integer, in order. A line is appended with one write to a file opened O_APPEND. */
#ifndef DP_POLICY_AUDIT_H
#define DP_POLICY_AUDIT_H

#include "base/base.h"

typedef struct dp_audit_kernel {
    const char *op, *entry;
    const uint8_t *key; /* 32 bytes */
} dp_audit_kernel;

typedef struct dp_audit_rec {
    const char *model_id;              /* 64 hex */
    const dp_audit_kernel *kernels;
    int n_kernels;
    const char *const *adapter_ids;    /* 64 hex each */
    int n_adapters;
    dp_sampling sampling;
    const int32_t *prompt;
    int64_t n_prompt;
    const int32_t *output;
    int64_t n_output;
} dp_audit_rec;

/* The record as one JSON line (with the newline) appended to out; time is seconds since 1970. */
void dp_audit_format(const dp_audit_rec *r, int64_t time, dp_buf *out);
/* Formats r at the current time and appends it to the file at path (created when absent). */
dp_status dp_audit_append(const char *path, const dp_audit_rec *r, dp_error *e);

#endif /* DP_POLICY_AUDIT_H */
