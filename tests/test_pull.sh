#!/bin/sh
# test_pull.sh — doppler pull, lazy mounts and serve --shards against good and bad sources
# (issue 15, the HTTP half). In a network + mount namespace of its own when root (loopback only,
# a tmpfs for the disk-full case), else on the host's loopback. Ten sources of one model:
# tests/pull/mirrors.py (good x2, corrupt, truncating, HTML-200, 404-as-200, stalled, wrong
# Content-Range), a dead port and a native peer (`doppler serve --shards`). Checks:
#   - 3 downloaders in parallel: every one ends with every shard verified, no store ever holds a
#     file whose bytes differ from its name, the bad sources are banned (and no good one);
#   - SIGKILL mid-shard, restart: resumes with a Range request, fetches less, verifies;
#   - two pulls into one folder at once;
#   - a crash between write and rename (a complete .part left, right or wrong), disk full (tmpfs;
#     without a namespace a file size limit),
#     a bit flip in a cached shard (verify names it, run refuses it, pull and the lazy mount
#     fetch it again): never a corrupt final file;
#   - the cache's budget: a second model evicts the first one's shards, a model over it fails;
#   - `doppler run URL` on a lazily mounted MoE model (4 layers x 16 experts, skewed routing) pages
#     its experts and fetches only the dense shards and those of the experts it routes to (the set
#     checked against the manifest, counted in the source's log, the cache and run --verbose),
#     with the unpaged local run's tokens; `info URL` fetches none, a second run none.
# Needs python3, libmicrohttpd (serve) and the shared llama-spm GGUF vocabulary (tokenizer).
set -u
T=${DP_TOOL:?}; S=${DP_SHARED:?}; ROOT=${DP_ROOT:-.}
skip() {
  echo "skip: $1"
  if [ -n "${CI:-}" ]; then echo "FAIL (CI): $1"; exit 1; fi
  exit 77
}
# a namespace of our own: private loopback, private mounts (DP_PULL_NO_NS=1: the host loopback)
if [ -z "${DP_PULL_NS:-}" ] && [ -z "${DP_PULL_NO_NS:-}" ] && [ "$(id -u)" = 0 ] && unshare -n -m true 2>/dev/null; then
  DP_PULL_NS=1 exec unshare -n -m sh -c 'ip link set lo up && exec sh "$0"' "$0"
fi
W=${DP_TMP:-/tmp}/pull; rm -rf "$W"; mkdir -p "$W"
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || skip "no python3"
"$T" serve 2>&1 | grep -q "built without libmicrohttpd" && skip "doppler was built without libmicrohttpd"
tok="$S/fixtures/tokenizers/ggml-vocab-llama-spm.gguf"
[ -f "$tok" ] || skip "no $tok"
T0=$(date +%s)

# --- the model: a small Mixtral (8 experts, top-2) in 1 MiB shards, with a hashed tokenizer
cat >"$W/cfg.json" <<'EOF'
{"vocab_size": 32000, "hidden_size": 64, "tie_word_embeddings": false, "max_position_embeddings": 256,
 "architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "intermediate_size": 1024,
 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "num_local_experts": 8,
 "num_experts_per_tok": 2, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "hidden_act": "silu",
 "bos_token_id": 1, "eos_token_id": 2}
