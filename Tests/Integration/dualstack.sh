#!/bin/bash
# dualstack.sh: a dual-stack overlay (EnableIPv6) on three hosts whose pods have IPv4 and IPv6
# addresses, in both formats, over an IPv4-only underlay and over an IPv6 underlay: pings and
# checksummed TCP transfers over both families between every pair of hosts, the MTU from the real
# overhead (a full-size IPv6 ping with DF passes), flannel's dual-stack lease keys and subnet-file
# lines, and proof from the kernel's UDP counters of which underlay carried the traffic. The udp
# format over IPv6 keeps its leases in a real etcd (flannel's dual-stack keys and values there).
# Then a host set up as flannel's dual-stack vxlan backend does (flannel.1 over IPv4, flannel-v6.1
# over IPv6, kernel devices) and a twilld host exchange IPv6 traffic over the IPv6 underlay.
SCENARIO=dualstack
. "$(dirname "$0")/common.sh"
require_tools flock bridge

NET6=fd00:244::/48
V6CONFIG='"EnableIPv6":true,"IPv6Network":"fd00:244::/48"'

# udp6_in NS: the namespace's Udp6InDatagrams.
udp6_in() { ip netns exec "$1" awk '$1 == "Udp6InDatagrams" { print $2 }' /proc/net/snmp6; }

