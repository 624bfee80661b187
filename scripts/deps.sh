#!/bin/sh
# deps.sh [native|test|web] — install what the build needs when it is missing (Debian).
# nodejs: the build embeds kernels/*.wgsl with web/tools/embed-kernels.mjs; libsodium-dev: Ed25519
# for static-mode bundles (src/policy/sign.c); libcurl4-openssl-dev: doppler pull and lazy mounts
# (src/store/fetch.c).
set -e
want="cmake gcc make nodejs libsodium-dev libcurl4-openssl-dev"
case "${1:-native}" in
  # test: the sanitizer build, and `doppler serve` (libmicrohttpd) with its test's clients
  # and `doppler torrent` (libtorrent-rasterbar-dev; tests/test_torrent.sh, its tracker from npm)
  test) want="$want clang libclang-rt-14-dev pkg-config libmicrohttpd-dev curl python3-prometheus-client libtorrent-rasterbar-dev iproute2" ;;
esac
missing=""
for p in $want; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
# node and npm: Debian's packages unless a node (with its npm) is already installed
if [ "${1:-native}" = test ]; then
  command -v node >/dev/null 2>&1 || missing="$missing nodejs"
  command -v npm >/dev/null 2>&1 || missing="$missing npm"
fi
if [ -n "$missing" ]; then
  echo "installing:$missing" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
# bittorrent-tracker for tests/test_torrent.sh (npm; tests/torrent/package.json says why its overrides)
if [ "${1:-native}" = test ] && [ ! -f "$(dirname "$0")/../tests/torrent/node_modules/bittorrent-tracker/package.json" ]; then
  (cd "$(dirname "$0")/../tests/torrent" && npm install --no-audit --no-fund >/dev/null 2>&1) ||
    echo "deps.sh: npm install in tests/torrent failed" >&2
fi
# the official OpenAI SDK for tests/test_serve.sh (npm, as web/deps.sh installs web/node_modules)
if [ "${1:-native}" = test ] && [ ! -f "$(dirname "$0")/../tests/serve/node_modules/openai/package.json" ]; then
  (cd "$(dirname "$0")/../tests/serve" && npm install --no-audit --no-fund >/dev/null 2>&1) ||
    echo "deps.sh: npm install in tests/serve failed" >&2
fi
