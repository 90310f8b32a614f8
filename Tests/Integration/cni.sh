#!/bin/bash
# cni.sh: twill-cni driven through the CNI protocol, delegating to Debian's bridge and host-local
# plugins. Two hosts with twilld on one embedded store; in each host a pod namespace is added by
# twill-cni ADD (host 1 with flannel's defaults, host 2 with delegate overrides). Checks the ADD
# result and what it built, pod-to-pod pings and a checksummed TCP transfer across the overlay, CHECK
# (passing, and failing once the pod's interface is gone), VERSION, DEL (twice, and without a subnet
# file), and CNI error replies for bad input. Then a dual-stack overlay: ADD gives each pod addresses of
# both families and routes to both Networks, and the pods ping each other over IPv6.
SCENARIO=cni
. "$(dirname "$0")/common.sh"

CNI_BIN=${CNI_PLUGIN_DIR:-/usr/lib/cni}
TRANSFER_MB=${TRANSFER_MB:-20}
require_tools iptables
[ -x "$BIN/twill-cni" ] || fail "no twill-cni in $BIN (swift build --product twill-cni)"
for p in bridge host-local; do
    [ -x "$CNI_BIN/$p" ] || fail "no CNI plugin $CNI_BIN/$p (apt-get install containernetworking-plugins)"
done

new_prefix c
D=$TMP
topo_create "$P" 2
write_net_config "$D/net.json" vxlan
for i in 1 2; do start_twilld "$P" "$i" "$D" auto; done
for i in 1 2; do wait_ready "$D" "$i"; done
MTU=$(topo_subnet_var "$D/h1.env" FLANNEL_MTU)
log "2 daemons ready: $(subnet_of "$D/h1.env") and $(subnet_of "$D/h2.env"), MTU $MTU"

# The network configs, as a runtime would find them in /etc/cni/net.d; every file they name is
# under $D (host-local's leases too: nothing goes to /var/lib/cni).
write_conf() { # FILE HOST [EXTRA_MEMBERS]
    printf '{"cniVersion":"1.0.0","name":"twill","type":"twill-cni","subnetFile":"%s","dataDir":"%s","ipam":{"dataDir":"%s"}%s}\n' \
        "$D/h$2.env" "$D/cni$2" "$D/ipam$2" "${3:+,$3}" >"$1"
}
write_conf "$D/h1.conf" 1
write_conf "$D/h2.conf" 2 '"delegate":{"bridge":"twbr0","ipMasq":false,"hairpinMode":true}'
BRIDGE=(cni0 twbr0)

# cni_call HOST COMMAND CONTAINER_ID POD_NS CONF: twill-cni in the host's namespace through the CNI
# protocol; sets CNI_RC and CNI_OUT (stdout), its stderr goes to $D/cni.err.
cni_call() {
    local rc=0
    ip netns exec "$P-h$1" timeout 30 env CNI_COMMAND="$2" CNI_CONTAINERID="$3" CNI_NETNS="${4:+/run/netns/$4}" \
        CNI_IFNAME=eth0 CNI_PATH="$CNI_BIN" "$BIN/twill-cni" <"$5" >"$D/cni.out" 2>"$D/cni.err" || rc=$?
    CNI_RC=$rc
    CNI_OUT=$(cat "$D/cni.out")
}

# expect_cni_error WHAT CODE MSG_PART: the last call failed with a CNI error reply of that code
# whose msg contains MSG_PART.
expect_cni_error() {
    [ "$CNI_RC" != 0 ] || fail "$1: exit status 0, expected a failure; stdout: $CNI_OUT"
    "$PY" - "$2" "$3" "$CNI_OUT" <<'PYEOF' || fail "$1: not the expected CNI error reply (exit $CNI_RC): $CNI_OUT"
import json, sys
reply = json.loads(sys.argv[3])
assert set(reply) == {"cniVersion", "code", "msg", "details"}, f"fields {sorted(reply)}"
assert reply["code"] == int(sys.argv[1]), f"code {reply['code']}"
assert sys.argv[2] in reply["msg"], f"msg {reply['msg']!r}"
PYEOF
    log "$1: code $2, exit $CNI_RC: $("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["msg"])' "$CNI_OUT")"
}