run_mode() {
    local format=$1 underlay=$2 store=$3 i j k D mtu expect_mtu a b before after got
    new_prefix "${format:0:1}${underlay:3:1}"
    D=$TMP/$format-$underlay
    mkdir -p "$D"
    topo_create "$P" 3
    local extra=()
    if [ "$underlay" = ipv6 ]; then
        for i in 1 2 3; do topo_add_host_ipv6 "$P" "$i"; done
        # Host 1 names its IPv6 underlay address; hosts 2 and 3 find theirs on eth0.
        extra=(--public-ipv6 "$(topo_host_ip6 1)")
    fi
    write_net_config "$D/net.json" "$format" "$V6CONFIG"
    if [ "$store" = etcd ]; then
        etcd_cluster "$P" 1
        etcdctl_ul put /coreos.com/network/config "$(cat "$D/net.json")" >/dev/null || fail "could not write the config to etcd"
        extra+=(--etcd-endpoints "$ETCD_ENDPOINTS")
    fi
    start_twilld "$P" 1 "$D" uring "${extra[@]}"
    PIDS[1]=$TWILLD_PID
    # Hosts 2 and 3 find their IPv6 underlay address on eth0 themselves.
    [ "$underlay" = ipv6 ] && extra=("${extra[@]:2}")
    for i in 2 3; do start_twilld "$P" "$i" "$D" uring "${extra[@]}"; PIDS[i]=$TWILLD_PID; done
    for i in 1 2 3; do wait_ready "$D" "$i"; done
    for i in 1 2 3; do topo_add_pods "$P" "$i" "$D/h$i.env" 2; done
    for i in 1 2 3; do wait_stat "$D/stats$i" peers 2 10 || fail "$format/$underlay: host $i never saw its 2 peers"; done

    # The subnet file: flannel's IPv6 lines, and the MTU of the underlay in use (IPv6: 20 bytes more).
    case $format-$underlay in
        vxlan-ipv4) expect_mtu=1450 ;; vxlan-ipv6) expect_mtu=1430 ;; udp-ipv4) expect_mtu=1472 ;; udp-ipv6) expect_mtu=1452 ;;
    esac
    for i in 1 2 3; do
        mtu=$(topo_subnet_var "$D/h$i.env" FLANNEL_MTU)
        [ "$mtu" = "$expect_mtu" ] || fail "$format/$underlay: host $i FLANNEL_MTU=$mtu, expected $expect_mtu"
        [ "$(topo_subnet_var "$D/h$i.env" FLANNEL_IPV6_NETWORK)" = "$NET6" ] \
            || fail "$format/$underlay: host $i subnet file lacks FLANNEL_IPV6_NETWORK=$NET6: $(cat "$D/h$i.env")"
        [[ "$(topo_subnet_var "$D/h$i.env" FLANNEL_IPV6_SUBNET)" == fd00:244:*::1/64 ]] \
            || fail "$format/$underlay: host $i FLANNEL_IPV6_SUBNET is not an fd00:244:...::1/64: $(cat "$D/h$i.env")"
    done
    # The store (the embedded file, or etcd) holds flannel's dual-stack keys, and (IPv6 underlay)
    # each host's PublicIPv6.
    if [ "$store" = etcd ]; then
        etcd_subnets | awk '{ sub(".*/subnets/", "", $1); print $1, $5 }' >"$D/leases"
    else
        "$PY" -c 'import json,sys; [print(k, e["value"]) for k, e in json.load(open(sys.argv[1]))["subnets"].items()]' \
            "$D/store.json" >"$D/leases"
    fi
    got=$("$PY" - "$D/leases" "$underlay" <<'PYEOF'
import json, re, sys
leases = dict(l.split(" ", 1) for l in open(sys.argv[1]).read().splitlines())
keys = sorted(leases)
bad = [k for k in keys if not re.fullmatch(r"10\.244\.\d+\.0-24&fd00:244:0:[0-9a-f]+::-64", k)]
v6 = sorted(str(json.loads(v).get("PublicIPv6")) for v in leases.values())
want = ["2001:db8::11", "2001:db8::12", "2001:db8::13"] if sys.argv[2] == "ipv6" else ["None"] * 3
print(" ".join(keys), "| PublicIPv6", " ".join(v6))
sys.exit(1 if bad or len(keys) != 3 or v6 != want else 0)
PYEOF
) || fail "$format/$underlay: the store does not hold 3 dual-stack leases as flannel writes them: $got"
    log "$format/$underlay ($store store): leases $got; MTU $expect_mtu"

    before=$(for i in 1 2 3; do udp6_in "$P-h$i"; done | awk '{ s += $1 } END { print s + 0 }')
    # Every pair of hosts, both families; a reply crossing the overlay loses 3 hops (two hosts + twilld).
    for i in 1 2 3; do
        for j in 1 2 3; do
            [ "$i" = "$j" ] && continue
            b=$(topo_pod_ip6 "$P" "$j" 1)
            k=$(ping_ttl "$P-h$i-p1" "$b" 5) || fail "$format/$underlay: h$i-p1 cannot ping $b"
            [ "$k" = 61 ] || fail "$format/$underlay: h$i-p1 -> $b: hop limit $k in the reply, expected 61"
            ping_ttl "$P-h$i-p2" "$(topo_pod_ip "$P" "$j" 2)" 5 >/dev/null || fail "$format/$underlay: h$i-p2 cannot ping h$j-p2 over IPv4"
        done
    done
    # The largest IPv6 packet the pod MTU allows crosses without fragmentation.
    b=$(topo_pod_ip6 "$P" 2 1)
    out=$(ip netns exec "$P-h1-p1" timeout 10 ping -6 -n -c 3 -i 0.2 -W 2 -M do -s $((expect_mtu - 48)) "$b" 2>&1) \
        || fail "$format/$underlay: a full-size ($expect_mtu-byte) IPv6 ping did not cross: $(tail -3 <<<"$out")"
    log "$format/$underlay: pings over IPv6 (hop limit 61) and IPv4 between all 6 host pairs; $expect_mtu-byte IPv6 packets cross"

    tcp_transfer "$P-h1-p1" "$P-h3-p2" "$(topo_pod_ip6 "$P" 3 2)" 30 "$format-$underlay-v6-h1-h3"
    tcp_transfer "$P-h3-p1" "$P-h2-p1" "$(topo_pod_ip6 "$P" 2 1)" 30 "$format-$underlay-v6-h3-h2"
    tcp_transfer "$P-h2-p2" "$P-h1-p2" "$(topo_pod_ip "$P" 1 2)" 10 "$format-$underlay-v4-h2-h1"
    after=$(for i in 1 2 3; do udp6_in "$P-h$i"; done | awk '{ s += $1 } END { print s + 0 }')
    if [ "$underlay" = ipv6 ]; then
        # The kernel counts a UDP GRO receive (up to 64 datagrams) once: 60 MiB make a few thousand.
        [ $((after - before)) -gt 1000 ] || fail "$format/$underlay: only $((after - before)) UDP receives over IPv6"
    else
        [ $((after - before)) = 0 ] || fail "$format/$underlay: $((after - before)) UDP datagrams arrived over IPv6 on an IPv4 underlay"
    fi
    sleep 0.6
    for i in 1 2 3; do
        for r in unknown_peer spoofed_inner_source not_for_this_host wrong_vni inner_mac_not_ours tun_write_failed send_failed; do
            v=$(stat_value "$D/stats$i" "drop_$r")
            [ "$v" = 0 ] || fail "$format/$underlay: host $i counted $v drop_$r in legitimate traffic"
        done
    done
    log "$format/$underlay: $((after - before)) UDP receives over the IPv6 underlay; no drops of legitimate traffic"
    topo_destroy "$P"
}

