/* wg_kernels.h — the WGSL kernel texts the library carries (the built-in kernel registry,
 * wg_registry.h).
 *
 * web/tools/embed-kernels.mjs turns every kernels/<name>.wgsl into an entry of dp_wgsl_files
 * (a generated C file in the build folder: web/build.sh for the WebAssembly module, CMake for
 * native builds), so doppler.wasm and the doppler tool are self-contained and the kernels stay
 * plain WGSL files in the tree. */
#ifndef DP_WG_KERNELS_H
#define DP_WG_KERNELS_H

#include <stdint.h>

typedef struct dp_wgsl_file {
    const char *name; /* file name without ".wgsl" */
    const char *text;
    uint32_t len;
    const char *sha256; /* lowercase hex SHA-256 of text[0..len), computed by the generator */
} dp_wgsl_file;

extern const dp_wgsl_file dp_wgsl_files[];
extern const int dp_wgsl_n_files;

#endif /* DP_WG_KERNELS_H */