# --- ADD: one pod per host.
POD_IP=()
for i in 1 2; do
    pod="$P-h$i-p1"
    ip netns add "$pod"
    ip -n "$pod" link set lo up
    cni_call "$i" ADD "pod$i" "$pod" "$D/h$i.conf"
    [ "$CNI_RC" = 0 ] || fail "host $i: ADD failed (exit $CNI_RC): $CNI_OUT $(cat "$D/cni.err")"
    echo "$CNI_OUT" >"$D/add$i.json"
    # The result: CNI 1.0.0, one address from the host's subnet with the bridge's address as gateway,
    # the pod's eth0 in its namespace.
    ip_addr=$("$PY" - "$(subnet_of "$D/h$i.env")" "/run/netns/$pod" "$D/add$i.json" <<'PYEOF'
import ipaddress, json, sys
subnet, netns = ipaddress.ip_network(sys.argv[1]), sys.argv[2]
r = json.load(open(sys.argv[3]))
assert r["cniVersion"] == "1.0.0", f"cniVersion {r.get('cniVersion')}"
ips = r["ips"]
assert len(ips) == 1, f"{len(ips)} addresses"
addr = ipaddress.ip_interface(ips[0]["address"])
assert addr.network == subnet, f"{addr} is not in the host's subnet {subnet}"
assert ipaddress.ip_address(ips[0]["gateway"]) == subnet.network_address + 1, f"gateway {ips[0]['gateway']}"
eth0 = r["interfaces"][ips[0]["interface"]]
assert eth0["name"] == "eth0" and eth0["sandbox"] == netns, f"interface {eth0}"
print(addr.ip)
PYEOF
) || fail "host $i: the ADD result is wrong: $CNI_OUT"
    POD_IP+=("$ip_addr")
    # What the delegates built: the pod's eth0 with that address, the bridge in the HOST namespace
    # with the gateway address and the overlay MTU, and the route to the Network through it.
    ip -n "$pod" -4 -o addr show dev eth0 | grep -q " $ip_addr/24 " || fail "host $i: pod eth0 lacks $ip_addr/24"
    ip -n "$pod" link show eth0 | grep -q "mtu $MTU " || fail "host $i: pod eth0 MTU is not $MTU"
    ip -n "$pod" route show 10.244.0.0/16 | grep -q "via ${ip_addr%.*}.1 dev eth0" \
        || fail "host $i: no route to 10.244.0.0/16 via the bridge in the pod: $(ip -n "$pod" route)"
    br=${BRIDGE[$((i - 1))]}
    ip -n "$P-h$i" -4 -o addr show dev "$br" | grep -q " ${ip_addr%.*}.1/24 " || fail "host $i: bridge $br lacks the gateway address"
    ip -n "$P-h$i" link show "$br" | grep -q "mtu $MTU " || fail "host $i: bridge $br MTU is not $MTU"
    ! ip link show "$br" >/dev/null 2>&1 || fail "a $br device exists in the root namespace"
    [ -f "$D/ipam$i/twill/$ip_addr" ] || fail "host $i: host-local kept no lease for $ip_addr under $D/ipam$i"
done
[ ! -e /var/lib/cni/networks/twill ] || fail "host-local wrote to /var/lib/cni/networks/twill"
log "ADD: pods ${POD_IP[*]} on bridges ${BRIDGE[*]} in their hosts' namespaces"

# The saved delegate configs, which DEL and CHECK hand on: flannel's defaults on host 1 (FLANNEL_IPMASQ
# is false, so the bridge masquerades), the delegate's own values on host 2.
for i in 1 2; do
    "$PY" - "$i" "$(subnet_of "$D/h$i.env")" "$MTU" "$D/ipam$i" "$D/cni$i/pod$i" <<'PYEOF' || fail "host $i: saved delegate config is wrong: $(cat "$D/cni$i/pod$i")"
