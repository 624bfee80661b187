#!/bin/sh
# deps.sh — installs what the WebAssembly build and the Node WebGPU host need, when missing:
#   clang + lld + wasi-libc + the wasm32 compiler runtime (web/build.sh deps),
#   node + the `webgpu` package (Dawn) in web/node_modules,
#   SwiftShader's Vulkan ICD (Debian's chromium package) + the Vulkan loader, for machines
#   without a GPU.
# Exit 0 when everything is there, 77 when something cannot be installed here.
# DP_NO_INSTALL=1: only check.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
have() { command -v "$1" >/dev/null 2>&1; }
apt_install() {
    [ "${DP_NO_INSTALL:-0}" = 1 ] && return 1
    { [ "$(id -u)" = 0 ] && have apt-get; } || return 1
    echo "deps.sh: installing $*" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >/dev/null 2>&1 ||
        { apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >/dev/null 2>&1; }
}

"$ROOT/web/build.sh" deps || exit 77
have node || apt_install nodejs || { echo "deps.sh: no node" >&2; exit 77; }
have npm || apt_install npm || true
if [ ! -f "$ROOT/web/node_modules/webgpu/index.js" ]; then
    [ "${DP_NO_INSTALL:-0}" = 1 ] && { echo "deps.sh: web/node_modules missing" >&2; exit 77; }
    (cd "$ROOT/web" && npm install --no-audit --no-fund >/dev/null 2>&1) ||
        { echo "deps.sh: npm install failed" >&2; exit 77; }
fi
# a Vulkan loader + an ICD: real GPU drivers, or SwiftShader from chromium
if ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1; then
    apt_install libvulkan1 || { echo "deps.sh: no Vulkan loader" >&2; exit 77; }
fi
if [ ! -e /dev/nvidia0 ] && [ -z "${VK_ICD_FILENAMES:-}" ] && [ ! -f /usr/lib/chromium/vk_swiftshader_icd.json ]; then
    apt_install chromium || { echo "deps.sh: no SwiftShader (chromium)" >&2; exit 77; }
fi
exit 0
