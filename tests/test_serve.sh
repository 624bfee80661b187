#!/bin/sh
# test_serve.sh — `doppler serve` against real clients (issue 17): curl for the HTTP contract
# (API key, Host guard, every kind of bad body -> 400 with OpenAI's error body, 404/405/413),
# the official `openai` npm package for chat and completions, streaming and not, greedy text
# equal to `doppler run --greedy` on both slots, seeds, stop sequences, a client that disconnects,
# a bounded flood (--slots 2 --queue 4) that gets 503s and loses no accepted request, /metrics
# read by the Prometheus client's own parser, and SIGTERM ending a stream cleanly.
# Needs libmicrohttpd, curl, node + tests/serve/node_modules (npm install), Debian's
# python3-prometheus-client and the shared Llama 3 tokenizer: scripts/deps.sh test installs them.
# Without one of them the test skips (77), or fails under CI.
set -u
T=${DP_TOOL:?}; S=${DP_SHARED:?}; W=${DP_TMP:-/tmp}/serve; ROOT=${DP_ROOT:-.}
. "$ROOT/tests/serve/common.sh"
command -v node >/dev/null || skip "no node"
$PY -c "import prometheus_client" 2>/dev/null || skip "no python3-prometheus-client (Debian)"
if [ ! -f "$ROOT/tests/serve/node_modules/openai/package.json" ]; then
  (cd "$ROOT/tests/serve" && timeout 300 npm install --no-audit --no-fund >/dev/null 2>&1) || skip "npm install in tests/serve failed"
fi

KEY=test-key-123
SLOTS=2; QUEUE=4
start_server "$W/server.log" --api-key "$KEY" --slots $SLOTS --queue $QUEUE --ctx 256
trap 'kill -KILL $PID 2>/dev/null' EXIT
ok "server up at $URL"

# req NAME EXPECT_STATUS [curl args...]: checks the status; a non-2xx body must be OpenAI's error shape
req() {
  name=$1; want=$2; shift 2
  code=$(curl -s -o "$W/body" -w '%{http_code}' --max-time 30 "$@")
  if [ "$code" != "$want" ]; then bad "$name: status $code, want $want: $(head -c 300 "$W/body")"; return; fi
  case $want in
    2*) ok "$name ($code)" ;;
    *) if $PY - "$W/body" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))["error"]
