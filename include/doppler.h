/* doppler.h — the one public header of the Doppler inference engine.
 *
 * Conventions (kept everywhere in the library):
 *   - names are dp_<object>_<verb>; enum values carry their enum's prefix;
 *   - functions that can fail return dp_status and, when given a dp_error*, fill it with a
 *     one-line reason; outputs are written only on success;
 *   - every dp_*_free(NULL) is a no-op; the caller owns what a *_new / *_load returns;
 *   - the library never exits or aborts, and keeps no global mutable state except the
 *     allocator hook.
 */
#ifndef DOPPLER_H
#define DOPPLER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dp_status {
    DP_OK = 0,
    DP_ERR_INVALID_ARG,   /* the caller passed something unusable */
    DP_ERR_NOMEM,         /* an allocation failed (or was refused by the hook) */
    DP_ERR_IO,            /* a read or write failed */
    DP_ERR_FORMAT,        /* input bytes break their format's rules */
    DP_ERR_UNSUPPORTED,   /* well-formed but not something Doppler handles */
    DP_ERR_HASH,          /* content does not match its SHA-256 */
    DP_ERR_NOT_FOUND,     /* a named file, tensor, key or shard is missing */
    DP_ERR_LIMIT,         /* a size or count is over a documented bound */
    DP_ERR_INTERNAL       /* a bug in Doppler */
} dp_status;

/* Static string naming a status ("ok", "out of memory", ...). */
const char *dp_status_str(dp_status status);

/* A one-line error reason filled by failing calls. */
typedef struct dp_error {
    dp_status status;
    char msg[256];
} dp_error;

/* Allocator hook, Lua style: fn(ud, ptr, size) allocates when ptr is NULL, resizes when both are
 * set, frees when size is 0 (returning NULL). Returning NULL for a non-zero size is an
 * out-of-memory failure that the library reports as DP_ERR_NOMEM. Pass fn = NULL to restore the
 * default (realloc/free). Set it before creating any object. */
typedef void *(*dp_alloc_fn)(void *ud, void *ptr, size_t size);
void dp_set_allocator(dp_alloc_fn fn, void *ud);

#ifdef __cplusplus
}
#endif
#endif /* DOPPLER_H */
