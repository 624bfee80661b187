#!/bin/sh
# test.sh — every test: release build + ctest, then the same under AddressSanitizer and
# UndefinedBehaviorSanitizer (clang), then short fuzz runs. Installs what is missing.
#
# Nothing is skipped here. The WebGPU tests' dependencies (web/deps.sh: clang's wasm32 target,
# Node packages, SwiftShader) are installed and the WebAssembly build is made once, before ctest
# (the three WebGPU tests used to each run their own first-time `npm install` at once, race,
# and be reported as skipped), and the builds are configured with DP_STRICT_TESTS=ON, so a test
# that cannot run its real parts (exit 77) fails. This is the command CI runs (.ci/run) and the
# README's "run every test": a skip would make its "all tests passed" untrue, and everything a
# test needs is installed by this script, so a skip here always means something is broken.
# DP_ALLOW_SKIP=1 (ignored when CI is set) lets tests skip, for a machine where the script
# cannot install (no root, no network).
#
# Environment: DP_SHARED (fixtures, default ../shared), DP_FUZZ_SECONDS (default 15),
# DP_ASAN_EXCLUDE (ctest -E for the sanitizer build, default test_webgpu).
# The output ends with each stage's counts: tests run, passed, failed, skipped.
set -u
cd "$(dirname "$0")/.."
root=$(pwd)
start=$(date +%s)
jobs=$(nproc)
shared=${DP_SHARED:-$root/../shared}
strict=ON
if [ "${DP_ALLOW_SKIP:-0}" = 1 ] && [ -z "${CI:-}" ]; then strict=OFF; fi

summary=""
note() { summary="$summary  $1
"; }
finish() { # $1 = exit status
  echo "== summary ($(( $(date +%s) - start )) s, skips are failures: $strict)"
  printf '%s' "$summary"
  if [ "$1" = 0 ]; then echo "all tests passed"; else echo "FAILED"; fi
  exit "$1"
}

sh scripts/deps.sh test || { note "dependencies: scripts/deps.sh failed"; finish 1; }
if [ ! -d "$shared/fixtures" ]; then
  if [ $strict = ON ]; then
    echo "test.sh: no fixtures at $shared/fixtures (set DP_SHARED to the shared folder)"
    note "fixtures: none at $shared/fixtures"
    finish 1
  fi
  echo "test.sh: no fixtures at $shared/fixtures: the tests that need them skip"
fi

echo "== WebGPU dependencies (web/deps.sh) and the WebAssembly build (web/build.sh all)"
wasm=$root/build-wasm
mkdir -p "$wasm"
if sh web/deps.sh browser && WASM_OUT="$wasm" WASM_DIST="$wasm/dist" sh web/build.sh all >"$wasm/build.log" 2>&1; then
  export DP_WASM_DIR="$wasm"   # tests/webgpu/wasm.sh: the WebGPU tests run this build
  note "wasm: built once in build-wasm/ for the WebGPU tests"
else
  tail -20 "$wasm/build.log" 2>/dev/null
  echo "test.sh: the WebGPU dependencies or the WebAssembly build failed; the WebGPU tests will say why"
  note "wasm: web/deps.sh or web/build.sh failed (the WebGPU tests retry on their own)"
fi

# ctest_stage NAME BUILD_DIR [ctest args]: ctest, then the stage's counts into the summary.
# Returns ctest's status.
ctest_stage() {
  name=$1 dir=$2
  shift 2
  { ctest --test-dir "$dir" --output-on-failure -j"$jobs" "$@"; echo $? >"$dir/ctest.rc"; } 2>&1 | tee "$dir/ctest.log"
  rc=$(cat "$dir/ctest.rc")
  ran=$(grep -cE 'Test +#[0-9]+: ' "$dir/ctest.log")
  passed=$(grep -E 'Test +#[0-9]+: ' "$dir/ctest.log" | grep -cE ' Passed +[0-9.]+ sec')
  skipped=$(grep -E 'Test +#[0-9]+: ' "$dir/ctest.log" | grep -c 'Skipped')
  all=$(ctest --test-dir "$dir" -N | grep -cE 'Test +#[0-9]+: ')
  left=""
  [ "$all" -gt "$ran" ] && left=" ($((all - ran)) not in this stage: $*)"
  note "$name: $ran tests run, $passed passed, $((ran - passed - skipped)) failed, $skipped skipped$left"
  return "$rc"
}

echo "== release build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DDP_SHARED="$shared" -DDP_STRICT_TESTS=$strict >/dev/null &&
  cmake --build build -j"$jobs" >/dev/null || { note "release: build failed"; finish 1; }
ctest_stage release build || finish 1

echo "== ASan + UBSan build"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DDP_SANITIZE=ON -DCMAKE_C_COMPILER=clang \
  -DDP_SHARED="$shared" -DDP_STRICT_TESTS=$strict >/dev/null &&
  cmake --build build-asan -j"$jobs" >/dev/null || { note "asan: build failed"; finish 1; }
# the WebGPU tests run the wasm build, not this one
ASAN_OPTIONS=detect_leaks=1
export ASAN_OPTIONS
ctest_stage "asan+ubsan" build-asan -E "${DP_ASAN_EXCLUDE:-test_webgpu}" || finish 1
unset ASAN_OPTIONS   # fuzz/run.sh sets its own

if [ -x fuzz/run.sh ]; then
  echo "== fuzz (short)"
  mkdir -p build-fuzz
  { fuzz/run.sh "${DP_FUZZ_SECONDS:-15}"; echo $? >build-fuzz/run.rc; } 2>&1 | tee build-fuzz/run.out
  rc=$(cat build-fuzz/run.rc)
  ok=$(grep -cE '^fuzz: [a-z_0-9]+: ok' build-fuzz/run.out)
  bad=$(grep -cE '^fuzz: [a-z_0-9]+: FAILED' build-fuzz/run.out)
  note "fuzz: $((ok + bad)) targets run, $ok passed, $bad failed, 0 skipped (${DP_FUZZ_SECONDS:-15} s each)"
  [ "$rc" = 0 ] || finish 1
fi
finish 0
