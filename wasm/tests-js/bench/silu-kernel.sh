#!/usr/bin/env bash
# The wasm SiLU kernel, published vs patched (and an exp-based one not kept), under Node's WASI
# (wasm/PROFILE.md "SiLU"). Builds in seconds: no tract. Usage: bash wasm/tests-js/bench/silu-kernel.sh
set -euo pipefail
cd "$(dirname "$0")/silu-kernel"
rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1
RUSTFLAGS="-C target-feature=+simd128" CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-../../../../target}/silu-kernel" \
    cargo build --release --target wasm32-wasip1 --quiet
node --no-liftoff --no-warnings ../../../../vendor/wasi-run.mjs \
    "${CARGO_TARGET_DIR:-../../../../target}/silu-kernel/wasm32-wasip1/release/silu-kernel-bench.wasm"
