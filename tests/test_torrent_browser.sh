#!/bin/sh
# test_torrent_browser.sh — the browser side of the swarm (issue 15): headless Chromium tabs
# fetch a model's torrent with web/torrent.mjs (WebTorrent 3 + our strict web-seed connection)
# into OPFS, in a network namespace of its own with a veth pair and a local ws:// tracker
# (tests/torrent/browser.mjs). Profile 1: a tab on a slow mirror is closed mid-download and a
# new tab resumes from what it left in OPFS (mirrors good, corrupt, HTML-200, stalled); profile 2
# (corrupt and HTML-200 mirrors only) gets its pieces from profile 1 over WebRTC while a lying
# peer (profile 3, WebTorrent seeding spoiled pieces) sends it corrupt pieces over WebRTC: the
# tab must ban that peer and still verify every shard. Before the browser: judgePeers alone
# (tests/torrent/judge_test.mjs), the smart-ban case of pieces of several blocks.
# Needs chromium, node, web/node_modules (webtorrent, playwright-core) and the
# tracker: exit 77 when missing, a failure under CI.
set -u
. "$(dirname "$0")/torrent/common.sh"
torrent_need_browser
torrent_enter_netns "$@"
torrent_workdir
# the ban logic alone, on pieces of several blocks from several peers (a 16 KiB-piece swarm has none)
node "$ROOT/tests/torrent/judge_test.mjs" "$ROOT/web" || fail "judgePeers (tests/torrent/judge_test.mjs)"
torrent_veth
torrent_model src/model
# the url-list names a mirror; web/torrent.mjs drops it and uses the mirrors it is given
"$T" torrent create src/model --piece-size 16384 --web-seed http://127.0.0.1:8106/model/ \
    --tracker ws://127.0.0.1:8100 > create.out 2>&1 || { cat create.out; fail "torrent create"; }
torrent_site src/model/model.torrent

BAD=-DPBAD-
bg python3 "$ROOT/tests/torrent/mirrors.py" "$W/src" corrupt:8101 html200:8102 stall:8105 good:8106 slow:8108 > mirrors.log 2>&1
bg python3 "$ROOT/tests/torrent/mirrors.py" "$W/site" good:8200 > site.log 2>&1
bg node "$ROOT/tests/torrent/node_modules/bittorrent-tracker/bin/cmd.js" --port 8100 --ws --quiet \
    --http-hostname 127.0.0.1 --interval 2000 > tracker.log 2>&1
wait_for 100 "sources did not start" grep -q "^ready" mirrors.log
wait_for 100 "the page did not start" grep -q "^ready" site.log
node "$ROOT/tests/torrent/browser.mjs" http://127.0.0.1:8200/index.html http://127.0.0.1:8200/model.torrent \
    "$ROOT/web" http://127.0.0.1 $BAD > browser.log 2>&1
rc=$?
cp browser.log "$TMPB/torrent-browser.last.log"
grep -v "^\[tab..\?\] torrent: \(Piece\|ignoring\)" browser.log | tail -40
[ $rc = 0 ] || fail "the browser tabs"
echo "ok: torrent in the browser"
