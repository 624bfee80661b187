#!/bin/sh
# fuzz/run.sh SECONDS [TARGET...] — build every libFuzzer target, replay the committed
# regression inputs, then fuzz each target for SECONDS (two at a time by default; 0: only run
# the regressions, seeds and kept corpus once). Exits
# non-zero on any crash, sanitizer report, hang (-timeout), leak (-detect_leaks=1) or oversized
# allocation (-malloc_limit_mb, and the per-input cap in fuzz_common.h).
#
# Environment:
#   DP_FUZZ_BUILD  build folder (default build-fuzz at the repository root); the growing corpus
#                  is kept in $DP_FUZZ_BUILD/corpus/<target>, logs in .../logs, crashes in
#                  .../artifacts/<target>/
#   DP_FUZZ_JOBS   targets run at once (default 2)
#   DP_SHARED      the shared fixtures folder (default ../shared): when it holds
#                  fixtures/tokenizers, small slices of those files become run-time seeds
#   CC             the clang to use (default clang)
# docs/SECURITY.md describes the targets and the long release run.
set -eu

# Everything runs inside main, which the shell reads whole before running it, so editing this
# file while a long run is going does not disturb that run.
main() {
    secs=${1:-15}
    [ $# -gt 0 ] && shift
    root=$(cd "$(dirname "$0")/.." && pwd)
    build=${DP_FUZZ_BUILD:-$root/build-fuzz}
    jobs=${DP_FUZZ_JOBS:-2}
    shared=${DP_SHARED:-$root/../shared}
    cc=${CC:-clang}
    case $cc in *clang*) ;; *) cc=clang ;; esac

    echo "fuzz: building targets in $build"
    cmake -S "$root/fuzz" -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE= >/dev/null
    cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" >"$build/build.log" 2>&1 || {
        tail -40 "$build/build.log"
        echo "fuzz: build failed"
        exit 1
    }

    if [ $# -gt 0 ]; then
        targets="$*"
    else
        targets=$(cd "$root/fuzz" && for f in */fuzz_*.c; do basename "$f" .c | sed 's/^fuzz_//'; done)
    fi

    # Run-time seeds from the shared tokenizer fixtures (never committed: third-party data).
    if [ -d "$shared/fixtures/tokenizers" ] && command -v python3 >/dev/null 2>&1; then
        python3 "$root/fuzz/shared_seeds.py" "$shared/fixtures/tokenizers" "$build/shared-seeds" \
            >/dev/null 2>&1 || echo "fuzz: note: shared_seeds.py failed; committed seeds only"
    fi

    mkdir -p "$build/logs"
    export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1}"
    export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
    export DP_SHARED="$shared"
    opts="-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 -detect_leaks=1 -print_final_stats=1"

    # one target: replay regressions, then fuzz; the exit status is the verdict
    run_one() {
        t=$1
        bin="$build/fuzz_$t"
        log="$build/logs/$t.log"
        : >"$log"
        if [ ! -x "$bin" ]; then
            echo "fuzz: $t: no binary $bin" >>"$log"
            return 1
        fi
        reg="$root/fuzz/$t/regressions"
        if [ -d "$reg" ] && [ -n "$(ls -A "$reg" 2>/dev/null)" ]; then
            # shellcheck disable=SC2046
            "$bin" $opts $(find "$reg" -type f | sort) >>"$log" 2>&1 || {
                echo "fuzz: $t: a regression input fails again" >>"$log"
                return 1
            }
        fi
        corpus="$build/corpus/$t"
        mkdir -p "$corpus" "$build/artifacts/$t"
        dirs="$corpus"
        [ -d "$root/fuzz/$t/seeds" ] && dirs="$dirs $root/fuzz/$t/seeds"
        [ -d "$build/shared-seeds/$t" ] && dirs="$dirs $build/shared-seeds/$t"
        # (regressions are replayed above, not mutated: some are large, and would raise -max_len)
        # SECONDS 0: run the seeds and corpus once, no mutation (libFuzzer reads 0 as "no limit")
        limit="-max_total_time=$secs"
        [ "$secs" -eq 0 ] && limit="-runs=0"
        # shellcheck disable=SC2086
        "$bin" $opts $limit -artifact_prefix="$build/artifacts/$t/" $dirs >>"$log" 2>&1
    }

    fail=0
    set -- $targets
    while [ $# -gt 0 ]; do
        batch=""
        i=0
        while [ $# -gt 0 ] && [ $i -lt "$jobs" ]; do
            batch="$batch $1"
            shift
            i=$((i + 1))
        done
        pids=""
        for t in $batch; do
            run_one "$t" &
            pids="$pids $!:$t"
        done
        for p in $pids; do
            pid=${p%%:*}
            t=${p#*:}
            if wait "$pid"; then
                execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/logs/$t.log" | tail -1)
                echo "fuzz: $t: ok, ${execs:-?} executions in ${secs}s"
            else
                fail=1
                echo "fuzz: $t: FAILED (log $build/logs/$t.log, inputs in $build/artifacts/$t/)"
                grep -E "ERROR|SUMMARY|runtime error|fuzz:|Test unit written" "$build/logs/$t.log" | head -20
            fi
        done
    done
    if [ $fail -ne 0 ]; then
        echo "fuzz: failures (add each input to fuzz/<target>/regressions/ with its fix)"
        exit 1
    fi
    echo "fuzz: all targets passed"
}

main "$@"
exit $?