EOF
SITE="$W/site"; M="$SITE/m"   # the mirrors serve SITE: the model is at <mirror>/m
"$T" synth --config "$W/cfg.json" --quant q8_0 --shard-mb 1 --tokenizer "$tok" "$M" >/dev/null 2>&1 || { echo "FAIL synth"; exit 1; }
ID=$(sha256sum "$M/manifest.json" | cut -d' ' -f1)
NSH=$(ls "$M/shards" | wc -l)
MBYTES=$(cat "$M"/shards/*.bin | wc -c)
echo "model: $NSH shards, $MBYTES bytes, id $ID"
[ "$NSH" -ge 8 ] && ok "the model has $NSH shards" || bad "only $NSH shards"

# every .bin in a store hashes to its name, and no other file is there but .part: "clean"
store_clean() {
  for f in "$1"/*.bin; do
    [ -e "$f" ] || continue
    h=$(sha256sum "$f" | cut -d' ' -f1)
    [ "$(basename "$f" .bin)" = "$h" ] || { echo "corrupt: $f"; return 1; }
  done
  return 0
}

# --- sources
if [ -n "${DP_PULL_NS:-}" ]; then B=18000; else B=$((20000 + $$ % 20000)); fi
LOG="$W/mirrors.log"; : >"$LOG"
"$PY" "$ROOT/tests/pull/mirrors.py" "$SITE" "$LOG" good:$((B+1)) corrupt:$((B+2)) truncate:$((B+3)) html200:$((B+4)) \
  notfound200:$((B+5)) stall:$((B+6)) badrange:$((B+7)) good:$((B+8)) slow:$((B+11)) >"$W/mirrors.out" 2>&1 &
MPID=$!
"$T" serve --shards "$M" --port $((B+10)) 2>"$W/peer.err" &
PPID_=$!
trap 'kill $MPID $PPID_ 2>/dev/null' EXIT
for i in $(seq 50); do grep -q ready "$W/mirrors.out" && grep -q "shards on" "$W/peer.err" && break; sleep 0.1; done
grep -q ready "$W/mirrors.out" || { echo "FAIL mirrors did not start"; cat "$W/mirrors.out"; exit 1; }
# source k: mirrors serve the model under /m, the native peer (k = 10) at its root
u() { if [ "$1" = 10 ]; then echo "http://127.0.0.1:$((B + 10))"; else echo "http://127.0.0.1:$((B + $1))/m"; fi; }
# corrupt first: the manifest (pinned by --id) may come from anyone, the shards are what is tested
SRC="$(u 2) $(u 3) $(u 4) $(u 5) $(u 6) $(u 7) $(u 9) $(u 1) $(u 8) $(u 10)"
BADS="$(u 2) $(u 4) $(u 5) $(u 7)"   # must be banned wherever they were asked
GOODS="$(u 1) $(u 8) $(u 10)"        # must never be
curl_ok=$(command -v curl || true)
if [ -n "$curl_ok" ]; then
  hdr=$(curl -s -D - -o /dev/null -H "Range: bytes=5-9" "$(u 10)/shards/$(ls "$M/shards" | head -1)")
  echo "$hdr" | grep -q "206" && echo "$hdr" | grep -qi "content-range: bytes 5-9/" &&
    echo "$hdr" | grep -qi "access-control-allow-origin: \*" && ok "serve --shards: 206, Content-Range, CORS" ||
    { bad "serve --shards range answer"; echo "$hdr"; }
  code=$(curl -s -o /dev/null -w "%{http_code}" -H "Range: bytes=99999999-" "$(u 10)/shards/$(ls "$M/shards" | head -1)")
  [ "$code" = 416 ] && ok "serve --shards: 416 past the end" || bad "serve --shards past the end: $code"
  # beside the model API, on one port
  "$T" serve "$M" --shards "$M" --port $((B+12)) 2>"$W/api.err" & AP=$!
  for i in $(seq 100); do grep -q "on http" "$W/api.err" && break; sleep 0.1; done
  c1=$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$((B+12))/manifest.json")
  c2=$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$((B+12))/v1/models")
  c3=$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$((B+12))/tokenizer.gguf")
  [ "$c1$c2$c3" = 200200200 ] && ok "serve MODEL --shards: mirror and API on one port" || bad "serve MODEL --shards: $c1 $c2 $c3"
  kill $AP; wait $AP 2>/dev/null
fi

# --- 3 downloaders at once, each seeing the sources in another order
rot() { k=$1; shift; n=0; for x in "$@"; do n=$((n+1)); [ $n -gt "$k" ] && printf '%s ' "$x"; done
        n=0; for x in "$@"; do n=$((n+1)); [ $n -le "$k" ] && printf '%s ' "$x"; done; }
t0=$(date +%s.%N)
for d in 1 2 3; do
  # shellcheck disable=SC2046
  timeout 60 "$T" pull $(rot $(( (d - 1) * 3 )) $SRC) "$W/d$d" --id "$ID" --stall 2 --connect-timeout 1000 \
    >"$W/d$d.out" 2>"$W/d$d.err" &
  eval "P$d=\$!"
done
rcs=""
for d in 1 2 3; do eval "wait \$P$d"; rcs="$rcs $?"; done
t1=$(date +%s.%N)
echo "3 downloaders done in $(echo "$t1 - $t0" | bc 2>/dev/null || echo "?") s (exit codes$rcs)"
for d in 1 2 3; do
  if grep -q "complete:" "$W/d$d.err" && "$T" verify "$W/d$d" >/dev/null 2>&1 && [ "$(ls "$W/d$d/shards"/*.bin | wc -l)" -eq "$NSH" ]; then
    ok "downloader $d: every shard verified ($(grep -o 'fetched in [0-9.]* s' "$W/d$d.err"))"
  else bad "downloader $d"; cat "$W/d$d.err"; fi
  store_clean "$W/d$d/shards" && ok "downloader $d: no corrupt byte in its store" || bad "downloader $d store"
  for g in $GOODS; do grep -q "source $g:.*BANNED" "$W/d$d.err" && bad "downloader $d banned good source $g"; done
done
cat "$W"/d?.err | grep "BANNED" | sed 's/.*source \([^ ]*\): .*BANNED: \(.*\)/\1 \2/' | sort -u >"$W/bans"
nb=0
while read -r s why; do
  case " $BADS $(u 3) $(u 6) $(u 9) " in *" $s "*) nb=$((nb + 1)) ;; *) bad "banned a good source: $s $why" ;; esac
done <"$W/bans"
[ $nb -ge 4 ] && ok "the 3 downloaders banned $nb bad sources, no good one" || bad "only $nb sources banned"
# each kind of liar alone beside a good source: banned, and the pull still completes
for k in 2 3 4 5 7 9; do
  "$T" pull "$(u $k)" "$(u 8)" "$W/one$k" --id "$ID" --stall 2 --connect-timeout 1000 --quiet 2>"$W/one$k.err"
  rc=$?
  why=$(sed -n "s|.*source $(u $k): .*BANNED: \(.*\)|\1|p" "$W/one$k.err" | cut -c1-80)
  [ $rc -eq 0 ] && [ -n "$why" ] && "$T" verify "$W/one$k" >/dev/null 2>&1 && store_clean "$W/one$k/shards" &&
    ok "$(u $k) banned: $why" || { bad "source $k alone"; cat "$W/one$k.err"; }
done

# --- SIGKILL mid-shard, then resume
K="$W/killed"
"$T" pull "$(u 11)" "$K" --id "$ID" --jobs 1 --quiet 2>"$W/k1.err" &
KP=$!
for i in $(seq 100); do
  p=$(ls "$K"/shards/*.part 2>/dev/null | head -1)
  [ -n "$p" ] && [ "$(cat "$p" 2>/dev/null | wc -c)" -gt 200000 ] && break
  sleep 0.05
done
kill -9 $KP 2>/dev/null; wait $KP 2>/dev/null
have=$(cat "$K"/shards/* 2>/dev/null | wc -c)
parts=$(ls "$K"/shards/*.part 2>/dev/null | wc -l)
[ "$parts" -ge 1 ] && ok "killed mid-shard: $have bytes on disk, $parts partial" || bad "no partial shard after SIGKILL"
store_clean "$K/shards" && ok "after SIGKILL no corrupt .bin" || bad "SIGKILL left a corrupt .bin"
: >"$LOG.mark"; cp "$LOG" "$LOG.before"
"$T" pull "$(u 1)" "$K" --id "$ID" --quiet 2>"$W/k2.err"
got=$(sed -n 's/.*complete: \([0-9]*\) bytes.*/\1/p' "$W/k2.err")
if "$T" verify "$K" >/dev/null 2>&1 && [ -n "$got" ] && [ "$got" -lt "$MBYTES" ]; then
  ok "restart resumed: fetched $got bytes (<$MBYTES), verified"
else bad "restart after SIGKILL (fetched ${got:-?})"; cat "$W/k2.err"; fi
diff "$LOG.before" "$LOG" | grep -q "good $((B+1)) /m/shards/.* bytes=[1-9][0-9]*-" &&
  ok "the partial shard was resumed with a Range request" || bad "no Range resume in the source log"

# --- a crash between write and rename: complete .part files, one right and one wrong
C="$W/crash"; cp -r "$W/d1" "$C"
set -- $(ls "$C/shards")
h1=$(basename "$1" .bin); h2=$(basename "$2" .bin)
mv "$C/shards/$h1.bin" "$C/shards/$h1.part"
mv "$C/shards/$h2.bin" "$C/shards/$h2.part"
printf 'X' | dd of="$C/shards/$h2.part" bs=1 seek=1000 conv=notrunc 2>/dev/null
sz2=$(wc -c <"$C/shards/$h2.part")
"$T" pull "$(u 1)" "$C" --id "$ID" --quiet 2>"$W/c.err"
got=$(sed -n 's/.*complete: \([0-9]*\) bytes.*/\1/p' "$W/c.err")
mlen=$(wc -c <"$M/manifest.json")
if "$T" verify "$C" >/dev/null 2>&1 && [ "${got:-0}" -eq $((sz2 + mlen)) ] && [ ! -e "$C/shards/$h2.part" ]; then
  ok "crash before rename: the right .part committed without a fetch, the wrong one refetched ($got bytes)"
else bad "crash before rename (fetched ${got:-?}, expected $((sz2 + mlen)))"; cat "$W/c.err"; fi
store_clean "$C/shards" && ok "crash before rename: store clean" || bad "crash store"

# --- two pulls into one folder at once: each shard is written by one of them (flock), both end
S2="$W/same"
"$T" pull "$(u 1)" "$(u 10)" "$S2" --id "$ID" --quiet 2>"$W/s1.err" & SP1=$!
"$T" pull "$(u 8)" "$(u 10)" "$S2" --id "$ID" --quiet 2>"$W/s2.err" & SP2=$!
wait $SP1; r1=$?; wait $SP2; r2=$?
[ $r1 -eq 0 ] && [ $r2 -eq 0 ] && "$T" verify "$S2" >/dev/null 2>&1 && store_clean "$S2/shards" &&
  ok "two pulls into one folder at once both complete, verified" || { bad "two pulls into one folder ($r1 $r2)"; cat "$W/s1.err" "$W/s2.err"; }

# --- disk full: a 3 MiB tmpfs for a model of several (without root: a file size limit, EFBIG)
if [ -z "${DP_PULL_NS:-}" ]; then
  F="$W/fsize"
  (trap '' XFSZ; ulimit -f 1024; exec "$T" pull "$(u 1)" "$F" --id "$ID" --quiet) 2>"$W/f1.err"; rc=$?
  [ $rc -ne 0 ] && grep -q "too large" "$W/f1.err" && ok "write failure (file size limit): pull fails: $(tail -1 "$W/f1.err" | cut -c1-90)" ||
    { bad "write failure did not fail cleanly (rc=$rc)"; cat "$W/f1.err"; }
  store_clean "$F/shards" && ok "write failure: no corrupt .bin" || bad "write failure left a corrupt .bin"
  "$T" pull "$(u 1)" "$F" --id "$ID" --quiet 2>/dev/null && "$T" verify "$F" >/dev/null 2>&1 &&
    ok "write failure: the next pull completes" || bad "pull after a write failure"
fi
if [ -n "${DP_PULL_NS:-}" ]; then
  F="$W/full"; mkdir -p "$F"
  if mount -t tmpfs -o size=3m tmpfs "$F"; then
    "$T" pull "$(u 1)" "$(u 8)" "$F/m" --id "$ID" --quiet 2>"$W/f1.err"; rc=$?
    [ $rc -ne 0 ] && grep -q "No space left" "$W/f1.err" && ok "disk full: pull fails: $(tail -1 "$W/f1.err" | cut -c1-100)" ||
      { bad "disk full did not fail cleanly (rc=$rc)"; cat "$W/f1.err"; }
    store_clean "$F/m/shards" && ok "disk full: no corrupt .bin" || bad "disk full left a corrupt .bin"
    "$T" verify "$F/m" >/dev/null 2>&1 && bad "verify passed a partial model"
    mount -o remount,size=64m "$F"
    "$T" pull "$(u 1)" "$(u 8)" "$F/m" --id "$ID" --quiet 2>"$W/f2.err" && "$T" verify "$F/m" >/dev/null 2>&1 &&
      ok "disk full: with room again the pull completes and verifies" || { bad "pull after disk full"; cat "$W/f2.err"; }
    umount "$F"
  else bad "cannot mount a tmpfs in the test's namespace"; fi
fi

# --- a bit flip in a pulled shard
P="$W/d2"; set -- $(ls "$P/shards"); hf=$(basename "$1" .bin)
printf '\001' | dd of="$P/shards/$hf.bin" bs=1 seek=4096 conv=notrunc 2>/dev/null
"$T" verify "$P" >/dev/null 2>"$W/v.err" && bad "verify missed a flipped bit" ||
  { grep -q "does not match" "$W/v.err" && ok "verify names the flipped shard" || bad "verify message: $(cat "$W/v.err")"; }
"$T" run "$P" --ids "1 5 9" -n 2 --greedy >/dev/null 2>"$W/r.err" && bad "run used a flipped shard" ||
  { grep -qi "sha-256\|mismatch" "$W/r.err" && ok "run refuses the flipped shard: $(cut -c1-90 "$W/r.err")" || bad "run: $(cat "$W/r.err")"; }
"$T" pull "$(u 8)" "$P" --id "$ID" --quiet 2>/dev/null && "$T" verify "$P" >/dev/null 2>&1 &&
  ok "pull over the flipped copy re-verifies and fetches it again" || bad "pull did not repair the flip"

# --- doppler run URL: a lazy mount fetches only the shards the run reads. A Mixtral of 4 layers x
# 16 experts (top-2, skewed routers), each expert in shards of its own: a mounted MoE model pages
# its experts (a RAM expert cache by default), so a short run fetches the dense shards and the
# shards of the experts it routes to, nothing else.
sed 's/"num_hidden_layers": 2/"num_hidden_layers": 4/; s/"num_local_experts": 8/"num_local_experts": 16/' \
  "$W/cfg.json" >"$W/cfgx.json"
X="$SITE/x"; UX="http://127.0.0.1:$((B+1))/x"
"$T" synth --config "$W/cfgx.json" --quant q8_0 --shard-mb 1 --router-skew 1 --tokenizer "$tok" "$X" >/dev/null 2>&1 ||
  { echo "FAIL synth (lazy MoE)"; exit 1; }
NSX=$(ls "$X/shards" | wc -l)
CA="$W/cache"
runx() { "$T" --cache "$CA" run "$UX" --ids "1 5 9 13" -n 4 --greedy --print-ids "$@"; }
: >"$LOG"
"$T" --cache "$CA" info "$UX" >/dev/null 2>"$W/i.err" || { bad "info URL"; cat "$W/i.err"; }
n0=$(grep -c "/shards/" "$LOG")
[ "$n0" -eq 0 ] && ok "info URL: manifest only, 0 shards fetched" || bad "info URL fetched $n0 shards"
want=$("$T" run "$X" --ids "1 5 9 13" -n 4 --greedy --print-ids 2>/dev/null)
: >"$LOG"
got=$(runx --verbose 2>"$W/lr.err")
inc=$(ls "$CA/shards" | grep -c '\.bin$')
[ -n "$want" ] && [ "$got" = "$want" ] && ok "run URL (experts paged) = unpaged run on the local copy: $got" ||
  { bad "run URL: '$got' vs '$want'"; cat "$W/lr.err"; }
# the fetched set = the dense shards + the shards of the experts paged in; as many experts as
# the run read from its source (run --verbose), fewer than the model has
reads=$(sed -n 's/^paging: \([0-9]*\) expert uses over .* read from source \([0-9.]*\) %.*/\1 \2/p' "$W/lr.err")
sed -n 's|.* /x/shards/\([0-9a-f]*\)\.bin .*|\1|p' "$LOG" >"$W/fetched"
chk=$("$PY" - "$X/manifest.json" "$W/fetched" ${reads:-0 0} <<'EOF'
import json, re, sys
m = json.load(open(sys.argv[1])); fetched = open(sys.argv[2]).read().split()
uses, pct = int(sys.argv[3]), float(sys.argv[4]); paged = round(uses * pct / 100)
hexes = [s["hash"].split(":")[1] for s in m["shards"]]
dense, experts = set(), {}
for name, t in m["tensors"].items():
    sh = {hexes[sp["shard"]] for sp in t["spans"]}
    x = re.match(r"blk\.(\d+)\.[a-z_]+\.(\d+)\.weight$", name)
    if x: experts.setdefault(x.groups(), set()).update(sh)
    else: dense |= sh
got = set(fetched)
routed = {k for k, sh in experts.items() if sh & got}
want = dense.union(*[experts[k] for k in routed]) if routed else dense
print(len(fetched), len(got), len(dense), len(routed), len(experts), paged,
      "same" if got == want and len(fetched) == len(got) and len(routed) == paged else "differ")
EOF
)
set -- $chk
if [ "$#" -eq 7 ] && [ "$7" = same ] && [ "$1" -lt "$NSX" ] && [ "$4" -lt "$5" ] && [ "$1" -eq "$inc" ]; then
  ok "run URL fetched $1 of $NSX shards: the $3 dense ones + those of the $4 of $5 experts it routed to (= the $6 paged in), each once"
else bad "run URL fetched: ${chk:-?} (fetches, distinct, dense, routed, experts, paged in, set) of $NSX, the cache holds $inc"; cat "$W/lr.err"; fi
store_clean "$CA/shards" && ok "the cache is clean" || bad "cache not clean"
: >"$LOG"
runx >/dev/null 2>&1
n2=$(grep -c "/shards/" "$LOG")
[ "$n2" -eq 0 ] && ok "second run URL: 0 shards fetched" || bad "second run fetched $n2"
# --ram-cache overrides the default: one slot per layer's 2 experts still gives the same tokens
got=$(runx --ram-cache 2M --verbose 2>"$W/lr2.err")
[ "$got" = "$want" ] && grep -q "paging: lfu, [0-9]* RAM slots" "$W/lr2.err" &&
  ok "run URL --ram-cache 2M: $(grep -o '[0-9]* RAM slots of [0-9.]* MiB' "$W/lr2.err"), same tokens" ||
  { bad "run URL --ram-cache 2M: '$got'"; cat "$W/lr2.err"; }
# a bit flip in the cache: caught before use, fetched again, same answer
set -- $(ls "$CA/shards"); hc=$(basename "$1" .bin)
printf '\001' | dd of="$CA/shards/$hc.bin" bs=1 seek=100 conv=notrunc 2>/dev/null
: >"$LOG"
got=$(runx 2>"$W/lf.err")
n3=$(grep -c "/shards/$hc" "$LOG")
[ "$got" = "$want" ] && [ "$n3" -ge 1 ] && grep -q "does not match" "$W/lf.err" &&
  ok "flipped cached shard: caught, fetched again ($n3 request), same tokens" || { bad "flip in the cache (n=$n3)"; cat "$W/lf.err"; }
store_clean "$CA/shards" && ok "cache clean after the flip" || bad "cache holds a corrupt shard"

# --- the cache's budget: a second model evicts the first one's shards (least recently used)
"$T" synth --shape tiny --shard-mb 1 "$SITE/t" >/dev/null 2>&1 || bad "synth tiny"
TB=$(cat "$SITE"/t/shards/*.bin | wc -c)
CB="$W/cache2"; BUD=16   # MiB: room for either model, not both
"$T" --cache "$CB" --disk-cache $BUD run "$(u 1)" --ids "1 5" -n 2 --greedy >/dev/null 2>&1 || bad "run model 1 in a budget"
"$T" --cache "$CB" --disk-cache $BUD run "http://127.0.0.1:$((B+1))/t" --ids "1 5" -n 2 --greedy >/dev/null 2>"$W/b.err" ||
  { bad "run model 2 in a budget"; cat "$W/b.err"; }
held=$(cat "$CB"/shards/*.bin | wc -c); left1=0
for f in "$M"/shards/*.bin; do [ -e "$CB/shards/$(basename "$f")" ] && left1=$((left1 + 1)); done
[ "$held" -le $((BUD << 20)) ] && [ "$left1" -lt "$NSH" ] && [ "$held" -ge "$TB" ] &&
  ok "budget $BUD MiB: $held bytes held, $((NSH - left1)) of model 1's shards evicted for model 2" ||
  bad "budget: $held bytes held, $left1 of model 1's shards left"
"$T" --cache "$W/cache3" --disk-cache 1 run "$(u 1)" --ids "1 5" -n 2 >/dev/null 2>"$W/b1.err" && bad "a model larger than the budget ran" ||
  { grep -q "budget" "$W/b1.err" && ok "a model larger than the budget: $(tail -1 "$W/b1.err" | cut -c1-110)" || { bad "budget error"; cat "$W/b1.err"; }; }

echo "test_pull: $(( $(date +%s) - T0 )) s"
[ $fail -eq 0 ] && echo "test_pull: all ok" || echo "test_pull: FAILED"
exit $fail
