#!/usr/bin/env bash
# Fuzzing (issue 15): the cargo-fuzz targets of fuzz/ (core Config/ask/tell loop, diffusers
# SchedulerConfig::set + run, the pipeline's ONNX loader, the pipeline's option parsing). Each
# kept crash input of fuzz/regressions/<target>/ is replayed, then each target runs for
# FUZZ_SECONDS (default 15) from its corpus. The long runs behind RELIABILITY.md are
# `bash .ci/fuzz-long.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
# The instrumented build has its own target dir (kept outside the clone, like the main cache):
# sharing the main one would rebuild everything for both.
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/dpm-solver/fuzz-target}"
SECS="${FUZZ_SECONDS:-15}"
# -s none: no sanitizer (the code under test is safe Rust; panics are what we look for);
# -a: debug assertions, so integer overflow panics too.
FLAGS=(-s none -a)
cargo +nightly fuzz build "${FLAGS[@]}"
for t in sampler diffusers onnx_load options; do
    if compgen -G "fuzz/regressions/$t/*" >/dev/null; then
        cargo +nightly fuzz run "${FLAGS[@]}" "$t" "fuzz/regressions/$t" -- -runs=0
    fi
    corpus="$CARGO_TARGET_DIR/corpus/$t"
    mkdir -p "$corpus"
    log="$CARGO_TARGET_DIR/fuzz-$t.log"
    if ! cargo +nightly fuzz run "${FLAGS[@]}" "$t" "$corpus" -- \
        -max_total_time="$SECS" -max_len=4096 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        echo "test-fuzz: $t failed; the input is under fuzz/artifacts/$t/" >&2
        exit 1
    fi
    echo "$t: $(grep -E '^stat::number_of_executed_units' "$log" | tail -n 1) in ${SECS} s, no crash"
done
echo "fuzz: ok"
