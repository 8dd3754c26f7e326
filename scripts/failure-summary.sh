#!/usr/bin/env bash
# Prints every failed test of a node:test TAP log — its "not ok" line and its YAML block
# (location, error, stack head) — so that the end of a long CI log names what failed.
set -euo pipefail
log=${1:?usage: failure-summary.sh <tap-log>}
echo
echo "== failed tests (from $log)"
awk '
  /^[[:space:]]*not ok / { inblock = 1; n = 0; match($0, /^[[:space:]]*/); indent = RLENGTH; print; next }
  inblock {
    match($0, /^[[:space:]]*/)
    if (n < 40) print
    n++
    if ($0 ~ /^[[:space:]]*\.\.\.$/ && RLENGTH <= indent + 2) { inblock = 0; print "" }
  }
' "$log" | head -c 60000
