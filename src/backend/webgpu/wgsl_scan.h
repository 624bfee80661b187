/* wgsl_scan.h — what a WGSL module declares at its surface: compute entry points, override
 * constants and resource bindings (the kernel registry's view of a kernel, wg_registry.h).
 *
 * Not a WGSL compiler: it tokenizes (comments, identifiers, attributes) and reads declarations
 * of the forms
 *     @compute [@workgroup_size(...)] fn NAME(        -> an entry point
 *     override NAME                                 -> an override constant (a tunable)
 *     @group(G) @binding(B) var<SPACE[, ACCESS]> N  -> a binding of kind uniform / read / read_write
 * Attributes must directly precede their declaration, as WGSL requires. Whether the module
 * compiles is the GPU compiler's call (the host checks that before a kernel is admitted); this
 * runs anywhere, without a GPU, and is what the registry compares a candidate against. */
#ifndef DP_WGSL_SCAN_H
#define DP_WGSL_SCAN_H

#include "base/base.h"

#define DP_WGSL_MAX_NAMES 64     /* entry points, override constants */
#define DP_WGSL_MAX_BINDINGS 64
#define DP_WGSL_NAME 64          /* identifier bytes, NUL included */

typedef enum dp_wgsl_kind {
    DP_WGSL_UNIFORM = 1,     /* var<uniform> */
    DP_WGSL_READ = 2,        /* var<storage> or var<storage, read> */
    DP_WGSL_READ_WRITE = 3,  /* var<storage, read_write> */
    DP_WGSL_OTHER = 4        /* a texture or sampler (no address space) */
} dp_wgsl_kind;

typedef struct dp_wgsl_binding {
    uint32_t group, binding;
    dp_wgsl_kind kind;
} dp_wgsl_binding;

typedef struct dp_wgsl_info {
    int n_entries, n_overrides, n_bindings;
    char entries[DP_WGSL_MAX_NAMES][DP_WGSL_NAME];   /* in the order they appear */
    char overrides[DP_WGSL_MAX_NAMES][DP_WGSL_NAME]; /* in the order they appear */
    /* distinct (group, binding, kind), sorted; one binding number may carry two kinds when
     * different entry points use it differently */
    dp_wgsl_binding bindings[DP_WGSL_MAX_BINDINGS];
} dp_wgsl_info;

/* Scans text[0..n). DP_ERR_FORMAT with the line number for an unterminated comment, an
 * unbalanced attribute, a NUL byte, a malformed declaration of the forms above, or a module
 * without a compute entry point; DP_ERR_LIMIT past the bounds above. */
dp_status dp_wgsl_scan(const char *text, size_t n, dp_wgsl_info *out, dp_error *e);
/* True when info declares name among entries (kind 'e') or overrides (kind 'o'). */
bool dp_wgsl_has(const dp_wgsl_info *info, char kind, const char *name);
/* "uniform", "read", "read_write", "other" */
const char *dp_wgsl_kind_str(dp_wgsl_kind k);

#endif /* DP_WGSL_SCAN_H */
