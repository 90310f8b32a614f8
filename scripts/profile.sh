#!/usr/bin/env bash
# profile.sh [SECONDS] [TWILLD]: where twilld's time goes under one TCP stream (vxlan, offloads on).
# Two namespaced hosts with a pod each; iperf3 for SECONDS; per datapath thread the user and system
# CPU seconds from /proc (system = the kernel work the thread's syscalls did), then, with
# PROFILE_CALLGRIND=1, host 1's daemon under callgrind for a shorter run: the userspace instruction
# profile. Everything lives in namespaces twprof-* and is removed on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/lib/topology.sh"
SECS=${1:-10}
TWILLD=${2:-$ROOT/.build/release/twilld}
P=twprof
D=$(mktemp -d /tmp/twill-profile.XXXXXX)
cleanup() { topo_destroy "$P" >/dev/null 2>&1 || true; rm -rf "$D"; }
trap cleanup EXIT
topo_create "$P" 2
printf '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}' >"$D/net.json"
start() { # start I [LAUNCHER...]
    local i=$1; shift
    ip netns exec "$P-h$i" "$@" "$TWILLD" --local-store "$D/store.json" --net-config-path "$D/net.json" \
        --subnet-file "$D/h$i.env" --vtep-mac-file "$D/mac$i" --iface eth0 ${EXTRA:-} >"$D/log$i" 2>&1 &
}
run_iperf() { # run_iperf SECONDS
    ip netns exec "$P-h2-p1" timeout $(($1 + 15)) iperf3 -s -1 >/dev/null 2>&1 &
    sleep 0.5
    ip netns exec "$P-h1-p1" timeout $(($1 + 10)) iperf3 -c "$(topo_pod_ip "$P" 2 1)" -t "$1" | grep -E "receiver"
}
thread_cpu() { # thread_cpu PID: "tid name utime stime" per thread (clock ticks)
    local t f
    for t in /proc/"$1"/task/*; do
        # The name is in parentheses and may hold spaces: split after the last ')'.
        f=$(sed 's/.*) //' "$t/stat") || continue
        read -r -a v <<<"$f"
        echo "${t##*/} $(tr ' ' '_' <"$t/comm") ${v[11]} ${v[12]}"
    done
}
start 1; start 2
topo_wait_file "$D/h1.env" 20 && topo_wait_file "$D/h2.env" 20
topo_add_pods "$P" 1 "$D/h1.env" 1; topo_add_pods "$P" 2 "$D/h2.env" 1
sleep 1
PIDS=$(pgrep -f "$D/store.json" | tr '\n' ' ')
for p in $PIDS; do thread_cpu "$p" >"$D/before.$p"; done
run_iperf "$SECS"
for p in $PIDS; do thread_cpu "$p" >"$D/after.$p"; done
HZ=$(getconf CLK_TCK)
echo "per thread CPU seconds over the ${SECS}s transfer (user / system):"
for p in $PIDS; do
    host=$(tr '\0' ' ' </proc/"$p"/cmdline | grep -o 'h[0-9].env' | head -1)
    awk -v hz="$HZ" -v h="${host%.env}" 'NR == FNR { u[$1] = $3; s[$1] = $4; next }
        { du = ($3 - u[$1]) / hz; ds = ($4 - s[$1]) / hz; if (du + ds > 0.01) printf "  %s %-16s %6.2f / %6.2f\n", h, $2, du, ds }' \
        "$D/before.$p" "$D/after.$p"
done
if [ "${PROFILE_CALLGRIND:-0}" = 1 ]; then
    kill $(pgrep -f "$D/store.json" | head -1) 2>/dev/null || true
    pkill -f "$D/store.json" || true
    sleep 1
    rm -f "$D/h1.env"
    # valgrind 3.19 cannot read the DWARF 5 that Swift's clang writes: profile a copy without it
    # (function names come from the symbol table).
    objcopy --strip-debug "$TWILLD" "$D/twilld-nodebug"
    # valgrind does not follow io_uring's shared rings: the syscall engine runs the same packet code.
    EXTRA="--io-engine syscalls" TWILLD=$D/twilld-nodebug start 1 valgrind --tool=callgrind --callgrind-out-file="$D/callgrind.out" --trace-children=no
    start 2
    topo_wait_file "$D/h1.env" 120
    sleep 2
    run_iperf 10 || true
    pkill -INT -f "valgrind.*$D" || true
    pkill -f "$D/store.json" || true
    sleep 3
    cp "$D/callgrind.out" "${PROFILE_OUT:-/tmp/twill-callgrind.out}" 2>/dev/null || true
    echo "callgrind profile of host 1's twilld (userspace instructions, 10 s transfer):"
    callgrind_annotate --inclusive=no "$D/callgrind.out" | sed -n '1,45p' | cut -c1-160 || true
fi
