#!/bin/bash
# interop.sh: a host running Linux's own VXLAN device, set up exactly as flannel's vxlan backend does
# (flanneld itself is played by this script), and a host running twilld in vxlan format share one
# store. Pods on both ping each other and move checksummed TCP data in both directions.
SCENARIO=interop
. "$(dirname "$0")/common.sh"
require_tools flock bridge

new_prefix i
D=$TMP
STORE=$D/store.json
topo_create "$P" 2
H1=$P-h1
H2=$P-h2
write_net_config "$D/net.json" vxlan

# Host 1, as flanneld's vxlan backend sets it up: flannel.1, VNI 1, Linux's port 8472, learning off,
# a random locally administered MAC, the lease's network address as a /32, MTU = underlay - 50.
X=$((200 + RANDOM % 50))
SUBNET1=10.244.$X.0/24
MAC1=$(random_mac)
ip -n "$H1" link add flannel.1 type vxlan id 1 local 192.0.2.11 dev eth0 dstport 8472 nolearning
ip -n "$H1" link set flannel.1 address "$MAC1" mtu 1450 up
ip -n "$H1" addr add "10.244.$X.0/32" dev flannel.1
# Host 1's "NIC" must finish the inner TCP checksums the kernel VXLAN device leaves to offload, as
# real hardware would; over a bare veth twilld would read unfinished checksums (see tx_csum_off).
tx_csum_off "$H1" eth0
printf 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.%s.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n' "$X" >"$D/h1.env"

# Host 2: twilld, started first, so host 1's lease reaches it through the store's watch. A short
# TTL makes it renew (rewrite the store) every 2 s while host 1's lease is in there.
start_twilld "$P" 2 "$D" uring --subnet-lease-ttl 4
wait_ready "$D" 2
read -r SUBNET2 MAC2 < <(lease_of "$STORE" 192.0.2.12) || fail "no lease of 192.0.2.12 in the store"
[ "$SUBNET2" = "$(subnet_of "$D/h2.env")" ] || fail "host 2's lease $SUBNET2 differs from its subnet file"
EXP2=$(expiration_of "$STORE" "$SUBNET2")
log "host 2: twilld lease $SUBNET2, VTEP MAC $MAC2"

# Host 1's lease, as flanneld writes it: Go's field order, PublicIPv6 null, no spaces; under the
# store's lock, replacing the file atomically.
[ "$SUBNET2" != "$SUBNET1" ] || fail "twilld already took $SUBNET1" # (X is drawn from 200..249)
VALUE1="{\"PublicIP\":\"192.0.2.11\",\"PublicIPv6\":null,\"BackendType\":\"vxlan\",\"BackendData\":{\"VNI\":1,\"VtepMAC\":\"$MAC1\"}}"
store_put "$STORE" "10.244.$X.0-24" "$VALUE1" "2099-12-31T00:00:00.000Z"
wait_stat "$D/stats2" peers 1 10 || fail "twilld did not take host 1's flannel lease as a peer"
wait_log "$D/log2" "peer added: $SUBNET1 via 192.0.2.11:8472 mac $MAC1" 1 5 \
    || fail "twilld's log does not show the peer $SUBNET1 via 192.0.2.11:8472 mac $MAC1"
log "host 1: kernel flannel.1 ($MAC1), lease $SUBNET1 written to the store; twilld added it as a peer"

# Host 1 learns host 2's lease, as flanneld's vxlan backend programs the kernel, in flannel's order.
G2=${SUBNET2%/24}
ip -n "$H1" neigh add "$G2" lladdr "$MAC2" dev flannel.1 nud permanent
ip netns exec "$H1" bridge fdb add "$MAC2" dev flannel.1 dst 192.0.2.12 self permanent
ip -n "$H1" route add "$SUBNET2" via "$G2" dev flannel.1 onlink

topo_add_pods "$P" 1 "$D/h1.env" 2
topo_add_pods "$P" 2 "$D/h2.env" 2
A=$(topo_pod_ip "$P" 1 1)
B=$(topo_pod_ip "$P" 2 1)

# TTLs: a reply that crosses Twill loses 3 (two kernel hops and Twill's egress hop); one that crosses
# the kernel's VXLAN device loses 2 (the device does not route).
ttl=$(ping_ttl "$H1-p1" "$B" 5) || fail "flannel pod $A cannot ping Twill pod $B"
[ "$ttl" = 61 ] || fail "flannel pod -> Twill pod: reply TTL $ttl, expected 61"
ttl=$(ping_ttl "$H2-p1" "$A" 5) || fail "Twill pod $B cannot ping flannel pod $A"
[ "$ttl" = 62 ] || fail "Twill pod -> flannel pod: reply TTL $ttl, expected 62"
for j in 1 2; do
    for l in 1 2; do
        ping_ttl "$H1-p$j" "$(topo_pod_ip "$P" 2 "$l")" 3 >/dev/null || fail "h1-p$j cannot ping h2-p$l"
        ping_ttl "$H2-p$l" "$(topo_pod_ip "$P" 1 "$j")" 3 >/dev/null || fail "h2-p$l cannot ping h1-p$j"
    done