run_mode vxlan ipv4 embedded
run_mode vxlan ipv6 embedded
run_mode udp ipv4 embedded
run_mode udp ipv6 etcd

# --- A kernel host set up as flannel's dual-stack vxlan backend does, over an IPv6 underlay.
new_prefix k
D=$TMP/interop
mkdir -p "$D"
STORE=$D/store.json
topo_create "$P" 2
for i in 1 2; do topo_add_host_ipv6 "$P" "$i"; done
H1=$P-h1
H2=$P-h2
write_net_config "$D/net.json" vxlan "$V6CONFIG"
X=$((200 + RANDOM % 50))
X6=$(printf %x "$X")
MAC1=$(random_mac)
MAC1V6=$(random_mac)
ip -n "$H1" link add flannel.1 type vxlan id 1 local 192.0.2.11 dev eth0 dstport 8472 nolearning
ip -n "$H1" link set flannel.1 address "$MAC1" mtu 1430 up
ip -n "$H1" addr add "10.244.$X.0/32" dev flannel.1
ip -n "$H1" link add flannel-v6.1 type vxlan id 1 local 2001:db8::11 dev eth0 dstport 8472 nolearning
ip -n "$H1" link set flannel-v6.1 address "$MAC1V6" mtu 1430 up
ip -n "$H1" addr add "fd00:244:0:$X6::/128" dev flannel-v6.1 nodad
tx_csum_off "$H1" eth0
printf 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.%s.1/24\nFLANNEL_IPV6_NETWORK=%s\nFLANNEL_IPV6_SUBNET=fd00:244:0:%s::1/64\nFLANNEL_MTU=1430\nFLANNEL_IPMASQ=false\n' \
    "$X" "$NET6" "$X6" >"$D/h1.env"
