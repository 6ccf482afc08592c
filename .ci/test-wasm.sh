#!/usr/bin/env bash
echo "test-wasm: not built yet" >&2
exit 1
