#!/usr/bin/env bash
# `npm run bench`: compiles the server and the bench to JavaScript (tsconfig.bench.json, into
# .bench-dist), then runs the compiled bench on plain node — Bosun's in-process server and
# workers, and every `bosun start` it spawns, run the compiled code, never tsx. The bench takes
# /tmp/bosun-bench.lock alone (the test phases take it shared), so it waits for a test run.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.bench-dist
echo "bench: compiling to $out (tsconfig.bench.json)" >&2
rm -rf "$out"
npx --no-install tsc -p tsconfig.bench.json
# What the compiled code finds beside itself (installRoot is $out): the demo repository, the web
# console's client sources (bundled by esbuild at run time) and the package.json ("type": "module").
ln -s ../examples "$out/examples"
ln -s ../../../../src/http/web/client "$out/src/http/web/client"
cp package.json "$out/package.json"
if ! flock -x -n /tmp/bosun-bench.lock true; then echo "bench: waiting for /tmp/bosun-bench.lock (a test run holds it)" >&2; fi
exec flock -x -o /tmp/bosun-bench.lock node --max-semi-space-size=2 "$out/bench/run.js" "$@"
