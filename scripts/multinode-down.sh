#!/usr/bin/env bash
# Undo scripts/multinode-up.sh: the second engine leaves the swarm (its containers removed,
# its dockerd stopped, its data root deleted), its node is removed from the manager, the
# registry is stopped.
# Leaves the network namespace and veth (docker-up.sh's, the manager advertises on them).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/swarm-net.sh
log() { echo "multinode-down: $*" >&2; }

# A node a test killed: restart its engine so it removes the containers it left running.
if ! "${NODE2[@]}" info >/dev/null 2>&1 && [[ -d /var/lib/bosun-node2 ]]; then
  bash scripts/multinode-up.sh --engine-only || log "could not restart the second engine"
fi
if "${NODE2[@]}" info >/dev/null 2>&1; then
  id=$("${NODE2[@]}" info --format '{{.Swarm.NodeID}}')
  "${NODE2[@]}" swarm leave --force >/dev/null 2>&1 || true
  containers=$("${NODE2[@]}" ps -aq)
  if [[ -n $containers ]]; then "${NODE2[@]}" rm -f $containers >/dev/null 2>&1 || true; fi
  if [[ -n $id ]]; then docker node rm --force "$id" >/dev/null 2>&1 || true; fi
fi
if [[ -f $NODE2_PID ]]; then
  pid=$(cat "$NODE2_PID")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true
fi
# A clean slate for the next run (images come from the registry again). A stopped dockerd
# leaves its data root's bind mount and network-namespace mounts behind: unmount them first.
if ! pgrep -f 'dockerd --data-root /var/lib/bosun-node2' >/dev/null; then
  for m in $(awk '$2 ~ "^(/var/lib/bosun-node2|/run/bosun-node2|/var/run/bosun-node2)" {print $2}' /proc/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  if ! grep -qE ' (/var/lib|/run|/var/run)/bosun-node2' /proc/mounts; then rm -rf /var/lib/bosun-node2 /var/run/bosun-node2; fi
fi
# Nodes the manager still lists as down (a node that died without leaving).
for id in $(docker node ls --filter role=worker --format '{{.ID}} {{.Status}}' 2>/dev/null | awk '$2 == "Down" {print $1}'); do
  docker node rm --force "$id" >/dev/null 2>&1 || true
done
if [[ -f /var/run/bosun-registry.pid ]]; then kill "$(cat /var/run/bosun-registry.pid)" 2>/dev/null || true; rm -f /var/run/bosun-registry.pid; fi
log "done"
