#!/bin/sh
# quickstart.sh — build Doppler, synthesize a small model and generate from it.
set -e
cd "$(dirname "$0")/.."
sh scripts/deps.sh native
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
model=${DOPPLER_MODEL:-build/models/tiny-llama}
[ -f "$model/manifest.json" ] || build/doppler synth --family llama --shape tiny "$model"
build/doppler info "$model"
echo "generating 16 tokens (greedy) after the prompt ids 1 2 3:"
build/doppler run "$model" --ids "1 2 3" -n 16 --greedy --print-ids --ignore-eos
