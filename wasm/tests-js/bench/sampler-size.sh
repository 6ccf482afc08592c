#!/usr/bin/env bash
# Size of the sampler-only wasm (`dpm-solver/sampler`: `--no-default-features`), built as
# build-package.sh builds it (wasm SIMD; opt-level "z", fat LTO, one codegen unit) and stripped
# of its names as the package ships it: raw, gzip -9 and brotli 11 bytes, one line. For the
# size levers of wasm/BENCHMARKS.md ("Package sizes"):
#   bash wasm/tests-js/bench/sampler-size.sh            # the working tree
#   bash wasm/tests-js/bench/sampler-size.sh REV        # a git revision (built from a copy)
#   OPT=s LTO=false CGU=16 bash wasm/tests-js/bench/sampler-size.sh   # other settings
#   WASM_OPT="npx -y -p binaryen@132.0.0 wasm-opt -Os" bash ...  # a wasm-opt pass after stripping
# Use a CARGO_TARGET_DIR of its own: the settings differ from the other builds'.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
root=$PWD
src=$root
if [[ $# -ge 1 ]]; then
    src=$(mktemp -d)
    trap 'rm -rf "$src"' EXIT
    git archive "$1" | tar -x -C "$src"
    # git archive dates the files at the commit: newer ones make cargo rebuild.
    find "$src" -type f -exec touch {} +
fi
export RUSTFLAGS="${RUSTFLAGS--C target-feature=+simd128}"
export CARGO_PROFILE_RELEASE_OPT_LEVEL=${OPT:-z}
export CARGO_PROFILE_RELEASE_LTO=${LTO:-fat}
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=${CGU:-1}
target=${CARGO_TARGET_DIR:-$src/target}
(cd "$src" && cargo build -q --release --target wasm32-unknown-unknown -p dpm-solver-wasm --no-default-features)
out=$(mktemp -d)
wasm-bindgen --target web --out-dir "$out" --out-name s \
    "$target/wasm32-unknown-unknown/release/dpm_solver_wasm.wasm"
node "$root/wasm/js/strip-names.cjs" "$out/s_bg.wasm"
if [[ -n "${WASM_OPT:-}" ]]; then
    $WASM_OPT --all-features "$out/s_bg.wasm" -o "$out/s_bg.wasm"
fi
node -e '
const z = require("zlib"), b = require("fs").readFileSync(process.argv[1]);
const br = z.brotliCompressSync(b, { params: { [z.constants.BROTLI_PARAM_QUALITY]: 11, [z.constants.BROTLI_PARAM_SIZE_HINT]: b.length } });
console.log(`raw ${b.length} gzip ${z.gzipSync(b, { level: 9 }).length} brotli ${br.length}`);
' "$out/s_bg.wasm"
rm -rf "$out"
