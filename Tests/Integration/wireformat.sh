#!/bin/bash
# wireformat.sh: what Twill puts on the underlay, captured with tshark. udp format: a datagram to port
# 8285 whose payload is exactly the inner IPv4 packet. vxlan format: flags 0x08, VNI 1, inner Ethernet
# from the sender's VtepMAC to the peer's, EtherType IPv4, then the inner packet.
SCENARIO=wireformat
. "$(dirname "$0")/common.sh"
require_tools tshark
PATTERN=deadbeefcafef00d
COUNT=3

# The checker: each underlay payload against the inner packet captured on the sender's twill0 (the
# packet as the datapath read it). Only the TTL (one less) and the IPv4 header checksum may differ.
cat >"$TMP/check.py" <<'EOF'
import struct, sys

def pcap(path):
    data = open(path, "rb").read()
    magic, = struct.unpack("<I", data[:4])
    assert magic == 0xA1B2C3D4, f"{path}: not a little-endian microsecond pcap"
    linktype, = struct.unpack("<I", data[20:24])
    out, off = [], 24
    while off < len(data):
        _, _, incl, _ = struct.unpack("<IIII", data[off:off + 16])
        out.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return linktype, out

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s

fmt, payload_lines, tun_pcap, src, dst, pattern = sys.argv[1:7]
payloads = [bytes.fromhex(l.replace(":", "")) for l in open(payload_lines).read().split()]
linktype, tun = pcap(tun_pcap)
assert linktype == 101, f"twill0 capture has link type {linktype}, expected 101 (raw IP)"
by_seq = {struct.unpack("!H", p[26:28])[0]: p for p in tun}
errors = []
for n, payload in enumerate(payloads):
    # vxlan: past the 8-byte VXLAN header and the 14-byte inner Ethernet header (both checked by tshark).
    inner = payload[8 + 14:] if fmt == "vxlan" else payload
    v_ihl, _, total, _, _, ttl, proto, _ = struct.unpack("!BBHHHBBH", inner[:12])
    if v_ihl != 0x45 or total != len(inner) or proto != 1:
        errors.append(f"#{n}: not the bare inner IPv4/ICMP packet (version/IHL {v_ihl:#x}, total {total}, payload {len(inner)}, proto {proto})")
        continue
    if inner[12:16] != bytes(map(int, src.split("."))) or inner[16:20] != bytes(map(int, dst.split("."))):
        errors.append(f"#{n}: inner addresses are not {src} -> {dst}")
    if csum(inner[:20]) != 0xFFFF:
        errors.append(f"#{n}: inner IPv4 header checksum is wrong")
    if inner[20] != 8 or csum(inner[20:]) != 0xFFFF:
        errors.append(f"#{n}: inner ICMP is not a valid echo request")
    if bytes.fromhex(pattern) * 2 not in inner:
        errors.append(f"#{n}: the ping pattern {pattern} is not in the payload")
    seq = struct.unpack("!H", inner[26:28])[0]
    original = by_seq.get(seq)
    if original is None:
        errors.append(f"#{n}: echo seq {seq} was not seen on twill0")
        continue
    if original[8] - 1 != ttl:
        errors.append(f"#{n}: TTL {ttl} on the wire, {original[8]} on twill0: the datapath must decrement it by one")
    if original[:8] != inner[:8] or original[9:10] != inner[9:10] or original[12:] != inner[12:]:
        errors.append(f"#{n}: the payload differs from the packet on twill0 beyond TTL and checksum")
if not payloads:
    errors.append("no payloads captured")
for e in errors:
    print(e)
if not errors:
    print(f"{len(payloads)} payloads checked, inner TTL {ttl}")
sys.exit(1 if errors else 0)
EOF

