#!/bin/sh
# deps.sh — installs what the WebAssembly build and the Node WebGPU host need, when missing:
#   clang + lld + wasi-libc + the wasm32 compiler runtime (web/build.sh deps),
#   node + the `webgpu` package (Dawn), `@bjorn3/browser_wasi_shim` and `binaryen` (wasm-opt:
#   web/build.sh's asyncify) in web/node_modules,
#   SwiftShader's Vulkan ICD (Debian's chromium package) + the Vulkan loader, for machines
#   without a GPU.
# `web/deps.sh browser`: also playwright-core (the headless-Chromium tests' driver), Debian's
# chromium (the browser they drive) and webtorrent (web/torrent.mjs, tests/test_torrent_browser.sh).
# Exit 0 when everything is there, 77 when something cannot be installed here.
# DP_NO_INSTALL=1: only check. Safe to run several at once: `npm install` runs under a lock
# (flock on web/node_modules/.deps.lock), so parallel tests never race each other's install.
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
# the packages this run needs are there
node_ok() {
    [ -f "$ROOT/web/node_modules/webgpu/index.js" ] || return 1
    [ -f "$ROOT/web/node_modules/@bjorn3/browser_wasi_shim/dist/index.js" ] || return 1
    [ -x "$ROOT/web/node_modules/.bin/wasm-opt" ] || return 1   # binaryen: web/build.sh's asyncify
    [ "${1:-}" != browser ] || { [ -f "$ROOT/web/node_modules/playwright-core/index.mjs" ] &&
        [ -f "$ROOT/web/node_modules/webtorrent/dist/webtorrent.min.js" ]; }
}
if ! node_ok "${1:-}"; then
    [ "${DP_NO_INSTALL:-0}" = 1 ] && { echo "deps.sh: web/node_modules missing" >&2; exit 77; }
    have flock || apt_install util-linux || true
    mkdir -p "$ROOT/web/node_modules"
    # one install at a time; whoever waited re-checks before installing again
    (
        have flock && flock 9
        node_ok "${1:-}" || (cd "$ROOT/web" && npm install --no-audit --no-fund >"$ROOT/web/node_modules/.install.log" 2>&1)
    ) 9>"$ROOT/web/node_modules/.deps.lock" || { echo "deps.sh: npm install failed (web/node_modules/.install.log):" >&2; tail -5 "$ROOT/web/node_modules/.install.log" >&2; exit 77; }
    node_ok "${1:-}" || { echo "deps.sh: npm install did not provide the packages${1:+ for $1}" >&2; exit 77; }
fi
# a Vulkan loader + an ICD: real GPU drivers, or SwiftShader from chromium
if ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1; then
    apt_install libvulkan1 || { echo "deps.sh: no Vulkan loader" >&2; exit 77; }
fi
if [ ! -e /dev/nvidia0 ] && [ -z "${VK_ICD_FILENAMES:-}" ] && [ ! -f /usr/lib/chromium/vk_swiftshader_icd.json ]; then
    apt_install chromium || { echo "deps.sh: no SwiftShader (chromium)" >&2; exit 77; }
fi
if [ "${1:-}" = browser ] && [ ! -x /usr/lib/chromium/chromium ] && [ ! -x /usr/bin/chromium ]; then
    apt_install chromium || { echo "deps.sh: no chromium" >&2; exit 77; }
fi
exit 0
