#!/bin/bash
# mtu.sh [UNDERLAY_MTU]: a jumbo-frame underlay (9000, as on many clouds; AWS uses 9001). twilld
# derives the overlay MTU from it (vxlan: -50, udp: -28) and publishes it in the subnet file, so pods
# send packets that large: a DF ping of the full overlay MTU and a TCP transfer must cross, in both
# formats. Smaller probes show the largest packet that does get through when they do not.
SCENARIO=mtu
. "$(dirname "$0")/common.sh"
require_tools
TOPO_UNDERLAY_MTU=${1:-9000}
export XFER_IDLE_TIMEOUT=10 # a black hole should fail fast, not after a minute

# run_format FORMAT ENGINE OVERHEAD LETTER
run_format() {
    local fmt=$1 engine=$2 mtu=$((TOPO_UNDERLAY_MTU - $3)) D="$TMP/$1" b size passed="" failed=""
    mkdir -p "$D"
    new_prefix "$4"
    topo_create "$P" 2
    write_net_config "$D/net.json" "$fmt"
    start_twilld "$P" 1 "$D" "$engine"
    start_twilld "$P" 2 "$D" "$engine"
    wait_ready "$D" 1
    wait_ready "$D" 2
    [ "$(topo_subnet_var "$D/h1.env" FLANNEL_MTU)" = "$mtu" ] \
        || fail "$fmt: FLANNEL_MTU is $(topo_subnet_var "$D/h1.env" FLANNEL_MTU), expected $mtu"
    ip -n "$P-h1" link show twill0 | grep -q "mtu $mtu " || fail "$fmt: twill0 MTU is not $mtu"
    topo_add_pods "$P" 1 "$D/h1.env" 1
    topo_add_pods "$P" 2 "$D/h2.env" 1
    wait_stat "$D/stats1" peers 1 10 || fail "$fmt: host 1 never saw host 2"
    b=$(topo_pod_ip "$P" 2 1)
    ping_ttl "$P-h1-p1" "$b" 5 >/dev/null || fail "$fmt: no small ping"
    # DF pings of increasing size (ICMP payload; the IP packet is 28 bytes more), up to the full MTU.
    for size in $(printf '%s\n' 1422 1954 1955 1956 4000 $((mtu - 28)) | sort -un); do
        [ "$size" -le $((mtu - 28)) ] || continue
        if ip netns exec "$P-h1-p1" timeout 5 ping -n -c2 -i 0.2 -W1 -M do -s "$size" "$b" >/dev/null 2>&1; then
            passed+=" $((size + 28))"
        else
            failed+=" $((size + 28))"
        fi
    done
    log "$fmt (overlay MTU $mtu): IP packets that crossed:${passed:- none}; lost:${failed:- none}"
    [ -z "$failed" ] || fail "$fmt: with overlay MTU $mtu, DF packets of${failed} bytes were lost (host 1 counters: $(awk '/^drop_/ && $2 != 0' "$D/stats1" | paste -sd' '))"
    tcp_transfer "$P-h1-p1" "$P-h2-p1" "$b" 20 "$fmt TCP at MTU $mtu"
    topo_destroy "$P"
}

run_format vxlan uring 50 j
run_format udp syscalls 28 k
log "PASS mtu ($TOPO_UNDERLAY_MTU) in $((SECONDS - START_TIME))s"
