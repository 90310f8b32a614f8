#!/bin/bash
# fallback.sh: twilld under twill-noring (io_uring denied by seccomp, as container runtimes' default
# profiles do) picks the syscall engine, says why, and still forwards; forcing io_uring there fails.
SCENARIO=fallback
. "$(dirname "$0")/common.sh"
require_tools
[ -x "$BIN/twill-noring" ] || fail "no twill-noring in $BIN"
FORMAT=${1:-vxlan}

new_prefix f
D=$TMP
topo_create "$P" 2
write_net_config "$D/net.json" "$FORMAT"

# Forcing io_uring where it is denied must fail loudly rather than fall back silently.
rc=0
out=$(ip netns exec "$P-h1" timeout 15 "$BIN/twill-noring" "$BIN/twilld" --local-store "$D/store.json" \
    --net-config-path "$D/net.json" --subnet-file "$D/h1.env" --vtep-mac-file "$D/mac1" --io-engine uring 2>&1) || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "--io-engine uring under seccomp should fail, got exit $rc: $out"
ip -n "$P-h1" link | grep -q twill0 && fail "the failed --io-engine uring start left twill0 behind"
[ ! -e "$D/h1.env" ] || fail "the failed --io-engine uring start wrote a subnet file"
log "forced io_uring under seccomp refused (exit $rc): $(grep -m1 Error <<<"$out" || head -n1 <<<"$out")"

LAUNCH=("$BIN/twill-noring")
start_twilld "$P" 1 "$D" auto
LAUNCH=()
start_twilld "$P" 2 "$D" auto
wait_ready "$D" 1
wait_ready "$D" 2
grep -q "I/O engine: syscalls (io_uring_setup refused (EPERM)" "$D/log1" \
    || fail "host 1 (seccomp) does not log that io_uring_setup was refused and syscalls chosen: $(grep 'I/O engine' "$D/log1")"
grep -q "I/O engine: uring" "$D/log2" || fail "host 2 (no seccomp) did not pick io_uring: $(grep 'I/O engine' "$D/log2")"
wait_stat "$D/stats1" peers 1 10 || fail "host 1 never saw host 2"
[ "$(awk '$1 == "engine" {print $2}' "$D/stats1")" = syscalls ] || fail "host 1's stats do not say engine syscalls"
log "host 1: $(grep -o 'I/O engine: .*' "$D/log1")"

topo_add_pods "$P" 1 "$D/h1.env" 2
topo_add_pods "$P" 2 "$D/h2.env" 2
for j in 1 2; do
    for l in 1 2; do
        ping_ttl "$P-h1-p$j" "$(topo_pod_ip "$P" 2 "$l")" 3 >/dev/null || fail "h1-p$j (syscalls) cannot ping h2-p$l"
        ping_ttl "$P-h2-p$l" "$(topo_pod_ip "$P" 1 "$j")" 3 >/dev/null || fail "h2-p$l cannot ping h1-p$j (syscalls)"
    done
done
tcp_transfer "$P-h1-p1" "$P-h2-p1" "$(topo_pod_ip "$P" 2 1)" 20 "seccomp->uring"
tcp_transfer "$P-h2-p2" "$P-h1-p2" "$(topo_pod_ip "$P" 1 2)" 20 "uring->seccomp"
log "8 pings and 20 MiB each way across the syscall-engine host"
log "PASS fallback in $((SECONDS - START_TIME))s"
