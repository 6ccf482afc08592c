#!/usr/bin/env bash
# The core on an emulated Cortex-M4F: builds embedded/ (thumbv7em-none-eabihf, no heap) and runs
# tests/tests/embedded_qemu.rs, which runs the firmware under QEMU (mps2-an386) and compares its
# conformance results with the host's f32 run and the fixture tolerances, and checks the digits.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/lib.sh
ensure_rust_targets
# Debian 12: qemu-system-arm is its own package (qemu-system-misc does not carry it).
apt_install qemu-system-arm qemu-system-arm
qemu-system-arm -machine help | grep -q '^mps2-an386' \
    || { echo "test-embedded: this QEMU has no mps2-an386 (Cortex-M4) machine" >&2; exit 1; }

# The firmware is its own workspace (embedded/Cargo.toml, embedded/.cargo/config.toml).
# Its own target dir (embedded/target), whatever CARGO_TARGET_DIR the main workspace uses.
(cd embedded && env -u CARGO_TARGET_DIR timeout 900 cargo build --release)
(cd embedded && env -u CARGO_TARGET_DIR timeout 900 cargo build --release --no-default-features --features no-solver --target-dir target/no-solver)
elf="$PWD/embedded/target/thumbv7em-none-eabihf/release/dpm-solver-embedded"
size="$(command -v arm-none-eabi-size || command -v llvm-size || true)"
if [ -n "$size" ]; then
    "$size" -A "$elf" | grep -E '^\.(vector_table|text|rodata|data|bss) ' || true
fi

# The test is #[ignore]d in the plain `cargo test` of test-core.sh (no QEMU there): run it here.
DPM_EMBEDDED_ELF="$elf" DPM_QEMU="$(command -v qemu-system-arm)" \
    timeout 900 cargo test --release -p dpm-solver-tests --test embedded_qemu -- --ignored --nocapture
