#!/usr/bin/env bash
# The whole suite: installs what is missing, starts what the tests need, then lint,
# typecheck, schema freshness and every test. `.ci/run` calls exactly this (`npm test`).
set -euo pipefail
cd "$(dirname "$0")/.."

export BOSUN_WITH_DOCKER=1
bash scripts/install-deps.sh
if [[ -f scripts/docker-up.sh ]]; then bash scripts/docker-up.sh; fi

echo "== lint"; npx eslint .
echo "== typecheck"; npx tsc --noEmit
echo "== tests"
# Node 20's test runner takes no globs: bash expands them.
shopt -s globstar nullglob
files=(test/**/*.test.ts)
node --import tsx --test --test-concurrency="${BOSUN_TEST_CONCURRENCY:-2}" --test-timeout=600000 "${files[@]}"
