#!/usr/bin/env bash
# Anycast in a rack: a router running BIRD 2 with BGP (and BFD) sessions to NODES server namespaces, each
# running a routing daemon and m-root-xdp on the same service addresses, and a client namespace behind
# the router. The router spreads flows over the nodes that announce (ECMP, hashed on L4). A node's
# routing daemon is BIRD 2 from docs/examples/bird-node.conf, or FRR (zebra, bgpd, bfdd) from
# docs/examples/frr-node.conf for the nodes in FRR_NODES (e.g. FRR_NODES=2; fixed at `up`), each with
# the example's addresses replaced by the node's.
#   scripts/anycast-lab.sh up|down|env|stop N|kill N|lose N|start N|drain N|undrain N|primary-stop|primary-start|routes
# kill N: SIGKILL to node N's m-root-xdp (its routing daemon stays); lose N: node N freezes whole (its
# routing daemon and m-root-xdp stopped with SIGSTOP: nothing is sent, not even a FIN), so the router
# notices only by BFD or the hold timer; start N resumes what is frozen and starts what is not running.
# env prints shell assignments: CLIENT_NS=... ANYCAST4=... ANYCAST6=... NODES="..." (and more).
# Addresses (benchmark/documentation ranges only): service 198.18.53.1 / 2001:db8:53::1 (on each node's
# lo, announced as 198.18.53.0/24 / 2001:db8:53::/48); client 198.18.10.2 / 2001:db8:10::2 behind router
# 198.18.10.1 / 2001:db8:10::1; node N on 198.18.2N.2 / 2001:db8:2N::2, the router's end 198.18.2N.1 /
# 2001:db8:2N::1.
# ALAB (default "mra") prefixes every name; NODES (default 2, at most 3). With SECONDARY_ZONE=FILE, knotd
# in the router namespace (198.18.10.1 port 5301) is the primary of that zone and the last node is its
# secondary (the others read the bundled zone): `primary-stop` and `primary-start` take it away and back.
set -euo pipefail

ALAB=${ALAB:-mra}
NODES=${NODES:-2}
# Its names (namespaces, veths, $STATE) are all ALAB's, so two checkouts' labs run side by side.
[[ "$ALAB" =~ ^[a-z0-9]{1,10}$ ]] || { echo "anycast-lab.sh: ALAB=$ALAB is not 1-10 of a-z0-9 (veth names)" >&2; exit 2; }
[ "$NODES" -ge 1 ] && [ "$NODES" -le 3 ] || { echo "anycast-lab.sh: NODES=$NODES is not 1-3" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/m-root-xdp}
STATE=/run/m-root-xdp/anycast-$ALAB
RTR_NS=$ALAB-rtr
CLI_NS=$ALAB-cli
ANYCAST4=198.18.53.1
ANYCAST6=2001:db8:53::1
# What the nodes announce: the prefixes covering the service addresses (anycast.prefixes), not host
# routes, since FRR's zebra prefers lo's connected /32 and /128 to the announcement device's.
PREFIX4=198.18.53.0/24
PREFIX6=2001:db8:53::/48
DRAIN=${DRAIN:-3}
# The router's BGP peerings come back within a second or two after an error (a node resumed after `lose`);
# BIRD's defaults wait a minute or more, which suits a router but not a lab that runs in a CI job (the
# nodes' examples say the same for their side).
LAB_TIMERS="connect delay time 1; connect retry time 2; error wait time 1, 4;"

has_ns() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$1"; }
node_ns() { echo "$ALAB-n$1"; }

# A veth pair from namespace $1 (end $2, addresses $4/$5) to namespace $3 (end named by the caller).
pair() {
    local a=$1 aif=$2 b=$3 bif=$4
    if ! ip -n "$a" link show "$aif" >/dev/null 2>&1; then
        ip -n "$a" link add "$aif" type veth peer name "$bif"
        ip -n "$a" link set "$bif" netns "$b"
    fi
    ip -n "$a" link set "$aif" up
    ip -n "$b" link set "$bif" up
    # A bare peer as a router's is: GRO off, no XDP program.
    ip netns exec "$a" ethtool -K "$aif" gro off >/dev/null 2>&1 || true
}