# run_format FORMAT LETTER PORT: a fresh two-host overlay, a capture on host 1's eth0 and twill0
# during a ping with a known pattern, then the checks.
run_format() {
    local fmt=$1 port=$3 D="$TMP/$1" a b f
    mkdir -p "$D"
    new_prefix "$2"
    topo_create "$P" 2
    write_net_config "$D/net.json" "$fmt"
    start_twilld "$P" 1 "$D" uring
    start_twilld "$P" 2 "$D" uring
    wait_ready "$D" 1
    wait_ready "$D" 2
    topo_add_pods "$P" 1 "$D/h1.env" 1
    topo_add_pods "$P" 2 "$D/h2.env" 1
    wait_stat "$D/stats1" peers 1 10 || fail "$fmt: host 1 never saw host 2"
    a=$(topo_pod_ip "$P" 1 1)
    b=$(topo_pod_ip "$P" 2 1)
    ping_ttl "$P-h1-p1" "$b" 5 >/dev/null || fail "$fmt: no ping before capturing"
    # tshark reports "Capturing on" a moment before its capture is attached, and a loaded machine
    # stretches that moment: give both a second, send a few more pings than the wire capture needs,
    # and let the twill0 capture (started first) take them all, so every wire packet has its original.
    capture_start "$P-h1" twill0 "$((COUNT + 5))" "$D/tun.pcap" "icmp[icmptype] == icmp-echo"
    local tun_pid=$CAPTURE_PID
    capture_start "$P-h1" eth0 "$COUNT" "$D/wire.pcap" "udp dst port $port and src host 192.0.2.11 and dst host 192.0.2.12"
    sleep 1
    ip netns exec "$P-h1-p1" timeout 10 ping -n -c "$((COUNT + 5))" -i 0.2 -s 100 -p "$PATTERN" "$b" >/dev/null \
        || fail "$fmt: the patterned ping failed"
    capture_wait "$D/wire.pcap" 10
    CAPTURE_PID=$tun_pid capture_wait "$D/tun.pcap" 10

    # Outer UDP ports. udp: 8285 -> 8285, as flannel's proxy sends from its bound port. vxlan: only
    # the destination is fixed (Linux hashes the source port per flow; either is valid).
    f=$(tshark -r "$D/wire.pcap" -T fields -e udp.srcport -e udp.dstport 2>/dev/null | sort -u)
    if [ "$fmt" = udp ]; then
        [ "$f" = "$(printf '%s\t%s' "$port" "$port")" ] || fail "udp: outer UDP ports are '$f', expected $port -> $port"
    else
        [ "$(cut -f2 <<<"$f" | sort -u)" = "$port" ] || fail "vxlan: outer UDP destination ports are '$f', expected $port"
    fi
    log "$fmt: outer UDP ports $(tr '\t\n' '> ' <<<"$f")"
    if [ "$fmt" = vxlan ]; then
        local mac1 mac2 expect got
        mac1=$(lease_of "$D/store.json" 192.0.2.11 | awk '{print $2}')
        mac2=$(lease_of "$D/store.json" 192.0.2.12 | awk '{print $2}')
        # tshark's VXLAN flags field is 16 bits: 0x0800 is the I flag (the first byte 0x08) alone. The
        # last occurrence of eth.* is the inner frame (the first is the underlay's).
        expect=$(printf '0x0800\t1\t%s\t%s\t0x0800' "$mac2" "$mac1")
        got=$(tshark -r "$D/wire.pcap" -d udp.port==8472,vxlan -T fields -E occurrence=l -e vxlan.flags -e vxlan.vni \
            -e eth.dst -e eth.src -e eth.type 2>/dev/null | sort -u)
        [ "$got" = "$expect" ] || fail "vxlan: dissected as
$got
expected (flags, VNI, inner dst MAC = peer's VtepMAC, inner src MAC = own VtepMAC, EtherType):
$expect"
        # The same from the raw bytes: the 8-byte header exactly, not just what tshark tolerates.
        tshark -r "$D/wire.pcap" -T fields -e udp.payload 2>/dev/null | cut -c1-16 | sort -u | grep -qx 0800000000000100 \
            || fail "vxlan: the VXLAN header bytes are not 08 00 00 00 00 00 01 00"
        log "vxlan: flags 0x08, VNI 1, inner $mac1 -> $mac2, EtherType IPv4"
    fi
    tshark -r "$D/wire.pcap" -T fields -e udp.payload >"$D/payloads" 2>/dev/null
    f=$("$PY" "$TMP/check.py" "$fmt" "$D/payloads" "$D/tun.pcap" "$a" "$b" "$PATTERN") \
        || fail "$fmt: payload check failed:
$f"
    log "$fmt: $f; each payload is the inner packet as read from twill0, TTL one less"
    topo_destroy "$P"
}

run_format udp u 8285
run_format vxlan v 8472
log "PASS wireformat in $((SECONDS - START_TIME))s"