start_twilld "$P" 2 "$D" uring
wait_ready "$D" 2
read -r KEY2 VALUE2 < <("$PY" -c '
import json, sys
for k, e in json.load(open(sys.argv[1]))["subnets"].items(): print(k, e["value"].replace(" ", ""))' "$STORE")
[[ "$KEY2" == *"&"* ]] || fail "twilld's lease key $KEY2 is not dual stack"
SUBNET2=${KEY2%%&*}; SUBNET2=${SUBNET2/-//}
SUBNET2V6=${KEY2#*&}; SUBNET2V6=${SUBNET2V6/-//}
MAC2=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["BackendData"]["VtepMAC"])' "$VALUE2")
MAC2V6=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["BackendV6Data"]["VtepMAC"])' "$VALUE2")
[ "$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["PublicIPv6"])' "$VALUE2")" = 2001:db8::12 ] \
    || fail "twilld's lease value does not carry PublicIPv6 2001:db8::12: $VALUE2"
[ "$SUBNET2" != "10.244.$X.0/24" ] || fail "twilld already took 10.244.$X.0/24"
VALUE1="{\"PublicIP\":\"192.0.2.11\",\"PublicIPv6\":\"2001:db8::11\",\"BackendType\":\"vxlan\",\"BackendData\":{\"VNI\":1,\"VtepMAC\":\"$MAC1\"},\"BackendV6Data\":{\"VNI\":1,\"VtepMAC\":\"$MAC1V6\"}}"
store_put "$STORE" "10.244.$X.0-24&fd00:244:0:$X6::-64" "$VALUE1" "2099-12-31T00:00:00.000Z"
wait_log "$D/log2" "peer added: 10.244.$X.0/24 \+ fd00:244:0:$X6::/64 via 192.0.2.11:8472 and \[2001:db8::11\]:8472" 1 10 \
    || fail "twilld did not add the flannel dual-stack peer: $(grep 'peer' "$D/log2")"
log "interop: twilld $KEY2 (MAC $MAC2), kernel host 10.244.$X.0-24&fd00:244:0:$X6::-64 (MACs $MAC1, $MAC1V6)"
# The kernel host learns twilld's lease as flannel's vxlan backend programs both devices.
G2=${SUBNET2%/24}
ip -n "$H1" neigh add "$G2" lladdr "$MAC2" dev flannel.1 nud permanent
ip netns exec "$H1" bridge fdb add "$MAC2" dev flannel.1 dst 192.0.2.12 self permanent
ip -n "$H1" route add "$SUBNET2" via "$G2" dev flannel.1 onlink
G2V6=${SUBNET2V6%/64}
ip -n "$H1" -6 neigh add "$G2V6" lladdr "$MAC2V6" dev flannel-v6.1 nud permanent
ip netns exec "$H1" bridge fdb add "$MAC2V6" dev flannel-v6.1 dst 2001:db8::12 self permanent
ip -n "$H1" -6 route add "$SUBNET2V6" via "$G2V6" dev flannel-v6.1 onlink
topo_add_pods "$P" 1 "$D/h1.env" 1
topo_add_pods "$P" 2 "$D/h2.env" 1
A6=$(topo_pod_ip6 "$P" 1 1)
B6=$(topo_pod_ip6 "$P" 2 1)
before=$(udp6_in "$H2")
k=$(ping_ttl "$H1-p1" "$B6" 5) || fail "interop: flannel pod $A6 cannot ping Twill pod $B6"
[ "$k" = 61 ] || fail "interop: flannel pod -> Twill pod: hop limit $k, expected 61"
k=$(ping_ttl "$H2-p1" "$A6" 5) || fail "interop: Twill pod $B6 cannot ping flannel pod $A6"
[ "$k" = 62 ] || fail "interop: Twill pod -> flannel pod: hop limit $k, expected 62"
ping_ttl "$H2-p1" "$(topo_pod_ip "$P" 1 1)" 5 >/dev/null || fail "interop: IPv4 between the pods fails"
tcp_transfer "$H1-p1" "$H2-p1" "$B6" 30 "interop-v6-flannel-to-twill"
tcp_transfer "$H2-p1" "$H1-p1" "$A6" 30 "interop-v6-twill-to-flannel"
after=$(udp6_in "$H2")
[ $((after - before)) -gt 500 ] || fail "interop: only $((after - before)) UDP receives by twilld over IPv6"
sleep 0.6
for r in unknown_peer spoofed_inner_source not_for_this_host wrong_vni inner_mac_not_ours; do
    v=$(stat_value "$D/stats2" "drop_$r")
    [ "$v" = 0 ] || fail "interop: twilld dropped $v packets of the kernel peer as drop_$r"
done
log "interop: IPv6 pings and 30 MiB both ways between a kernel flannel-v6.1 host and twilld over the IPv6 underlay; $((after - before)) UDP receives over IPv6, no drops"
log "PASS dualstack in $((SECONDS - START_TIME))s"
