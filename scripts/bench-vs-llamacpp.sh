#!/bin/sh
# bench-vs-llamacpp.sh — Doppler's CPU backend against llama.cpp's llama-bench on the same GGUF,
# side by side: the pairs alternate (Doppler, llama.cpp, Doppler, ...), each pair prints its
# machine load, and the end prints the medians and the median of the per-pair ratios.
# What docs/BENCHMARKS.md quotes. Not part of the test suite.
#
#   scripts/bench-vs-llamacpp.sh --llama-src DIR [--model FILE.gguf | --shape NAME] [options]
#
#   --llama-src DIR     a llama.cpp source tree (never fetched or committed by this script); built
#                       CPU-only (GGML_CUDA=OFF) into --llama-build with its llama-bench target
#   --llama-build DIR   build directory (default WORK/llama-build); an existing llama-bench there
#                       is reused
#   --llama-native      build with GGML_NATIVE=ON (llama.cpp then uses every extension of the CPU,
#                       AMX tile kernels included where present). Default: the CPU's AVX/AVX2/
#                       AVX-512 extensions named explicitly, AMX off: the instruction sets Doppler
#                       has kernels for
#   --model FILE.gguf   the weights both engines run: llama-bench reads the file, Doppler its
#                       `doppler convert` (block for block the same bytes)
#   --shape NAME        without --model: `doppler synth --shape NAME --quant q4_k_m`, exported
#                       with `doppler export-gguf` and converted back (default llama-3.2-1b)
#   --work DIR          scratch for builds and models (default /tmp/dp-vs-llama; outside the repo)
#   --doppler PATH      the doppler binary (default: a Release build of this tree in WORK)
#   -t N                threads for both (default 2)
#   --cpus LIST         pin both to these CPUs (taskset -c LIST), e.g. 2,3 on a larger host
#   -p N / -n N / -r N  prompt tokens, generated tokens, repetitions per run (512 / 128 / 3)
#   --pairs N           alternated pairs (default 3)
#   --llama-args "..."  extra llama-bench arguments (e.g. "-fa 0")
set -eu

die() { echo "bench-vs-llamacpp: $*" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
llama_src="" llama_build="" native=0 model="" shape=llama-3.2-1b work=/tmp/dp-vs-llama
doppler="" threads=2 cpus="" pp=512 tg=128 reps=3 pairs=3 llama_args=""
while [ $# -gt 0 ]; do
  case "$1" in
    --llama-src) llama_src=$2; shift ;;
    --llama-build) llama_build=$2; shift ;;
    --llama-native) native=1 ;;
    --model) model=$2; shift ;;
    --shape) shape=$2; shift ;;
    --work) work=$2; shift ;;
    --doppler) doppler=$2; shift ;;
    -t) threads=$2; shift ;;
    --cpus) cpus=$2; shift ;;
    -p) pp=$2; shift ;;
    -n) tg=$2; shift ;;
    -r) reps=$2; shift ;;
    --pairs) pairs=$2; shift ;;
    --llama-args) llama_args=$2; shift ;;
    -h|--help) sed -n '2,/^set -eu/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done
