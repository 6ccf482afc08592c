#!/usr/bin/env bash
# Reproduces the figures of BENCHMARKS.md: flash with and without the solver, static RAM,
# stack high-water marks and instruction counts (QEMU -icount). Run from embedded/.
# Needs qemu-system-arm and arm-none-eabi-size / arm-none-eabi-nm (binutils-arm-none-eabi)
# or llvm-size / llvm-nm.
set -euo pipefail
cd "$(dirname "$0")"
SIZE=$(command -v arm-none-eabi-size || command -v llvm-size)
NM=$(command -v arm-none-eabi-nm || command -v llvm-nm)
T=thumbv7em-none-eabihf/release/dpm-solver-embedded
OPT=${OPT:-}   # e.g. OPT=z to override the profile's opt-level ("s")
export CARGO_PROFILE_RELEASE_OPT_LEVEL=${OPT:-s}

cargo build --release --quiet
# Every method (the conformance cases), without the benchmark.
cargo build --release --quiet --no-default-features --features all-methods --target-dir target/measure-solver
cargo build --release --quiet --no-default-features --features no-solver,all-methods --target-dir target/measure-no-solver
# A single-method application: only the digits' fixed DPM-Solver++(2M) configuration, and only
# the core's multistep methods (without `all-methods`: its singlestep and adaptive code is out).
cargo build --release --quiet --no-default-features --features digits-only --target-dir target/measure-solver-digits
cargo build --release --quiet --no-default-features --features no-solver,digits-only --target-dir target/measure-no-solver-digits

section() { "$SIZE" -A "$1" | awk -v s="$2" '$1 == s { print $2 }'; }
row() {
    local f=$1 text rodata vt bss data
    vt=$(section "$f" .vector_table); text=$(section "$f" .text); rodata=$(section "$f" .rodata)
    data=$(section "$f" .data); bss=$(section "$f" .bss)
    echo "$2 | $vt | $text | $rodata | $((vt + text + rodata + data)) | $data | $bss"
}
echo "opt-level ${CARGO_PROFILE_RELEASE_OPT_LEVEL}"
echo "build | .vector_table | .text | .rodata | flash | .data | .bss"
row target/$T "default (with bench)"
row target/measure-solver/$T "--no-default-features --features all-methods (solver, no bench)"
row target/measure-no-solver/$T "--no-default-features --features no-solver,all-methods"
a=$(row target/measure-solver/$T a | awk -F' [|] ' '{print $5}')
b=$(row target/measure-no-solver/$T b | awk -F' [|] ' '{print $5}')
echo "solver flash (difference) = $((a - b)) bytes"
row target/measure-solver-digits/$T "--no-default-features --features digits-only"
row target/measure-no-solver-digits/$T "--no-default-features --features no-solver,digits-only"
a=$(row target/measure-solver-digits/$T a | awk -F' [|] ' '{print $5}')
b=$(row target/measure-no-solver-digits/$T b | awk -F' [|] ' '{print $5}')
echo "solver flash of one fixed configuration (difference) = $((a - b)) bytes"

by_crate() {
    "$NM" --size-sort -S --radix=d -C "$1" | awk '
        $3 ~ /^[tTrR]$/ {
            n = $4; for (i = 5; i <= NF; i++) n = n " " $i
            if (n ~ /^<?dpm_solver_embedded/) k = "firmware (incl. weights)"
            else if (n ~ /^<?dpm_solver::/) k = "dpm_solver"
            else if (n ~ /^<?libm::/) k = "libm"
            else if (n ~ /^<?compiler_builtins::/) k = "compiler_builtins"
            else if (n ~ /^<?core::/) k = "core"
            else k = "other"
            s[k] += $2
        }
        END { for (k in s) printf "%s|%d\n", k, s[k] }' | sort
}
echo "text+rodata symbols by crate: solver build | no-solver build | difference"
join -t'|' -a1 -a2 -e0 -o 0,1.2,2.2 <(by_crate target/measure-solver/$T) <(by_crate target/measure-no-solver/$T) \
    | awk -F'|' '{ printf "  %-26s %7d %7d %7d\n", $1, $2, $3, $2 - $3 }'
echo "largest dpm_solver symbols (bytes):"
"$NM" --size-sort -S --radix=d -C target/measure-solver/$T | awk '$4 ~ /^<?dpm_solver::/ { printf "  %6d %s\n", $2, substr($0, index($0, $4)) }' | tail -8
echo "dpm_solver symbols in .data/.bss (statics of the core): $("$NM" -C target/measure-solver/$T | awk '$2 ~ /^[bBdD]$/ && $3 ~ /^dpm_solver::/' | wc -l)"

echo "QEMU run (-icount shift=0):"
timeout 120 qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -nographic -monitor none -serial none \
    -icount shift=0,align=off -semihosting-config enable=on,target=native -kernel target/$T \
    | grep -E '^(calibration|stack|bench|done)'
