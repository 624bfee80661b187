/* backend_new.c — the public backend handle: a backend made by name, shared by models and
 * contexts (doppler.h). */
#include <string.h>

#include "backend/backend.h"
#include "backend/webgpu/webgpu.h"

void dp_backend_params_default(dp_backend_params *p) { memset(p, 0, sizeof *p); }

dp_status dp_backend_new(const char *kind, const dp_backend_params *p, dp_backend **out,
                         dp_error *e) {
    dp_backend_params defaults;
    if (!p) {
        dp_backend_params_default(&defaults);
        p = &defaults;
    }
    if (!out) return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_backend_new: NULL argument");
    if (!kind || !strcmp(kind, "cpu")) return dp_backend_cpu_new(p->n_threads, out, e);
    if (!strcmp(kind, "webgpu")) return dp_backend_webgpu_new(out, e);
    return dp_err_set(e, DP_ERR_UNSUPPORTED, "backend '%s' is not available (cpu, webgpu)", kind);
}

void dp_backend_free(dp_backend *b) {
    if (b) b->i->free(b);
}

const char *dp_backend_name(const dp_backend *b) { return b ? b->i->name : ""; }
