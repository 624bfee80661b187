#!/bin/sh
# test_swarm.sh — issue 15's swarm, all of it at once, in a network namespace of its own and
# bounded in time (240 s; about 30 s here): one model (7 shards + manifest + tokenizer) and 13
# sources — mirrors: good (4 MiB/s a connection), corrupt, truncating, HTML-200, 404-as-200,
# stalled, dead; peers: a good and a corrupt WebTorrent peer over TCP (Node,
# tests/torrent/wt_peer.mjs; the good one at 2 MiB/s, so that the downloaders meet the bad
# sources before they are done), a corrupt WebRTC peer (a tab seeding spoiled pieces), a stalled
# and a dead one, and a `doppler serve --shards` peer over HTTP — a local tracker (http:// and
# ws://), and three downloaders of three kinds at once:
#   L  native libtorrent, `doppler pull --torrent` (web seeds, the tracker, --peer);
#   P  native libcurl, `doppler pull <mirrors> <peer>`;
#   B  a headless Chromium tab, web/torrent.mjs (mirrors, WebRTC peers through the tracker).
# Each is killed mid-shard once (SIGKILL; the tab closed) and started again, and must resume.
# Every downloader must end with every shard verified, no file under a final name ever failing
# its hash (checked while they run), the bad sources banned (their logs say so) and no good one,
# and its time recorded; the times are printed. Needs libtorrent in the tool, node, chromium and
# web/node_modules: exit 77 when missing, a failure under CI.
set -u
. "$(dirname "$0")/torrent/common.sh"
torrent_need_browser
"$T" serve 2>&1 | grep -q "built without libmicrohttpd" && skip "doppler built without libmicrohttpd (serve --shards)"
torrent_enter_netns "$@"
torrent_workdir
torrent_veth
torrent_model src/model
M=$W/src/model
H=127.0.0.1
WS=""
for p in 8101 8102 8103 8104 8105 8106 8107; do WS="$WS --web-seed http://$H:$p/model/"; done
"$T" torrent create "$M" --piece-size 16384 $WS --tracker http://$H:8100/announce --tracker ws://$H:8100 > create.out 2>&1 ||
    { cat create.out; fail "torrent create"; }
ID=$(sha256sum "$M/manifest.json" | cut -c1-64)
NS=$(ls "$M/shards" | wc -l)
torrent_site "$M/model.torrent"

# the sources (8107 and 7004: nobody listens)
BAD=-DPBAD-   # peer ids: the corrupt peers' start so, the good one's -DPGOOD-
bg python3 "$ROOT/tests/torrent/mirrors.py" "$W/src" corrupt:8101 html200:8102 notfound200:8103 truncate:8104 \
    stall:8105 paced:8106 tcpstall:7003 > mirrors.log 2>&1
bg python3 "$ROOT/tests/torrent/mirrors.py" "$W/site" good:8200 > site.log 2>&1
bg node "$ROOT/tests/torrent/node_modules/bittorrent-tracker/bin/cmd.js" --port 8100 --http --ws --quiet \
    --http-hostname $H --interval 2000 > tracker.log 2>&1
bg node "$ROOT/tests/torrent/wt_peer.mjs" "$ROOT/web" "$M/model.torrent" "$M" goodpeer --peer-id -DPGOOD- --port 7001 \
    --upload-limit 2097152 > seed.log 2> seed.err
bg "$T" serve --shards "$M" --port 8109 > serve.log 2>&1
bg node "$ROOT/tests/torrent/wt_peer.mjs" "$ROOT/web" "$M/model.torrent" "$M" badpeer --corrupt --peer-id $BAD --port 7002 \
    > badpeer.log 2> badpeer.err
wait_for 100 "the mirrors did not start" grep -q "^ready" mirrors.log
wait_for 100 "the page did not start" grep -q "^ready" site.log
wait_for 200 "the good peer did not start ($(cat seed.err))" grep -q "^seeding" seed.log
wait_for 100 "serve --shards did not start" grep -q "shards on" serve.log
wait_for 200 "the corrupt peer did not start ($(cat badpeer.err))" grep -q "^seeding" badpeer.log

