#!/bin/sh
# test_torrent.sh — the native BitTorrent swarm of issue 15, in a network namespace of its own:
# one model (7 shards + manifest + tokenizer), 11 sources — mirrors (web seeds): good, corrupt,
# HTML-200, 404-as-200, truncating, stalled, dead; peers: a good seeder, a corrupt seeder, a
# stalled and a dead one — a local tracker (bittorrent-tracker, npm), and native downloaders
# (`doppler torrent pull`, libtorrent): one killed mid-shard and restarted, one full, one
# selective. Every downloader must end with every shard it asked for verified, nothing corrupt
# under its final names at any check, the corrupt sources banned, and its time recorded.
# Needs libtorrent in the tool (Debian libtorrent-rasterbar-dev) and node: exit 77 when
# missing, which CI counts as a failure (DP_STRICT_TESTS).
set -u
. "$(dirname "$0")/torrent/common.sh"
torrent_enter_netns "$@"
torrent_workdir

torrent_model src/model
M=$W/src/model
TR=http://127.0.0.1:8100/announce
IDS0=$("$T" run "$M" --ids "1 2 3" -n 6 --greedy --print-ids 2>/dev/null) || fail "run before padding"
# the same info dictionary (same infohash), two source lists: slow.torrent has only a slow mirror
"$T" torrent create "$M" --piece-size 16384 --web-seed http://127.0.0.1:8108/model/ >/dev/null 2>&1 ||
    fail "torrent create (slow)"
cp "$M/model.torrent" slow.torrent
WS=""
for p in 8101 8102 8103 8104 8105 8106 8107; do WS="$WS --web-seed http://127.0.0.1:$p/model/"; done
"$T" torrent create "$M" --piece-size 16384 $(echo "$WS" | sed 's/8106/8109/') > create.out 2>&1 ||
    { cat create.out; fail "torrent create (mirrors)"; }
cp "$M/model.torrent" mirrors.torrent
"$T" torrent create "$M" --piece-size 16384 > create.out 2>&1 || { cat create.out; fail "torrent create (peers)"; }
cp "$M/model.torrent" peers.torrent
"$T" torrent create "$M" --piece-size 16384 $WS --tracker $TR > create.out 2>&1 || { cat create.out; fail "torrent create"; }
grep -q "infohash v1 $(sed -n 's/.*"infohash_v1": "\(.*\)".*/\1/p' "$M/torrent.json") " create.out ||
    fail "torrent.json and the tool disagree on the infohash"
"$T" verify "$M" >/dev/null || fail "the padded model does not verify"
# `convert --torrent` is convert, then torrent create: the same files, so the same infohash
ih() { sed -n 's/.*"infohash_v1": "\(.*\)".*/\1/p' "$1"; }
"$T" convert m.gguf conv/model --shard-mb 2 --torrent --piece-size 16384 $WS --tracker $TR > conv.out 2>&1 ||
    { cat conv.out; fail "convert --torrent"; }
[ -n "$(ih conv/model/torrent.json)" ] && [ "$(ih conv/model/torrent.json)" = "$(ih "$M/torrent.json")" ] ||
    fail "convert --torrent: infohash $(ih conv/model/torrent.json), torrent create: $(ih "$M/torrent.json")"
"$T" verify conv/model >/dev/null || fail "convert --torrent: the model does not verify"
"$T" convert m.gguf conv2 --web-seed http://x/conv2/ 2>&1 | grep -q "go with --torrent" || fail "--web-seed without --torrent"
[ -e conv2 ] && fail "a refused convert wrote its output"
[ "$("$T" run "$M" --ids "1 2 3" -n 6 --greedy --print-ids 2>/dev/null)" = "$IDS0" ] || fail "padding changed what the model computes"
grep -q '"infohash_v2"' "$M/torrent.json" || fail "torrent.json has no infohash"
SHARDS=$(ls "$M/shards" | sed 's/\.bin$//')
NS=$(echo "$SHARDS" | wc -l)
[ "$NS" = 7 ] || fail "expected 7 shards, got $NS"
for h in $SHARDS; do
    sz=$(stat -c %s "$M/shards/$h.bin")
    [ $((sz % 16384)) = 0 ] || fail "shard $h is $sz bytes: not whole 16 KiB pieces"
