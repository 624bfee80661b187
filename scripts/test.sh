#!/bin/sh
# test.sh — every test: release build + ctest, then the same under AddressSanitizer and
# UndefinedBehaviorSanitizer (clang), then short fuzz runs. Installs what is missing.
set -e
cd "$(dirname "$0")/.."
sh scripts/deps.sh test
jobs=$(nproc)
shared=${DP_SHARED:-$(pwd)/../shared}   # fixtures; tests that need them skip when absent

echo "== release build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DDP_SHARED="$shared" >/dev/null
cmake --build build -j"$jobs" >/dev/null
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== ASan + UBSan build"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DDP_SANITIZE=ON -DCMAKE_C_COMPILER=clang -DDP_SHARED="$shared" >/dev/null
cmake --build build-asan -j"$jobs" >/dev/null
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure -j"$jobs" -E "${DP_ASAN_EXCLUDE:-test_webgpu}"  # the WebGPU tests run wasm, not this build

if [ -x fuzz/run.sh ]; then
  echo "== fuzz (short)"
  fuzz/run.sh "${DP_FUZZ_SECONDS:-15}"
fi
echo "all tests passed"