[ -n "$llama_src" ] || die "--llama-src DIR is required (a llama.cpp source tree)"
[ -f "$llama_src/CMakeLists.txt" ] || die "$llama_src is not a llama.cpp source tree"
command -v python3 >/dev/null || die "python3 is needed to read the engines' JSON"
mkdir -p "$work"
work=$(cd "$work" && pwd)
llama_src=$(cd "$llama_src" && pwd)
: "${llama_build:=$work/llama-build}"
mkdir -p "$llama_build"
llama_build=$(cd "$llama_build" && pwd)
for d in "$work" "$llama_src" "$llama_build"; do
  case "$d/" in "$root"/*) die "$d is inside the repository; llama.cpp and its builds stay outside" ;; esac
done
pin=""
[ -z "$cpus" ] || pin="taskset -c $cpus"

# ---- llama.cpp, CPU only ----
lbench=$llama_build/bin/llama-bench
if [ ! -x "$lbench" ]; then
  if [ "$native" = 1 ]; then
    isa="-DGGML_NATIVE=ON"
  else
    flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
    has() { case " $flags " in *" $1 "*) echo ON ;; *) echo OFF ;; esac; }
    isa="-DGGML_NATIVE=OFF -DGGML_AVX=$(has avx) -DGGML_AVX2=$(has avx2) -DGGML_FMA=$(has fma)"
    isa="$isa -DGGML_F16C=$(has f16c) -DGGML_BMI2=$(has bmi2) -DGGML_AVX_VNNI=$(has avx_vnni)"
    isa="$isa -DGGML_AVX512=$(has avx512bw) -DGGML_AVX512_VNNI=$(has avx512_vnni)"
    isa="$isa -DGGML_AVX512_VBMI=$(has avx512vbmi) -DGGML_AVX512_BF16=$(has avx512_bf16)"
    isa="$isa -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
  fi
  echo "building llama.cpp ($llama_src) into $llama_build: $isa" >&2
  # shellcheck disable=SC2086
  cmake -S "$llama_src" -B "$llama_build" -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=OFF \
    -DGGML_OPENMP=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF $isa >"$work/llama-cmake.log" 2>&1 ||
    die "llama.cpp cmake failed (see $work/llama-cmake.log)"
  cmake --build "$llama_build" --target llama-bench -j"$(nproc)" >"$work/llama-build.log" 2>&1 ||
    die "llama.cpp build failed (see $work/llama-build.log)"
fi

# ---- Doppler ----
if [ -z "$doppler" ]; then
  echo "building Doppler ($root) into $work/doppler-build" >&2
  cmake -S "$root" -B "$work/doppler-build" -DCMAKE_BUILD_TYPE=Release >"$work/doppler-cmake.log" 2>&1 ||
    die "Doppler cmake failed (see $work/doppler-cmake.log)"
  cmake --build "$work/doppler-build" --target doppler_cli -j"$(nproc)" >"$work/doppler-build.log" 2>&1 ||
    die "Doppler build failed (see $work/doppler-build.log)"
  doppler=$work/doppler-build/doppler
fi

# ---- one GGUF for both ----
if [ -z "$model" ]; then
  model=$work/$shape-q4_k_m.gguf
  if [ ! -f "$model" ]; then
    echo "synthesizing $shape q4_k_m" >&2
    rm -rf "$work/$shape-synth"
    "$doppler" synth --family llama --shape "$shape" --quant q4_k_m "$work/$shape-synth" >&2
    "$doppler" export-gguf "$work/$shape-synth" "$model" >&2
    rm -rf "$work/$shape-synth"
  fi
fi
[ -f "$model" ] || die "no such GGUF: $model"
rdrr=$work/$(basename "$model" .gguf)-rdrr
if [ ! -f "$rdrr/manifest.json" ] || [ -n "$(find "$model" -newer "$rdrr/manifest.json")" ]; then
  rm -rf "$rdrr"
  "$doppler" convert "$model" "$rdrr" >&2
fi

# ---- alternated pairs ----
out=$work/pairs.jsonl
: >"$out"
echo "model $model; $threads threads${cpus:+, pinned to CPUs $cpus}; -p $pp -n $tg -r $reps; $pairs pairs" >&2
i=1
while [ "$i" -le "$pairs" ]; do
  load=$(cut -d' ' -f1 /proc/loadavg)
  # shellcheck disable=SC2086
  d=$($pin "$doppler" bench "$rdrr" -p "$pp" -n "$tg" -t "$threads" -r "$reps" --json) ||
    die "doppler bench failed"
  # shellcheck disable=SC2086
  l=$($pin "$lbench" -m "$model" -p "$pp" -n "$tg" -t "$threads" -r "$reps" -o json $llama_args 2>"$work/llama-bench.err") ||
    die "llama-bench failed (see $work/llama-bench.err)"
  load2=$(cut -d' ' -f1 /proc/loadavg)
  printf '{"pair":%d,"load":[%s,%s],"doppler":%s,"llama":%s}\n' "$i" "$load" "$load2" "$d" "$(echo "$l" | tr -d '\n')" >>"$out"
  i=$((i + 1))
done

python3 - "$out" "$pp" "$tg" <<'EOF'
import json, statistics, sys
path, pp, tg = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = []
for line in open(path):
    r = json.loads(line)
    d, l = r["doppler"], r["llama"]
    def lt(kind):
        for t in l:
            if kind == "pp" and t["n_prompt"] > 0 and t["n_gen"] == 0: return t["avg_ts"], t["stddev_ts"]
            if kind == "tg" and t["n_gen"] > 0 and t["n_prompt"] == 0: return t["avg_ts"], t["stddev_ts"]
        return None, None
    row = {"pair": r["pair"], "load": r["load"]}
    for kind in ("pp", "tg"):
        dv = d.get(kind, {}).get("tps_mean") if d.get(kind, {}).get("n") else None
        row[kind] = (dv, d.get(kind, {}).get("tps_sd"), *lt(kind))
    rows.append(row)
print(f"| pair | load (1 min, before / after) | Doppler pp{pp} | llama.cpp pp{pp} | ratio | Doppler tg{tg} | llama.cpp tg{tg} | ratio |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
def cell(v, sd): return "—" if v is None else f"{v:.2f} ± {sd:.2f}"
def ratio(a, b): return None if a is None or b is None or b == 0 else a / b
for r in rows:
    cells = []
    for kind in ("pp", "tg"):
        dv, dsd, lv, lsd = r[kind]
        q = ratio(dv, lv)
        cells += [cell(dv, dsd), cell(lv, lsd), "—" if q is None else f"**{q:.2f}**"]
    print(f"| {r['pair']} | {r['load'][0]} / {r['load'][1]} | " + " | ".join(cells) + " |")
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None
summary = []
for kind, n in (("pp", pp), ("tg", tg)):
    dm, lm = med(r[kind][0] for r in rows), med(r[kind][2] for r in rows)
    qm = med(ratio(r[kind][0], r[kind][2]) for r in rows)
    if qm is not None:
        summary.append(f"{kind}{n}: Doppler {dm:.2f}, llama.cpp {lm:.2f} t/s (medians), ratio {qm:.2f}x (median of pairs)")
print()
print("\n".join(summary))
EOF
