#!/bin/sh
# test_serve_lora.sh — `doppler serve --lora DIR[:scale]` (issue 13) with the real binary and curl:
# GET/POST /lora-adapters (llama-server's routes: the list with ids, names, paths, scales; new
# scales, unlisted adapters at 0) behind the API key; a request's "lora" list choosing an adapter
# by id or name with a scale; greedy text equal to `doppler run --greedy --lora DIR:scale` for the
# server's default, a request's own choice and no adapter; two concurrent requests on different
# adapters (one pass per adapter in each round) each equal to running alone; scales changed while
# a request is in flight leave it as it started; bad lists refused 400 with OpenAI's error body;
# two adapters with non-zero scales refused at start.
# Needs libmicrohttpd, curl, python3 and the shared Llama 3 tokenizer (scripts/deps.sh test).
set -u
T=${DP_TOOL:?}; S=${DP_SHARED:?}; W=${DP_TMP:-/tmp}/serve_lora; ROOT=${DP_ROOT:-.}
. "$ROOT/tests/serve/common.sh"
M=$W/l3
# two different random adapters on every projection (the rank changes the random draw)
"$T" synth --lora-for "$M" --rank 4 "$W/style-a" >/dev/null 2>&1 &&
  "$T" synth --lora-for "$M" --rank 8 "$W/style-b" >/dev/null 2>&1 || { echo "FAIL synth --lora-for"; exit 1; }

# two non-zero scales at start: refused with a reason
"$T" serve "$M" --port 0 --lora "$W/style-a" --lora "$W/style-b" >"$W/refused.log" 2>&1 &
RP=$!; i=0; while kill -0 $RP 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 $RP 2>/dev/null; then kill -KILL $RP; bad "two non-zero --lora scales: the server started"
else wait $RP; rc=$?; [ $rc -ne 0 ] && grep -q "one adapter per" "$W/refused.log" && ok "two non-zero --lora scales refused at start: $(head -c 160 "$W/refused.log")" || bad "refusal: rc $rc $(cat "$W/refused.log")"; fi

KEY=lora-key
start_server "$W/server.log" --api-key $KEY --slots 2 --ctx 256 --lora "$W/style-a" --lora "$W/style-b:0"
trap 'kill -KILL $PID 2>/dev/null' EXIT
grep -q "2 LoRA adapters" "$W/server.log" && ok "server up with 2 adapters at $URL" || bad "start line: $(cat "$W/server.log")"
AUTH="Authorization: Bearer $KEY"; JSON="Content-Type: application/json"; P="$URL/v1/completions"

req() {
  name=$1; want=$2; shift 2
  code=$(curl -s -o "$W/body" -w '%{http_code}' --max-time 60 "$@")
  if [ "$code" != "$want" ]; then bad "$name: status $code, want $want: $(head -c 300 "$W/body")"; return 1; fi
  case $want in
    2*) ok "$name" ;;
    *) $PY -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; assert set(e)=={"message","type","param","code"} and e["param"] in ("lora", None), e' "$W/body" \
         && ok "$name ($code: $(sed 's/.*"message":"\([^"]*\)".*/\1/' "$W/body" | head -c 120))" || bad "$name: error body $(cat "$W/body")" ;;
  esac
}
# lists NAME EXPECTED: the adapter list's (id, name, scale, rank) as Python repr
lists() {
  got=$($PY -c 'import json,sys; print([(a["id"],a["name"],a["scale"],a["rank"]) for a in json.load(open(sys.argv[1]))])' "$W/body")
  [ "$got" = "$2" ] && ok "$1: $got" || bad "$1: $got, want $2"
}

req "GET /lora-adapters without the key" 401 "$URL/lora-adapters"
req "POST /lora-adapters without the key" 401 -H "$JSON" -d '[]' "$URL/lora-adapters"
req "GET /lora-adapters" 200 -H "$AUTH" "$URL/lora-adapters" && lists "the list" "[(0, 'style-a', 1, 4), (1, 'style-b', 0, 8)]"
req "DELETE /lora-adapters" 405 -X DELETE -H "$AUTH" "$URL/lora-adapters"

PROMPT="The old lighthouse"
N=24
# run_text [--lora DIR:scale]: `doppler run --greedy` alone, the text after the prompt
run_text() { "$T" run "$M" --prompt "$PROMPT" -n $N --greedy "$@" 2>/dev/null | $PY -c 'import sys; t=sys.stdin.read(); p=sys.argv[1]; assert t.startswith(p) and t.endswith("\n"); sys.stdout.write(t[len(p):-1])' "$PROMPT"; }
# serve_text [LORA_JSON]: the server's greedy completion text
body() { printf '{"prompt":"%s","max_tokens":%d,"temperature":0%s}' "$PROMPT" $N "${1:+,\"lora\":$1}"; }
serve_text() { curl -s --max-time 60 -H "$AUTH" -H "$JSON" -d "$(body "${1:-}")" "$P" | $PY -c 'import json,sys; sys.stdout.write(json.load(sys.stdin)["choices"][0]["text"])'; }
same() { # NAME SERVER_TEXT RUN_TEXT
  [ "$2" = "$3" ] && ok "$1: same text as doppler run ($(printf %s "$2" | head -c 40 | tr '\n' ' ')...)" || bad "$1: server '$2' vs run '$3'"
}
base=$(run_text); ta=$(run_text --lora "$W/style-a"); tb=$(run_text --lora "$W/style-b"); tb2=$(run_text --lora "$W/style-b:0.5")
[ "$base" != "$ta" ] && [ "$ta" != "$tb" ] && [ "$tb" != "$tb2" ] && ok "the adapters and scales change the greedy text" || bad "adapters do not change the text: '$base' '$ta' '$tb' '$tb2'"
same "no lora field: the server's default (style-a, scale 1)" "$(serve_text)" "$ta"
same "lora [{id 1, scale 1}]" "$(serve_text '[{"id":1,"scale":1}]')" "$tb"
same "lora [{name style-b, scale 0.5}]" "$(serve_text '[{"name":"style-b","scale":0.5}]')" "$tb2"
same "lora [] (every adapter at 0: the base)" "$(serve_text '[]')" "$base"
same "lora [{id 0, scale 0}, {id 1, scale 1}]" "$(serve_text '[{"id":0,"scale":0},{"id":1,"scale":1}]')" "$tb"

