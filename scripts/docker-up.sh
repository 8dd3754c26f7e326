#!/usr/bin/env bash
# Brings up what the container executors need, idempotently (CI runs it as root on a fresh
# Debian 12 machine): a running dockerd, a single-node swarm, and the base images.
#   - dockerd is started in the background when `docker info` fails (log: /var/log/bosun-dockerd.log)
#   - `docker swarm init --advertise-addr 127.0.0.1` when the engine is not in a swarm
#   - scripts/build-base-images.sh (cached; a no-op when the images exist)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "docker-up: $*" >&2; }

start_dockerd() {
  if docker info >/dev/null 2>&1; then return 0; fi
  if ! command -v dockerd >/dev/null 2>&1; then
    log "dockerd is not installed (apt-get install docker.io)"; return 1
  fi
  if [[ $(id -u) -ne 0 ]]; then log "dockerd is not running and we are not root"; return 1; fi
  log "starting dockerd (log: /var/log/bosun-dockerd.log)"
  # containerd is started by dockerd itself when no system containerd answers.
  # setsid: its own session, so it outlives the shell (and process group) that started it.
  setsid nohup dockerd >>/var/log/bosun-dockerd.log 2>&1 </dev/null &
  local i
  for i in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then log "dockerd ready after ~$((i / 2)) s"; return 0; fi
    sleep 0.5
  done
  log "dockerd did not answer within 30 s; last log lines:"
  tail -n 30 /var/log/bosun-dockerd.log >&2 || true
  return 1
}

init_swarm() {
  local state
  state=$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo unknown)
  if [[ $state == active ]]; then return 0; fi
  log "initialising a single-node swarm (state was: $state)"
  docker swarm init --advertise-addr 127.0.0.1 >/dev/null
}

start_dockerd
init_swarm
bash scripts/build-base-images.sh
