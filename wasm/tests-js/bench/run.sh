#!/usr/bin/env bash
# The measurements of wasm/BENCHMARKS.md, side by side in one run (from the repository root):
#   bash wasm/tests-js/bench/run.sh
# Builds the SIMD package (target/pkg/web) and a no-SIMD one (target/pkg-nosimd/web, own
# target dir), then: .wasm sizes, native tract (wasm/examples/sample.rs), and node
# (wasm/tests-js/bench/bench.mjs: ours SIMD / no SIMD / onnxruntime-web wasm).
set -euo pipefail
cd "$(dirname "$0")/../../.."
REPEATS=${REPEATS:-5}

bash wasm/tests-js/build-package.sh >/dev/null
SIMD=0 PKG_OUT=target/pkg-nosimd CARGO_TARGET_DIR=${NOSIMD_TARGET_DIR:-$PWD/target/wasm-nosimd} \
    bash wasm/tests-js/build-package.sh >/dev/null
if [[ "${OPT_S:-0}" == 1 ]]; then
    CARGO_PROFILE_RELEASE_OPT_LEVEL=s PKG_OUT=target/pkg-opts CARGO_TARGET_DIR=${OPTS_TARGET_DIR:-$PWD/target/wasm-opts} \
        bash wasm/tests-js/build-package.sh >/dev/null
fi

echo "## .wasm size (bytes): raw, gzip -9"
for p in target/pkg/web target/pkg-nosimd/web target/pkg-opts/web; do
    f=$p/dpm_solver_bg.wasm
    [[ -f $f ]] && echo "$f: $(stat -c %s "$f") raw, $(gzip -9 -c "$f" | wc -c) gzip"
done

echo "## native tract (x86_64, 1 thread), wasm/examples/sample.rs"
# NATIVE_SAMPLE: an already built `sample` example (otherwise built here, a cold native tract build).
SAMPLE=${NATIVE_SAMPLE:-target/release/examples/sample}
[[ -n "${NATIVE_SAMPLE:-}" ]] || cargo build --release -q -p dpm-solver-wasm --example sample
for guidance in 2 1; do
    for i in $(seq "$REPEATS"); do
        "$SAMPLE" --quiet --batch 16 --class 7 --guidance $guidance --steps 10 --spacing logSNR --out /tmp/bench-native.png
    done
done

echo "## node $(node --version) --no-liftoff"
(cd wasm/tests-js/bench && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --silent)
DPM_PKG_NOSIMD=target/pkg-nosimd/web node --no-liftoff wasm/tests-js/bench/bench.mjs "$REPEATS"
