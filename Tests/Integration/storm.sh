#!/bin/bash
# storm.sh [OFFLOADS]: hostile traffic. While a checksummed TCP stream runs from a pod on host 2 to a
# pod on host 1, a storm bounded in count and time hits host 1's overlay port from inside the test
# namespaces: truncated, malformed (one kind per codec refusal), oversized, wrong-VNI, wrong inner MAC,
# misaddressed and spoofed-inner-source datagrams from host 2 (a known peer), and well-formed ones from
# an unknown sender (an extra underlay address). Same-size datagrams go out in UDP GSO batches, so with
# UDP GRO on (OFFLOADS auto) several arrive in one receive. twilld must stay up, the stream must arrive
# intact, no crafted datagram may reach the pod, and every drop counter must grow by exactly what was
# sent of its kind while the legitimate traffic adds nothing to any of them.
OFFLOADS=${1:-auto}
SCENARIO="storm-${OFFLOADS//,/+}"
. "$(dirname "$0")/common.sh"
require_tools
COUNT=${STORM_COUNT:-2000}   # datagrams of each kind
RATE=${STORM_RATE:-4000}     # datagrams per second, all kinds together
STRANGER=192.0.2.200         # the unknown sender: an address on the underlay bridge, no lease

new_prefix r
D=$TMP
topo_create "$P" 2
write_net_config "$D/net.json" vxlan
start_cluster "$D" 2 1 uring --offloads "$OFFLOADS"
PID1=${PIDS[1]}
ip -n "$P-ul" addr add "$STRANGER/24" dev br0
A=$(topo_pod_ip "$P" 1 1)
B=$(topo_pod_ip "$P" 2 1)
read -r SUBNET1 MAC1 < <(lease_of "$D/store.json" 192.0.2.11)
SUBNET2=$(subnet_of "$D/h2.env")
ENABLED=$(sed -n 's/.*offloads: \([a-z,-]*\) (asked for.*/\1/p' "$D/log1" | head -1)
ping_ttl "$P-h2-p1" "$A" 5 >/dev/null || fail "no ping before the storm"
log "hosts ready (offloads on host 1: ${ENABLED:-none}); $COUNT datagrams of each kind at $RATE/s"

# storm.py GROUP MAC1 A B OUTSIDE_B OTHER_DST COUNT RATE: sends COUNT datagrams of each kind of GROUP
# ("peer": sent from host 2; "stranger": from the unknown address) to 192.0.2.11:8472, interleaved,
# paced at RATE, bounded by a deadline. Prints "kind count" per kind sent.
cat >"$TMP/storm.py" <<'EOF'
import socket, struct, sys, time
group, mac, a, b, outside, other, count, rate = sys.argv[1:7] + [int(sys.argv[7]), float(sys.argv[8])]
SOL_UDP, UDP_SEGMENT, GSO_BATCH = 17, 103, 8
def csum(x):
    s = sum(struct.unpack(f"!{len(x) // 2}H", x + b"\0" * (len(x) % 2)))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF
