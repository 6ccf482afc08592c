#!/usr/bin/env bash
echo "test-www: not built yet" >&2
exit 1
