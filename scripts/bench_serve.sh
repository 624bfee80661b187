#!/bin/sh
# bench_serve.sh NAME=URL[@PID]... — aggregate decode rate of OpenAI-compatible servers (doppler
# serve, llama-server) under CLIENTS concurrent requests: each round sends CLIENTS non-streaming
# POST /v1/completions at once (the same short prompt, temperature 0, max_tokens MAX_TOKENS) and
# counts the completion tokens of the answers ("usage") over the wall time from the first request
# sent to the last answer. With the server's PID, also over the CPU time the server process used
# in the round (/proc/PID/stat utime + stime): tokens per CPU-second, which a shared machine's
# load disturbs much less than the wall-clock rate. The servers take turns round by round (after
# one warm-up round each), so each sees the same load; REPS rounds per server, then the mean,
# standard deviation and median per server. Needs curl and python3 (Linux for the CPU time).
# Environment: CLIENTS (4), MAX_TOKENS (64), REPS (3), BENCH_PROMPT ("Once upon a time"),
# BENCH_KEY (an API key to send).
set -eu
N=${CLIENTS:-4}; MAX=${MAX_TOKENS:-64}; REPS=${REPS:-3}
PROMPT=${BENCH_PROMPT:-Once upon a time}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
body=$(printf '{"prompt":"%s","max_tokens":%d,"temperature":0}' "$PROMPT" "$MAX")
cpu() { # PID -> CPU seconds so far (0 without a PID)
  if [ -n "$1" ] && [ -r "/proc/$1/stat" ]; then
    /usr/bin/python3 -c "import os,sys; f=open('/proc/$1/stat').read().rsplit(')',1)[1].split(); print((int(f[11])+int(f[12]))/os.sysconf('SC_CLK_TCK'))"
  else echo 0; fi
}
round() { # URL PID -> "tokens seconds cpu_seconds"
  c0=$(cpu "${2:-}"); t0=$(date +%s.%N); pids=""
  i=0; while [ $i -lt "$N" ]; do
    curl -s --max-time 1800 -H "Content-Type: application/json" ${BENCH_KEY:+-H "Authorization: Bearer $BENCH_KEY"} \
      -d "$body" "$1/v1/completions" >"$T/r$i" & pids="$pids $!"; i=$((i + 1))
  done
  for p in $pids; do wait "$p"; done
  t1=$(date +%s.%N); c1=$(cpu "${2:-}")
  /usr/bin/python3 - "$T" "$N" "$t0" "$t1" "$c0" "$c1" <<'PY'
import json, sys
d, n, t0, t1, c0, c1 = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:7])
tok = sum(json.load(open(f"{d}/r{i}"))["usage"]["completion_tokens"] for i in range(n))
print(tok, t1 - t0, c1 - c0)
PY
}
url() { u=${1#*=}; echo "${u%@*}"; }
pid() { case $1 in *@*) echo "${1##*@}" ;; esac; }
for s in "$@"; do round "$(url "$s")" "$(pid "$s")" >/dev/null; done
r=1
while [ $r -le "$REPS" ]; do
  for s in "$@"; do
    set -- $(round "$(url "$s")" "$(pid "$s")") "$@"
    /usr/bin/python3 -c "import sys; t,w,c=map(float,sys.argv[2:5]); print(f'{sys.argv[1]} round $r: {int(t)} tokens from $N clients in {w:.2f} s = {t/w:.2f} tok/s' + (f', {c:.2f} CPU-s = {t/c:.1f} tok/CPU-s' if c > 0 else ''))" \
      "${s%%=*}" "$1" "$2" "$3" | tee -a "$T/log"
    shift 3
  done
  r=$((r + 1))
done
/usr/bin/python3 - "$T/log" <<'PY'
import re, statistics as st, sys
rates, per_cpu = {}, {}
for line in open(sys.argv[1]):
    m = re.match(r"(\S+) round \d+: .* = ([0-9.]+) tok/s(?:, .* = ([0-9.]+) tok/CPU-s)?", line)
    rates.setdefault(m.group(1), []).append(float(m.group(2)))
    if m.group(3): per_cpu.setdefault(m.group(1), []).append(float(m.group(3)))
for name, v in rates.items():
    sd = st.stdev(v) if len(v) > 1 else 0
    line = f"{name}: {st.mean(v):.2f} tok/s mean (sd {sd:.2f}, median {st.median(v):.2f}), {len(v)} rounds"
    if name in per_cpu: line += f"; {st.median(per_cpu[name]):.1f} tok/CPU-s median"
    print(line)
PY