done
log "pings both ways (8 pairs); reply TTL 61 via Twill, 62 via the kernel VXLAN"

tcp_transfer "$H1-p1" "$H2-p2" "$(topo_pod_ip "$P" 2 2)" 100 "flannel->twill"
# twilld -> kernel with every offload on: the TUN hands twilld 64 KB superpackets, which it cuts into
# segments with their own inner headers and checksums and sends with UDP GSO. Host 2's veth is told
# not to take GSO packets, so the kernel segments before the capture point and tshark sees each
# datagram as the wire carries it; every inner IPv4 and TCP checksum in it must be valid.
grep -Eq "offloads: tun-tso,tun-uso,udp-gso,udp-gro,tcp-gro " "$D/log2" || fail "twilld did not enable every offload: $(grep offload "$D/log2")"
ip netns exec "$H2" ethtool -K eth0 tx-udp-segmentation off >/dev/null || fail "ethtool could not turn off tx-udp-segmentation"
capture_start "$H2" eth0 4000 "$D/wire.pcap" "udp dst port 8472 and src host 192.0.2.12"
tcp_transfer "$H2-p1" "$H1-p2" "$(topo_pod_ip "$P" 1 2)" 100 "twill->flannel"
capture_wait "$D/wire.pcap" 20
cat >"$D/checksums.py" <<'EOF'
import struct, sys
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return s
data = open(sys.argv[1], "rb").read()
off, frames, segments, bad = 24, 0, 0, []
while off + 16 <= len(data):
    caplen = struct.unpack_from("<I", data, off + 8)[0]
    f = data[off + 16: off + 16 + caplen]
    off += 16 + caplen
    frames += 1
    ihl = (f[14] & 15) * 4
    inner = f[14 + ihl + 8 + 8 + 14:]            # outer Ethernet, IP, UDP, VXLAN, inner Ethernet
    if len(inner) < 40 or inner[0] != 0x45 or inner[9] != 6:
        continue
    total = struct.unpack_from("!H", inner, 2)[0]
    if total != len(inner) or total > 1450:
        bad.append(f"frame {frames}: inner length {total} for {len(inner)} bytes (not segmented?)"); continue
    if csum(inner[:20]) != 0xffff:
        bad.append(f"frame {frames}: inner IPv4 header checksum wrong")
    tcp = inner[20:total]
    pseudo = inner[12:20] + struct.pack("!BBH", 0, 6, len(tcp))
    if csum(pseudo + tcp) != 0xffff:
        bad.append(f"frame {frames}: inner TCP checksum wrong (seq {struct.unpack_from('!I', tcp, 4)[0]})")
    if total - 20 - (tcp[12] >> 4) * 4 > 1000:
        segments += 1
print("; ".join(bad[:5]), f"{frames} frames, {segments} full-size TCP segments, {len(bad)} bad")
sys.exit(1 if bad or segments < 1000 else 0)
EOF
verdict=$("$PY" "$D/checksums.py" "$D/wire.pcap") || fail "inner checksums on the wire are wrong: $verdict"
log "twill->flannel on the wire, offloads on: $verdict"

sleep 0.6
for r in unknown_peer spoofed_inner_source not_for_this_host wrong_vni inner_mac_not_ours vxlan_flag_missing; do
    v=$(stat_value "$D/stats2" "drop_$r")
    [ "$v" = 0 ] || fail "twilld dropped $v packets of the kernel VXLAN peer as drop_$r"
done
# twilld rewrote the store on every renewal; the foreign entry must come through byte for byte.
ENTRY="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["subnets"][sys.argv[2]]["value"])' "$STORE" "10.244.$X.0-24") $(expiration_of "$STORE" "$SUBNET1")"
[ "$ENTRY" = "$VALUE1 2099-12-31T00:00:00.000Z" ] || fail "host 1's lease changed in the store: $ENTRY"
for n in $(seq 1 50); do [ "$(expiration_of "$STORE" "$SUBNET2")" != "$EXP2" ] && break; sleep 0.1; done
[ "$(expiration_of "$STORE" "$SUBNET2")" != "$EXP2" ] || fail "twilld never renewed its 4 s lease"
log "twilld: received $(stat_value "$D/stats2" receivedPackets), sent $(stat_value "$D/stats2" sentPackets), no drops of the flannel peer's traffic"
log "PASS interop in $((SECONDS - START_TIME))s"