router_conf() {
    {
        echo "router id 198.18.10.1;"
        echo "log \"$STATE/bird-rtr.log\" all;"
        echo "protocol device { scan time 1; }"
        # ECMP: the nodes' routes, equal in BGP, merged into one multipath route in the kernel.
        echo "protocol kernel { ipv4 { export all; }; merge paths on; }"
        echo "protocol kernel { ipv6 { export all; }; merge paths on; }"
        echo "protocol bfd { interface \"*\" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }"
        # One BGP peering per node carries both families, as the examples have it on the node's side.
        for n in $(seq 1 "$NODES"); do
            echo "protocol bgp node$n { local 198.18.2$n.1 as 64511; neighbor 198.18.2$n.2 as 64512; bfd on; hold time 9; $LAB_TIMERS"
            echo "  ipv4 { import all; export none; }; ipv6 { import all; export none; }; }"
        done
    } > "$STATE/bird-rtr.conf"
}

# Node $1's routing daemon: bird or frr (chosen at `up` from FRR_NODES, kept in $STATE).
routing() {
    if [ -f "$STATE/routing-n$1" ]; then cat "$STATE/routing-n$1"
    elif [[ " ${FRR_NODES:-} " == *" $1 "* ]]; then echo frr
    else echo bird; fi
}

# The processes of node $1's routing daemon, as named under $STATE.
routing_procs() {
    case "$(routing "$1")" in
        frr) echo "zebra-n$1 bfdd-n$1 bgpd-n$1" ;;
        *) echo "bird-n$1" ;;
    esac
}

# docs/examples/$2 for node $1: the example's node (198.51.100.10) and router (198.51.100.1) replaced by
# the lab's, and nothing else of the example's addresses left but in comments (`#` BIRD's, `!` FRR's).
from_example() {
    local out
    out=$(sed -E -e "s/198\.51\.100\.10\b/198.18.2$1.2/g" -e "s/198\.51\.100\.1\b/198.18.2$1.1/g" "$ROOT/docs/examples/$2")
    if grep -v '^[[:space:]]*[#!]' <<< "$out" | grep -q '198\.51\.100\.'; then
        echo "anycast-lab.sh: docs/examples/$2 has addresses the lab does not replace" >&2
        exit 1
    fi
    printf '%s\n' "$out"
}

