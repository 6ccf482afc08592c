#!/usr/bin/env bash
# The core crate and the cross-crate tests (conformance, convergence), and the no_std builds.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/lib.sh
ensure_rust_targets

cargo test --release -p dpm-solver --all-features
# Without the optional methods (features `singlestep`, `adaptive`): refused, their tests skipped.
cargo test --release -p dpm-solver --no-default-features --features rng
cargo test --release -p dpm-solver-tests -- --nocapture
# Issue 15's core cases once more in a debug build: integer overflow panics there.
cargo test -p dpm-solver --all-features --test reliability
# The core is no_std and allocation-free: it must build for a Cortex-M4F and for wasm32.
cargo build --release -p dpm-solver --target thumbv7em-none-eabihf --all-features
cargo build --release -p dpm-solver --target thumbv7em-none-eabihf --no-default-features
cargo build --release -p dpm-solver --target wasm32-unknown-unknown --all-features
# Every public item documented, no broken doc links.
RUSTDOCFLAGS="-D warnings" cargo doc --release -p dpm-solver --no-deps --all-features
# The benchmark must at least compile (timing belongs in BENCHMARKS.md, not in tests).
cargo bench --no-run -p dpm-solver
