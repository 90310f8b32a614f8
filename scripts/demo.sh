#!/usr/bin/env bash
# The demo (make demo): three hosts as network namespaces on a 192.0.2.0/24 underlay, two pods per
# host wired from each host's subnet file, twilld on every host with the embedded store; pings between
# pods on different hosts and an iperf3 run, in the udp and then the vxlan format, then vxlan dual stack
# (IPv4 and IPv6 pods, an IPv6 underlay beside the IPv4 one); each time the leases and the drop
# counters. Everything it makes is removed on exit, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "the demo needs root (network namespaces)"; exit 1; }
. scripts/lib/topology.sh

scripts/deps.sh
echo "== building twilld (release)"
swift build -c release --static-swift-stdlib --product twilld 2>&1 | tail -1
bin=$(swift build -c release --show-bin-path)/twilld

prefix="twdemo"
work=$(mktemp -d /tmp/twill-demo.XXXXXX)
cleanup() { topo_destroy "$prefix"; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
topo_destroy "$prefix"

hosts=3
run_format() {
    local format=$1 dual=${2:-} i j k
    local dir="$work/$format$dual"
    mkdir -p "$dir"
    echo
    echo "================ format: $format${dual:+, dual stack over an IPv6 underlay} ================"
    topo_create "$prefix" "$hosts"
    if [ -n "$dual" ]; then
        for i in $(seq 1 $hosts); do topo_add_host_ipv6 "$prefix" "$i"; done
        printf '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:244::/48","Backend":{"Type":"%s"}}\n' \
            "$format" > "$dir/net-conf.json"
    else
        printf '{"Network":"10.244.0.0/16","Backend":{"Type":"%s"}}\n' "$format" > "$dir/net-conf.json"
    fi
    echo "network config: $(cat "$dir/net-conf.json")"
    for i in $(seq 1 $hosts); do
        ip netns exec "$prefix-h$i" "$bin" --local-store "$dir/leases.json" --net-config-path "$dir/net-conf.json" \
            --subnet-file "$dir/subnet-h$i.env" --vtep-mac-file "$dir/vtep-mac-h$i" --stats-file "$dir/stats-h$i" \
            >"$dir/twilld-h$i.log" 2>&1 &
    done
    for i in $(seq 1 $hosts); do
        topo_wait_file "$dir/subnet-h$i.env" 20 || { echo "host $i did not come up:"; cat "$dir/twilld-h$i.log"; exit 1; }
        topo_add_pods "$prefix" "$i" "$dir/subnet-h$i.env" 2
        echo "host $i ($(topo_host_ip "$i")): $(tr '\n' ' ' < "$dir/subnet-h$i.env")"
    done
    sleep 1
    echo "-- pod to pod pings across hosts"
    local failures=0
    for i in $(seq 1 $hosts); do for j in $(seq 1 $hosts); do
        [ "$i" = "$j" ] && continue
        for k in 1 2; do
            local src="$prefix-h$i-p$k" dst
            # In the dual-stack run the second pods ping over IPv6.
            if [ -n "$dual" ] && [ "$k" = 2 ]; then dst=$(topo_pod_ip6 "$prefix" "$j" "$k"); else dst=$(topo_pod_ip "$prefix" "$j" "$k"); fi
            if out=$(ip netns exec "$src" ping -c 3 -i 0.2 -W 2 "$dst" 2>&1); then
                printf '  h%s-p%s -> h%s-p%s (%s): %s\n' "$i" "$k" "$j" "$k" "$dst" "$(echo "$out" | tail -1)"
            else
                printf '  h%s-p%s -> h%s-p%s (%s): FAILED\n' "$i" "$k" "$j" "$k" "$dst"
                failures=$((failures + 1))
            fi
        done
    done; done
    local target
    if [ -n "$dual" ]; then target=$(topo_pod_ip6 "$prefix" 2 1); else target=$(topo_pod_ip "$prefix" 2 1); fi
    echo "-- iperf3, 5 s, one TCP stream, h1-p1 -> h2-p1 ($target)"
    ip netns exec "$prefix-h2-p1" timeout 20 iperf3 -s -1 >/dev/null 2>&1 &
    sleep 0.5
    ip netns exec "$prefix-h1-p1" timeout 20 iperf3 -c "$target" -t 5 2>&1 | grep -E "sender|receiver" || failures=$((failures + 1))
    sleep 1
    echo "-- leases in the embedded store ($dir/leases.json)"
    python3 - "$dir/leases.json" <<'PY'
import json, sys
for key, rec in sorted(json.load(open(sys.argv[1]))["subnets"].items()):
    print(f"  {key}: {rec['value']}  (expires {rec['expiration']})")
PY
    echo "-- datapath counters and drops per host"
    for i in $(seq 1 $hosts); do
        echo "  host $i: $(grep -E '^(engine|sentPackets|receivedPackets|icmpErrorsSent) ' "$dir/stats-h$i" | tr '\n' ' ')"
        echo "          drops: $(grep -E '^drop_' "$dir/stats-h$i" | awk '$2 != 0' | tr '\n' ' ' | sed 's/^$/none/')"
    done
    topo_destroy "$prefix"
    if [ "$failures" -ne 0 ]; then
        echo "$failures checks failed in $format; logs:"; cat "$dir"/twilld-h*.log; return 1
    fi
}

status=0
run_format udp || status=1
run_format vxlan || status=1
run_format vxlan dual || status=1
echo
[ $status -eq 0 ] && echo "demo finished: pods reached pods on every other host, in both formats and dual stack" || echo "demo FAILED"
exit $status
