#!/usr/bin/env bash
# Brings up what the container executors need, idempotently (CI runs it as root on a fresh
# Debian 12 machine): a running dockerd, a single-node swarm, and the base images.
#   - dockerd is started in the background when `docker info` fails (log: /var/log/bosun-dockerd.log)
#   - the veth link to the multi-node tests' network namespace (scripts/swarm-net.sh), so the
#     manager can advertise an address a second engine reaches
#   - /etc/docker/daemon.json trusts the local test registry ($BOSUN_REGISTRY_ADDR, plain HTTP)
#   - `docker swarm init --advertise-addr $BOSUN_MANAGER_ADDR` when the engine is not in a swarm
#     (a swarm left on another address by an older run is re-initialised once)
#   - scripts/build-base-images.sh (cached; a no-op when the images exist)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "docker-up: $*" >&2; }
source scripts/swarm-net.sh

# Merge "insecure-registries": [registry] into daemon.json (no flag: a flag and the file
# naming the same option stop dockerd). A running dockerd re-reads it on SIGHUP.
trust_registry() {
  mkdir -p /etc/docker
  node -e '
    const fs = require("fs"); const [file, reg] = process.argv.slice(1);
    let c = {}; try { c = JSON.parse(fs.readFileSync(file, "utf8")); } catch {}
    const list = new Set(c["insecure-registries"] || []);
    if (list.has(reg)) process.exit(0);
    list.add(reg); c["insecure-registries"] = [...list];
    fs.writeFileSync(file, JSON.stringify(c, null, 2) + "\n"); process.exit(3);
  ' /etc/docker/daemon.json "$BOSUN_REGISTRY_ADDR" && return 0
  if docker info >/dev/null 2>&1 && [[ -f /var/run/docker.pid ]]; then
    log "reloading dockerd to trust $BOSUN_REGISTRY_ADDR"; kill -HUP "$(cat /var/run/docker.pid)"; sleep 1
  fi
}

# Local (bridge) networks come from "default-address-pools". Docker's default gives 31 of
# them (172.17-31/16 and 192.168/16 in /20s); every build and test makes its own, and a
# loaded test run can exhaust them ("could not find an available, non-overlapping IPv4
# address pool"). 10.144.0.0/12 in /24s gives 4096 and overlaps neither the swarm's pool
# (10.128.0.0/12, below) nor the test hosts (10.210.x, 10.213.x). Read only when dockerd
# starts: a running dockerd keeps its pools until it is restarted (said below).
address_pools() {
  mkdir -p /etc/docker
  node -e '
    const fs = require("fs"); const [file] = process.argv.slice(1);
    let c = {}; try { c = JSON.parse(fs.readFileSync(file, "utf8")); } catch {}
    if (c["default-address-pools"]) process.exit(0);
    c["default-address-pools"] = [{ base: "10.144.0.0/12", size: 24 }];
    fs.writeFileSync(file, JSON.stringify(c, null, 2) + "\n"); process.exit(3);
  ' /etc/docker/daemon.json && return 0
  if docker info >/dev/null 2>&1; then
    log "default-address-pools written to /etc/docker/daemon.json; the running dockerd uses them after its next restart"
  fi
}

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
  if [[ $state == active ]]; then
    local addr
    addr=$(docker info --format '{{.Swarm.NodeAddr}}')
    if [[ $addr == "$BOSUN_MANAGER_ADDR" ]]; then return 0; fi
    log "the swarm advertises $addr, not $BOSUN_MANAGER_ADDR: re-initialising it"
    docker swarm leave --force >/dev/null
  fi
  log "initialising a single-node swarm on $BOSUN_MANAGER_ADDR (state was: $state)"
  docker swarm init --advertise-addr "$BOSUN_MANAGER_ADDR" --listen-addr "$BOSUN_MANAGER_ADDR:2377" \
    --default-addr-pool 10.128.0.0/12 >/dev/null
}

ensure_node2_link
trust_registry
address_pools
start_dockerd
init_swarm
bash scripts/build-base-images.sh
