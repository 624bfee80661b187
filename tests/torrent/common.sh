# common.sh — sourced by tests/test_torrent.sh, tests/test_torrent_browser.sh and
# tests/test_swarm.sh: the checks before, the network namespace of the test's own (the script
# re-runs itself inside it), a veth pair for browsers, the work folder with its background
# processes, the test model, and the checks every downloader's folder must pass.
T=${DP_TOOL:?}
ROOT=${DP_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
TMPB=${DP_TMP:-/tmp}
skip() { echo "skip: $*"; [ -n "${CI:-}" ] && exit 1; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

# outside the namespace: headless Chromium and web/node_modules (webtorrent, playwright-core,
# webrtc-polyfill), installed by web/deps.sh when missing
torrent_need_browser() {
    [ -n "${DP_TORRENT_NETNS:-}" ] && return 0
    [ -x /usr/lib/chromium/chromium ] || [ -x /usr/bin/chromium ] || skip "no chromium"
    if [ ! -f "$ROOT/web/node_modules/webtorrent/dist/webtorrent.min.js" ] || [ ! -f "$ROOT/web/node_modules/playwright-core/index.mjs" ]; then
        "$ROOT/web/deps.sh" browser >/dev/null 2>&1
        [ -f "$ROOT/web/node_modules/webtorrent/dist/webtorrent.min.js" ] || skip "web/node_modules lacks webtorrent (web/deps.sh)"
    fi
}

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
now() { date +%s.%N; }
elapsed() { python3 -c "import sys;print('%.2f'%(float(sys.argv[2])-float(sys.argv[1])))" "$1" "$2"; }
# wait_for TENTHS WHAT CMD...: until CMD succeeds, at most TENTHS x 0.1 s, else fail naming WHAT
wait_for() {
    n=$1 what=$2; shift 2
    until "$@"; do
        n=$((n - 1)); [ $n -gt 0 ] || fail "$what"
        sleep 0.1
    done
}

# inside: a veth pair (10.77.0.1 - 10.77.0.2) and a default route through it. Chromium gathers
# no WebRTC candidates on a loopback-only namespace; with the veth alone and no default route,
# tabs found each other through the tracker but never connected.
torrent_veth() {
    ip link add dpv0 type veth peer name dpv1 && ip addr add 10.77.0.1/24 dev dpv0 &&
        ip addr add 10.77.0.2/24 dev dpv1 && ip link set dpv0 up && ip link set dpv1 up &&
        ip route add default dev dpv0 || fail "cannot set up the veth pair"
}

# the page the tabs load: torrent.mjs, WebTorrent's browser bundle, the .torrent ($1)
torrent_site() {
    mkdir -p site && cp "$1" site/model.torrent &&
        cp "$ROOT/web/torrent.mjs" "$ROOT/web/node_modules/webtorrent/dist/webtorrent.min.js" site/ &&
        echo '<!doctype html><title>torrent test</title>' > site/index.html || fail "making the test page"
}

# every file under a downloader's shards/ matches its name: nothing corrupt was ever committed
committed_ok() {
    for f in "$1"/shards/*.bin; do
        [ -e "$f" ] || continue
        h=$(basename "$f" .bin)
        [ "$(sha256sum "$f" | cut -c1-64)" = "$h" ] || fail "$f is committed but does not match its name"
    done
}

# the model: 13 MiB in 7 shards of at most 2 MiB, and a tokenizer file the manifest pins
torrent_model() {
    "$T" synth --shape tiny syn >/dev/null 2>&1 && "$T" export-gguf syn m.gguf >/dev/null 2>&1 &&
        "$T" convert m.gguf "$1" --shard-mb 2 >/dev/null 2>&1 || fail "making the test model"
}
