#!/usr/bin/env bash
echo "test-embedded: not built yet" >&2
exit 1