# The routing daemon's and m-root-xdp's configurations for node $1.
node_conf() {
    local n=$1 kind
    kind=$(routing "$n")
    echo "$kind" > "$STATE/routing-n$n"
    from_example "$n" bird-node.conf | sed "/^router id/a log \"$STATE/bird-n$n.log\" all;" > "$STATE/bird-n$n.conf"
    from_example "$n" frr-node.conf > "$STATE/frr-n$n.conf"
    local secondary=""
    if [ -n "${SECONDARY_ZONE:-}" ] && [ "$n" = "$NODES" ]; then
        secondary="[secondary]
primaries = [\"198.18.10.1:5301\"]
cache = \"$STATE/n$n.cache\""
    fi
    cat > "$STATE/n$n.toml" <<EOF
zone = "$ROOT/zones/root.zone.2026073102"
addresses = ["$ANYCAST4", "$ANYCAST6"]
interfaces = ["$ALAB-n$n"]
control = "$STATE/n$n.sock"
[anycast]
interface = "anycast0"
probe_interval_ms = ${PROBE_MS:-500}
rise = 2
fall = 2
drain_seconds = $DRAIN
prefixes = ["$PREFIX4", "$PREFIX6"]
$secondary
EOF
}

# knotd as the primary of $SECONDARY_ZONE, transfers to the last node only.
primary_start() {
    [ -n "${SECONDARY_ZONE:-}" ] || return 0
    alive knotd && return 0
    mkdir -p "$STATE/knot"
    cp "$SECONDARY_ZONE" "$STATE/knot/root.zone"
    cat > "$STATE/knot/knot.conf" <<EOF
server:
  rundir: $STATE/knot
  listen: 198.18.10.1@5301
  udp-workers: 1
  tcp-workers: 1
  background-workers: 1
log:
  - target: stdout
    any: info
database:
  storage: $STATE/knot
acl:
  - id: xfr
    address: 198.18.2$NODES.2
    action: transfer
zone:
  - domain: .
    file: $STATE/knot/root.zone
    zonefile-sync: -1
    semantic-checks: off
    dnssec-signing: off
    acl: xfr
EOF
    spawn "$RTR_NS" knotd /usr/sbin/knotd -c "$STATE/knot/knot.conf"
    for _ in $(seq 1 100); do
        ip netns exec "$RTR_NS" kdig @198.18.10.1 -p 5301 . SOA +tcp +short +time=1 +retry=0 2>/dev/null | grep -q . && return 0
        sleep 0.1
    done
    echo "anycast-lab.sh: knotd did not come up (see $STATE/knotd.out)" >&2
    exit 1
}

# Start a process in a namespace, in the background, its PID in $STATE/$2.pid.
spawn() {
    local ns=$1 name=$2; shift 2
    ip netns exec "$ns" "$@" > "$STATE/$name.out" 2>&1 &
    echo $! > "$STATE/$name.pid"
}

alive() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

# Node $1's routing daemon, unless it runs. FRR in a namespace needs paths of its own: its daemons get
# their pid files, vty sockets, zebra's API socket and bfdd's control socket under $STATE/frr-n$1, an
# empty configuration at start, and the example's through vtysh once their vty sockets are there.
start_routing() {
    local n=$1 ns; ns=$(node_ns "$1")
    case "$(routing "$n")" in
        bird)
            alive "bird-n$n" || spawn "$ns" "bird-n$n" bird -f -c "$STATE/bird-n$n.conf" -s "$STATE/bird-n$n.ctl"
            ;;
        frr)
            alive "zebra-n$n" && alive "bfdd-n$n" && alive "bgpd-n$n" && return 0
            command -v vtysh >/dev/null || { echo "anycast-lab.sh: frr not installed: scripts/setup.sh" >&2; exit 1; }
            for p in bgpd bfdd zebra; do stop_pid "$p-n$n" TERM; done
            local dir="$STATE/frr-n$n"
            mkdir -p "$dir"
            rm -f "$dir"/*.vty "$dir"/*.sock "$dir"/zserv.api
            chown frr:frr "$dir"
            local common=(-f /dev/null --vty_socket "$dir" -z "$dir/zserv.api" -u frr -g frr -P 0 --log stdout)
            spawn "$ns" "zebra-n$n" /usr/lib/frr/zebra "${common[@]}" -i "$dir/zebra.pid"
            for _ in $(seq 1 100); do [ -S "$dir/zserv.api" ] && break; sleep 0.1; done
            spawn "$ns" "bfdd-n$n" /usr/lib/frr/bfdd "${common[@]}" -i "$dir/bfdd.pid" --bfdctl "$dir/bfdd.sock"
            spawn "$ns" "bgpd-n$n" /usr/lib/frr/bgpd "${common[@]}" -i "$dir/bgpd.pid"
            for _ in $(seq 1 100); do
                [ -S "$dir/zebra.vty" ] && [ -S "$dir/bfdd.vty" ] && [ -S "$dir/bgpd.vty" ] && break
                sleep 0.1
            done
            ip netns exec "$ns" vtysh --vty_socket "$dir" -f "$STATE/frr-n$n.conf" > "$STATE/vtysh-n$n.out" 2>&1 || {
                echo "anycast-lab.sh: FRR on node $n refused its configuration (see $STATE/vtysh-n$n.out)" >&2
                exit 1
            }
            ;;
    esac
}

start_daemon() {
    local n=$1
    alive "m-root-xdp-n$n" && return 0
    spawn "$(node_ns "$n")" "m-root-xdp-n$n" "$BIN" run --config "$STATE/n$n.toml"
    for _ in $(seq 1 300); do
        [ -S "$STATE/n$n.sock" ] && "$BIN" stats --control "$STATE/n$n.sock" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "anycast-lab.sh: m-root-xdp on node $n did not come up (see $STATE/m-root-xdp-n$n.out)" >&2
    exit 1
}

up() {
    [ -x "$BIN" ] || { echo "anycast-lab.sh: $BIN not built (cargo build --release)" >&2; exit 1; }
    command -v bird >/dev/null || { echo "anycast-lab.sh: bird (bird2) not installed: scripts/setup.sh" >&2; exit 1; }
    mkdir -p "$STATE"
    for ns in "$RTR_NS" "$CLI_NS" $(for n in $(seq 1 "$NODES"); do node_ns "$n"; done); do
        has_ns "$ns" || ip netns add "$ns"
        ip -n "$ns" link set lo up
    done
    pair "$RTR_NS" "$ALAB-rc" "$CLI_NS" "$ALAB-c"
    ip -n "$RTR_NS" addr replace 198.18.10.1/24 dev "$ALAB-rc"
    ip -n "$RTR_NS" addr replace 2001:db8:10::1/64 dev "$ALAB-rc" nodad
    ip -n "$CLI_NS" addr replace 198.18.10.2/24 dev "$ALAB-c"
    ip -n "$CLI_NS" addr replace 2001:db8:10::2/64 dev "$ALAB-c" nodad
    ip -n "$CLI_NS" route replace default via 198.18.10.1
    ip -n "$CLI_NS" -6 route replace default via 2001:db8:10::1
    ip netns exec "$RTR_NS" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
        net.ipv4.fib_multipath_hash_policy=1 net.ipv6.fib_multipath_hash_policy=1
    router_conf
    primary_start
    for n in $(seq 1 "$NODES"); do
        local ns; ns=$(node_ns "$n")
        pair "$RTR_NS" "$ALAB-r$n" "$ns" "$ALAB-n$n"
        ip -n "$RTR_NS" addr replace "198.18.2$n.1/24" dev "$ALAB-r$n"
        ip -n "$RTR_NS" addr replace "2001:db8:2$n::1/64" dev "$ALAB-r$n" nodad
        ip -n "$ns" addr replace "198.18.2$n.2/24" dev "$ALAB-n$n"
        ip -n "$ns" addr replace "2001:db8:2$n::2/64" dev "$ALAB-n$n" nodad
        ip -n "$ns" route replace default via "198.18.2$n.1"
        ip -n "$ns" -6 route replace default via "2001:db8:2$n::1"
        # The service addresses live on lo, where m-root-xdp binds them; anycast0 only announces them.
        ip -n "$ns" addr replace "$ANYCAST4/32" dev lo
        ip -n "$ns" addr replace "$ANYCAST6/128" dev lo nodad
        node_conf "$n"
        start_routing "$n"
        start_daemon "$n"
    done
    alive bird-rtr || spawn "$RTR_NS" bird-rtr bird -f -c "$STATE/bird-rtr.conf" -s "$STATE/bird-rtr.ctl"
    echo "anycast lab $ALAB up: $NODES nodes behind $RTR_NS, client $CLI_NS; service $ANYCAST4 $ANYCAST6"
}

stop_pid() {
    local name=$1 sig=$2
    if alive "$name"; then
        local pid; pid=$(cat "$STATE/$name.pid")
        kill -CONT "$pid" 2>/dev/null || true   # a frozen one (lose) must be able to act on it
        kill "-$sig" "$pid" 2>/dev/null || true
        for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "$STATE/$name.pid"
}

down() {
    for n in 1 2 3; do
        stop_pid "m-root-xdp-n$n" TERM
        for p in bird bgpd bfdd zebra; do stop_pid "$p-n$n" TERM; done
    done
    stop_pid bird-rtr TERM
    stop_pid knotd TERM
    for ns in "$CLI_NS" "$RTR_NS" $(node_ns 1) $(node_ns 2) $(node_ns 3); do has_ns "$ns" && ip netns del "$ns"; done
    rm -rf "$STATE"
    echo "anycast lab $ALAB down"
}

envs() {
    local nodes=""
    for n in $(seq 1 "$NODES"); do nodes="$nodes $(node_ns "$n")"; done
    echo "CLIENT_NS=$CLI_NS"
    echo "CLIENT4=198.18.10.2"
    echo "CLIENT6=2001:db8:10::2"
    echo "ROUTER_NS=$RTR_NS"
    echo "ANYCAST4=$ANYCAST4"
    echo "ANYCAST6=$ANYCAST6"
    echo "PREFIX4=$PREFIX4"
    echo "PREFIX6=$PREFIX6"
    echo "NODES=\"${nodes# }\""
    echo "STATE=$STATE"
    for n in $(seq 1 "$NODES"); do
        echo "CONTROL_$n=$STATE/n$n.sock"
        echo "ROUTING_$n=$(routing "$n")"
    done
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    env) envs ;;
    stop) stop_pid "m-root-xdp-n${2:?node}" TERM ;;
    kill) stop_pid "m-root-xdp-n${2:?node}" KILL ;;
    lose)
        # Frozen whole: the node's routing daemon and m-root-xdp stop (SIGSTOP) and send nothing, no FIN,
        # no withdrawal.
        for p in $(routing_procs "${2:?node}") "m-root-xdp-n$2"; do
            if alive "$p"; then kill -STOP "$(cat "$STATE/$p.pid")"; fi
        done
        ;;
    start)
        for p in $(routing_procs "${2:?node}") "m-root-xdp-n$2"; do
            if alive "$p"; then kill -CONT "$(cat "$STATE/$p.pid")"; fi
        done
        start_routing "$2"
        start_daemon "$2"
        ;;
    drain | undrain) "$BIN" "$1" --control "$STATE/n${2:?node}.sock" ;;
    primary-stop) stop_pid knotd TERM ;;
    primary-start) primary_start ;;
    routes)
        ip -n "$RTR_NS" route show "$PREFIX4"
        ip -n "$RTR_NS" -6 route show "$PREFIX6"
        ;;
    *) echo "usage: $0 up|down|env|stop N|kill N|lose N|start N|drain N|undrain N|primary-stop|primary-start|routes" >&2; exit 2 ;;
esac
