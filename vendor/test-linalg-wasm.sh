#!/usr/bin/env bash
# tract-linalg's own tests (the generated frame tests of every kernel: packing, fused ops,
# stores, matrix products against a reference), built for wasm32-wasip1 with wasm SIMD and run
# under Node's WASI: once with +simd128, once with +simd128,+relaxed-simd (Node 20 runs relaxed
# SIMD behind --experimental-wasm-relaxed-simd). Only the wasm f32 matrix-product kernels' tests
# and the wasm dispatch tests by default; FILTER (test-name filters, space-separated) selects
# others. (`FILTER=wasm` also runs upstream's by_scalar::tests::edge_values_match_scalar_semantics,
# which fails under V8 on the sign of a zero from f32x4.min, a kernel this patch does not touch;
# wasip1 aborts on a failed test, so it stops the run.) Each build needs its own target dir
# (RUSTFLAGS):
# CARGO_TARGET_DIR/linalg-wasi-{simd,relaxed}. The crate is tested from a copy outside this
# workspace, with the Cargo.lock it ships (its dev-dependencies, proptest and criterion, are not
# in ours).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1
base=$(realpath -m "${CARGO_TARGET_DIR:-target}")
# A fixed path outside any workspace and kept mtimes (cp -p): a rerun reuses the build.
src=${TMPDIR:-/tmp}/dpm-solver-linalg-src
rm -rf "$src"
mkdir -p "$src"
cp -rp vendor/tract-linalg/. "$src/"
run() { # run NAME FEATURES NODEFLAGS
    CARGO_TARGET_DIR="$base/linalg-wasi-$1" RUSTFLAGS="-C target-feature=$2" \
    CARGO_TARGET_WASM32_WASIP1_RUNNER="node $3 $PWD/vendor/wasi-run.mjs" \
        cargo test --release --manifest-path "$src/Cargo.toml" --target wasm32-wasip1 --lib -- ${FILTER:-wasm::mmm_f32 wasm::dispatch_tests}
}
run simd +simd128 ""
run relaxed +simd128,+relaxed-simd --experimental-wasm-relaxed-simd
