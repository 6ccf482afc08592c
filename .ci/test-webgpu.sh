#!/usr/bin/env bash
# The solver step on the GPU (issue 14): headless Chromium with WebGPU on SwiftShader (Vulkan on
# the CPU) runs the demo UNet on onnxruntime-web's WebGPU EP with the package's WGSL plan
# executor and compares it with the CPU paths (wasm/examples-js/webgpu/webgpu.test.mjs).
# Uses the package in target/pkg/web (built by .ci/test-www.sh; built here when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/lib.sh
apt_install node nodejs npm
apt_install chromium chromium
if [[ ! -f target/pkg/web/webgpu.js ]]; then
    bash wasm/tests-js/build-package.sh
fi
cd wasm/examples-js/webgpu
npm ci --no-audit --no-fund
node --test --test-reporter=spec webgpu.test.mjs