def ipv4(src, dst, payload_len=32, total=None, first=0x45):
    data = b"twill-storm".ljust(payload_len, b"!")
    udp = struct.pack("!HHHH", 40000, 9999, 8 + len(data), 0) + data
    hdr = struct.pack("!BBHHHBBH4s4s", first, 0, total or 20 + len(udp), 1, 0, 64, 17, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + udp
def vxlan(inner, vni=1, flags=0x08, dst_mac=mac, ethertype=0x0800):
    eth = bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex("02aabbccddee") + struct.pack("!H", ethertype)
    return struct.pack("!II", flags << 24, vni << 8) + eth + inner
good = ipv4(b, a)
arp = bytes.fromhex("0001080006040001") + bytes(20)
# kind -> (datagram maker taking the sequence number, whether same-size GSO batches are possible)
kinds = {
    "peer": {
        # 0..39 bytes: short of the VXLAN header, the Ethernet header, or the inner IPv4 header.
        "truncated": (lambda n: (vxlan(good)[:n % 40]), False),
        "vxlan_flag_missing": (lambda n: vxlan(good, flags=0), True),
        "wrong_vni": (lambda n: vxlan(good, vni=2), True),
        "inner_ethertype_not_ip": (lambda n: vxlan(arp, ethertype=0x0806), True),
        "inner_mac_not_ours": (lambda n: vxlan(good, dst_mac="02:00:00:00:00:01"), True),
        "not_ip": (lambda n: vxlan(ipv4(b, a, first=0x05)), True),
        "ipv4_header_length": (lambda n: vxlan(ipv4(b, a, first=0x42)), True),
        "ipv4_total_length": (lambda n: vxlan(ipv4(b, a, total=1000)), True),
        "ethertype_version_mismatch": (lambda n: vxlan(good, ethertype=0x86DD), True),
        # 8000 bytes, IP-fragmented on the way: more than a slot without offloads; with superpacket
        # slots it is read whole, and its inner header claims more than it carries.
        "oversized": (lambda n: vxlan(ipv4(b, a, payload_len=7900, total=65535)), False),
        "spoofed_inner_source": (lambda n: vxlan(ipv4(outside, a)), True),
        "not_for_this_host": (lambda n: vxlan(ipv4(b, other)), True),
    },
    "stranger": {
        "unknown_peer": (lambda n: vxlan(good), True),
    },
}[group]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
to = ("192.0.2.11", 8472)
sent = {k: 0 for k in kinds}
start, deadline = time.time(), time.time() + 60
while any(v < count for v in sent.values()) and time.time() < deadline:
    for kind, (make, batchable) in kinds.items():
        if sent[kind] >= count:
            continue
        n = min(GSO_BATCH if batchable else 1, count - sent[kind])
        first = make(sent[kind])
        if n > 1:
            # One send, n datagrams of equal size: the kernel splits it (UDP GSO), and a receiver with
            # UDP GRO may take them back in as one.
            s.sendmsg([first * n], [(SOL_UDP, UDP_SEGMENT, struct.pack("=H", len(first)))], 0, to)
        else:
            s.sendto(first, to)
        sent[kind] += n
    # Pacing: never ahead of RATE datagrams per second over the whole run.
    ahead = sum(sent.values()) / rate - (time.time() - start)
    if ahead > 0:
        time.sleep(ahead)
for kind, n in sent.items():
    print(kind, n)
EOF

# The counters before the storm: the deltas are what counts.
snapshot() { awk '/^drop_/ { print $1, $2 }' "$1" | sort; }
sleep 0.6
snapshot "$D/stats1" >"$TMP/before1"
snapshot "$D/stats2" >"$TMP/before2"
rcvbuf_before=$(udp_stat "$P-h1" RcvbufErrors)

cat >"$TMP/listen.py" <<'EOF'
import os, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 9999))
deadline, got = time.time() + float(sys.argv[2]), 0
while time.time() < deadline and not os.path.exists(sys.argv[1]):
    s.settimeout(0.1)
    try:
        s.recvfrom(65535)
        got += 1
    except socket.timeout:
        pass
print(got)
EOF
# First one empty datagram from each sender: a receive of zero bytes is a datagram like any other.
empty='import socket, sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"", ("192.0.2.11", 8472))'
before_empty=$(stat_value "$D/stats1" drop_truncated)
ip netns exec "$P-ul" "$PY" -c "$empty"
ip netns exec "$P-h2" "$PY" -c "$empty"
wait_stat "$D/stats1" drop_truncated $((before_empty + 1)) 3 || true
sleep 0.6 # a crashing daemon spends a second or two printing its backtrace
kill -0 "$PID1" 2>/dev/null && ! grep -q "Fatal error" "$D/log1" \
    || fail "an empty UDP datagram to port 8472 killed twilld on host 1 ($(grep -m1 "Fatal error" "$D/log1" || echo "a trap; a release build prints no message"))"

ip netns exec "$P-h1-p1" timeout 120 "$PY" "$TMP/listen.py" "$TMP/listen.stop" 100 >"$TMP/listen.out" 2>&1 &
LISTEN_PID=$!
stream_start "$P-h2-p1" "$P-h1-p1" "$A" "stream" 90
sleep 1
stream_running stream || fail "the stream ended before the storm began: $(cat "$TMP/stream-send.stream")"
t0=$SECONDS
OUTSIDE=${SUBNET1%.0/24}.77 # inside host 1's subnet, outside host 2's
OTHER=${SUBNET2%.0/24}.9    # host 2's subnet: not for host 1
ip netns exec "$P-h2" timeout 90 "$PY" "$TMP/storm.py" peer "$MAC1" "$A" "$B" "$OUTSIDE" "$OTHER" "$COUNT" "$RATE" \
    >"$TMP/sent.peer" 2>&1 &
PEER_PID=$!
ip netns exec "$P-ul" timeout 90 "$PY" "$TMP/storm.py" stranger "$MAC1" "$A" "$B" "$OUTSIDE" "$OTHER" "$COUNT" \
    $((RATE / 12 + 1)) >"$TMP/sent.stranger" 2>&1 &
