#!/bin/bash
# churn.sh: hosts 3 and 4 join and leave the overlay again and again while hosts 1 and 2 stay. A host
# leaves either decommissioned (SIGTERM, its lease deleted from the store as an operator would) or
# crashed (SIGKILL, its short lease left to expire). Twill has one route for the whole Network through
# twill0; its "routes" are the peer table's entries, so on every staying host each join must log
# "peer added" and raise the stats file's peers, each leave log "peer removed" and lower it again, and
# once a peer is removed, traffic to its subnet gets ICMP net unreachable (drop_no_route) and not one
# datagram goes to its underlay address (tshark on the underlay bridge, the whole run). At the end
# no peer of a departed host remains anywhere.
SCENARIO=churn
. "$(dirname "$0")/common.sh"
require_tools tshark
ROUNDS=${CHURN_ROUNDS:-3}
TTL=3 # the churning hosts' lease lifetime in seconds: a crashed host's lease is gone this long after

new_prefix c
D=$TMP
topo_create "$P" 4
write_net_config "$D/net.json" vxlan
start_cluster "$D" 2 1 uring
ip netns exec "$P-ul" timeout 300 tshark -q -i br0 -F pcap -w "$TMP/ul.pcap" -f "udp port 8472" >"$TMP/ul.pcap.log" 2>&1 &
TSHARK_PID=$!
for n in $(seq 1 100); do grep -q "Capturing on" "$TMP/ul.pcap.log" 2>/dev/null && break; sleep 0.1; done
grep -q "Capturing on" "$TMP/ul.pcap.log" || fail "tshark on the underlay did not start: $(cat "$TMP/ul.pcap.log")"

declare -A PID SUBNET JOINS LEAVES
JOINED=()
# expect_peers N: every running daemon has N peers (each other running host).
expect_peers() {
    local i n
    for i in 1 2 "${JOINED[@]}"; do
        # The stats file is rewritten every 0.5 s.
        for n in $(seq 1 50); do [ "$(stat_value "$D/stats$i" peers)" = "$1" ] && break; sleep 0.1; done
        [ "$(stat_value "$D/stats$i" peers)" = "$1" ] || fail "host $i has $(stat_value "$D/stats$i" peers) peers, expected $1 ($2)"
    done
}

# peer_lines HOST added|removed C: how many such lines HOST's log has for host C.
peer_lines() { grep -cE "peer $2: .* via 192\.0\.2\.1$3:" "$D/log$1" || true; }

# peer_logged HOST added|removed C COUNT SECONDS: HOST's log reaches COUNT such lines for host C, the
# last one naming C's current subnet.
peer_logged() {
    local pattern="peer $2: .* via 192\.0\.2\.1$3:"
    wait_log "$D/log$1" "$pattern" "$4" "$5" || fail "host $1 did not log 'peer $2' for host $3 (${SUBNET[$3]}) within $5 s"
    grep -E "$pattern" "$D/log$1" | tail -n1 | grep -qF "peer $2: ${SUBNET[$3]} via" \
        || fail "host $1's last 'peer $2' line for host $3 does not name ${SUBNET[$3]}: $(grep -E "$pattern" "$D/log$1" | tail -n1)"
}

