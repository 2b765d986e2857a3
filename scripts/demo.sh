#!/usr/bin/env bash
# The main job on a fresh machine: set up, build, start a lab, run m-root-xdp on the bundled root zone
# with XDP attached, ask it root questions from the client namespace, show which path answered each,
# then stop everything and clean up. Run as root. The lab's client end runs a pass-through XDP program
# (PEER=xdp), so the daemon is told its peer takes XDP_TX'd frames (--xdp-tx-peer), as a veth whose far
# end runs XDP; with a bare peer `auto` would attach no XDP there and TC would answer alone.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export PATH="$HOME/.cargo/bin:$PATH"
[ "$(id -u)" -eq 0 ] || { echo "scripts/demo.sh must run as root (sudo scripts/demo.sh)" >&2; exit 1; }

bash scripts/setup.sh
cargo build --release

export LAB=demo PEER=xdp
BIN=$ROOT/target/release/m-root-xdp
ZONE=$ROOT/zones/root.zone.2026073102
CTL=/run/m-root-xdp/demo.sock
eval "$(bash scripts/lab.sh env)"
DAEMON_PID=

cleanup() {
    if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -CONT "$DAEMON_PID" 2>/dev/null || true
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    bash scripts/lab.sh down >/dev/null 2>&1 || true
}
trap cleanup EXIT

bash scripts/lab.sh down >/dev/null 2>&1 || true
bash scripts/lab.sh up
LOG=$(mktemp /tmp/m-root-xdp-demo.XXXXXX.log)
ip netns exec "$SRV_NS" "$BIN" run --zone "$ZONE" --iface "$SRV_IF" --addr "$SRV_V4" --addr "$SRV_V6" \
    --identity demo.m-root-xdp --control "$CTL" --xdp-tx-peer >"$LOG" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 100); do
    "$BIN" stats --control "$CTL" --json 2>/dev/null | grep -q '"zone.serial"' && break
    sleep 0.1
done
cat "$LOG"

snapshot() { ip netns exec "$SRV_NS" "$BIN" stats --iface "$SRV_IF" --control "$CTL" --json; }
# Which path answered, from the change in the counters between two snapshots.
who() {
    python3 - "$1" "$2" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
def answers(hook):
    p = hook + ".answer."
    return [k[len(p):] for k in b if k.startswith(p) and k.split(".")[-1] not in ("ipv4", "ipv6") and b[k] > a.get(k, 0)]
xdp, tc = answers("xdp"), answers("tc")
ua, ub = (a.get("userspace") or {}).get("server", {}), (b.get("userspace") or {}).get("server", {})
user = [p for p in ("udp", "tcp") if ub.get(p + "_responses", 0) > ua.get(p + "_responses", 0)]
# Why XDP passed it (the hand-off to the next CPU is how, not why).
passed = [k[len("xdp.pass."):] for k in b if k.startswith("xdp.pass.") and k != "xdp.pass.not-for-us" and ".to-cpu" not in "." + k[len("xdp.pass."):] and b[k] > a.get(k, 0)]
if xdp:
    print("answered by: XDP (" + ", ".join(xdp) + ")")
elif tc:
    print("answered by: TC in the kernel (" + ", ".join(tc) + "; XDP handed it over: " + ", ".join(passed) + ")")
elif user:
    print("answered by: userspace over " + "/".join(user).upper() + (" (XDP passed it up: " + ", ".join(passed) + ")" if passed else ""))
else:
    print("answered by: nobody?")
PY
}
ask() {
    local title=$1; shift
    echo
    echo "==== $title"
    echo "\$ $*"
    local before after
    before=$(snapshot)
    ip netns exec "$CLI_NS" "$@" || echo "(query failed)"
    after=$(snapshot)
    who "$before" "$after"
}
INJ=("$BIN" lab-query --iface "$CLI_IF" --dst-mac "$SRV_MAC")
ask "Referral for www.example.jp, injected as a NIC delivers it, IPv4" "${INJ[@]}" --src "$CLI_V4" --dst "$SRV_V4" www.example.jp A
ask "Same over IPv6, DO=1 (DS + RRSIG)" "${INJ[@]}" --src "$CLI_V6" --dst "$SRV_V6" www.example.jp A --do
ask "Priming query . NS, injected" "${INJ[@]}" --src "$CLI_V4" --dst "$SRV_V4" . NS --bufsize 1232
ask "A TLD that does not exist, injected" "${INJ[@]}" --src "$CLI_V4" --dst "$SRV_V4" no-such-tld A
ask "kdig over UDP/IPv4 (socket-sent: on veth its buffer has no room for the answer, so XDP passes it to TC)" kdig @"$SRV_V4" www.example.jp A +norec +nocookie
ask "kdig over UDP/IPv6, a nonexistent TLD with DNSSEC" kdig @"$SRV_V6" no-such-tld A +dnssec +norec +nocookie
ask "kdig with a DNS cookie (an option the kernel path leaves to userspace)" kdig @"$SRV_V4" www.example.jp A +norec +cookie
ask "kdig over TCP" kdig @"$SRV_V4" www.example.jp A +tcp +norec

echo
echo "==== Counters"
ip netns exec "$SRV_NS" "$BIN" stats --iface "$SRV_IF" --control "$CTL"
echo
echo "demo done: stopping m-root-xdp and removing the lab"