STRANGER_PID=$!
wait_exit "$PEER_PID" 90
[ "$EXIT_RC" = 0 ] || fail "the storm from host 2 failed ($EXIT_RC): $(cat "$TMP/sent.peer")"
wait_exit "$STRANGER_PID" 90
[ "$EXIT_RC" = 0 ] || fail "the storm from the unknown sender failed ($EXIT_RC): $(cat "$TMP/sent.stranger")"
storm_s=$((SECONDS - t0))
stream_running stream || fail "the stream ended during the storm: $(cat "$TMP/stream-send.stream")"
kill -0 "$PID1" 2>/dev/null || fail "twilld on host 1 died during the storm"
stream_finish stream 60
log "storm of $(cat "$TMP/sent.peer" "$TMP/sent.stranger" | awk '{ n += $2 } END { print n }') datagrams over ${storm_s}s, during the stream"

# Without superpacket slots (no tun-tso, tun-uso or udp-gro) the engine refuses the oversized datagram
# before the codec sees it; with them the codec refuses its lying inner length.
OVERSIZED_AS=oversized_datagram
[[ ",$ENABLED," =~ ,(tun-tso|tun-uso|udp-gro), ]] && OVERSIZED_AS=ipv4_total_length
declare -A EXPECT=([unknown_peer]=1 [truncated]=1) # the two empty datagrams
while read -r kind n; do
    [[ $kind =~ ^[a-z_0-9]+$ && $n =~ ^[0-9]+$ ]] || fail "bad line from the storm sender: '$kind $n'"
    [ "$n" = "$COUNT" ] || fail "the sender sent $n datagrams of $kind, not $COUNT (deadline hit?)"
    counter=$kind
    [ "$kind" = oversized ] && counter=$OVERSIZED_AS
    EXPECT[$counter]=$((${EXPECT[$counter]:-0} + n))
done < <(cat "$TMP/sent.peer" "$TMP/sent.stranger")
[ "${#EXPECT[@]}" -ge 12 ] || fail "the storm sent only ${#EXPECT[@]} kinds: $(cat "$TMP/sent.peer" "$TMP/sent.stranger")"

# Counters settle within a stats period or two once the last datagram is in.
total=0
for r in "${!EXPECT[@]}"; do total=$((total + ${EXPECT[$r]})); done
for n in $(seq 1 50); do
    got=$(awk '/^drop_/ { n += $2 } END { print n + 0 }' "$D/stats1")
    base=$(awk '{ n += $2 } END { print n + 0 }' "$TMP/before1")
    [ $((got - base)) -ge "$total" ] && break
    sleep 0.2
done
sleep 1.1 # two stats periods: late extra drops would show
rcvbuf=$(($(udp_stat "$P-h1" RcvbufErrors) - rcvbuf_before))
[ "$rcvbuf" = 0 ] || fail "host 1's kernel dropped $rcvbuf datagrams at full socket buffers: the counts cannot add up (lower STORM_RATE)"
mismatch=""
report=""
while read -r name now; do
    r=${name#drop_}
    before=$(awk -v n="$name" '$1 == n { print $2 }' "$TMP/before1")
    delta=$((now - ${before:-0}))
    [ "$r" = ipv6_not_routed ] && continue # the kernel's own IPv6 chatter on twill0, not the storm
    want=${EXPECT[$r]:-0}
    [ "$delta" = "$want" ] || mismatch+=" $name+$delta (sent $want)"
    [ "$want" = 0 ] || report+=" $r=$delta"
done < <(snapshot "$D/stats1")
[ -z "$mismatch" ] || fail "host 1's drop counters do not match what was sent:$mismatch"
while read -r name now; do
    before=$(awk -v n="$name" '$1 == n { print $2 }' "$TMP/before2")
    [ "$name" = drop_ipv6_not_routed ] || [ "$now" = "${before:-0}" ] || fail "host 2 counted $((now - ${before:-0})) $name during the storm"
done < <(snapshot "$D/stats2")
log "host 1 drops:$report"

touch "$TMP/listen.stop"
wait_exit "$LISTEN_PID" 5
[ "$(cat "$TMP/listen.out")" = 0 ] || fail "crafted datagrams reached the pod: $(cat "$TMP/listen.out")"
kill -0 "$PID1" 2>/dev/null || fail "twilld on host 1 is gone"
ping_ttl "$P-h2-p1" "$A" 3 >/dev/null || fail "no ping after the storm"
log "PASS storm $OFFLOADS in $((SECONDS - START_TIME))s"