assert set(e) == {"message", "type", "param", "code"}, e
assert isinstance(e["message"], str) and e["message"] and isinstance(e["type"], str), e
PY
       then ok "$name ($code: $(sed 's/.*"message":"\([^"]*\)".*/\1/' "$W/body" | head -c 110))"
       else bad "$name: not an OpenAI error body: $(head -c 300 "$W/body")"; fi ;;
  esac
}
AUTH="Authorization: Bearer $KEY"
JSON="Content-Type: application/json"
C="$URL/v1/chat/completions"; P="$URL/v1/completions"
M='"messages":[{"role":"user","content":"Hi"}]'

# --- key, host, routes
req "health needs no key" 200 "$URL/health"
req "models without a key" 401 "$URL/v1/models"
req "metrics without a key" 401 "$URL/metrics"
req "chat without a key" 401 -H "$JSON" -d "{$M}" "$C"
req "a wrong key" 401 -H "Authorization: Bearer nope" "$URL/v1/models"
req "a key of another length" 401 -H "Authorization: Bearer ${KEY}x" "$URL/v1/models"
req "models with the key" 200 -H "$AUTH" "$URL/v1/models"
req "Host of another name (DNS rebinding)" 403 -H "Host: attacker.example:8080" -H "$AUTH" "$URL/v1/models"
req "Host localhost" 200 -H "Host: localhost:1234" "$URL/health"
req "Host 127.1.2.3" 200 -H "Host: 127.1.2.3" "$URL/health"
req "Host 127.0.0.1.evil.com" 403 -H "Host: 127.0.0.1.evil.com" "$URL/health"
req "unknown route" 404 -H "$AUTH" "$URL/v2/nothing"
req "GET on a POST route" 405 -H "$AUTH" "$C"
req "POST on a GET route" 405 -H "$AUTH" -d '{}' "$URL/v1/models"
req "unknown model id" 404 -H "$AUTH" "$URL/v1/models/nope"

# --- malformed bodies and bad parameters: 400 naming the field
bad400() { req "$1" 400 -H "$AUTH" -H "$JSON" --data-binary "$2" "${3:-$C}"; }
bad400 "not JSON" '{"messages": ['
bad400 "empty body" ''
bad400 "an array, not an object" '[1,2]'
bad400 "duplicate keys" "{$M,$M}"
bad400 "no messages" '{"model":"l3"}'
bad400 "messages not an array" '{"messages":"hi"}'
bad400 "empty messages" '{"messages":[]}'
bad400 "a message not an object" '{"messages":[1]}'
bad400 "unknown role" '{"messages":[{"role":"wizard","content":"hi"}]}'
bad400 "tool role" '{"messages":[{"role":"tool","content":"hi"}]}'
bad400 "role not a string" '{"messages":[{"role":5,"content":"hi"}]}'
bad400 "content a number" '{"messages":[{"role":"user","content":5}]}'
bad400 "content missing" '{"messages":[{"role":"user"}]}'
bad400 "content with NUL" '{"messages":[{"role":"user","content":"a\u0000b"}]}'
bad400 "image content part" '{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}'
bad400 "unknown message field" '{"messages":[{"role":"user","content":"hi","tool_calls":[]}]}'
bad400 "model not a string" "{$M,\"model\":1}"
bad400 "temperature a string" "{$M,\"temperature\":\"hot\"}"
bad400 "temperature negative" "{$M,\"temperature\":-1}"
bad400 "temperature huge" "{$M,\"temperature\":1e308}"
bad400 "top_p 0" "{$M,\"top_p\":0}"
bad400 "top_p over 1" "{$M,\"top_p\":1.5}"
bad400 "top_k negative" "{$M,\"top_k\":-1}"
bad400 "top_k fractional" "{$M,\"top_k\":1.5}"
bad400 "top_k over the vocabulary" "{$M,\"top_k\":999999999}"
bad400 "max_tokens 0" "{$M,\"max_tokens\":0}"
bad400 "max_tokens negative" "{$M,\"max_tokens\":-5}"
bad400 "max_tokens huge" "{$M,\"max_tokens\":1e30}"
bad400 "max_tokens a string" "{$M,\"max_tokens\":\"10\"}"
bad400 "max_tokens and max_completion_tokens" "{$M,\"max_tokens\":5,\"max_completion_tokens\":5}"
bad400 "seed negative" "{$M,\"seed\":-1}"
bad400 "seed over 2^53" "{$M,\"seed\":1e20}"
bad400 "n = 2" "{$M,\"n\":2}"
bad400 "stream not a bool" "{$M,\"stream\":1}"
bad400 "stream_options without stream" "{$M,\"stream_options\":{\"include_usage\":true}}"
bad400 "five stop sequences" "{$M,\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}"
bad400 "an empty stop sequence" "{$M,\"stop\":\"\"}"
bad400 "stop a number" "{$M,\"stop\":3}"
bad400 "presence_penalty" "{$M,\"presence_penalty\":0.5}"
bad400 "logprobs" "{$M,\"logprobs\":true}"
bad400 "tools" "{$M,\"tools\":[]}"
bad400 "unknown field" "{$M,\"frobnicate\":true}"
bad400 "prompt missing" '{"max_tokens":3}' "$P"
bad400 "prompt a number" '{"prompt":3}' "$P"
bad400 "two prompts" '{"prompt":["a","b"]}' "$P"
bad400 "echo" '{"prompt":"a","echo":true}' "$P"
bad400 "messages on /v1/completions" "{$M}" "$P"
bad400 "context overflow: max_tokens over what is left" "{$M,\"max_tokens\":250}"
long=$($PY -c 'print("word " * 600)')
bad400 "context overflow: the prompt alone" "{\"prompt\":\"$long\"}" "$P"
grep -q context_length_exceeded "$W/body" && ok "overflow code is context_length_exceeded" || bad "overflow code: $(cat "$W/body")"
head -c 5000000 /dev/zero | tr '\0' 'a' >"$W/big"
req "a body over 4 MiB" 413 -H "$AUTH" -H "$JSON" --data-binary @"$W/big" "$C"
req "still answering after the bad input" 200 -H "$AUTH" -H "$JSON" -d "{$M,\"max_tokens\":2}" "$C"

# --- curl: a non-streaming answer and a stream that ends with [DONE]
req "curl: chat completion" 200 -H "$AUTH" -H "$JSON" -d "{$M,\"max_tokens\":5,\"temperature\":0}" "$C"
$PY - "$W/body" <<'PY' && ok "curl: chat.completion with usage" || bad "curl: answer shape: $(cat "$W/body")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["object"] == "chat.completion" and r["choices"][0]["message"]["role"] == "assistant"
u = r["usage"]; assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"] and u["completion_tokens"] <= 5
PY
curl -s -N --max-time 30 -H "$AUTH" -H "$JSON" -d "{$M,\"max_tokens\":5,\"stream\":true}" "$C" >"$W/sse"
$PY - "$W/sse" <<'PY' && ok "curl: stream of chat.completion.chunk events ending in data: [DONE]" || bad "curl: stream: $(head -c 400 "$W/sse")"
import json, sys
ev = [l[6:] for l in open(sys.argv[1]).read().split("\n\n") if l.startswith("data: ")]
assert ev[-1] == "[DONE]", ev[-1]
chunks = [json.loads(e) for e in ev[:-1]]
assert all(c["object"] == "chat.completion.chunk" for c in chunks)
assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
PY

# --- the official SDK: chat, completions, streams, seeds, stop, disconnect, flood
timeout 300 node "$ROOT/tests/serve/client.mjs" "$URL" "$KEY" l3 "$T" "$W/l3" $SLOTS $QUEUE >"$W/node.out" 2>&1 || fail=1
cat "$W/node.out"

# --- /metrics through the Prometheus client's own parser
curl -s --max-time 10 -H "$AUTH" "$URL/metrics" >"$W/metrics"
$PY - "$W/metrics" <<'PY' && ok "/metrics parses (prometheus_client) with requests, tokens, queue depth and tok/s" || bad "/metrics: $(head -c 600 "$W/metrics")"
import sys
from prometheus_client.parser import text_string_to_metric_families
fam = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
for name in ("doppler_requests", "doppler_generated_tokens", "doppler_prompt_tokens", "doppler_queue_depth",
             "doppler_tokens_per_second", "doppler_slots_busy", "doppler_requests_rejected"):
    assert name in fam, (name, sorted(fam))
req = {(s.labels["route"], s.labels["code"]): s.value for s in fam["doppler_requests"].samples}
assert req[("/v1/completions", "200")] >= 5 and req[("/v1/chat/completions", "400")] >= 30, req
assert fam["doppler_generated_tokens"].samples[0].value > 100
assert fam["doppler_queue_depth"].samples[0].value == 0
PY

# --- SIGTERM: an open stream ends with [DONE], the server exits 0
curl -s -N --max-time 60 -H "$AUTH" -H "$JSON" -d '{"prompt":"Go on","max_tokens":240,"stream":true}' "$P" >"$W/term.sse" &
CURL=$!
i=0; while [ ! -s "$W/term.sse" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
stop_server; rc=$?
wait $CURL
[ $rc -eq 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM: exit $rc"
tail -c 20 "$W/term.sse" | grep -q 'data: \[DONE\]' && ok "SIGTERM: the open stream ended with data: [DONE]" || bad "SIGTERM: stream: $(tail -c 300 "$W/term.sse")"
grep -q "stopped" "$W/server.log" && ok "SIGTERM: the server says it stopped" || { bad "SIGTERM log"; cat "$W/server.log"; }
trap - EXIT

# --- a server bound to all interfaces does not apply the loopback Host guard
start_server "$W/server2.log" --host 0.0.0.0 --slots 1 --queue 1 --ctx 2048 --grace 0
URL=$(echo "$URL" | sed 's/0\.0\.0\.0/127.0.0.1/')
req "no --api-key: no key needed" 200 "$URL/v1/models"
req "not bound to loopback: any Host" 200 -H "Host: example.com" "$URL/health"
grep -q "warning: listening beyond loopback without --api-key" "$W/server2.log" && ok "warns: beyond loopback without a key" || bad "no warning"
# a non-streaming client that gives up frees the slot (2000 tokens take seconds; curl leaves after 1)
curl -s -o /dev/null --max-time 1 -d '{"prompt":"Go","max_tokens":2000,"temperature":0}' "$URL/v1/completions"
freed=0; i=0
while [ $i -lt 100 ] && [ $freed = 0 ]; do
  curl -s --max-time 5 "$URL/metrics" >"$W/m2"
  grep -q '^doppler_generations_total{outcome="cancelled"} 1$' "$W/m2" && grep -q '^doppler_slots_busy 0$' "$W/m2" && freed=1
  [ $freed = 1 ] || sleep 0.1; i=$((i + 1))
done
[ $freed = 1 ] && ok "a non-streaming client that disconnects frees its slot" || bad "disconnect: $(grep -E 'generations|slots_busy|generated' "$W/m2")"
req "the slot answers the next request" 200 -d '{"prompt":"Go","max_tokens":4}' "$URL/v1/completions"
# SIGTERM with --grace 0: the running stream is cut with an error event and [DONE], the queued
# request is answered 503, the server still exits 0
curl -s -N --max-time 60 -d '{"prompt":"Go","max_tokens":2000,"stream":true}' "$URL/v1/completions" >"$W/cut.sse" &
C1=$!
i=0; while [ ! -s "$W/cut.sse" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
curl -s --max-time 60 -o "$W/queued.json" -w '%{http_code}' -d '{"prompt":"Go","max_tokens":5}' "$URL/v1/completions" >"$W/queued.code" &
C2=$!
i=0; while ! grep -q '^doppler_queue_depth 1$' "$W/m2" && [ $i -lt 100 ]; do curl -s --max-time 5 "$URL/metrics" >"$W/m2"; sleep 0.05; i=$((i + 1)); done
stop_server; rc=$?
wait $C1 $C2
[ $rc -eq 0 ] && ok "SIGTERM --grace 0: exit 0" || bad "SIGTERM --grace 0: exit $rc"
grep -q server_shutting_down "$W/cut.sse" && tail -c 20 "$W/cut.sse" | grep -q 'data: \[DONE\]' \
  && ok "SIGTERM --grace 0: the running stream ends with an error event and data: [DONE]" || bad "cut stream: $(tail -c 300 "$W/cut.sse")"
[ "$(cat "$W/queued.code")" = 503 ] && grep -q server_shutting_down "$W/queued.json" \
  && ok "SIGTERM: the queued request is answered 503" || bad "queued: $(cat "$W/queued.code") $(cat "$W/queued.json")"

n_ok=$(grep -c '^ok' "$W/node.out" 2>/dev/null); n_bad=$(grep -c '^FAIL' "$W/node.out" 2>/dev/null)
echo "node client: $n_ok passed, $n_bad failed"
exit $fail
