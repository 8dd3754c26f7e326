# Shared by docker-up.sh and the multi-node scripts (sourced, not run).
# The manager advertises itself on a veth address so that a second engine in its own network
# namespace (the multi-node tests' worker node) can reach it; tech-notes §8 has the recipe.
BOSUN_NODE2_NETNS=${BOSUN_NODE2_NETNS:-bosun-node2}
BOSUN_MANAGER_ADDR=${BOSUN_MANAGER_ADDR:-10.210.0.1}
BOSUN_NODE2_ADDR=${BOSUN_NODE2_ADDR:-10.210.0.2}
BOSUN_REGISTRY_ADDR=${BOSUN_REGISTRY_ADDR:-$BOSUN_MANAGER_ADDR:5055}
# The second engine (multinode-up.sh / -down.sh; test/multinode/two-node-support.ts uses the same paths).
NODE2_SOCK=/var/run/bosun-node2/docker.sock
NODE2_PID=/var/run/bosun-node2/dockerd.pid
NODE2=(docker -H "unix://$NODE2_SOCK")

# The namespace and its veth pair (host side $BOSUN_MANAGER_ADDR/24); idempotent.
ensure_node2_link() {
  if ! ip netns list | grep -qw "$BOSUN_NODE2_NETNS"; then ip netns add "$BOSUN_NODE2_NETNS"; fi
  if ! ip link show bosun-veth-h >/dev/null 2>&1; then
    ip link add bosun-veth-h type veth peer name bosun-veth-n
    ip link set bosun-veth-n netns "$BOSUN_NODE2_NETNS"
  fi
  ip addr replace "$BOSUN_MANAGER_ADDR/24" dev bosun-veth-h
  ip link set bosun-veth-h up
  ip netns exec "$BOSUN_NODE2_NETNS" sh -c "ip addr replace $BOSUN_NODE2_ADDR/24 dev bosun-veth-n; ip link set bosun-veth-n up; ip link set lo up"
}
