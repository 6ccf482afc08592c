#!/usr/bin/env bash
# The npm package (wasm/ built with wasm-pack): node tests of the Sampler (reference
# conformance from JS), the Model pipeline, draw helpers and errors; the pipeline's native Rust
# tests; then `npm pack` installed into a scratch folder and imported from there.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/lib.sh
apt_install node nodejs npm

# One package for browsers, bundlers and Node (target/pkg/web; bundlers are tested from the
# packed tarball by .ci/test-npm.sh).
bash wasm/tests-js/build-package.sh

# The native float32 results of the diffusers cases, which the JS Sampler({ scheduler }) must
# reproduce (wasm/tests-js/diffusers.test.mjs).
mkdir -p target
cargo run --release -q -p dpm-solver-tests --example diffusers_f32 -- --out target/diffusers-f32.json
# The cross-entry options table as native command lines (wasm/tests-js/options.test.mjs
# compares the JS Sampler and Model.generate with it).
cargo run --release -q -p dpm-solver-tests --example options -- \
    --table tests/fixtures/options_table.json > target/options-native.json

# The generated TypeScript types, checked (strict) against typical use, and the README's
# snippets extracted and checked the same way (wasm/tests-js/types/readme.mjs).
(cd wasm/tests-js/types && npm ci --no-audit --no-fund --silent && npm run -s check)
echo "typescript types and README snippets: ok"

# Node's built-in test runner (no npm dependencies); prints pass/fail counts.
node --test --test-reporter=spec wasm/tests-js/*.test.mjs

# The pipeline's own Rust tests, natively (release: tract is ~30x slower in a debug build).
cargo test --release -p dpm-solver-wasm

# The packed package, installed and imported like a user would.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
tarball=$(cd target/pkg/web && npm pack --silent --pack-destination "$scratch" | tail -n 1)
(cd "$scratch" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund "./$tarball")
cp wasm/tests-js/packed.check.mjs "$scratch/"
node --test --test-reporter=spec "$scratch/packed.check.mjs"
