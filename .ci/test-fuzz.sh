#!/usr/bin/env bash
# Fuzzing (issue 15), a short bounded run of each target of fuzz/:
# - sampler, diffusers (the core): libFuzzer, instrumented (cargo-fuzz, nightly), FUZZ_SECONDS
#   each (default 15), after replaying their kept crash inputs (fuzz/regressions/<target>/);
# - onnx_load, options (the pipeline): the same harnesses driven by fuzz/src/bin/sweep.rs on
#   pseudo-random inputs, built in the main target dir so it reuses its tract build (a
#   coverage-instrumented tract is a 10+ minute cold build: FUZZ_PIPELINE_LIBFUZZER=1 runs those
#   two under libFuzzer too). The long runs behind RELIABILITY.md: `bash .ci/fuzz-long.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
SECS="${FUZZ_SECONDS:-15}"
MAIN_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dpm-solver/target}"
# The instrumented builds have their own target dir (kept outside the clone, like the main
# cache): sharing the main one would rebuild everything for both.
FUZZ_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/dpm-solver/fuzz-target}"
# -s none: no sanitizer (the code under test is safe Rust; panics are what we look for);
# -a: debug assertions, so integer overflow panics too.
FLAGS=(-s none -a)

libfuzzer() { # libfuzzer TARGET FEATURES
    local t=$1 features=$2
    if compgen -G "fuzz/regressions/$t/*" >/dev/null; then
        CARGO_TARGET_DIR="$FUZZ_DIR" cargo +nightly fuzz run "${FLAGS[@]}" --no-default-features \
            --features "$features" "$t" "fuzz/regressions/$t" -- -runs=0
    fi
    local corpus="$FUZZ_DIR/corpus/$t" log="$FUZZ_DIR/fuzz-$t.log"
    mkdir -p "$corpus"
    if ! CARGO_TARGET_DIR="$FUZZ_DIR" cargo +nightly fuzz run "${FLAGS[@]}" --no-default-features \
        --features "$features" "$t" "$corpus" -- -max_total_time="$SECS" -max_len=4096 \
        -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        echo "test-fuzz: $t failed; the input is under fuzz/artifacts/$t/" >&2
        exit 1
    fi
    echo "$t (libFuzzer): $(grep -E '^stat::number_of_executed_units' "$log" | tail -n 1) in $SECS s, no crash"
}

for t in sampler diffusers; do libfuzzer "$t" libfuzzer; done

(cd fuzz && CARGO_TARGET_DIR="$MAIN_TARGET_DIR" cargo build --release --quiet --bin sweep \
    --no-default-features --features pipeline)
sweep="$MAIN_TARGET_DIR/release/sweep"
for t in onnx_load options; do
    if compgen -G "fuzz/regressions/$t/*" >/dev/null; then "$sweep" "$t" replay "fuzz/regressions/$t"; fi
    seed="${FUZZ_SEED:-$RANDOM}"
    echo "$t: sweep seed $seed (FUZZ_SEED=$seed reproduces it)"
    "$sweep" "$t" 100000000 "$seed" "$SECS"
done
if [ "${FUZZ_PIPELINE_LIBFUZZER:-0}" = 1 ]; then
    for t in onnx_load options; do libfuzzer "$t" libfuzzer,pipeline; done
fi
echo "fuzz: ok"
