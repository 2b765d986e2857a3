#!/usr/bin/env bash
# A two-namespace lab: server and client joined by one veth pair, both ends inside namespaces.
#   scripts/lab.sh up|down|status
# Addresses (documentation/benchmark ranges only): server 198.18.0.1 / 2001:db8::1, client 198.18.0.2 / 2001:db8::2.
# PEER says what the client end is (veth hands XDP_TX'd frames only to a peer running XDP):
#   bare (default): nothing attached, GRO off, as a new veth is (a container's host side, any plain peer);
#   gro: nothing attached, GRO on (XDP_TX'd frames are then lost without an error counted);
#   xdp: a pass-through XDP program, the one peer that takes XDP_TX'd frames.
# LAB (default "mrx") prefixes every name, so several labs can coexist.
set -euo pipefail

LAB=${LAB:-mrx}
PEER=${PEER:-bare}
case "$PEER" in bare|gro|xdp) ;; *) echo "lab.sh: PEER=$PEER is not one of bare, gro, xdp" >&2; exit 2 ;; esac
SRV_NS=${LAB}-srv
CLI_NS=${LAB}-cli
SRV_IF=${LAB}-s
CLI_IF=${LAB}-c
SRV_MAC=${SRV_MAC:-02:00:c6:12:00:01}
CLI_MAC=${CLI_MAC:-02:00:c6:12:00:02}
SRV_V4=198.18.0.1
CLI_V4=198.18.0.2
SRV_V6=2001:db8::1
CLI_V6=2001:db8::2
# Pins live where m-root-xdp puts them inside `ip netns exec` (which remounts /sys): its own bpffs in /run.
PASS_PIN_NAME=lab-${LAB}-pass
PIN_FS=/run/m-root-xdp/bpf
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/m-root-xdp}

has_ns() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$1"; }

up() {
    [ -x "$BIN" ] || { echo "lab.sh: $BIN not built (cargo build --release)" >&2; exit 1; }
    has_ns "$SRV_NS" || ip netns add "$SRV_NS"
    has_ns "$CLI_NS" || ip netns add "$CLI_NS"
    if ! ip -n "$SRV_NS" link show "$SRV_IF" >/dev/null 2>&1; then
        # Create the pair inside the server namespace, then move one end: nothing stays in the root namespace.
        # QUEUES (default 1): rx/tx queues per end; packet generators run one thread per queue.
        local q=${QUEUES:-1}
        ip -n "$SRV_NS" link add "$SRV_IF" address "$SRV_MAC" numtxqueues "$q" numrxqueues "$q" type veth \
            peer name "$CLI_IF" address "$CLI_MAC" numtxqueues "$q" numrxqueues "$q"
        ip -n "$SRV_NS" link set "$CLI_IF" netns "$CLI_NS"
    fi
    for ns in "$SRV_NS" "$CLI_NS"; do ip -n "$ns" link set lo up; done
    ip -n "$SRV_NS" addr replace "$SRV_V4/24" dev "$SRV_IF"
    ip -n "$CLI_NS" addr replace "$CLI_V4/24" dev "$CLI_IF"
    ip -n "$SRV_NS" addr replace "$SRV_V6/64" dev "$SRV_IF" nodad
    ip -n "$CLI_NS" addr replace "$CLI_V6/64" dev "$CLI_IF" nodad
    ip -n "$SRV_NS" link set "$SRV_IF" up
    # RPS_CPUS (hex CPU mask, default none): steer the server end's receive processing (the stack, TC) to
    # these CPUs. veth has one queue; without RPS everything a generator sends is processed on the
    # generator's own CPU, in its send call, as a single-queue NIC without RSS would do.
    if [ -n "${RPS_CPUS:-}" ]; then
        ip netns exec "$SRV_NS" sh -c "for q in /sys/class/net/$SRV_IF/queues/rx-*; do echo $RPS_CPUS > \$q/rps_cpus; done"
    fi
    ip -n "$CLI_NS" link set "$CLI_IF" up
    # Static neighbours: the injector and the packet generators need no ARP/ND round first.
    ip -n "$CLI_NS" neigh replace "$SRV_V4" lladdr "$SRV_MAC" dev "$CLI_IF" nud permanent
    ip -n "$CLI_NS" neigh replace "$SRV_V6" lladdr "$SRV_MAC" dev "$CLI_IF" nud permanent
    ip -n "$SRV_NS" neigh replace "$CLI_V4" lladdr "$CLI_MAC" dev "$SRV_IF" nud permanent
    ip -n "$SRV_NS" neigh replace "$CLI_V6" lladdr "$CLI_MAC" dev "$SRV_IF" nud permanent
    # `ip netns exec` runs in a fresh mount namespace with a new /sys, so pins go to a bpffs mounted here,
    # in the root mount namespace, where every `ip netns exec` sees it and it outlives each command.
    mkdir -p "$PIN_FS"
    mountpoint -q "$PIN_FS" || mount -t bpf bpf "$PIN_FS"
    # A generator that brings its own XDP program (kxdpgun, the bench's counter) wants PEER=bare.
    case "$PEER" in
        bare) ip netns exec "$CLI_NS" ethtool -K "$CLI_IF" gro off >/dev/null ;;
        gro) ip netns exec "$CLI_NS" ethtool -K "$CLI_IF" gro on >/dev/null ;;
        xdp)
            if ! ip -n "$CLI_NS" link show "$CLI_IF" | grep -q 'prog/xdp'; then
                ip netns exec "$CLI_NS" "$BIN" lab-pass --iface "$CLI_IF" --pin "$PASS_PIN_NAME"
            fi
            ;;
    esac
    echo "lab $LAB up (client end: $PEER peer): $SRV_NS/$SRV_IF ($SRV_V4, $SRV_V6, $SRV_MAC) <-> $CLI_NS/$CLI_IF ($CLI_V4, $CLI_V6, $CLI_MAC)"
}

down() {
    rm -f "$PIN_FS/$PASS_PIN_NAME"
    has_ns "$CLI_NS" && ip netns del "$CLI_NS"
    has_ns "$SRV_NS" && ip netns del "$SRV_NS"
    # Unmount our bpffs once nothing is pinned in it any more and no other lab is up: another lab may have
    # mounted it and not pinned yet, and a daemon started by `ip netns exec` without it would mount a
    # private one that `stats` cannot see. Labs create their namespaces before they mount.
    # (bpffs always holds its own maps.debug and progs.debug.)
    local others
    others=$(ip netns list 2>/dev/null | awk '{print $1}' | grep -E -- '-(srv|cli)$' || true)
    if [ -z "$others" ] && mountpoint -q "$PIN_FS" && [ -z "$(ls -A "$PIN_FS" | grep -v '\.debug$')" ]; then umount "$PIN_FS"; fi
    echo "lab $LAB down"
}

status() {
    for ns in "$SRV_NS" "$CLI_NS"; do
        if has_ns "$ns"; then
            echo "== $ns"
            ip -n "$ns" -br addr
            ip -n "$ns" link show | grep -o 'prog/xdp id [0-9]*' || true
        else
            echo "== $ns: absent"
        fi
    done
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    env) echo "LAB=$LAB SRV_NS=$SRV_NS CLI_NS=$CLI_NS SRV_IF=$SRV_IF CLI_IF=$CLI_IF SRV_MAC=$SRV_MAC CLI_MAC=$CLI_MAC SRV_V4=$SRV_V4 CLI_V4=$CLI_V4 SRV_V6=$SRV_V6 CLI_V6=$CLI_V6" ;;
    *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
