# common.sh — sourced by tests/test_torrent.sh and tests/torrent/browser_swarm.sh: the checks
# before, the network namespace of the test's own (the script re-runs itself inside it), the
# work folder with its background processes, and the test model.
T=${DP_TOOL:?}
ROOT=${DP_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
TMPB=${DP_TMP:-/tmp}
skip() { echo "skip: $*"; [ -n "${CI:-}" ] && exit 1; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

# outside the namespace: check the parts, then exec "$0" inside `unshare -n` (bounded: 240 s)
torrent_enter_netns() {
    [ -n "${DP_TORRENT_NETNS:-}" ] && return 0
    "$T" torrent 2>&1 | grep -q "no BitTorrent support" && skip "doppler built without libtorrent (apt-get install libtorrent-rasterbar-dev)"
    command -v node >/dev/null 2>&1 || skip "no node"
    if [ ! -f "$ROOT/tests/torrent/node_modules/bittorrent-tracker/package.json" ]; then
        (cd "$ROOT/tests/torrent" && npm install --no-audit --no-fund >/dev/null 2>&1) || skip "npm install in tests/torrent failed"
    fi
    export DP_TORRENT_NETNS=1
    for u in "unshare -n" "unshare -rn"; do
        if $u true 2>/dev/null; then exec timeout -k 5 240 $u sh "$0" "$@"; fi
    done
    skip "cannot create a network namespace (unshare -n)"
}

# inside: lo up, a work folder $W (removed at exit with every process started by bg), cd there
torrent_workdir() {
    ip link set lo up 2>/dev/null ||
        python3 -c 'import fcntl,socket,struct;s=socket.socket();fcntl.ioctl(s,0x8914,struct.pack("16sH14s",b"lo",0x1|0x40,b""))' ||
        fail "cannot bring up lo"
    mkdir -p "$TMPB" && W=$(mktemp -d "$TMPB/torrent.XXXXXX") || exit 1
    PIDS=""
    trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$W"' EXIT
    trap 'exit 1' INT TERM
    mkdir -p "$W/src" && cd "$W" || exit 1
}
bg() { "$@" & PIDS="$PIDS $!"; }

# the model: 13 MiB in 7 shards of at most 2 MiB, and a tokenizer file the manifest pins
torrent_model() {
    "$T" synth --shape tiny syn >/dev/null 2>&1 && "$T" export-gguf syn m.gguf >/dev/null 2>&1 &&
        "$T" convert m.gguf "$1" --shard-mb 2 >/dev/null 2>&1 || fail "making the test model"
}
