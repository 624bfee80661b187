#!/bin/sh
# test_torrent_browser.sh — the browser side of the swarm (issue 15): two headless Chromium tabs
# fetch a model's torrent with web/torrent.mjs (WebTorrent 3 + our strict web-seed connection)
# into OPFS, in a network namespace of its own with a veth pair (Chromium gathers no WebRTC
# candidates on a loopback-only namespace) and a local ws:// tracker. Tab 1: mirrors good,
# corrupt, HTML-200, stalled; tab 2 (after tab 1, which keeps seeding): corrupt and HTML-200
# only, so its pieces must come from tab 1 over WebRTC (tests/torrent/browser.mjs). The tabs are
# two browser profiles: tabs of one profile share WebTorrent's piece store.
# Needs chromium, node, web/node_modules (webtorrent, playwright-core) and the tracker: exit 77
# when missing, a failure under CI.
set -u
. "$(dirname "$0")/torrent/common.sh"
if [ -z "${DP_TORRENT_NETNS:-}" ]; then
    [ -x /usr/lib/chromium/chromium ] || [ -x /usr/bin/chromium ] || skip "no chromium"
    if [ ! -f "$ROOT/web/node_modules/webtorrent/dist/webtorrent.min.js" ] || [ ! -f "$ROOT/web/node_modules/playwright-core/index.mjs" ]; then
        "$ROOT/web/deps.sh" browser >/dev/null 2>&1
        [ -f "$ROOT/web/node_modules/webtorrent/dist/webtorrent.min.js" ] || skip "web/node_modules lacks webtorrent (web/deps.sh)"
    fi
fi
torrent_enter_netns "$@"
torrent_workdir
ip link add dpv0 type veth peer name dpv1 && ip addr add 10.77.0.1/24 dev dpv0 &&
    ip addr add 10.77.0.2/24 dev dpv1 && ip link set dpv0 up && ip link set dpv1 up &&
    ip route add default dev dpv0 || fail "cannot set up the veth pair"
# (with the veth alone and no default route, the tabs found each other through the tracker but
# never connected; with the route and --allow-loopback-in-peer-connection they do)
mkdir -p site
torrent_model src/model
# the url-list names a mirror; web/torrent.mjs drops it and uses the mirrors it is given
"$T" torrent create src/model --piece-size 16384 --web-seed http://127.0.0.1:8106/model/ \
    --tracker ws://127.0.0.1:8100 > create.out 2>&1 || { cat create.out; fail "torrent create"; }
cp src/model/model.torrent site/
cp "$ROOT/web/torrent.mjs" "$ROOT/web/node_modules/webtorrent/dist/webtorrent.min.js" site/
echo '<!doctype html><title>torrent test</title>' > site/index.html

bg python3 "$ROOT/tests/torrent/mirrors.py" "$W/src" corrupt:8101 html200:8102 stall:8105 good:8106 > mirrors.log 2>&1
bg python3 "$ROOT/tests/torrent/mirrors.py" "$W/site" good:8200 > site.log 2>&1
bg node "$ROOT/tests/torrent/node_modules/bittorrent-tracker/bin/cmd.js" --port 8100 --ws --quiet \
    --http-hostname 127.0.0.1 > tracker.log 2>&1
i=0
until grep -q "^ready" mirrors.log && grep -q "^ready" site.log; do
    i=$((i + 1)); [ $i -lt 100 ] || fail "sources did not start"
    sleep 0.1
done
sleep 0.5
node "$ROOT/tests/torrent/browser.mjs" http://127.0.0.1:8200/index.html http://127.0.0.1:8200/model.torrent \
    "$ROOT/web" http://127.0.0.1 > browser.log 2>&1
rc=$?
cp browser.log "$TMPB/torrent-browser.last.log"
grep -v "^\[tab.\] torrent: \(Piece\|ignoring\)" browser.log | tail -40
[ $rc = 0 ] || fail "the browser tabs"
echo "ok: torrent in the browser"
