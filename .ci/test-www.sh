#!/usr/bin/env bash
# Browser test of the demo: builds the package into www/pkg, then drives Debian's Chromium
# (headless) with playwright-core over the page served on 127.0.0.1 (www/tests/browser.test.mjs).
# Screenshot: target/www-demo.png.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/lib.sh
apt_install node nodejs npm
apt_install chromium chromium

bash wasm/tests-js/build-package.sh
rm -rf www/pkg
cp -r target/pkg/web www/pkg

(cd www/tests && npm ci --no-audit --no-fund)
cd www/tests
node --test --test-reporter=spec browser.test.mjs
