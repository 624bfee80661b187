/* serve_lora.h — `doppler serve`'s LoRA adapters (serve_lora.c): the ones `--lora DIR[:scale]`
 * loaded at start, numbered 0, 1, ... in the order given, each with the server's current scale
 * (GET / POST /lora-adapters, as llama-server), and the choice of one for a request.
 *
 * Doppler applies one adapter per sequence, so the server's scales and a request's "lora" list
 * may give a non-zero scale to one adapter at most (a second is a 400 that says so). A request
 * without "lora" takes the server's scales as they are when it is accepted; changing them later
 * does not touch requests already accepted. Thread-safe: connection threads choose while another
 * sets. */
#ifndef DP_SERVE_LORA_H
#define DP_SERVE_LORA_H

#include "doppler.h"
#include "serve_request.h"

typedef struct srv_lora srv_lora;

/* Loads dirs[i] onto m with the server scale scales[i], for i < n (n may be 0). Fails with the
 * adapter's load error (prefixed with its directory), or when two scales are non-zero. */
dp_status srv_lora_new(dp_model *m, char *const *dirs, const float *scales, int n, srv_lora **out, dp_error *e);
void srv_lora_free(srv_lora *l); /* after every context using its adapters is freed; NULL: no-op */

/* [{"id", "name", "path", "scale", "rank"}, ...] into b. */
void srv_lora_json(srv_lora *l, dp_buf *b);
/* POST /lora-adapters: the listed adapters get their scales, the others 0 (llama-server's
 * rule). false with err (400: an unknown id or name, two non-zero scales): nothing changed. */
bool srv_lora_set(srv_lora *l, const srv_lora_ref *refs, int n, srv_err *err);

/* The adapter and scale of one request: its own list when has_list (unlisted adapters at 0),
 * else the server's scales. *a is NULL for none (no adapter with a non-zero scale). */
bool srv_lora_choose(srv_lora *l, bool has_list, const srv_lora_ref *refs, int n, dp_adapter **a, float *scale,
                     srv_err *err);

#endif