done

# bad input: one line, exit 1, nothing committed
echo "d4:infoi1ee" > bad.torrent
"$T" torrent pull bad.torrent x 2>&1 | grep -q "^doppler torrent: torrent pull: bad.torrent" || fail "a bad .torrent"
"$T" torrent pull "$M/model.torrent" x --shard abc 2>&1 | grep -q "not a shard name" || fail "a bad --shard"
"$T" torrent pull "$M/model.torrent" x --shard $(printf '0%.0s' $(seq 64)) 2>&1 | grep -q "not in the torrent" ||
    fail "a shard the torrent lacks"
[ -e x/manifest.json ] && fail "a failed pull committed a manifest"

# sources
bg python3 "$ROOT/tests/torrent/mirrors.py" "$W/src" corrupt:8101 html200:8102 notfound200:8103 truncate:8104 \
    stall:8105 good:8106 slow:8108 paced:8109 tcpstall:7003 > mirrors.log 2>&1
bg node "$ROOT/tests/torrent/node_modules/bittorrent-tracker/bin/cmd.js" --port 8100 --http --ws --quiet \
    --http-hostname 127.0.0.1 --interval 2000 > tracker.log 2>&1
bg "$T" torrent seed "$M" --listen 127.0.0.1:7001 > seed-good.log 2>&1
mkdir -p bad && cp -r "$M" bad/model
bg "$T" torrent seed bad/model --listen 127.0.0.1:7002 > seed-bad.log 2>&1
i=0
until grep -q "^ready" mirrors.log && grep -q seeding seed-good.log && grep -q seeding seed-bad.log; do
    i=$((i + 1)); [ $i -lt 100 ] || { cat mirrors.log seed-*.log; fail "sources did not start"; }
    sleep 0.1
done
# the corrupt seeder checked its pieces; now one byte in every 16 KiB of its shards goes bad
# under it (libtorrent maps the files, so it serves what is on disk now)
python3 - bad/model/shards/*.bin <<'EOF' || fail "corrupting the bad seeder"
import sys
for p in sys.argv[1:]:
    with open(p, "r+b") as f:
        data = bytearray(f.read())
        for i in range(100, len(data), 16384):
            data[i] ^= 0x5A
        f.seek(0); f.write(data)
EOF
PEERS="--peer 127.0.0.1:7002 --peer 127.0.0.1:7003 --peer 127.0.0.1:7004"


# 1. downloader A from the slow mirror alone, killed mid-shard
t0=$(now)
"$T" torrent pull slow.torrent a --stall 30 > a1.out 2> a1.log &
APID=$!
i=0
until [ "$(du -sk a 2>/dev/null | cut -f1)" -gt 5000 ] 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 300 ] || { cat a1.log; fail "A made no progress"; }
    kill -0 $APID 2>/dev/null || { cat a1.log; fail "A ended before it could be killed"; }
    sleep 0.1
done
kill -9 $APID; wait $APID 2>/dev/null
committed_ok a
[ "$(du -sk a/.torrent/shards | cut -f1)" -gt 0 ] || fail "A was not killed mid-shard"
[ -e a/manifest.json ] && fail "A committed manifest.json before its shards"
echo "A killed after $(elapsed "$t0" "$(now)") s with $(ls a/shards | wc -l) shards committed, $(du -sk a/.torrent | cut -f1) KiB in progress"

# 2. downloader D from the 7 mirrors alone (the same infohash; the good one paced at 4 MiB/s so
#    the bad ones surely get requests): the corrupt one banned, the HTML-200 and 404-as-200 ones
#    dropped, the truncating, stalled and dead ones outlasted. (smart_ban names a liar once the
#    piece it spoiled has come from someone else: D stays 2 s after it is done, as a seeding
#    client does.)
"$T" torrent pull mirrors.torrent d --stall 30 --timeout 60 --seed 2 > d.out 2> d.log || { cat d.log; fail "D (mirrors only)"; }
"$T" verify d >/dev/null || fail "d does not verify"
grep -q "banned web seed http://127.0.0.1:8101/" d.log || { cat d.log; fail "the corrupt mirror was not banned"; }
grep -q "dropped 127.0.0.1:8102" d.log || fail "the HTML-200 mirror was not dropped"
grep -q "dropped 127.0.0.1:8103" d.log || fail "the 404-as-200 mirror was not dropped"
echo "D (7 mirrors, 5 bad): $(cat d.out)"

# 3. downloader E from the 4 peers alone (no web seeds, no tracker): the corrupt seeder banned
#    (through `pull --torrent`, the alias of `torrent pull`)
"$T" pull --torrent peers.torrent e --peer 127.0.0.1:7001 $PEERS --stall 30 --timeout 60 --seed 2 > e.out 2> e.log ||
    { cat e.log; fail "E (peers only)"; }
"$T" verify e >/dev/null || fail "e does not verify"
grep -q "banned peer 127.0.0.1:7002" e.log || { cat e.log; fail "the corrupt peer was not banned"; }
echo "E (4 peers, 3 bad): $(cat e.out)"

# 4. the swarm: A restarted (resumes), B (everything), C (three shards), all seeding a while after
SEL=$(echo "$SHARDS" | head -3 | sed 's/^/--shard /' | tr '\n' ' ')
t0=$(now)
"$T" torrent pull "$M/model.torrent" a --listen 127.0.0.1:7011 $PEERS --stall 30 --timeout 120 --seed 4 > a.out 2> a.log &
P1=$!
"$T" torrent pull "$M/model.torrent" b --listen 127.0.0.1:7012 $PEERS --stall 30 --timeout 120 --seed 4 > b.out 2> b.log &
P2=$!
"$T" torrent pull "$(sed -n 's/.*"magnet": "\(.*\)".*/\1/p' "$M/torrent.json")" c --listen 127.0.0.1:7013 $PEERS --peer 127.0.0.1:7001 $SEL \
    --stall 30 --timeout 120 --seed 4 > c.out 2> c.log &
