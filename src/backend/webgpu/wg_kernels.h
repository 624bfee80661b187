/* wg_kernels.h — the WGSL kernel texts the WebAssembly module carries.
 *
 * web/build.sh turns every kernels/<name>.wgsl into an entry of dp_wgsl_files (a generated C
 * file in the build folder), so doppler.wasm is self-contained and the kernels stay plain WGSL
 * files in the tree. Only the WebAssembly build links it. */
#ifndef DP_WG_KERNELS_H
#define DP_WG_KERNELS_H

#include <stdint.h>

typedef struct dp_wgsl_file {
    const char *name; /* file name without ".wgsl" */
    const char *text;
    uint32_t len;
} dp_wgsl_file;

extern const dp_wgsl_file dp_wgsl_files[];
extern const int dp_wgsl_n_files;

#endif /* DP_WG_KERNELS_H */
