#!/usr/bin/env bash
# A Debian 12 system with systemd as PID 1, in a systemd-nspawn container inside a lab network namespace,
# so that the package's unit runs as systemd runs it (its User=, capabilities, sandboxing, Type=notify,
# ExecReload, Restart=) on machines whose own PID 1 is not systemd.
#   scripts/systemd-lab.sh setup        install systemd-container and debootstrap; build the root file
#                                       system once (about 90 s, 260 MB, cached in $CACHE)
#   scripts/systemd-lab.sh up           namespaces NAME-srv (the container's) and NAME-cli joined by a veth,
#                                       boot the container in NAME-srv, wait until systemd says running
#   scripts/systemd-lab.sh run CMD...   run CMD inside the container (all its namespaces, clean environment)
#   scripts/systemd-lab.sh down         power it off, end the nspawn process this script started (by PID),
#                                       remove the namespaces, the cgroups and the bpffs it made
# LAB (default "mrxs") names the namespaces, the veth ends (LAB-s in the container, LAB-c at the client)
# and the machine. Addresses: container 198.18.0.1 / 2001:db8::1, client 198.18.0.2 / 2001:db8::2.
#
# What it takes on such a host (systemd 252, hybrid cgroups, no system bus), each found by trying:
# --register=no --keep-unit (else "Failed to open system bus"); started from a cgroup of our own in both
# hierarchies (else nspawn's payload cgroup lands at the host's root); --capability for CAP_NET_ADMIN,
# CAP_BPF and CAP_PERFMON and --system-call-filter=bpf (nspawn's own seccomp list refuses bpf(2));
# nspawn started inside the namespace with nsenter --net (so the container's /sys/class/net is the
# namespace's; `ip netns exec` would hide the cgroup mounts nspawn needs); a bpffs of its own bound at
# /sys/fs/bpf (nspawn's /sys has none). LimitMEMLOCK=infinity is capped at this host's 8 MiB hard limit
# inside (no CAP_SYS_RESOURCE), which Linux >= 5.11 does not use for BPF.
set -euo pipefail

LAB=${LAB:-mrxs}
CACHE=${CACHE:-/var/cache/m-root-xdp/systemd-lab}
ROOTFS=$CACHE/rootfs
STATE=/run/m-root-xdp-systemd-lab/$LAB
SRV_NS=$LAB-srv
CLI_NS=$LAB-cli
CGROOTS="/sys/fs/cgroup/unified /sys/fs/cgroup/systemd"
CG=m-root-xdp-systemd-lab.$LAB
# What the package needs (adduser) and what the tests read with (iproute2, bpftool, procps).
PACKAGES=systemd,systemd-sysv,dbus,adduser,iproute2,bpftool,procps,libcap2-bin
MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}

log() { printf 'systemd-lab: %s\n' "$*" >&2; }
has_ns() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$1"; }

setup() {
    if ! command -v systemd-nspawn >/dev/null || ! command -v debootstrap >/dev/null; then
        log "installing systemd-container debootstrap"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd-container debootstrap
    fi
    if [ ! -e "$ROOTFS/.complete-$PACKAGES" ]; then
        rm -rf "$ROOTFS"
        mkdir -p "$CACHE"
        log "debootstrap bookworm into $ROOTFS from $MIRROR"
        debootstrap --variant=minbase --include="$PACKAGES" bookworm "$ROOTFS" "$MIRROR" >&2
        touch "$ROOTFS/.complete-$PACKAGES"
    fi
    # A quiet, fast boot: no consoles, no timers, a volatile journal.
    : > "$ROOTFS/etc/machine-id"
    for u in console-getty.service getty@.service apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
        e2scrub_all.timer fstrim.timer systemd-logind.service; do
        ln -sf /dev/null "$ROOTFS/etc/systemd/system/$u"
    done
    mkdir -p "$ROOTFS/etc/systemd/journald.conf.d"
    printf '[Journal]\nStorage=volatile\n' > "$ROOTFS/etc/systemd/journald.conf.d/lab.conf"
}