import json, sys
host, subnet, mtu, ipam_dir = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
d = json.load(open(sys.argv[5]))
want = {"cniVersion": "1.0.0", "name": "twill", "type": "bridge", "isGateway": True, "mtu": mtu,
        "ipMasq": host == "1",
        "ipam": {"type": "host-local", "dataDir": ipam_dir, "ranges": [[{"subnet": subnet}]],
                 "routes": [{"dst": "10.244.0.0/16", "gw": subnet.replace(".0/24", ".1")}]}}
if host == "2":
    want.update(bridge="twbr0", hairpinMode=True)
assert d == want, f"got {d}, want {want}"
PYEOF
done
[ "$(stat -c %a "$D/cni1/pod1")" = 600 ] || fail "the saved config is not private (mode $(stat -c %a "$D/cni1/pod1"))"
ip netns exec "$P-h1" iptables -t nat -S POSTROUTING | grep -q -- "-s ${POD_IP[0]}/32 .*-j CNI-" \
    || fail "host 1: the bridge set up no masquerading for ${POD_IP[0]} (ipMasq defaults to !FLANNEL_IPMASQ)"
! ip netns exec "$P-h2" iptables -t nat -S POSTROUTING | grep -q -- "-j CNI-" \
    || fail "host 2: the bridge masquerades although the delegate says ipMasq false"
log "saved delegate configs: flannel's defaults on host 1, the delegate's overrides on host 2"

# --- Traffic between the pods across the overlay.
for i in 1 2; do wait_stat "$D/stats$i" peers 1 10 || fail "host $i never saw its peer"; done
ping_ttl "$P-h1-p1" "${POD_IP[1]}" 3 >/dev/null || fail "pod on host 1 cannot ping ${POD_IP[1]}"
ping_ttl "$P-h2-p1" "${POD_IP[0]}" 3 >/dev/null || fail "pod on host 2 cannot ping ${POD_IP[0]}"
ip netns exec "$P-h1-p1" timeout 5 ping -n -c1 -W2 -M do -s $((MTU - 28)) "${POD_IP[1]}" >/dev/null \
    || fail "an MTU-sized DF ping between the pods did not get through"
log "pods ping each other both ways, MTU-sized with DF too"
tcp_transfer "$P-h1-p1" "$P-h2-p1" "${POD_IP[1]}" "$TRANSFER_MB" "pod1->pod2"
tcp_transfer "$P-h2-p1" "$P-h1-p1" "${POD_IP[0]}" "$TRANSFER_MB" "pod2->pod1"

# --- CHECK with the ADD result as prevResult, as a runtime sends it.
for i in 1 2; do
    "$PY" -c 'import json,sys; c = json.load(open(sys.argv[1])); c["prevResult"] = json.load(open(sys.argv[2])); print(json.dumps(c))' \
        "$D/h$i.conf" "$D/add$i.json" >"$D/check$i.conf"
    cni_call "$i" CHECK "pod$i" "$P-h$i-p1" "$D/check$i.conf"
    [ "$CNI_RC" = 0 ] && [ -z "$CNI_OUT" ] || fail "host $i: CHECK failed (exit $CNI_RC): $CNI_OUT $(cat "$D/cni.err")"
done
log "CHECK passes for both pods"
cni_call 1 CHECK "nosuchpod" "$P-h1-p1" "$D/check1.conf"
expect_cni_error "CHECK of a container never added" 3 "has no saved delegate config"
cni_call 1 CHECK "pod1" "$P-h1-p1" "$D/h1.conf"
expect_cni_error "CHECK without prevResult" 7 "prevResult is required for CHECK"
# CHECK reaches the delegate: with the pod's interface gone, bridge's own error comes back.
ip -n "$P-h2-p1" link del eth0
cni_call 2 CHECK "pod2" "$P-h2-p1" "$D/check2.conf"
[ "$CNI_RC" != 0 ] || fail "CHECK passed although the pod's eth0 is gone"
"$PY" -c 'import json,sys; r = json.loads(sys.argv[1]); assert isinstance(r["code"], int) and r["msg"]' "$CNI_OUT" \
    || fail "a failed CHECK did not relay a CNI error: $CNI_OUT"
