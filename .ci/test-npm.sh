#!/usr/bin/env bash
# The npm package as a web developer adopts it: `npm pack` of target/pkg/web installed into a
# scratch folder (target/npm-user) beside vite, webpack, onnxruntime-web and playwright-core
# (`npm ci` from wasm/tests-npm's lockfile); a Vite app and a webpack app (wasm/tests-npm/
# web-app, using dpm-solver/worker) built; a Node ESM script writing a PNG; the
# onnxruntime-web example (wasm/examples-js/onnxruntime-web) in Node; then the built apps and
# the example served on 127.0.0.1 in headless Chromium (wasm/tests-npm/user.test.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/lib.sh
apt_install node nodejs npm
apt_install chromium chromium

bash wasm/tests-js/build-package.sh

root=$PWD
scratch=$root/target/npm-user
rm -rf "$scratch"
mkdir -p "$scratch"
cp wasm/tests-npm/package.json wasm/tests-npm/package-lock.json wasm/tests-npm/*.mjs "$scratch/"
tarball=$(cd target/pkg/web && npm pack --silent --pack-destination "$scratch" | tail -n 1)
cd "$scratch"
npm ci --no-audit --no-fund
npm install --no-save --no-audit --no-fund "./$tarball"
cp "$root/www/models/unet.onnx" .

# Vite: the page and `worker: { format: 'es' }`.
mkdir -p vite-app/public
cp "$root"/wasm/tests-npm/web-app/* "$root"/wasm/tests-npm/vite-app/* vite-app/
cp unet.onnx vite-app/public/
(cd vite-app && npx vite build --logLevel warn)

# webpack 5: the page, no loader or plugin.
mkdir -p webpack-app
cp "$root"/wasm/tests-npm/web-app/* "$root"/wasm/tests-npm/webpack-app/* webpack-app/
(cd webpack-app && npx webpack --config webpack.config.cjs --stats errors-warnings)
cp webpack-app/index.html unet.onnx webpack-app/dist/

# Node: an ESM script writes a PNG; the onnxruntime-web example runs in Node.
mkdir -p node-app ort
cp "$root/wasm/tests-npm/node-app/generate.mjs" node-app/
NODE_APP_OUT=$(node node-app/generate.mjs unet.onnx digits.png)
cp "$root"/wasm/examples-js/onnxruntime-web/{sample.js,node.mjs,main.js,index.html} unet.onnx ort/
ln -s ../node_modules ort/node_modules
ORT_NODE_OUT=$(cd ort && node node.mjs)
export NODE_APP_OUT ORT_NODE_OUT
node --test --test-reporter=spec check-node.mjs

# The browser: both bundled apps and the example page.
node --test --test-reporter=spec user.test.mjs
