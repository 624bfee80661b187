# tests/serve/common.sh — sourced by the `doppler serve` shell tests (test_serve.sh,
# test_serve_lora.sh) after they set T (the tool), S (../shared), W (scratch) and ROOT:
# ok / bad / skip (77, or a failure under CI), the checks every server test needs (libmicrohttpd,
# curl, python3, the shared Llama 3 tokenizer), the tiny model $W/l3 with that tokenizer, and
# start_server / stop_server.
rm -rf "$W"; mkdir -p "$W"
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
skip() {
  echo "skip: $1"
  if [ -n "${CI:-}" ]; then echo "FAIL (CI): $1"; exit 1; fi
  exit 77
}
"$T" serve 2>&1 | grep -q "built without libmicrohttpd" && skip "doppler was built without libmicrohttpd (scripts/deps.sh test)"
command -v curl >/dev/null || skip "no curl"
PY=/usr/bin/python3
[ -x $PY ] || skip "no $PY"
tj="$S/fixtures/tokenizers/llama3-tokenizer.json"
[ -f "$tj" ] || skip "no $tj"
"$T" synth --config "$ROOT/tests/llama3-tiny-config.json" --tokenizer "$tj" "$W/l3" >/dev/null 2>&1 || { echo "FAIL synth"; exit 1; }

# start_server LOG ARGS...: `doppler serve $W/l3` on a free port; sets PID and URL
start_server() {
  log=$1; shift
  : >"$log"
  "$T" serve "$W/l3" --port 0 "$@" 2>"$log" &
  PID=$!
  URL=""
  i=0
  while [ $i -lt 300 ] && [ -z "$URL" ]; do
    URL=$(sed -n 's/.* on \(http:[^ ]*\) .*/\1/p' "$log")
    kill -0 $PID 2>/dev/null || break
    [ -n "$URL" ] || sleep 0.1
    i=$((i + 1))
  done
  [ -n "$URL" ] || { echo "FAIL server did not start"; cat "$log"; kill $PID 2>/dev/null; exit 1; }
}
# stop_server: SIGTERM, up to 15 s to exit; returns its exit status
stop_server() {
  kill -TERM $PID 2>/dev/null
  i=0; while kill -0 $PID 2>/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
  kill -0 $PID 2>/dev/null && { bad "server still running 15 s after SIGTERM"; kill -KILL $PID; }
  wait $PID; rc=$?
  return $rc
}