# two requests at once on different adapters: both slots run, one pass per adapter
# (a refused connection is retried: the listen queue of a loaded machine is not what is tested)
pids=""
cc() { curl -s --max-time 120 --retry 3 --retry-connrefused -H "$AUTH" -H "$JSON" "$@"; }
for k in 1 2 3; do
  cc -d "$(body '[{"id":0,"scale":1}]')" "$P" >"$W/c$k.a" & pids="$pids $!"
  cc -d "$(body '[{"id":1,"scale":0.5}]')" "$P" >"$W/c$k.b" & pids="$pids $!"
  cc -d "$(body '[]')" "$P" >"$W/c$k.n" & pids="$pids $!"
done
wait_for() { $PY -c 'import json,sys; sys.stdout.write(json.load(open(sys.argv[1]))["choices"][0]["text"])' "$1" 2>/dev/null; }
for j in $pids; do wait "$j"; done
mixed=0
for k in 1 2 3; do
  [ "$(wait_for "$W/c$k.a")" = "$ta" ] && [ "$(wait_for "$W/c$k.b")" = "$tb2" ] && [ "$(wait_for "$W/c$k.n")" = "$base" ] || mixed=1
done
[ $mixed = 0 ] && ok "9 concurrent requests on 2 slots with 3 different adapter choices: each the text of running alone" || bad "mixed adapters: $(for f in "$W"/c?.?; do echo "$f: $(head -c 100 "$f")"; done)"

# scales changed while a request is in flight: it finishes as it started
curl -s -N --max-time 60 -H "$AUTH" -H "$JSON" -d "{\"prompt\":\"$PROMPT\",\"max_tokens\":$N,\"temperature\":0,\"stream\":true}" "$P" >"$W/inflight.sse" &
CURL=$!
i=0; while [ ! -s "$W/inflight.sse" ] && [ $i -lt 200 ]; do sleep 0.01; i=$((i + 1)); done
req "POST /lora-adapters [{id 1, scale 0.5}] while a request runs" 200 -H "$AUTH" -H "$JSON" -d '[{"id":1,"scale":0.5}]' "$URL/lora-adapters" &&
  lists "after the POST (unlisted adapters at 0)" "[(0, 'style-a', 0, 4), (1, 'style-b', 0.5, 8)]"
wait $CURL
got=$($PY -c 'import json,sys
ev=[l[6:] for l in open(sys.argv[1]).read().split("\n\n") if l.startswith("data: ")]
assert ev[-1]=="[DONE]"
sys.stdout.write("".join(c["choices"][0]["text"] for c in map(json.loads, ev[:-1]) if c["choices"]))' "$W/inflight.sse")
same "the request in flight during the POST kept style-a" "$got" "$ta"
same "the next request without a lora field takes the new scales" "$(serve_text)" "$tb2"

# refused lists: 400 naming 'lora'; the server keeps serving
bad400() { req "$1" 400 -H "$AUTH" -H "$JSON" --data-binary "$2" "${3:-$P}"; }
bad400 "lora not a list" "$(body '"style-a"')"
bad400 "lora entry without a scale" "$(body '[{"id":0}]')"
bad400 "lora entry with id and name" "$(body '[{"id":0,"name":"style-a","scale":1}]')"
bad400 "lora unknown id" "$(body '[{"id":7,"scale":1}]')"
bad400 "lora unknown name" "$(body '[{"name":"nope","scale":1}]')"
bad400 "lora negative id" "$(body '[{"id":-1,"scale":1}]')"
bad400 "lora scale a string" "$(body '[{"id":0,"scale":"1"}]')"
bad400 "lora scale huge" "$(body '[{"id":0,"scale":1e30}]')"
bad400 "lora two non-zero scales (one adapter per sequence)" "$(body '[{"id":0,"scale":1},{"id":1,"scale":1}]')"
bad400 "lora an adapter listed twice" "$(body '[{"id":0,"scale":1},{"id":0,"scale":0}]')"
bad400 "lora unknown key" "$(body '[{"id":0,"scale":1,"alpha":2}]')"
bad400 "POST /lora-adapters not JSON" '[{' "$URL/lora-adapters"
bad400 "POST /lora-adapters two non-zero scales" '[{"id":0,"scale":1},{"id":1,"scale":2}]' "$URL/lora-adapters"
req "the list is unchanged after refusals" 200 -H "$AUTH" "$URL/lora-adapters" && lists "unchanged" "[(0, 'style-a', 0, 4), (1, 'style-b', 0.5, 8)]"
same "still serving after the refusals" "$(serve_text '[{"id":0,"scale":1}]')" "$ta"

stop_server; rc=$?
trap - EXIT
[ $rc -eq 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM: exit $rc"
exit $fail