# PID 1 of the container, as the host sees it.
leader() {
    local np c
    np=$(cat "$STATE/nspawn.pid" 2>/dev/null) || return 1
    kill -0 "$np" 2>/dev/null || return 1
    for c in $(pgrep -P "$np"); do
        [ "$(cat "/proc/$c/comm" 2>/dev/null)" = systemd ] && { echo "$c"; return 0; }
    done
    return 1
}

run() {
    local l
    l=$(leader) || { log "container $LAB is not running"; return 1; }
    nsenter -t "$l" -m -u -i -n -p -C -- /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin TERM=dumb SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
}

up() {
    setup
    if leader >/dev/null; then
        log "$LAB already running"
        return 0
    fi
    mkdir -p "$STATE/bpffs"
    mountpoint -q "$STATE/bpffs" || mount -t bpf bpf "$STATE/bpffs"
    has_ns "$SRV_NS" || ip netns add "$SRV_NS"
    has_ns "$CLI_NS" || ip netns add "$CLI_NS"
    if ! ip -n "$SRV_NS" link show "$LAB-s" >/dev/null 2>&1; then
        # Created inside the server namespace, one end moved: nothing in the root namespace. The client
        # end is bare (no XDP program), GRO off, as a new veth is.
        ip -n "$SRV_NS" link add "$LAB-s" type veth peer name "$LAB-c" netns "$CLI_NS"
        ip -n "$SRV_NS" addr add 198.18.0.1/24 dev "$LAB-s"
        ip -n "$SRV_NS" addr add 2001:db8::1/64 dev "$LAB-s" nodad
        ip -n "$CLI_NS" addr add 198.18.0.2/24 dev "$LAB-c"
        ip -n "$CLI_NS" addr add 2001:db8::2/64 dev "$LAB-c" nodad
        for ns in "$SRV_NS" "$CLI_NS"; do ip -n "$ns" link set lo up; done
        ip -n "$SRV_NS" link set "$LAB-s" up
        ip -n "$CLI_NS" link set "$LAB-c" up
    fi
    local r
    for r in $CGROOTS; do mkdir -p "$r/$CG"; done
    (
        for r in $CGROOTS; do echo "$BASHPID" > "$r/$CG/cgroup.procs"; done
        exec nsenter --net="/run/netns/$SRV_NS" -- systemd-nspawn --quiet --register=no --keep-unit --console=read-only \
            -D "$ROOTFS" -M "$LAB" --capability=CAP_NET_ADMIN,CAP_BPF,CAP_PERFMON --system-call-filter=bpf \
            --bind="$STATE/bpffs:/sys/fs/bpf" --boot
    ) > "$STATE/console.log" 2>&1 < /dev/null &
    echo $! > "$STATE/nspawn.pid"
    local i s=
    for i in $(seq 300); do
        if leader >/dev/null; then
            s=$(run systemctl is-system-running 2>/dev/null || true)
            case $s in running | degraded) break ;; esac
        fi
        kill -0 "$(cat "$STATE/nspawn.pid")" 2>/dev/null || { log "nspawn exited:"; tail -20 "$STATE/console.log" >&2; return 1; }
        sleep 0.2
    done
    case $s in
        running) log "$LAB up: systemd running as PID 1 (host PID $(leader))" ;;
        degraded) log "$LAB up, degraded:"; run systemctl --failed --no-legend >&2 || true ;;
        *) log "$LAB: systemd did not come up ($s)"; return 1 ;;
    esac
}

down() {
    local np r _
    np=$(cat "$STATE/nspawn.pid" 2>/dev/null || true)
    if [ -n "$np" ] && kill -0 "$np" 2>/dev/null; then
        run systemctl poweroff --no-block >/dev/null 2>&1 || kill -TERM "$np" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$np" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$np" 2>/dev/null && kill -KILL "$np" 2>/dev/null || true
    fi
    rm -f "$STATE/nspawn.pid"
    if mountpoint -q "$STATE/bpffs" 2>/dev/null; then umount "$STATE/bpffs"; fi
    for r in $CGROOTS; do
        if [ -d "$r/$CG" ]; then find "$r/$CG" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
    done
    for ns in "$SRV_NS" "$CLI_NS"; do
        if has_ns "$ns"; then ip netns delete "$ns"; fi
    done
}

case ${1:-} in
    setup) setup ;;
    up) up ;;
    run) shift; run "$@" ;;
    down) down ;;
    *) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
