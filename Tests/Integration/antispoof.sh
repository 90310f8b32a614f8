#!/bin/bash
# antispoof.sh: twilld's ingress checks against crafted VXLAN datagrams, while a ping between pods
# runs. A stranger on the underlay (no lease) -> drop_unknown_peer; a peer sending an inner source
# outside its subnet -> drop_spoofed_inner_source; a peer on the wrong VNI -> drop_wrong_vni; plus
# wrong inner destination (drop_not_for_this_host) and wrong inner MAC (drop_inner_mac_not_ours).
# Every counter must equal what was sent, nothing crafted may reach the pod, the ping loses nothing.
SCENARIO=antispoof
. "$(dirname "$0")/common.sh"
require_tools

new_prefix s
D=$TMP
topo_create "$P" 3 # host 3 is the stranger: on the underlay, no daemon, no lease
write_net_config "$D/net.json" vxlan
start_twilld "$P" 1 "$D" uring
start_twilld "$P" 2 "$D" uring
wait_ready "$D" 1
wait_ready "$D" 2
topo_add_pods "$P" 1 "$D/h1.env" 1
topo_add_pods "$P" 2 "$D/h2.env" 1
wait_stat "$D/stats1" peers 1 10 || fail "host 1 never saw host 2"
wait_stat "$D/stats2" peers 1 10 || fail "host 2 never saw host 1"
A=$(topo_pod_ip "$P" 1 1) # the victim pod
B=$(topo_pod_ip "$P" 2 1)
read -r SUBNET1 MAC1 < <(lease_of "$D/store.json" 192.0.2.11)
SUBNET2=$(subnet_of "$D/h2.env")
ping_ttl "$P-h2-p1" "$A" 5 >/dev/null || fail "no ping before the attack"

# craft.py VNI INNER_SRC INNER_DST DST_MAC COUNT: VXLAN datagrams to host 1's port 8472 from an
# ephemeral port, each carrying IPv4/UDP to port 9999 (a listener in the victim pod counts arrivals).
cat >"$TMP/craft.py" <<'EOF'
import socket, struct, sys, time
vni, src, dst, mac, count = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
def csum(b):
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n in range(count):
    data = b"twill-itest-crafted-%d" % n
    udp = struct.pack("!HHHH", 40000, 9999, 8 + len(data), 0) + data  # checksum 0: none, valid in IPv4
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    eth = bytes.fromhex(mac.replace(":", "")) + bytes.fromhex("02aabbccddee") + b"\x08\x00"
    vxlan = struct.pack("!II", 0x08000000, vni << 8)
    s.sendto(vxlan + eth + ip + udp, ("192.0.2.11", 8472))
    time.sleep(0.02)
EOF
cat >"$TMP/listen.py" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 9999))
deadline = time.time() + float(sys.argv[1])
got = []
while time.time() < deadline:
    s.settimeout(max(0.01, deadline - time.time()))
    try:
        data, addr = s.recvfrom(2048)
        got.append(f"{addr[0]}:{data.decode(errors='replace')}")
    except socket.timeout:
        pass
print(len(got), " ".join(got))
EOF
craft() { # craft NS VNI INNER_SRC INNER_DST DST_MAC COUNT
    ip netns exec "$1" timeout 10 "$PY" "$TMP/craft.py" "${@:2}" || fail "crafting from $1 failed"
}

ip netns exec "$P-h1-p1" timeout 20 "$PY" "$TMP/listen.py" 8 >"$TMP/listen.out" 2>&1 &
LISTEN_PID=$!
ip netns exec "$P-h2-p1" timeout 20 ping -n -c 60 -i 0.1 "$A" >"$TMP/ping.out" 2>&1 &
PING_PID=$!
sleep 0.5
OUTSIDE_2=${SUBNET1%.0/24}.77 # inside host 1's subnet: outside the sender's
# A control first: well formed, from host 2, inner source in host 2's subnet. It must arrive, which
# shows the crafted datagrams are accepted when nothing is wrong with them.
craft "$P-h2" 1 "$B" "$A" "$MAC1" 1
craft "$P-h3" 1 "$B" "$A" "$MAC1" 5               # stranger impersonating host 2's pod
craft "$P-h2" 1 "$OUTSIDE_2" "$A" "$MAC1" 2       # peer, inner source in host 1's subnet
craft "$P-h2" 1 192.168.77.7 "$A" "$MAC1" 2       # peer, inner source outside the Network
craft "$P-h2" 2 "$B" "$A" "$MAC1" 3               # peer, VNI 2
craft "$P-h2" 1 "$B" "${SUBNET2%.0/24}.9" "$MAC1" 2 # peer, inner destination not on host 1
craft "$P-h2" 1 "$B" "$A" 02:00:00:00:00:01 2     # peer, inner MAC not host 1's VTEP
log "sent 1 control + 16 crafted datagrams during the ping"

wait_exit "$PING_PID" 15
[ "$EXIT_RC" = 0 ] || fail "the ping failed during the attack ($EXIT_RC): $(cat "$TMP/ping.out")"
grep -q " 0% packet loss" "$TMP/ping.out" || fail "the ping lost packets: $(tail -2 "$TMP/ping.out")"
wait_exit "$LISTEN_PID" 15
read -r arrived rest <"$TMP/listen.out" || true
[ "$arrived" = 1 ] && [[ $rest == "$B:twill-itest-crafted-0" ]] \
    || fail "the victim pod should have received the control datagram only, got: $(cat "$TMP/listen.out")"

declare -A EXPECT=([unknown_peer]=5 [spoofed_inner_source]=4 [wrong_vni]=3 [not_for_this_host]=2 [inner_mac_not_ours]=2)
wait_stat "$D/stats1" drop_unknown_peer 5 5 || true
sleep 1.1 # two stats periods: late extra drops would show
for r in "${!EXPECT[@]}"; do
    v=$(stat_value "$D/stats1" "drop_$r")
    [ "$v" = "${EXPECT[$r]}" ] || fail "host 1 drop_$r is $v, sent ${EXPECT[$r]}"
done
others=$(awk '/^drop_/ && $2 != 0' "$D/stats1" | grep -vE "^drop_($(IFS='|'; echo "${!EXPECT[*]}")|ipv6_not_routed) " || true)
[ -z "$others" ] || fail "host 1 counted other drops: $others"
others=$(awk '/^drop_/ && $2 != 0' "$D/stats2" | grep -v '^drop_ipv6_not_routed ' || true)
[ -z "$others" ] || fail "host 2 counted drops: $others"
log "host 1: $(for r in unknown_peer spoofed_inner_source wrong_vni not_for_this_host inner_mac_not_ours; do printf 'drop_%s=%s ' "$r" "$(stat_value "$D/stats1" "drop_$r")"; done)"
log "ping: $(grep -o '[0-9]* packets transmitted, [0-9]* received' "$TMP/ping.out"); the pod got only the control datagram"
log "PASS antispoof in $((SECONDS - START_TIME))s"