join() {
    local c=$1 i
    declare -A seen
    for i in 1 2 "${JOINED[@]}"; do seen[$i]=$(peer_lines "$i" added "$c"); done
    rm -f "$D/h$c.env"
    start_twilld "$P" "$c" "$D" uring --subnet-lease-ttl "$TTL"
    PID[$c]=$TWILLD_PID
    wait_ready "$D" "$c"
    SUBNET[$c]=$(subnet_of "$D/h$c.env")
    JOINS[$c]=$((${JOINS[$c]:-0} + 1))
    topo_add_pods "$P" "$c" "$D/h$c.env" 1
    for i in "${!seen[@]}"; do peer_logged "$i" added "$c" $((${seen[$i]} + 1)) 5; done
    JOINED+=("$c")
    expect_peers $((${#JOINED[@]} + 1)) "host $c joined"
    ping_ttl "$P-h1-p1" "$(topo_pod_ip "$P" "$c" 1)" 5 >/dev/null || fail "host 1's pod cannot reach host $c's pod after the join"
    ping_ttl "$P-h$c-p1" "$(topo_pod_ip "$P" 2 1)" 5 >/dev/null || fail "host $c's pod cannot reach host 2's pod after the join"
    log "host $c joined with ${SUBNET[$c]} (join ${JOINS[$c]}): peers on every host, pods reach each other"
}

# leave C MODE: decommission (SIGTERM, lease deleted) or crash (SIGKILL, lease expires).
leave() {
    local c=$1 mode=$2 i old_ip n before after t0
    declare -A seen
    old_ip=$(topo_pod_ip "$P" "$c" 1)
    for i in 1 2 "${JOINED[@]}"; do [ "$i" = "$c" ] || seen[$i]=$(peer_lines "$i" removed "$c"); done
    if [ "$mode" = decommission ]; then
        kill -TERM "${PID[$c]}"
        wait_exit "${PID[$c]}" 15
        [ "$EXIT_RC" = 0 ] || fail "host $c: twilld exited with $EXIT_RC after SIGTERM"
        store_delete "$D/store.json" "${SUBNET[$c]/\//-}"
    else
        kill -KILL "${PID[$c]}"
        exec 4>&2 2>/dev/null # bash's "Killed" job notice is expected noise here
        wait_exit "${PID[$c]}" 10
        exec 2>&4 4>&-
        [ "$EXIT_RC" = 137 ] || fail "host $c: twilld exited with $EXIT_RC after SIGKILL"
    fi
    t0=$SECONDS
    LEAVES[$c]=$((${LEAVES[$c]:-0} + 1))
    JOINED=("${JOINED[@]/$c/}")
    read -ra JOINED <<<"${JOINED[*]}"
    ip netns del "$P-h$c-p1"
    ip -n "$P-h$c" link del cni0
    for i in "${!seen[@]}"; do peer_logged "$i" removed "$c" $((${seen[$i]} + 1)) $((TTL + 5)); done
    expect_peers $((${#JOINED[@]} + 1)) "host $c left"
    echo "$c $(date +%s.%N)" >>"$TMP/departed" # from now until its next join: no datagram to it
    # Its pod's old address: net unreachable from the Network's address, counted, never sent.
    before=$(stat_value "$D/stats1" drop_no_route)
    out=$(ip netns exec "$P-h1-p1" timeout 5 ping -n -c 3 -i 0.2 -W 1 "$old_ip" 2>&1) && fail "a ping to departed host $c's pod got answers: $out"
    [ "$(grep -c "From 10.244.0.0 .*Destination Net Unreachable" <<<"$out")" = 3 ] \
        || fail "pings to departed host $c's pod $old_ip did not each get net unreachable: $out"
    ip netns exec "$P-h2-p1" timeout 5 ping -n -c 3 -i 0.2 -W 1 "$old_ip" >/dev/null 2>&1 || true
    wait_stat "$D/stats1" drop_no_route $((before + 3)) 3 || true
    after=$(stat_value "$D/stats1" drop_no_route)
    [ $((after - before)) = 3 ] || fail "host 1 counted $((after - before)) drop_no_route for 3 pings to departed host $c"
    echo "$c $(date +%s.%N)" >>"$TMP/departed-end"
    log "host $c left ($mode): removed from every peer table within $((SECONDS - t0))s; its old pod address gets net unreachable"
}

for r in $(seq 1 "$ROUNDS"); do
    join 3
    join 4
    if [ $((r % 2)) = 1 ]; then leave 3 decommission; leave 4 crash; else leave 4 decommission; leave 3 crash; fi
done
sleep 1
kill -INT "$TSHARK_PID" 2>/dev/null || true
wait_exit "$TSHARK_PID" 10

# Every window from a departure (all peers had removed it) to the end of its checks: no datagram to it.
verdict=$("$PY" - "$TMP/ul.pcap" "$TMP/departed" "$TMP/departed-end" <<'EOF'
import socket, struct, sys
data = open(sys.argv[1], "rb").read()
starts = [l.split() for l in open(sys.argv[2])]
ends = [l.split() for l in open(sys.argv[3])]
windows = [(f"192.0.2.1{c}", float(t0), float(t1)) for (c, t0), (_, t1) in zip(starts, ends)]
off, total, bad = 24, 0, []
while off + 16 <= len(data):
    sec, usec, caplen = struct.unpack_from("<III", data, off)
    frame = data[off + 16: off + 16 + caplen]
    off += 16 + caplen
    total += 1
    t, dst = sec + usec / 1e6, socket.inet_ntoa(frame[30:34])
    bad += [f"{t:.3f} -> {dst}" for ip, t0, t1 in windows if dst == ip and t0 <= t <= t1]
print(f"{total} overlay datagrams captured, {len(windows)} departure windows, {len(bad)} datagrams to departed hosts")
if bad:
    print("to departed hosts:", " ".join(bad[:10]))
    sys.exit(1)
EOF
) || fail "datagrams went to departed hosts: $verdict"
log "underlay: $verdict"

expect_peers 1 "the end"
for i in 1 2; do
    added=$(grep -cE "peer added: .* via 192\.0\.2\.1[34]:" "$D/log$i" || true)
    removed=$(grep -cE "peer removed: .* via 192\.0\.2\.1[34]:" "$D/log$i" || true)
    [ "$added" = $((2 * ROUNDS)) ] && [ "$removed" = $((2 * ROUNDS)) ] \
        || fail "host $i logged $added peers added and $removed removed for the churning hosts, expected $((2 * ROUNDS)) each"
    ping_ttl "$P-h$i-p1" "$(topo_pod_ip "$P" $((3 - i)) 1)" 3 >/dev/null || fail "hosts 1 and 2 no longer reach each other"
done
log "PASS churn: $((2 * ROUNDS)) joins and leaves, no stale peer, no datagram to a departed host, in $((SECONDS - START_TIME))s"