# while they run: every file that appears under a final name is hashed once
watch_commits() {
    : > checked
    while [ ! -e watch.stop ]; do
        for f in l/shards/*.bin p/shards/*.bin; do
            [ -e "$f" ] && ! grep -qxF "$f" checked || continue
            [ "$(sha256sum "$f" | cut -c1-64)" = "$(basename "$f" .bin)" ] || echo "CORRUPT $f" >> watch.log
            echo "$f" >> checked
        done
        sleep 0.2
    done
}
: > watch.log
watch_commits &
WATCH=$!
PIDS="$PIDS $WATCH"

# each downloader is killed mid-shard once (SIGKILL; the tab is closed) and started again: it
# must resume from what it left (start_l / start_p: the same command both times).
start_l() { "$T" pull --torrent "$M/model.torrent" l --listen $H:7011 --peer $H:7001 --peer $H:7002 --peer $H:7003 \
    --peer $H:7004 --stall 30 --timeout 90 --seed 3 > l$1.out 2> l$1.log & LP=$!; }
MIRRORS=""
for p in 8101 8102 8103 8104 8105 8106 8107; do MIRRORS="$MIRRORS http://$H:$p/model"; done
start_p() { "$T" pull $MIRRORS http://$H:8109 p --id "$ID" --stall 2 --connect-timeout 1000 > p$1.out 2> p$1.log & PP=$!; }
kib() { du -skc "$@" 2>/dev/null | tail -1 | cut -f1; }
t0=$(now)
start_l 1
start_p 1
node "$ROOT/tests/torrent/swarm_tab.mjs" http://$H:8200/index.html http://$H:8200/model.torrent "$ROOT/web" $BAD \
    http://$H:8106/model/ \
    $(for p in 8101 8102 8103 8104 8105 8106 8107; do echo "http://$H:$p/model/"; done) > b.log 2>&1 &
BP=$!
lk="" pk="" n=0
while [ -z "$lk" ] || [ -z "$pk" ]; do
    n=$((n + 1)); [ $n -lt 300 ] || fail "L or P made no progress to be killed at"
    if [ -z "$lk" ] && [ "$(kib l/.torrent/shards)" -ge 2048 ]; then
        kill -9 $LP; wait $LP 2>/dev/null; lk="$(kib l/.torrent/shards) KiB in progress, $(ls l/shards 2>/dev/null | wc -l) shards committed"
        start_l 2
    fi
    if [ -z "$pk" ] && [ "$(kib p/shards/*.part)" -ge 512 ]; then
        kill -9 $PP; wait $PP 2>/dev/null; pk="$(kib p/shards/*.part) KiB in .part files, $(ls p/shards | grep -c '\.bin$') shards committed"
        start_p 2
    fi
    [ -n "$lk" ] || kill -0 $LP 2>/dev/null || { tail -5 l1.log; fail "L ended before it could be killed"; }
    [ -n "$pk" ] || kill -0 $PP 2>/dev/null || { tail -5 p1.log; fail "P ended before it could be killed"; }
    sleep 0.1
done
echo "killed L with $lk; P with $pk"
rc=0
wait $LP || { rc=1; echo "L failed:"; tail -20 l2.log; }
wait $PP || { rc=1; echo "P failed:"; tail -20 p2.log; }
cat l1.log l2.log > l.log; cat p1.log p2.log > p.log; mv l2.out l.out
wait $BP || { rc=1; echo "B failed:"; grep -v "torrent: \(Piece\|ignoring\)" b.log | tail -30; }
tall=$(elapsed "$t0" "$(now)")
touch watch.stop
wait $WATCH
cp b.log "$TMPB/swarm-tab.last.log"
cp l.log "$TMPB/swarm-l.last.log"; cp p.log "$TMPB/swarm-p.last.log"
[ $rc = 0 ] || fail "a downloader failed"

# every shard verified, nothing corrupt ever committed
for d in l p; do
    "$T" verify $d > /dev/null || fail "$d does not verify"
    [ "$(ls $d/shards | grep -c '\.bin$')" = "$NS" ] || fail "$d lacks shards"
    cmp -s $d/manifest.json "$M/manifest.json" || fail "$d: manifest.json differs"
    committed_ok $d
done
[ -s watch.log ] && { cat watch.log; fail "a corrupt file was committed"; }
[ "$(wc -l < checked)" = $((2 * NS)) ] || fail "the watcher hashed $(wc -l < checked) commits, $((2 * NS)) expected"

# the killed ones resumed: L re-checked the pieces it had, P fetched less than the model
grep -q "resuming: [1-9]" l2.log || { grep -v "MiB/s" l2.log | head; fail "L did not resume from the pieces on disk"; }
MB=$(cat "$M"/manifest.json "$M"/tokenizer.* "$M"/shards/*.bin | wc -c)
pb=$(sed -n 's/.*complete: \([0-9]*\) bytes.*/\1/p' p2.log)
[ -n "$pb" ] && [ "$pb" -lt "$MB" ] || fail "P fetched $pb bytes after its restart, the model is $MB: it did not resume"

# the bad sources banned, in each downloader's own words
need() { grep -q "$2" "$1" || { echo "--- $1:"; grep -v "MiB/s" "$1" | tail -15; fail "$3"; }; }
need l.log "banned web seed http://$H:8101/" "L: the corrupt mirror was not banned"
need l.log "dropped $H:8102" "L: the HTML-200 mirror was not dropped"
need l.log "dropped $H:8103" "L: the 404-as-200 mirror was not dropped"
need l.log "banned peer .*, id -DPBAD-" "L: the corrupt peer was not banned"
grep -q "banned peer .*, id -DPGOOD-" l.log && fail "L banned the good peer"
for p in 8101 8102 8103; do need p.log "source http://$H:$p/model: .*BANNED" "P: mirror $p was not banned"; done
for p in 8106 8109; do grep -q "source http://$H:$p.*BANNED" p.log && fail "P banned a good source ($p)"; done
# (B's checks are swarm_tab.mjs's: every shard read back from OPFS and hashed, mirrors 8101-8103
# and the corrupt WebRTC peer banned, no other peer)

echo "L (libtorrent, restarted): $(cat l.out)"
echo "P (libcurl, restarted): fetched $pb of the model's $MB bytes"
grep "BANNED" p.log | sed 's/^/P (libcurl): /'
grep "banned\|dropped" l.log | sed 's/.*: //' | sort | uniq -c | sed 's/^/L: /'
grep "closed holding" b.log | sed 's/^/B (Chromium): /'
grep "^tab {" b.log | sed 's/^/B (Chromium, reopened): /'
grep "banned peer" b.log | head -2 | sed 's/^/B: /'
tl=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' l.out)
tp=$(sed -n 's/.*fetched in \([0-9.]*\) s.*/\1/p' p.log)
tb=$(sed -n 's/^tab {.*"seconds":\([0-9.]*\).*/\1/p' b.log | cut -c1-5)
[ -n "$tl" ] && [ -n "$tp" ] && [ -n "$tb" ] || fail "a downloader recorded no time"
echo "swarm: 3 downloaders at once, each killed mid-shard and restarted, $NS shards each; time to complete" \
    "after the restart: L (libtorrent) $tl s, P (libcurl) $tp s, B (Chromium) $tb s; all three done $tall s after" \
    "the first start (L seeds 3 s after, B's browser starts and stops)"
echo "ok: swarm"