log "CHECK after the pod's eth0 was deleted fails with bridge's error: $CNI_OUT"

# --- VERSION: every version the delegate speaks, no more.
CNI_RC=0
CNI_OUT=$(CNI_COMMAND=VERSION "$BIN/twill-cni" </dev/null) || CNI_RC=$?
BRIDGE_VERSIONS=$(CNI_COMMAND=VERSION "$CNI_BIN/bridge" </dev/null)
"$PY" - "$CNI_OUT" "$BRIDGE_VERSIONS" <<'PYEOF' || fail "VERSION reply is wrong (exit $CNI_RC): $CNI_OUT (bridge: $BRIDGE_VERSIONS)"
import json, sys
mine, bridge = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert mine["cniVersion"] == "1.0.0" and "0.4.0" in mine["supportedVersions"], mine
assert set(mine["supportedVersions"]) <= set(bridge["supportedVersions"]), (mine, bridge)
PYEOF
[ "$CNI_RC" = 0 ] || fail "VERSION exited $CNI_RC"
log "VERSION: $CNI_OUT"

# --- Bad input: CNI error replies naming the problem, nothing saved.
printf '{"cniVersion":"1.0.0","name":"twill","type":"twill-cni","subnetFile":"%s","dataDir":"%s"}\n' "$D/absent.env" "$D/cni1" >"$D/nofile.conf"
cni_call 1 ADD "bad1" "$P-h1-p1" "$D/nofile.conf"
expect_cni_error "ADD without a subnet file" 11 "the subnet file $D/absent.env does not exist"
echo '{"cniVersion":"1.0.0","name":"twill",' >"$D/malformed.conf"
cni_call 1 ADD "bad2" "$P-h1-p1" "$D/malformed.conf"
expect_cni_error "ADD with malformed JSON" 6 "the network config on stdin is not JSON"
write_conf "$D/nodelegate.conf" 1 '"delegate":{"type":"no-such-plugin"}'
cni_call 1 ADD "bad3" "$P-h1-p1" "$D/nodelegate.conf"
expect_cni_error "ADD with a delegate not in CNI_PATH" 4 "\"no-such-plugin\" is not an executable in any CNI_PATH directory"
cni_call 1 ADD "../escape" "$P-h1-p1" "$D/h1.conf"
expect_cni_error "ADD with a container ID that is a path" 4 "CNI_CONTAINERID must start with a letter or digit"
[ "$(ls "$D/cni1")" = pod1 ] || fail "failed ADDs left saved configs: $(ls "$D/cni1")"
[ ! -e "$D/escape" ] || fail "a container ID wrote outside the data directory"

# --- DEL: removes the interface, host-local's lease and the saved file; a second DEL succeeds.
cni_call 1 DEL "pod1" "$P-h1-p1" "$D/h1.conf"
[ "$CNI_RC" = 0 ] || fail "DEL failed (exit $CNI_RC): $CNI_OUT $(cat "$D/cni.err")"
! ip -n "$P-h1-p1" link show eth0 >/dev/null 2>&1 || fail "DEL left the pod's eth0"
[ ! -e "$D/cni1/pod1" ] || fail "DEL left the saved config"
[ ! -e "$D/ipam1/twill/${POD_IP[0]}" ] || fail "DEL left host-local's lease for ${POD_IP[0]}"
[ -z "$(ip -n "$P-h1" -o link show master cni0)" ] || fail "DEL left the pod's veth on cni0"
cni_call 1 DEL "pod1" "$P-h1-p1" "$D/h1.conf"
[ "$CNI_RC" = 0 ] && [ -z "$CNI_OUT" ] || fail "a second DEL failed (exit $CNI_RC): $CNI_OUT"
# Host 2's pod lost its eth0 already; DEL still releases the rest, and needs no subnet file (the
# saved config has all it takes), so it works after the daemon is gone.
printf '{"cniVersion":"1.0.0","name":"twill","type":"twill-cni","subnetFile":"%s","dataDir":"%s"}\n' "$D/absent.env" "$D/cni2" >"$D/del2.conf"
cni_call 2 DEL "pod2" "$P-h2-p1" "$D/del2.conf"
[ "$CNI_RC" = 0 ] || fail "DEL of the broken pod failed (exit $CNI_RC): $CNI_OUT $(cat "$D/cni.err")"
[ ! -e "$D/cni2/pod2" ] && [ ! -e "$D/ipam2/twill/${POD_IP[1]}" ] || fail "DEL of the broken pod left its saved config or lease"
# A saved file that is no delegate config cannot be handed on; DEL drops it and succeeds (a failure
# would only have the runtime retry forever).
echo 'not json' >"$D/cni1/junk"
cni_call 1 DEL "junk" "" "$D/h1.conf"
[ "$CNI_RC" = 0 ] && [ ! -e "$D/cni1/junk" ] && grep -q "is not JSON.*removing it" "$D/cni.err" \
    || fail "DEL of a corrupt saved config: exit $CNI_RC, $(ls "$D/cni1"), stderr: $(cat "$D/cni.err")"
