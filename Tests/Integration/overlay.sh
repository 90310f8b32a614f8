#!/bin/bash
# overlay.sh FORMAT ENGINE [OFFLOADS [QUEUES]]: three hosts, two pods each, twilld everywhere on one embedded
# store. Checks the subnet files, the store's lease format, distinct subnets, every cross-host pod
# pair by ping (with the TTL the datapath must leave), and a checksummed 100 MiB TCP transfer, with
# the offloads given (twilld's --offloads: auto, none or a list) and proof from the counters that
# they were used.
FORMAT=${1:-vxlan}
ENGINE=${2:-uring}
OFFLOADS=${3:-auto}
QUEUES=${4:-1}
SCENARIO="overlay-$FORMAT-$ENGINE-${OFFLOADS//,/+}-q$QUEUES"
. "$(dirname "$0")/common.sh"

case $FORMAT in udp) MTU=$((TOPO_UNDERLAY_MTU - 28)) ;; vxlan) MTU=$((TOPO_UNDERLAY_MTU - 50)) ;; *) fail "FORMAT must be udp or vxlan, got '$FORMAT'" ;; esac
case $ENGINE in uring | syscalls) ;; *) fail "ENGINE must be uring or syscalls, got '$ENGINE'" ;; esac
require_tools
HOSTS=3
PODS=2
TRANSFER_MB=${TRANSFER_MB:-100}

new_prefix o
D=$TMP
topo_create "$P" "$HOSTS"
write_net_config "$D/net.json" "$FORMAT"
PIDS=()
for i in $(seq 1 $HOSTS); do
    start_twilld "$P" "$i" "$D" "$ENGINE" --offloads "$OFFLOADS" --queues "$QUEUES"
    PIDS+=("$TWILLD_PID")
