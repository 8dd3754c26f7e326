#!/usr/bin/env bash
# A real two-node swarm on this machine, for test/multinode (idempotent; run after docker-up.sh):
#   - a second dockerd inside the network namespace $BOSUN_NODE2_NETNS (only the network
#     namespace: `ip netns exec` would remount /sys and dockerd fails), joined as a worker
#   - a registry both nodes reach (the `docker-registry` package) on $BOSUN_REGISTRY_ADDR,
#     trusted over plain HTTP by both engines
#   - a 1 s dispatcher heartbeat, so a dead node is marked down within seconds
# `--engine-only`: just (re)start the second dockerd (multinode-down.sh uses it to clean up a
# node a test killed). Undo with scripts/multinode-down.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/swarm-net.sh
log() { echo "multinode-up: $*" >&2; }

REGISTRY_DIR=/var/lib/bosun-registry
REGISTRY_PID=/var/run/bosun-registry.pid

registry_answers() {
  node -e 'fetch(process.argv[1], { signal: AbortSignal.timeout(2000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' \
    "http://$BOSUN_REGISTRY_ADDR/v2/"
}

start_registry() {
  if registry_answers; then return 0; fi
  mkdir -p "$REGISTRY_DIR"
  cat >"$REGISTRY_DIR/config.yml" <<YAML
version: 0.1
log: { level: warn }
storage:
  filesystem: { rootdirectory: $REGISTRY_DIR/data }
  delete: { enabled: true }
http:
  addr: $BOSUN_REGISTRY_ADDR
YAML
  log "starting the registry on $BOSUN_REGISTRY_ADDR"
  setsid nohup docker-registry serve "$REGISTRY_DIR/config.yml" >>/var/log/bosun-registry.log 2>&1 </dev/null &
  echo $! >"$REGISTRY_PID"
  for _ in $(seq 1 40); do
    if registry_answers; then return 0; fi
    sleep 0.25
  done
  log "the registry did not answer"; tail -n 20 /var/log/bosun-registry.log >&2; return 1
}

start_node2() {
  if "${NODE2[@]}" info >/dev/null 2>&1; then return 0; fi
  mkdir -p /var/run/bosun-node2 /var/lib/bosun-node2
  # Its own config file: the manager's /etc/docker/daemon.json is not for this engine.
  printf '{ "insecure-registries": ["%s"] }\n' "$BOSUN_REGISTRY_ADDR" >/var/lib/bosun-node2/daemon.json
  log "starting the second engine in netns $BOSUN_NODE2_NETNS"
  setsid nohup nsenter --net="/var/run/netns/$BOSUN_NODE2_NETNS" dockerd \
    --data-root /var/lib/bosun-node2 --exec-root /var/run/bosun-node2/exec --pidfile "$NODE2_PID" \
    -H "unix://$NODE2_SOCK" --iptables=false --bridge=none \
    --config-file /var/lib/bosun-node2/daemon.json \
    --containerd-namespace bosun-node2 --containerd-plugins-namespace bosun-node2-plugins \
    >>/var/log/bosun-node2-dockerd.log 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    if "${NODE2[@]}" info >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  log "the second engine did not answer; last log lines:"; tail -n 30 /var/log/bosun-node2-dockerd.log >&2; return 1
}

join_node2() {
  local state
  state=$("${NODE2[@]}" info --format '{{.Swarm.LocalNodeState}}')
  if [[ $state == active ]]; then return 0; fi
  if [[ $state != inactive ]]; then "${NODE2[@]}" swarm leave --force >/dev/null 2>&1 || true; fi
  log "joining the second engine to the swarm"
  "${NODE2[@]}" swarm join --token "$(docker swarm join-token -q worker)" \
    --advertise-addr "$BOSUN_NODE2_ADDR" --listen-addr "$BOSUN_NODE2_ADDR:2377" "$BOSUN_MANAGER_ADDR:2377" >/dev/null
}

ensure_node2_link
if [[ ${1:-} == --engine-only ]]; then start_node2; exit 0; fi
docker swarm update --dispatcher-heartbeat 1s >/dev/null
start_registry
start_node2
join_node2
# Wait until the manager sees two ready nodes.
for _ in $(seq 1 60); do
  ready=$(docker node ls --format '{{.Status}} {{.Availability}}' | grep -c '^Ready Active' || true)
  if [[ $ready -ge 2 ]]; then log "two nodes ready"; exit 0; fi
  sleep 0.5
done
docker node ls >&2; log "the second node did not become ready"; exit 1