log "DEL removes eth0, the lease and the saved config; repeated, subnet-file-less and corrupt-file DELs succeed"

# --- Dual stack: with FLANNEL_IPV6_* in the subnet file, each pod gets an address of both families
# from host-local and routes to both Networks; the pods reach each other over IPv6 across the overlay.
topo_destroy "$P"
new_prefix d
D6=$TMP/dual
mkdir -p "$D6"
topo_create "$P" 2
write_net_config "$D6/net.json" vxlan '"EnableIPv6":true,"IPv6Network":"fd00:245::/48"'
for i in 1 2; do start_twilld "$P" "$i" "$D6" auto; done
for i in 1 2; do wait_ready "$D6" "$i"; done
POD6=()
for i in 1 2; do
    pod="$P-h$i-p1"
    ip netns add "$pod"
    ip -n "$pod" link set lo up
    printf '{"cniVersion":"1.0.0","name":"twill","type":"twill-cni","subnetFile":"%s","dataDir":"%s","ipam":{"dataDir":"%s"}}\n' \
        "$D6/h$i.env" "$D6/cni$i" "$D6/ipam$i" >"$D6/h$i.conf"
    cni_call "$i" ADD "dual$i" "$pod" "$D6/h$i.conf"
    [ "$CNI_RC" = 0 ] || fail "dual stack host $i: ADD failed (exit $CNI_RC): $CNI_OUT $(cat "$D/cni.err")"
    v6=$("$PY" - "$(topo_subnet_var "$D6/h$i.env" FLANNEL_IPV6_SUBNET)" "$CNI_OUT" <<'PYEOF'
import ipaddress, json, sys
subnet6 = ipaddress.ip_interface(sys.argv[1]).network
r = json.loads(sys.argv[2])
fams = sorted(ipaddress.ip_interface(a["address"]).version for a in r["ips"])
assert fams == [4, 6], f"address families {fams}"
v6 = [ipaddress.ip_interface(a["address"]) for a in r["ips"] if ipaddress.ip_interface(a["address"]).version == 6][0]
assert v6.ip in subnet6, f"{v6} outside {subnet6}"
dsts = sorted(x["dst"] for x in r.get("routes", []))
assert "fd00:245::/48" in dsts and "10.244.0.0/16" in dsts, f"routes {dsts}"
print(v6.ip)
PYEOF
) || fail "dual stack host $i: the ADD result lacks an IPv6 address in its subnet or a route: $CNI_OUT"
    POD6+=("$v6")
done
ping_ttl "$P-h1-p1" "${POD6[1]}" 10 >/dev/null || fail "dual stack: pod ${POD6[0]} cannot ping ${POD6[1]}"
ping_ttl "$P-h2-p1" "${POD6[0]}" 10 >/dev/null || fail "dual stack: pod ${POD6[1]} cannot ping ${POD6[0]}"
log "dual stack: ADD gave each pod an IPv4 and an IPv6 address (${POD6[*]}) and routes to both Networks; IPv6 pings across the overlay"
log "PASS cni in $((SECONDS - START_TIME))s"
