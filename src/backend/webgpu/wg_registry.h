/* wg_registry.h — the kernel registry: every kernel the WebGPU backend can run, as data.
 *
 * An entry is one compute entry point of one WGSL text, keyed by
 *
 *     key = SHA-256( "DPK1"                                   4 bytes
 *                    u32 little-endian byte length of the text, then the text
 *                    u32 little-endian byte length of the entry point name, then the name
 *                    u32 little-endian byte length of the constants, then the constants )
 *
 * where constants are the override constants the entry pins, canonical: "NAME=value" pairs
 * sorted by NAME (bytewise), joined by ','; "" when it pins none (the kernel's declared
 * defaults; every built-in entry). The override constants a kernel declares are its variants:
 * tunables the backend sets per shape (WG, TPR, UNR, ...) — parameters of the admitted code,
 * not part of its identity. docs/KERNELS.md has the byte-by-byte form and an example.
 *
 * Entries belong to an op: the kernel name the backend asks for (wg_dispatch's `file`:
 * "rms_norm", "elementwise", "weights_q4_k", ...). The built-in entries are the kernels/ WGSL
 * texts embedded in the library (wg_kernels.h). A candidate text may replace every entry of
 * an op (dp_kreg_override) when it offers every entry point, override constant and binding
 * (group, number, uniform / read / read_write) of the built-in kernel it replaces — the
 * backend binds buffers by those numbers, so anything else would fail at dispatch time. Whether
 * it computes the same thing is the parity gate's question (docs/KERNELS.md), not this file's.
 *
 * A registry is plain data: it works natively without a GPU (`doppler kernels list`), and the
 * WebGPU backend looks every pipeline's text up in one (between kernel lookup and pipeline
 * creation). Policy (which keys a static bundle allows) is not in here: the policy object
 * (policy.h) is consulted with the registry's keys before a registry reaches a backend. */
#ifndef DP_WG_REGISTRY_H
#define DP_WG_REGISTRY_H

#include "backend/webgpu/wgsl_scan.h"

#define DP_KREG_OP 64
#define DP_KREG_CONSTS 128
#define DP_KREG_SOURCE 256

typedef struct dp_kentry {
    char op[DP_KREG_OP];            /* the kernel the backend asks for */
    char entry[DP_WGSL_NAME];       /* compute entry point */
    char constants[DP_KREG_CONSTS]; /* pinned override constants, canonical ("" for built-ins) */
    uint8_t key[32];                /* see above */
    uint8_t text_sha256[32];        /* SHA-256 of the text alone */
    const char *text;               /* the whole WGSL module (shared by the op's entries) */
    uint32_t len;
    const dp_wgsl_info *info;       /* what the text declares (variants = info->overrides) */
    char source[DP_KREG_SOURCE];    /* "builtin", or where a candidate came from */
    bool builtin;
} dp_kentry;

typedef struct dp_kreg dp_kreg;

/* A registry holding the built-in kernels. DP_ERR_FORMAT when an embedded text does not scan
 * (a build bug); *out untouched on failure. */
dp_status dp_kreg_new(dp_kreg **out, dp_error *e);
void dp_kreg_free(dp_kreg *r); /* NULL: no-op */

int dp_kreg_count(const dp_kreg *r);
const dp_kentry *dp_kreg_at(const dp_kreg *r, int i); /* NULL out of range */
/* The entry serving (op, entry), NULL when there is none. */
const dp_kentry *dp_kreg_find(const dp_kreg *r, const char *op, const char *entry);
/* The entry whose key's hex starts with prefix (at least 8 hex digits, "sha256:" allowed);
 * NULL when none or more than one match. */
const dp_kentry *dp_kreg_find_key(const dp_kreg *r, const char *prefix);

/* Replace every entry of op by those of text[0..len) (copied). Refused, with the registry
 * unchanged, when op is unknown, the text does not scan, or an entry point, override constant
 * or binding of the built-in kernel is missing or differs (the message names the first). */
dp_status dp_kreg_override(dp_kreg *r, const char *op, const char *text, size_t len,
                           const char *source, dp_error *e);
/* "op=path.wgsl": dp_kreg_override with the file's text (at most 1 MiB), source = the path. */
dp_status dp_kreg_override_spec(dp_kreg *r, const char *spec, dp_error *e);
/* A registry file (JSON, docs/KERNELS.md): {"kernels": {"<op>": "<path.wgsl>", ...}}, paths
 * relative to the file's folder. A file that cannot be read or parsed fails as a whole (registry
 * unchanged); each candidate is then tried in turn: one that is refused is reported through
 * refused(ud, op, e) and the op keeps its kernel, the others are taken. */
dp_status dp_kreg_apply_file(dp_kreg *r, const char *path,
                             void (*refused)(void *ud, const char *op, const dp_error *why),
                             void *ud, dp_error *e);
/* Give op its built-in kernel back (a candidate the GPU compiler refused). No-op otherwise. */
dp_status dp_kreg_revert(dp_kreg *r, const char *op, dp_error *e);
/* Each built-in text against the SHA-256 recorded when it was embedded, and each key
 * recomputed: DP_ERR_HASH naming the first mismatch. *n_texts (may be NULL): texts checked. */
dp_status dp_kreg_verify(const dp_kreg *r, int *n_texts, dp_error *e);

/* The registry key (above) of an entry point of text with canonical constants. */
void dp_kernel_key(const char *text, size_t len, const char *entry, const char *constants,
                   uint8_t out[32]);

#endif /* DP_WG_REGISTRY_H */
