#!/bin/sh
# deps.sh [native|test|web] — install what the build needs when it is missing (Debian).
# nodejs: the build embeds kernels/*.wgsl with web/tools/embed-kernels.mjs; libsodium-dev: Ed25519
# for static-mode bundles (src/policy/sign.c).
set -e
want="cmake gcc make nodejs libsodium-dev"
case "${1:-native}" in
  test) want="$want clang libclang-rt-14-dev" ;;
esac
missing=""
for p in $want; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "installing:$missing" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
