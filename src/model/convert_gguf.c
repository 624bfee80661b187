/* convert_gguf.c — GGUF files to RDRR (being built for issue 5). */
#include "model/write.h"

dp_status dp_convert_gguf(const char *gguf_path, const char *out_dir, const dp_write_opts *o, dp_error *e) {
    (void)out_dir;
    (void)o;
    return dp_err_set(e, DP_ERR_UNSUPPORTED, "%s: GGUF import is not available yet", gguf_path);
}
