#!/usr/bin/env bash
# `make demo`: builds the npm package (wasm-pack, --target web, wasm SIMD), copies it next to the
# page as www/pkg/, and serves www/ on http://127.0.0.1:${PORT:-8080}/ (Ctrl-C to stop).
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/lib.sh
apt_install node nodejs npm

bash wasm/tests-js/build-package.sh
rm -rf www/pkg
cp -r target/pkg/web www/pkg
# onnxruntime-web for the demo's WebGPU runtime (offered only where it is served).
(cd wasm/examples-js/webgpu && npm ci --no-audit --no-fund)
rm -rf www/ort && mkdir -p www/ort
cp wasm/examples-js/webgpu/node_modules/onnxruntime-web/dist/{ort.webgpu.min.mjs,ort-wasm-simd-threaded.asyncify.mjs,ort-wasm-simd-threaded.asyncify.wasm,ort-wasm-simd-threaded.jsep.mjs,ort-wasm-simd-threaded.jsep.wasm} www/ort/
exec node www/serve.mjs "${PORT:-8080}"