P3=$!
rc=0
for p in $P1 $P2 $P3; do wait $p || rc=1; done
t1=$(now)
for d in a b c; do
    echo "== $d: $(cat $d.out)"
    grep -v "MiB/s" $d.log | sort | uniq -c | sort -rn | head -12
done
[ $rc = 0 ] || fail "a downloader failed"
for d in a b; do
    "$T" verify $d >/dev/null || fail "$d does not verify"
    [ "$(ls $d/shards | wc -l)" = 7 ] || fail "$d lacks shards"
    cmp -s $d/tokenizer.gguf "$M/tokenizer.gguf" || fail "$d: tokenizer.gguf differs"
    cmp -s $d/manifest.json "$M/manifest.json" || fail "$d: manifest.json differs"
    [ -e $d/.torrent ] && fail "$d: .torrent/ left behind"
done
committed_ok c
[ "$(ls c/shards | wc -l)" = 3 ] || fail "C should hold exactly the 3 shards it asked for"
for h in $(echo "$SHARDS" | head -3); do [ -e c/shards/$h.bin ] || fail "C lacks $h"; done
cmp -s c/manifest.json "$M/manifest.json" || fail "c: manifest.json differs (magnet metadata)"
grep -q "resuming: [1-9]" a.log || fail "A did not resume from the pieces on disk"

for d in a b c; do sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' $d.out | grep -q . || fail "$d recorded no time"; done
echo "swarm: A (resumed) $(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' a.out) s, B $(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' b.out) s," \
    "C (3 shards, magnet) $(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' c.out) s; all done $(elapsed "$t0" "$t1") s after start (each seeded 4 s after)"

# 5. a bit flip in a committed shard is caught at the next pull and the shard fetched again
h=$(echo "$SHARDS" | head -1)
python3 -c "import sys;f=open(sys.argv[1],'r+b');f.seek(5000);b=f.read(1);f.seek(5000);f.write(bytes([b[0]^1]))" b/shards/$h.bin
"$T" torrent pull "$M/model.torrent" b --peer 127.0.0.1:7001 --stall 30 --timeout 60 > b2.out 2> b2.log || { cat b2.log; fail "re-pull of B"; }
grep -q "removed .*$h.bin: it does not match" b2.log || fail "the flipped shard was not caught"
"$T" verify b >/dev/null || fail "b does not verify after the re-pull"
echo "ok: torrent swarm"
