#!/usr/bin/env bash
# The long fuzz runs behind RELIABILITY.md: each target for FUZZ_LONG_SECONDS (default 900)
# from its corpus, in the background-friendly way (nice 19). Prints each target's libFuzzer
# final stats. Targets default to all four; pass names to choose.
#   bash .ci/fuzz-long.sh [sampler diffusers onnx_load options]
# FUZZ_DRIVER=sweep runs the pipeline targets (onnx_load, options) under fuzz/src/bin/sweep.rs
# instead (random inputs, no instrumented tract build: it reuses CARGO_TARGET_DIR's release
# tract): FUZZ_LONG_RUNS runs (default 1000000) from FUZZ_SEED (default 2026), at most
# FUZZ_LONG_SECONDS; it prints the runs, the time and each panic's site.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${FUZZ_DRIVER:-libfuzzer}" = sweep ]; then
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dpm-solver/target}"
    (cd fuzz && cargo build --release --quiet --bin sweep --no-default-features --features pipeline)
    targets=("$@")
    [ ${#targets[@]} -gt 0 ] || targets=(onnx_load options)
    for t in "${targets[@]}"; do
        nice -n 10 "$CARGO_TARGET_DIR/release/sweep" "$t" \
            "${FUZZ_LONG_RUNS:-1000000}" "${FUZZ_SEED:-2026}" "${FUZZ_LONG_SECONDS:-inf}"
    done
    exit 0
fi
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/dpm-solver/fuzz-target}"
SECS="${FUZZ_LONG_SECONDS:-900}"
FLAGS=(-s none -a)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(sampler diffusers onnx_load options)
for t in "${targets[@]}"; do
    extra=(--no-default-features --features libfuzzer)
    case $t in onnx_load | options) extra=(--no-default-features --features libfuzzer,pipeline) ;; esac
    corpus="$CARGO_TARGET_DIR/corpus/$t"
    mkdir -p "$corpus"
    log="$CARGO_TARGET_DIR/fuzz-long-$t.log"
    status=0
    nice -n 19 cargo +nightly fuzz run "${FLAGS[@]}" "${extra[@]}" "$t" "$corpus" -- \
        -max_total_time="$SECS" -max_len=4096 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 || status=$?
    echo "== $t (exit $status, $SECS s)"
    grep -E '^(stat::|Done|SUMMARY|==[0-9]+== ERROR|thread .* panicked)' "$log" || true
done
