#!/bin/sh
# build.sh — the WebAssembly build of the C core (wasm32-wasi, clang + Debian's wasi-libc, wasm
# SIMD on) with the WGSL kernels embedded.
#
#   web/build.sh            -> web/dist/doppler.wasm (+ build-wasm/ objects)
#   web/build.sh test       -> only build-wasm/webgpu_ops_test.wasm (tests/webgpu/ops_test.c)
#   web/build.sh all        -> both
#   web/build.sh deps       -> only install what is missing (clang, lld, wasi-libc, node packages)
#
# Environment: CC (default clang-14 or clang), WASM_OUT (default <root>/build-wasm), WASM_DIST
# (where doppler.wasm goes, default <root>/web/dist), DP_NO_INSTALL=1
# to never call apt-get/npm. Sources: every src/**/*.c except *_avx2.c / *_neon.c; files holding
# native-only code guard it with __wasm__. Exports are marked in the C sources with
# __attribute__((export_name(...))) (web/wasm/*.c, tests/webgpu/*.c).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${WASM_OUT:-$ROOT/build-wasm}
DIST=${WASM_DIST:-$ROOT/web/dist}
MODE=${1:-lib}

have() { command -v "$1" >/dev/null 2>&1; }

apt_install() {
    if [ "${DP_NO_INSTALL:-0}" = 1 ]; then return 1; fi
    if [ "$(id -u)" != 0 ] || ! have apt-get; then return 1; fi
    echo "build.sh: installing $*" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >/dev/null 2>&1 ||
        { apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >/dev/null 2>&1; }
}

pick_cc() {
    if [ -n "${CC:-}" ] && [ "$CC" != cc ]; then echo "$CC"; return; fi
    for c in clang-14 clang; do if have $c; then echo $c; return; fi; done
    echo ""
}

deps() {
    CCX=$(pick_cc)
    [ -n "$CCX" ] || apt_install clang-14 || true
    have wasm-ld || have wasm-ld-14 || apt_install lld-14 || apt_install lld || true
    [ -f /usr/lib/wasm32-wasi/libc.a ] || apt_install wasi-libc || true
    ls /usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1 ||
        apt_install libclang-rt-14-dev-wasm32 || true
    have node || apt_install nodejs || true
}

deps
CCX=$(pick_cc)
[ -n "$CCX" ] || { echo "build.sh: no clang" >&2; exit 77; }
[ -f /usr/lib/wasm32-wasi/libc.a ] || { echo "build.sh: no wasi-libc" >&2; exit 77; }
[ "$MODE" = deps ] && exit 0

# wasm-ld is found by clang as wasm-ld; Debian's lld-14 only ships wasm-ld-14.
if ! have wasm-ld && have wasm-ld-14; then
    mkdir -p "$OUT/bin" && ln -sf "$(command -v wasm-ld-14)" "$OUT/bin/wasm-ld"
    PATH="$OUT/bin:$PATH"
fi

CFLAGS="--target=wasm32-wasi -msimd128 -O2 -std=c11 -DNDEBUG -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
 -D_WASI_EMULATED_MMAN -D_WASI_EMULATED_PROCESS_CLOCKS -D_WASI_EMULATED_SIGNAL
 -I$ROOT/include -I$ROOT/src -Wall -Wextra -Wshadow -Wconversion -Wno-sign-conversion
 -Wno-shorten-64-to-32 -Wmissing-prototypes -Wstrict-prototypes -Wpointer-arith -Wvla"
LDFLAGS="--target=wasm32-wasi -mexec-model=reactor -Wl,-z,stack-size=1048576
 -Wl,--initial-memory=33554432 -Wl,--max-memory=4294967296 -Wl,--gc-sections
 -lwasi-emulated-mman -lwasi-emulated-process-clocks -lwasi-emulated-signal"

mkdir -p "$OUT/obj"
node "$ROOT/web/tools/embed-kernels.mjs" "$ROOT/kernels" "$OUT/wgsl_embed.c"

# compile (2 at a time; objects named by their path)
SRCS=$(cd "$ROOT" && find src -name '*.c' ! -name '*_avx2.c' ! -name '*_neon.c' | sort)
compile() { # $1 = source path relative to ROOT or absolute
    src=$1
    case $src in /*) ;; *) src=$ROOT/$src ;; esac
    obj=$OUT/obj/$(echo "${src#$ROOT/}" | tr '/' '_' | sed 's/\.c$/.o/')
    # shellcheck disable=SC2086
    $CCX $CFLAGS -c "$src" -o "$obj"
    echo "$obj"
}
LIBOBJS=""
FAIL=0
for s in $SRCS "$OUT/wgsl_embed.c"; do
    o=$(compile "$s") || { FAIL=1; continue; }
    LIBOBJS="$LIBOBJS $o"
done
[ $FAIL = 0 ] || { echo "build.sh: compile failed" >&2; exit 1; }

link() { # $1 = output, rest = extra sources
    outw=$1; shift
    extra=""
    for s in "$@"; do extra="$extra $(compile "$s")" || exit 1; done
    # shellcheck disable=SC2086
    $CCX $LDFLAGS -o "$outw" $LIBOBJS $extra -lm
    echo "build.sh: wrote $outw ($(wc -c <"$outw") bytes)" >&2
}

# A paged MoE model waits for the experts its router selected in the middle of a pass
# (src/backend/webgpu/host.h dp_gpu_wait): Binaryen's asyncify (the npm package `binaryen`,
# web/deps.sh; Debian's 108 cannot propagate the list below) makes the calls on the way to
# dp_forward_moe resumable (web/asyncify.mjs drives them). Indirect calls are taken as never
# waiting, except the moe op's own in dp_forward_moe (listed, and every direct caller of it
# up to the exports), so nothing else is instrumented. Without binaryen the module works but
# cannot page on WebGPU (it says so when asked to).
WASM_OPT=${WASM_OPT:-$ROOT/web/node_modules/.bin/wasm-opt}
asyncify() {
    if [ ! -x "$WASM_OPT" ]; then
        echo "build.sh: no $WASM_OPT (web/deps.sh installs binaryen): $1 cannot page MoE experts on WebGPU" >&2
        return 0
    fi
    "$WASM_OPT" "$1" -o "$1.tmp" --asyncify --pass-arg=asyncify-imports@dp_gpu.wait \
        --pass-arg=asyncify-ignore-indirect --pass-arg=asyncify-addlist@dp_forward_moe \
        --pass-arg=asyncify-propagate-addlist --pass-arg=asyncify-verbose >"$1.asyncify.log" 2>&1 ||
        { cat "$1.asyncify.log" >&2; return 1; }
    # the evaluations the host drives must be resumable, or a wait would resume the wrong code
    for f in dpw_ctx_eval dpw_gen_prompt dpw_gen_step_begin; do
        grep -q "\] $f can change the state" "$1.asyncify.log" ||
            { echo "build.sh: asyncify did not instrument $f (see $1.asyncify.log)" >&2; return 1; }
    done
    mv "$1.tmp" "$1"
    rm -f "$1.asyncify.log"
    echo "build.sh: asyncify: $1 ($(wc -c <"$1") bytes)" >&2
}

if [ "$MODE" != test ] && ls "$ROOT"/web/wasm/*.c >/dev/null 2>&1; then
    mkdir -p "$DIST"
    link "$DIST/doppler.wasm" "$ROOT"/web/wasm/*.c
    asyncify "$DIST/doppler.wasm" || exit 1
fi
if [ "$MODE" = test ] || [ "$MODE" = all ]; then
    link "$OUT/webgpu_ops_test.wasm" "$ROOT"/tests/webgpu/*.c
fi
