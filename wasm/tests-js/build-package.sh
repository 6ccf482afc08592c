#!/usr/bin/env bash
# Builds the npm package `dpm-solver` from wasm/ with wasm-pack (release, wasm SIMD):
#   target/pkg/web      --target web     (ES module + .wasm; browsers and node, no bundler)
#   target/pkg/bundler  --target bundler (for webpack/vite/rollup), when BUNDLER=1
# Sourced or run from the repository root. Installs wasm-pack and wasm-bindgen-cli 0.2.130
# from crates.io when missing (the npm wasm-pack downloads from GitHub).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source .ci/lib.sh
ensure_rust_targets

WB_VERSION=0.2.130
if ! command -v wasm-bindgen >/dev/null 2>&1 || [[ "$(wasm-bindgen --version)" != "wasm-bindgen $WB_VERSION" ]]; then
    cargo install wasm-bindgen-cli --version "$WB_VERSION"
fi
command -v wasm-pack >/dev/null 2>&1 || cargo install wasm-pack

# SIMD=0 builds without wasm SIMD, SIMD=relaxed with relaxed SIMD as well (for the benchmarks
# only; each needs a CARGO_TARGET_DIR of its own, as RUSTFLAGS rebuild every crate).
case "${SIMD:-1}" in
    1) export RUSTFLAGS="-C target-feature=+simd128" ;;
    relaxed) export RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd" ;;
    *) export RUSTFLAGS="" ;;
esac
# opt-level "s" for the wasm build only: 12.8 MB / 3.0 MB gzip instead of 17.9 / 4.0 MB at
# opt-level 3, at the same speed (wasm/BENCHMARKS.md). Native builds keep the workspace's 3.
export CARGO_PROFILE_RELEASE_OPT_LEVEL="${CARGO_PROFILE_RELEASE_OPT_LEVEL:-s}"
OUT=${PKG_OUT:-target/pkg}
build() { # build TARGET
    rm -rf "$OUT/$1"
    # wasm-opt is disabled in wasm/Cargo.toml ([package.metadata.wasm-pack]); --mode no-install
    # uses the wasm-bindgen found on PATH.
    # FEATURES: extra cargo features of dpm-solver-wasm (e.g. `profile`, for the benchmarks only).
    wasm-pack build wasm --release --mode no-install --target "$1" \
        --out-dir "$PWD/$OUT/$1" --out-name dpm_solver ${FEATURES:+-- --features "$FEATURES"}
    node -e '
        const fs = require("fs"), p = process.argv[1] + "/package.json";
        const j = JSON.parse(fs.readFileSync(p, "utf8"));
        j.name = "dpm-solver";
        j.description = "DPM-Solver / DPM-Solver++ diffusion sampling in WebAssembly: an ask/tell sampler for any model runtime and an ONNX (tract) pipeline that draws on a canvas";
        j.keywords = ["diffusion", "dpm-solver", "wasm", "onnx", "sampler"];
        j.files = [...new Set([...(j.files || []), "README.md"])];
        fs.writeFileSync(p, JSON.stringify(j, null, 2) + "\n");
    ' "$OUT/$1"
    rm -f "$OUT/$1/.gitignore"
    # The "name" section (function names for stack traces) is 2.6 MB of the 13.1 MB module and
    # 0.6 MB of its 3.06 MB gzip (wasm/BENCHMARKS.md "Package sizes"); a panic's message and
    # place are in the data, not there. NAMES=1 keeps it (for profiling in devtools).
    if [[ "${NAMES:-0}" != 1 ]]; then node wasm/js/strip-names.cjs "$OUT/$1/dpm_solver_bg.wasm"; fi
}
build web
if [[ "${BUNDLER:-0}" == 1 ]]; then build bundler; fi

# The relaxed-SIMD build of the same crate (`+simd128,+relaxed-simd`: tract's matrix products
# with fused multiply-adds), shipped next to it as dpm_solver_relaxed_bg.wasm; init() picks it
# where the engine validates relaxed SIMD (wasm/js/index.js). It shares the glue JS, which is
# checked to be the same. Its own target dir (RUSTFLAGS differ): RELAXED_TARGET_DIR, by default
# relaxed/ inside CARGO_TARGET_DIR. RELAXED=0 leaves it out (then init() falls back to the simd128
# build everywhere).
if [[ "${RELAXED:-1}" == 1 && "${SIMD:-1}" == 1 ]]; then
    rdir="$OUT/relaxed-build"
    rm -rf "$rdir"
    RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd" \
    CARGO_TARGET_DIR="${RELAXED_TARGET_DIR:-${CARGO_TARGET_DIR:-target}/relaxed}" \
    wasm-pack build wasm --release --mode no-install --target web --no-pack \
        --out-dir "$PWD/$rdir" --out-name dpm_solver ${FEATURES:+-- --features "$FEATURES"}
    cmp "$rdir/dpm_solver.js" "$OUT/web/dpm_solver.js"
    mv "$rdir/dpm_solver_bg.wasm" "$OUT/web/dpm_solver_relaxed_bg.wasm"
    # Without its name section too, as the simd128 file (it was left in: 3.07 instead of 2.47 MB
    # gzip for the file Chromium downloads; wasm/BENCHMARKS.md "Package sizes").
    if [[ "${NAMES:-0}" != 1 ]]; then node wasm/js/strip-names.cjs "$OUT/web/dpm_solver_relaxed_bg.wasm"; fi
    rm -rf "$rdir"
fi

# The sampler-only build (no tract: `--no-default-features`) inside the web package, as
# `dpm-solver/sampler`; then the JS entry modules (wasm/js: init guards, Node init, Model
# loading and generateAsync, the worker wrapper), the licenses and the exports map.
# Built for size: opt-level "z", fat LTO and one codegen unit (110 kB instead of 119 kB gzip,
# wasm/BENCHMARKS.md "Package sizes"; the same float operations, so the same numbers).
if [[ "${SAMPLER:-1}" == 1 ]]; then
    CARGO_PROFILE_RELEASE_OPT_LEVEL=z CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
    wasm-pack build wasm --release --mode no-install --target web --no-pack \
        --out-dir "$PWD/$OUT/web/sampler" --out-name dpm_solver_sampler -- --no-default-features
    rm -f "$OUT/web/sampler/.gitignore" "$OUT/web/sampler/package.json" "$OUT/web/sampler/README.md"
    node wasm/js/strip-names.cjs "$OUT/web/sampler/dpm_solver_sampler_bg.wasm"
fi
cp wasm/js/*.js wasm/js/*.d.ts LICENSE-MIT LICENSE-APACHE "$OUT/web/"
node wasm/js/package-json.cjs "$OUT/web"
ls -l "$OUT/web" "$OUT/web/sampler"
