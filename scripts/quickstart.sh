#!/bin/sh
# quickstart.sh — build Doppler and generate text with the project's own trained model
# (models/fable-21m-q4_k_m: ~21M parameters, trained by train/ on Debian's fortunes and manuals).
# DOPPLER_MODEL=dir and PROMPT=text override the defaults.
set -e
cd "$(dirname "$0")/.."
sh scripts/deps.sh native
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
model=${DOPPLER_MODEL:-models/fable-21m-q4_k_m}
build/doppler info "$model"
build/doppler run "$model" --prompt "${PROMPT:-The fork() system call}" -n 96 --temp 0.7 --seed 1 --stats