done
for i in $(seq 1 $HOSTS); do wait_ready "$D" "$i"; done
# Every thread of a daemon keeps CAP_NET_ADMIN (bit 12) and nothing else, bounding set included.
for i in $(seq 1 $HOSTS); do
    caps=$(cat /proc/"${PIDS[$((i - 1))]}"/task/*/status | grep -E '^Cap(Prm|Eff|Bnd):' | awk '{print $2}' | sort -u)
    [ "$caps" = 0000000000001000 ] || fail "host $i: twilld's threads kept capabilities $(echo $caps)"
done
case $OFFLOADS in auto) WANTED="tun-tso tun-uso udp-gso udp-gro tcp-gro" ;; none) WANTED="" ;; *) WANTED=${OFFLOADS//,/ } ;; esac
ENABLED=$(sed -n 's/.*offloads: \([a-z,-]*\) (asked for.*/\1/p' "$D/log1" | head -1)
for i in $(seq 1 $HOSTS); do
    grep -q "I/O engine: $ENGINE" "$D/log$i" || fail "host $i: the log does not say 'I/O engine: $ENGINE'"
    # Each offload asked for is on, or the log says why the kernel refused it.
    for o in $WANTED; do
        grep -Eq "offloads: ([a-z-]+,)*$o[,( ]" "$D/log$i" || grep -q "offload $o off:" "$D/log$i" \
            || fail "host $i: offload $o neither enabled nor refused with a reason: $(grep offload "$D/log$i")"
    done
done
has_offload() { [[ ",$ENABLED," == *",$1,"* ]]; }
log "$HOSTS daemons ready ($FORMAT, $ENGINE, offloads ${ENABLED:-none})"

# The subnet files, byte for byte what flannel writes (the CNI plugin and Docker parse them).
SUBNET=()
for i in $(seq 1 $HOSTS); do
    s=$(subnet_of "$D/h$i.env")
    SUBNET+=("$s")
    expected=$(printf 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=%s.1/24\nFLANNEL_MTU=%s\nFLANNEL_IPMASQ=false' "${s%.0/24}" "$MTU")
    [ "$(cat "$D/h$i.env")" = "$expected" ] || fail "host $i subnet file is not flannel's format:
$(cat "$D/h$i.env")
expected:
$expected"
    [[ $s =~ ^10\.244\.([0-9]+)\.0/24$ ]] && [ "${BASH_REMATCH[1]}" -ge 1 ] \
        || fail "host $i subnet $s is not a /24 from SubnetMin 10.244.1.0 up"
done

# The store: flannel's lease JSON as the value, one lease per host, no subnet twice.
"$PY" - "$D/store.json" "$FORMAT" "$HOSTS" "$D" <<'EOF' || fail "the store file is wrong (see above)"
import json, re, sys, time, datetime
path, fmt, hosts, d = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
doc = json.load(open(path))
errors = []
if set(doc) != {"version", "subnets"} or doc["version"] != 1:
    errors.append(f"top level must be version 1 + subnets, got keys {sorted(doc)} version {doc.get('version')}")
subnets = doc.get("subnets", {})
if len(subnets) != hosts:
    errors.append(f"{len(subnets)} leases for {hosts} hosts")
seen = {}
for i in range(1, hosts + 1):
    env = dict(l.split("=", 1) for l in open(f"{d}/h{i}.env").read().split())
    key = env["FLANNEL_SUBNET"].rsplit(".", 1)[0] + ".0-24"
    entry = subnets.get(key)
    if entry is None:
        errors.append(f"host {i}: no lease {key} in the store"); continue
    if set(entry) != {"value", "expiration"} or not isinstance(entry["value"], str):
        errors.append(f"{key}: entry must be {{value: string, expiration}}, got {entry}"); continue
    ip = f"192.0.2.{10 + i}"
    want = {"PublicIP": ip, "PublicIPv6": None}
    if fmt == "vxlan":
        mac = open(f"{d}/mac{i}").read().strip()
        if not re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", mac) or int(mac[:2], 16) & 3 != 2:
            errors.append(f"host {i}: VTEP MAC {mac!r} is not a locally administered unicast MAC")
        want.update(BackendType="vxlan", BackendData={"VNI": 1, "VtepMAC": mac})
    # Go's encoding/json: struct field order, no spaces.
    want_text = json.dumps(want, separators=(",", ":"))
    if entry["value"] != want_text:
        errors.append(f"{key}: value {entry['value']!r}, flannel would write {want_text!r}")
    exp = entry["expiration"]
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", exp):
        errors.append(f"{key}: expiration {exp!r} is not ISO 8601 UTC with milliseconds")
    else:
        left = datetime.datetime.strptime(exp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp() - time.time()
        if not 23 * 3600 < left <= 24 * 3600 + 60:
            errors.append(f"{key}: expires in {left:.0f}s, expected about 24 h")
    if key in seen:
        errors.append(f"hosts {seen[key]} and {i} share {key}")
    seen[key] = i
for e in errors:
    print("store:", e)
sys.exit(1 if errors else 0)
EOF
[ "$(printf '%s\n' "${SUBNET[@]}" | sort -u | wc -l)" = "$HOSTS" ] || fail "hosts share a subnet: ${SUBNET[*]}"
log "subnet files and leases in flannel's format: ${SUBNET[*]}"

# The host side: the lease's network address as a /32 on twill0 and the Network routed through it.
for i in $(seq 1 $HOSTS); do
    h="$P-h$i"
    addr=$(ip -n "$h" -4 -o addr show dev twill0 | awk '{print $4}')
    [ "$addr" = "${SUBNET[$((i - 1))]%/24}/32" ] || fail "host $i: twill0 has '$addr', expected ${SUBNET[$((i - 1))]%/24}/32"
    ip -n "$h" link show twill0 | grep -q "mtu $MTU " || fail "host $i: twill0 MTU is not $MTU"
    ip -n "$h" route show 10.244.0.0/16 | grep -q "dev twill0" || fail "host $i: no route 10.244.0.0/16 dev twill0"
done

for i in $(seq 1 $HOSTS); do topo_add_pods "$P" "$i" "$D/h$i.env" "$PODS"; done
# Peers learn of each other through the store's watch; wait until every daemon knows the others.
for i in $(seq 1 $HOSTS); do
    wait_stat "$D/stats$i" peers $((HOSTS - 1)) 10 || fail "host $i never saw $((HOSTS - 1)) peers"
done

# Every pod pings every pod on the other hosts. The reply's TTL: 64, -1 by the replying host's kernel
# (bridge -> twill0), -1 by Twill's datapath (it routes, like flannel's udp proxy, once, on egress),
# -1 by the receiving host's kernel (twill0 -> bridge): 61. The "62" quoted for flannel is a ping
# from a host, which saves the last kernel hop (checked below).
EXPECTED_TTL=61
pings=0
for i in $(seq 1 $HOSTS); do
    for j in $(seq 1 $PODS); do
        for k in $(seq 1 $HOSTS); do
            [ "$k" = "$i" ] && continue
            for l in $(seq 1 $PODS); do
                dst=$(topo_pod_ip "$P" "$k" "$l")
                ttl=$(ping_ttl "$P-h$i-p$j" "$dst" 3) || fail "pod h$i-p$j cannot ping h$k-p$l ($dst)"
                [ "$ttl" = "$EXPECTED_TTL" ] || fail "pod h$i-p$j -> $dst: reply TTL $ttl, expected $EXPECTED_TTL (64 - 2 kernel hops - 1 datapath hop)"
                pings=$((pings + 1))
            done
        done
    done
done
# From a host itself there is one kernel hop less (the reply is delivered, not forwarded, on host 1):
# 62, the value flannel's udp backend is known to show; still exactly one datapath decrement.
ttl=$(ping_ttl "$P-h1" "$(topo_pod_ip "$P" 2 1)" 3) || fail "host 1 cannot ping a pod on host 2"
[ "$ttl" = 62 ] || fail "host 1 -> pod on host 2: reply TTL $ttl, expected 62 (64 - 1 kernel hop - 1 datapath hop)"
log "$pings cross-host pod pings, every reply TTL $EXPECTED_TTL; host -> remote pod TTL 62"

# Full-size packets with DF: the overlay MTU plus the encapsulation must fit the underlay MTU.
B=$(topo_pod_ip "$P" 2 1)
ip netns exec "$P-h1-p1" timeout 5 ping -n -c1 -W2 -M do -s $((MTU - 28)) "$B" >/dev/null \
    || fail "a ping of exactly the overlay MTU ($MTU) with DF did not get through"

# The datapath's own ICMP errors, from the Network's address: net unreachable for an address in the
# Network that nobody leases, time exceeded when its TTL decrement reaches zero (TTL 2 leaves the
# pod's host with 1). Each is counted once.
for u in $(seq 254 -1 200); do [[ " ${SUBNET[*]} " == *" 10.244.$u.0/24 "* ]] || break; done
out=$(ip netns exec "$P-h1-p1" timeout 5 ping -n -c1 -W2 "10.244.$u.9" 2>&1) && fail "a ping to unleased 10.244.$u.9 succeeded"
grep -q "From 10.244.0.0 .*Destination Net Unreachable" <<<"$out" || fail "no net unreachable from 10.244.0.0: $out"
out=$(ip netns exec "$P-h1-p1" timeout 5 ping -n -c1 -W2 -t 2 "$B" 2>&1) && fail "a ping with TTL 2 crossed the overlay"
grep -q "From 10.244.0.0 .*Time to live exceeded" <<<"$out" || fail "no time exceeded from 10.244.0.0: $out"
wait_stat "$D/stats1" drop_ttl_expired 1 3 || true
[ "$(stat_value "$D/stats1" drop_no_route)" = 1 ] && [ "$(stat_value "$D/stats1" drop_ttl_expired)" = 1 ] \
    && [ "$(stat_value "$D/stats1" icmpErrorsSent)" = 2 ] \
    || fail "host 1 should count 1 no_route, 1 ttl_expired, 2 ICMP errors: $(grep -E 'no_route|ttl_expired|icmpErrors' "$D/stats1" | paste -sd' ')"
log "MTU-sized DF ping passes; net unreachable and time exceeded come from 10.244.0.0"

# Several queues: flows spread over the TUN queues, and each queue sends from its own socket, so the
# outer source port follows the inner flow: 32 UDP flows must leave over at least two source ports,
# each flow over exactly one.
if [ "$QUEUES" -gt 1 ]; then
    grep -q "$QUEUES queues" "$D/log1" || fail "host 1 did not start $QUEUES queues: $(grep 'device twill0' "$D/log1")"
    # 64 of the 128 datagrams sent: a loaded machine may lose a few on the way, and the capture
    # must not wait for them.
    capture_start "$P-h1" eth0 64 "$D/mq.pcap" "udp and src host 192.0.2.11 and dst host 192.0.2.12"
    sleep 1 # tshark says it is capturing a moment before it is (see wireformat.sh)
    ip netns exec "$P-h1-p1" "$PY" - "$B" <<'EOF'
import socket, sys, time
for round in range(4):
    for port in range(40000, 40032):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("", port))
        s.sendto(b"flow %d" % port, (sys.argv[1], 9))
        s.close()
    time.sleep(0.05)
EOF
    capture_wait "$D/mq.pcap" 10
    spread=$("$PY" - "$D/mq.pcap" "$FORMAT" <<'EOF'
import struct, sys
data, fmt = open(sys.argv[1], "rb").read(), sys.argv[2]
off, flows = 24, {}
while off + 16 <= len(data):
    caplen = struct.unpack_from("<I", data, off + 8)[0]
    f = data[off + 16: off + 16 + caplen]
    off += 16 + caplen
    outer_port = struct.unpack_from("!H", f, 34)[0]
    inner = f[42 + (22 if fmt == "vxlan" else 0):]
    if len(inner) >= 28 and inner[9] == 17:
        flows.setdefault(struct.unpack_from("!H", inner, 20)[0], set()).add(outer_port)
ports = set().union(*flows.values()) if flows else set()
split = [p for p, s in flows.items() if len(s) > 1]
print(f"{len(flows)} flows over {len(ports)} outer source ports, {len(split)} flows on more than one")
sys.exit(0 if len(flows) >= 24 and len(ports) >= 2 and not split else 1)
EOF
) || fail "multi-queue: flows did not spread over queues, one outer port each: $spread"
    log "multi-queue ($QUEUES): $spread"
fi

tcp_transfer "$P-h1-p1" "$P-h2-p2" "$(topo_pod_ip "$P" 2 2)" "$TRANSFER_MB" "h1-p1->h2-p2"

sleep 0.6 # one stats period, so the counters include the transfer's end
for i in $(seq 1 $HOSTS); do
    for r in unknown_peer spoofed_inner_source not_for_this_host wrong_vni inner_mac_not_ours tun_write_failed send_failed; do
        v=$(stat_value "$D/stats$i" "drop_$r")
        [ "$v" = 0 ] || fail "host $i counted $v drop_$r in legitimate traffic"
    done
done
sent=$(stat_value "$D/stats1" sentPackets)
recv2=$(stat_value "$D/stats2" receivedPackets)
# At least one datagram per full-size segment (about 700 per MiB).
[ "$sent" -gt $((TRANSFER_MB * 650)) ] && [ "$recv2" -gt $((TRANSFER_MB * 650)) ] || fail "counters do not show the transfer: host 1 sent $sent, host 2 received $recv2"
# The offloads did their work: superpackets cut into many datagrams, runs written as one packet.
read1=$(stat_value "$D/stats1" tunReadPackets)
written2=$(stat_value "$D/stats2" tunWritePackets)
if has_offload tun-tso; then
    [ "$sent" -gt $((read1 * 3)) ] || fail "tun-tso on, yet host 1 sent $sent datagrams for $read1 TUN reads"
elif [ -z "$ENABLED" ] || [ "$ENABLED" = none ]; then
    [ "$sent" -le "$read1" ] || fail "no offloads, yet host 1 sent $sent datagrams for $read1 TUN reads"
fi
if has_offload tcp-gro; then
    [ "$recv2" -gt $((written2 * 3)) ] || fail "tcp-gro on, yet host 2 wrote $written2 TUN packets for $recv2 datagrams"
else
    [ "$written2" -ge $((recv2 * 9 / 10)) ] || fail "tcp-gro off, yet host 2 wrote $written2 TUN packets for $recv2 datagrams"
fi
log "offload counters: host 1 read $read1 from the TUN and sent $sent; host 2 received $recv2 and wrote $written2"
nonzero=$(for i in $(seq 1 $HOSTS); do awk -v h="$i" '/^drop_/ && $2 != 0 { printf "h%s %s=%s ", h, $1, $2 }' "$D/stats$i"; done)
log "counters: host 1 sent $sent, host 2 received $recv2; other drops: ${nonzero:-none}"
log "PASS overlay $FORMAT $ENGINE $OFFLOADS in $((SECONDS - START_TIME))s"
