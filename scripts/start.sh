#!/usr/bin/env bash
# Starts Bosun on the embedded defaults: installs what is missing (redis-server, git,
# node modules), then runs `bosun start` in the foreground. With Docker available
# (BOSUN_WITH_DOCKER=1) it also starts dockerd + a single-node swarm and builds the base
# images, so steps run in containers; otherwise the local executor runs them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
if [[ "${BOSUN_WITH_DOCKER:-0}" == 1 && -f scripts/docker-up.sh ]]; then bash scripts/docker-up.sh; fi
exec ./bin/bosun start "$@"
