#!/usr/bin/env bash
# The profile of wasm/PROFILE.md, native and wasm side by side in one run (from anywhere):
#   bash wasm/tests-js/bench/profile.sh            # BATCHES=16,1 REPEATS=10 TOP=10
# 1. builds the package with the cargo feature `profile` (profileUnet) into target/pkg-profile
#    (PKG_OUT), with build-package.sh's flags (SIMD, opt-level "s"; set CARGO_TARGET_DIR to keep
#    it apart from the shipped build's target dir: the flags differ from a plain cargo build);
# 2. runs wasm/examples/profile.rs natively (x86_64, one thread), writing its JSON;
# 3. runs wasm/tests-js/bench/profile.mjs in node --no-liftoff: the wasm tables and the native
#    vs wasm comparison per operator type.
set -euo pipefail
cd "$(dirname "$0")/../../.."
BATCHES=${BATCHES:-16,1}
REPEATS=${REPEATS:-10}
TOP=${TOP:-10}
export PKG_OUT=${PKG_OUT:-target/pkg-profile}
OUT_DIR=${OUT_DIR:-target/profile}
mkdir -p "$OUT_DIR"

FEATURES=profile bash wasm/tests-js/build-package.sh >/dev/null
# build-package.sh's wasm flags stay in its own process: the example builds as native code.
cargo build --release -q -p dpm-solver-wasm --example profile
EXAMPLE=${CARGO_TARGET_DIR:-target}/release/examples/profile

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$EXAMPLE" --batch "$BATCHES" --repeats "$REPEATS" --top "$TOP" --json "$OUT_DIR/native.json"
DPM_PKG="$PKG_OUT/web" NATIVE_JSON="$OUT_DIR/native.json" \
    node --no-liftoff wasm/tests-js/bench/profile.mjs "$BATCHES" "$REPEATS" "$TOP"
echo "# done $(date -u '+%H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
