#!/bin/bash
# etcd.sh: twilld on etcd (one member in the underlay namespace, flannel's schema). A daemon started
# before the network config exists says where and how to write it and comes up once it is there;
# three hosts then ping across and move checksummed TCP; the keys are flannel's, on short etcd
# leases that are renewed. A fourth host plays flanneld's vxlan backend (its lease put into etcd as
# flanneld does, a kernel flannel.1) and joins; deleting its key removes it as a peer. A deleted own
# key is taken again by the running daemon, a SIGKILLed daemon gets its subnet back, and a udp
# network under another --etcd-prefix works too.
SCENARIO=etcd
. "$(dirname "$0")/common.sh"
require_tools etcd etcdctl bridge

TTL=8
HOSTS=3
PODS=2
TRANSFER_MB=${TRANSFER_MB:-100}
NETKEY=/coreos.com/network
VXLAN_CONFIG='{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}'

new_prefix e
D=$TMP
topo_create "$P" "$HOSTS"
etcd_cluster "$P" 1
ETCD_ARGS=(--etcd-endpoints http://192.0.2.1:2379 --subnet-lease-ttl "$TTL")
log "etcd $(etcd --version | sed -n 's/^etcd Version: //p') in $P-ul at 192.0.2.1:2379"

# key_of HOST_ENV_FILE: the subnet key (a.b.c.d-24) of a host's subnet file.
key_of() { subnet_of "$1" | tr / -; }

# --- (a) No network config yet: the daemon names the key, shows the etcdctl command, and retries.
start_twilld "$P" 1 "$D" uring "${ETCD_ARGS[@]}"
PID1=$TWILLD_PID
wait_log "$D/log1" "reading the network config failed: .*$NETKEY/config.*etcdctl put $NETKEY/config" 2 15 \
    || fail "twilld did not log (twice) an error naming $NETKEY/config with an 'etcdctl put' command"
kill -0 "$PID1" 2>/dev/null || fail "twilld exited while the network config was missing"
[ ! -e "$D/h1.env" ] || fail "twilld wrote a subnet file without a network config"
log "no config: twilld says: $(grep -m1 -o "no network config at .*etcdctl put $NETKEY/config '[^']*'" "$D/log1")"
etcdctl_ul put "$NETKEY/config" "$VXLAN_CONFIG" >/dev/null
start_twilld "$P" 2 "$D" uring "${ETCD_ARGS[@]}"
PID2=$TWILLD_PID
start_twilld "$P" 3 "$D" uring "${ETCD_ARGS[@]}"
PID3=$TWILLD_PID
for i in $(seq 1 $HOSTS); do wait_ready "$D" "$i" 25; done
kill -0 "$PID1" 2>/dev/null && [ "$(grep -c "ready: subnet file" "$D/log1")" = 1 ] \
    || fail "host 1's daemon, started before the config, did not come up by itself"
log "config written with etcdctl; host 1 (retrying $(grep -c 'reading the network config failed' "$D/log1")x) and hosts 2, 3 ready"

# --- (c) The keys: flannel's key names and lease JSON, each on an etcd lease of at most TTL seconds.
T_KEYS=$SECONDS
KEY=() SUBNET=() LEASE0=() CREATE0=()
for i in $(seq 1 $HOSTS); do
    SUBNET[i]=$(subnet_of "$D/h$i.env")
    KEY[i]=$(key_of "$D/h$i.env")
done
listing=$(etcd_subnets) || fail "etcdctl could not list $NETKEY/subnets/"
[ "$(wc -l <<<"$listing")" = $HOSTS ] || fail "expected $HOSTS keys under $NETKEY/subnets/, got:
$listing"
for i in $(seq 1 $HOSTS); do
    [[ ${KEY[i]} =~ ^10\.244\.[0-9]+\.0-24$ ]] || fail "host $i's subnet ${SUBNET[i]} is not a /24 of 10.244.0.0/16"
    read -r k create mod lease value < <(awk -v k="$NETKEY/subnets/${KEY[i]}" '$1 == k' <<<"$listing") \
        || fail "no key $NETKEY/subnets/${KEY[i]} for host $i in:
$listing"
    want=$(flannel_lease_value "$(topo_host_ip "$i")" "$(cat "$D/mac$i")")
    [ "$value" = "$want" ] || fail "host $i: $k holds '$value', flannel would write '$want'"
    [ "$lease" != 0 ] || fail "host $i: $k has no etcd lease"
    read -r granted left < <(etcd_lease_ttl "$lease") || fail "etcdctl lease timetolive $lease failed"
    [ "$granted" -ge 2 ] && [ "$granted" -le $TTL ] && [ "$left" -gt 0 ] \
        || fail "host $i: $k's etcd lease $lease has TTL $granted (remaining $left), expected 2..$TTL"
    LEASE0[i]=$lease CREATE0[i]=$create
done
log "keys: ${KEY[*]} under $NETKEY/subnets/, values byte-equal to flannel's lease JSON, etcd leases of ${granted}s"
# Renewal grants a new etcd lease and re-puts the key: its lease ID changes within a TTL.
for i in $(seq 1 $HOSTS); do
    for n in $(seq 1 $((TTL * 4 + 8))); do
        l=$(etcd_subnet_field "${KEY[i]}" 4)
        [ -n "$l" ] && [ "$l" != "${LEASE0[i]}" ] && break
        sleep 0.25
    done
    [ -n "$l" ] || fail "host $i's key ${KEY[i]} vanished (not renewed?)"
    [ "$l" != "${LEASE0[i]}" ] || fail "host $i's key ${KEY[i]} still has etcd lease ${LEASE0[i]} after more than a TTL"
    [ "$(etcd_subnet_field "${KEY[i]}" 2)" = "${CREATE0[i]}" ] || fail "host $i's key ${KEY[i]} was re-created rather than renewed"
done
log "renewal at half-life: every key moved to a new etcd lease, never re-created"

# --- (b) Every pod pings every pod on the other hosts; a checksummed transfer crosses.
for i in $(seq 1 $HOSTS); do topo_add_pods "$P" "$i" "$D/h$i.env" $PODS; done
pairs=0
for i in $(seq 1 $HOSTS); do for j in $(seq 1 $PODS); do
    for k in $(seq 1 $HOSTS); do [ "$k" != "$i" ] || continue; for l in $(seq 1 $PODS); do
        dst=$(topo_pod_ip "$P" "$k" "$l")
        ttl=$(ping_ttl "$P-h$i-p$j" "$dst" 5) || fail "h$i-p$j cannot ping h$k-p$l ($dst)"
        [ "$ttl" = 61 ] || fail "h$i-p$j -> h$k-p$l: reply TTL $ttl, expected 61"
        pairs=$((pairs + 1))
    done; done
done; done
log "$pairs cross-host pod pairs ping, every reply TTL 61"
tcp_transfer "$P-h1-p1" "$P-h3-p2" "$(topo_pod_ip "$P" 3 2)" "$TRANSFER_MB" "h1->h3"

# --- (d) A flanneld host joins: host 4 with the kernel's VXLAN device as flannel's vxlan backend sets
# it up, its lease put into etcd as flanneld does (grant, then put with --lease).
topo_add_host "$P" 4
H4=$P-h4
for X in $(seq $((200 + RANDOM % 50)) 254); do [[ " ${SUBNET[*]} " == *" 10.244.$X.0/24 "* ]] || break; done
SUBNET4=10.244.$X.0/24 KEY4=10.244.$X.0-24
MAC4=$(random_mac)
ip -n "$H4" link add flannel.1 type vxlan id 1 local 192.0.2.14 dev eth0 dstport 8472 nolearning
ip -n "$H4" link set flannel.1 address "$MAC4" mtu 1450 up
ip -n "$H4" addr add "10.244.$X.0/32" dev flannel.1
tx_csum_off "$H4" eth0 # see interop.sh: the veth must finish the inner checksums a NIC would
printf 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.%s.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n' "$X" >"$D/h4.env"
grant=$(etcdctl_ul lease grant 86400) || fail "etcdctl lease grant failed"
# etcdctl prints the ID as 16 hex digits; etcd_subnets prints it without leading zeros.
LEASE4=$(awk '/granted/ { sub(/^0+/, "", $2); print $2 }' <<<"$grant")
[ -n "$LEASE4" ] || fail "cannot read the lease ID from: $grant"
VALUE4=$(flannel_lease_value 192.0.2.14 "$MAC4")
etcdctl_ul put --lease="$LEASE4" "$NETKEY/subnets/$KEY4" "$VALUE4" >/dev/null
for i in $(seq 1 $HOSTS); do
    wait_log "$D/log$i" "peer added: $SUBNET4 via 192.0.2.14:8472 mac $MAC4" 1 10 \
        || fail "host $i did not add the flannel host's lease $SUBNET4 from etcd as a peer"
    wait_stat "$D/stats$i" peers 3 5 || fail "host $i's stats do not count 3 peers"
done
log "flannel host: lease $SUBNET4 (etcd lease $LEASE4, $MAC4) put with etcdctl; every twilld added it"
# flanneld's side: host 1's lease as read from etcd, programmed in flannel's order.
read -r v1 < <(etcd_subnet_field "${KEY[1]}" 5)
MAC1=$("$PY" -c 'import json,sys; v = json.loads(sys.argv[1]); assert v["PublicIP"] == "192.0.2.11"; print(v["BackendData"]["VtepMAC"])' "$v1") \
    || fail "host 1's lease in etcd is unreadable: $v1"
G1=${SUBNET[1]%/24}
ip -n "$H4" neigh add "$G1" lladdr "$MAC1" dev flannel.1 nud permanent
ip netns exec "$H4" bridge fdb add "$MAC1" dev flannel.1 dst 192.0.2.11 self permanent
ip -n "$H4" route add "${SUBNET[1]}" via "$G1" dev flannel.1 onlink
topo_add_pods "$P" 4 "$D/h4.env" 1
A4=$(topo_pod_ip "$P" 4 1)
A1=$(topo_pod_ip "$P" 1 1)
ttl=$(ping_ttl "$H4-p1" "$A1" 5) || fail "flannel pod $A4 cannot ping Twill pod $A1"
[ "$ttl" = 61 ] || fail "flannel pod -> Twill pod: reply TTL $ttl, expected 61"
ttl=$(ping_ttl "$P-h1-p1" "$A4" 5) || fail "Twill pod $A1 cannot ping flannel pod $A4"
[ "$ttl" = 62 ] || fail "Twill pod -> flannel pod: reply TTL $ttl, expected 62"
tcp_transfer "$H4-p1" "$P-h1-p2" "$(topo_pod_ip "$P" 1 2)" "$TRANSFER_MB" "flannel->twill"
tcp_transfer "$P-h1-p1" "$H4-p1" "$A4" "$TRANSFER_MB" "twill->flannel"

# --- (e) The watch removes a peer whose key goes. (Until then the Twill daemons renewed their own
# keys several times; the flannel host's key must be exactly as written.)
[ "$(etcd_subnet_field "$KEY4" 5)" = "$VALUE4" ] && [ "$(etcd_subnet_field "$KEY4" 4)" = "$LEASE4" ] \
    || fail "the flannel host's key changed: $(etcd_subnets | grep "$KEY4")"
etcdctl_ul del "$NETKEY/subnets/$KEY4" >/dev/null
for i in $(seq 1 $HOSTS); do
    wait_log "$D/log$i" "peer removed: $SUBNET4 via 192.0.2.14:8472 mac $MAC4" 1 10 \
        || fail "host $i did not log 'peer removed' for the deleted key $KEY4"
    for n in $(seq 1 30); do [ "$(stat_value "$D/stats$i" peers)" = 2 ] && break; sleep 0.1; done
    [ "$(stat_value "$D/stats$i" peers)" = 2 ] || fail "host $i's stats count $(stat_value "$D/stats$i" peers) peers after the delete, expected 2"
done
out=$(ip netns exec "$P-h1-p1" timeout 5 ping -n -c1 -W2 "$A4" 2>&1) && fail "a ping to the removed peer's pod $A4 still got through"
grep -q "From 10.244.0.0 .*Destination Net Unreachable" <<<"$out" || fail "no net unreachable from 10.244.0.0 for the removed peer: $out"
log "key $KEY4 deleted: every twilld logged 'peer removed', peers 3 -> 2, $A4 now net unreachable"

# --- (f) A daemon's own key deleted: it takes the same subnet again, without a restart.
ADDED=() REMOVED=()
for i in 1 3; do
    ADDED[i]=$(grep -c "peer added: ${SUBNET[2]} " "$D/log$i" || true)
    REMOVED[i]=$(grep -c "peer removed: ${SUBNET[2]} " "$D/log$i" || true)
done
T_DEL=$SECONDS
etcdctl_ul del "$NETKEY/subnets/${KEY[2]}" >/dev/null
wait_log "$D/log2" "lease ${SUBNET[2]} was lost; acquiring again" 1 $((TTL + 2)) \
    || fail "host 2 did not notice its deleted key within a TTL"
etcd_wait_key "${KEY[2]}" $((2 * TTL)) || fail "host 2's key ${KEY[2]} did not come back within 2 TTLs"
log "own key ${KEY[2]} deleted: back after $((SECONDS - T_DEL))s"
[ "$(etcd_subnet_field "${KEY[2]}" 5)" = "$(flannel_lease_value 192.0.2.12 "$(cat "$D/mac2")")" ] \
    || fail "host 2's re-acquired key holds '$(etcd_subnet_field "${KEY[2]}" 5)'"
! grep -q "re-acquired a different subnet" "$D/log2" || fail "host 2 re-acquired another subnet: $(grep "re-acquired" "$D/log2")"
kill -0 "$PID2" 2>/dev/null || fail "host 2's daemon is gone"
[ "$(grep -c "ready: subnet file" "$D/log2")" = 1 ] || fail "host 2's daemon restarted"
[ "$(subnet_of "$D/h2.env")" = "${SUBNET[2]}" ] || fail "host 2's subnet file changed to $(subnet_of "$D/h2.env")"
for i in 1 3; do
    # The delete and the new key normally reach the watch apart (peer removed, then added again);
    # arriving in one batch they leave the peer set as it was.
    if [ "$(grep -c "peer removed: ${SUBNET[2]} " "$D/log$i" || true)" -gt "${REMOVED[i]}" ]; then
        wait_log "$D/log$i" "peer added: ${SUBNET[2]} " $((ADDED[i] + 1)) 10 || fail "host $i did not add host 2 back as a peer"
    fi
    wait_stat "$D/stats$i" peers 2 5 || fail "host $i's stats do not count host 2 again"
done
for i in 1 3; do
    ping_ttl "$P-h$i-p1" "$(topo_pod_ip "$P" 2 1)" 10 >/dev/null || fail "h$i-p1 cannot ping h2-p1 after host 2 re-acquired"
    ping_ttl "$P-h2-p2" "$(topo_pod_ip "$P" "$i" 2)" 10 >/dev/null || fail "h2-p2 cannot ping h$i-p2 after host 2 re-acquired"
done
log "host 2 took ${SUBNET[2]} again (same daemon, same value); hosts 1, 3 re-added it; pings flow"

# --- (g) SIGKILL and restart (the subnet file gone too): the same subnet from etcd, peers back.
kill -KILL "$PID3"
exec 4>&2 2>/dev/null
wait_exit "$PID3" 10
exec 2>&4 4>&-
[ "$EXIT_RC" = 137 ] || fail "host 3's daemon exited with $EXIT_RC after SIGKILL"
# As a supervisor restarting it would, once the old instance is completely gone (see wait_released).
wait_released "$P-h3" 8472 5 || fail "host 3: port 8472 or twill0 still held 5s after the daemon was SIGKILLed"
rm -f "$D/h3.env" "$D/stats3"
start_twilld "$P" 3 "$D" uring "${ETCD_ARGS[@]}"
PID3=$TWILLD_PID
wait_ready "$D" 3 20
[ "$(subnet_of "$D/h3.env")" = "${SUBNET[3]}" ] || fail "after SIGKILL host 3 got $(subnet_of "$D/h3.env"), had ${SUBNET[3]}"
grep -q "reusing this node's lease" <(tail -n 20 "$D/log3") || fail "host 3's restart did not say it reused its lease"
[ "$(etcd_subnet_field "${KEY[3]}" 2)" = "${CREATE0[3]}" ] || fail "host 3's key was re-created, not reused"
wait_stat "$D/stats3" peers 2 5 || fail "host 3 has $(stat_value "$D/stats3" peers) peers after the restart, expected 2"
for i in 1 2; do
    ping_ttl "$P-h3-p1" "$(topo_pod_ip "$P" "$i" 1)" 10 >/dev/null || fail "restarted h3-p1 cannot ping h$i-p1"
    ping_ttl "$P-h$i-p2" "$(topo_pod_ip "$P" 3 2)" 10 >/dev/null || fail "h$i-p2 cannot ping restarted h3-p2"
done
log "host 3 SIGKILLed and restarted without its subnet file: ${SUBNET[3]} again, 2 peers, pings flow"

# --- (c, continued) Keys on etcd leases of at most TTL seconds survive many TTLs only if renewed.
while [ $((SECONDS - T_KEYS)) -le $((3 * TTL)) ]; do sleep 0.5; done
for i in 1 3; do
    [ "$(etcd_subnet_field "${KEY[i]}" 2)" = "${CREATE0[i]}" ] || fail "host $i's key ${KEY[i]} did not survive (re-created or gone)"
    read -r granted left < <(etcd_lease_ttl "$(etcd_subnet_field "${KEY[i]}" 4)") || fail "etcdctl lease timetolive failed"
    [ "$granted" -le $TTL ] && [ "$left" -gt 0 ] || fail "host $i's key is on a lease of TTL $granted, remaining $left"
done
log "hosts 1, 3: keys alive $((SECONDS - T_KEYS))s (> 3 TTLs) on ${TTL}s etcd leases, never re-created"

# --- (h) A udp network, under another --etcd-prefix, on the same etcd.
for i in $(seq 1 $HOSTS); do
    pid_var=PID$i
    kill -TERM "${!pid_var}"
    wait_exit "${!pid_var}" 15
    [ "$EXIT_RC" = 0 ] || fail "host $i's daemon exited with $EXIT_RC after SIGTERM"
    for j in $(seq 1 $PODS); do ip netns del "$P-h$i-p$j"; done
    ip -n "$P-h$i" link del cni0
done
U=$TMP/udp
UPREFIX=/twill-itest/udp-network
mkdir -p "$U"
etcdctl_ul put "$UPREFIX/config" '{"Network":"10.244.0.0/16","Backend":{"Type":"udp"}}' >/dev/null
for i in $(seq 1 $HOSTS); do start_twilld "$P" "$i" "$U" syscalls "${ETCD_ARGS[@]}" --etcd-prefix "$UPREFIX"; done
for i in $(seq 1 $HOSTS); do wait_ready "$U" "$i" 20; done
for i in $(seq 1 $HOSTS); do
    k=$(key_of "$U/h$i.env")
    v=$(etcd_subnet_field "$k" 5 "$UPREFIX")
    [ "$v" = "$(flannel_lease_value "$(topo_host_ip "$i")")" ] || fail "udp: host $i's key $UPREFIX/subnets/$k holds '$v'"
    [ "$(topo_subnet_var "$U/h$i.env" FLANNEL_MTU)" = 1472 ] || fail "udp: host $i's FLANNEL_MTU is not 1472"
    topo_add_pods "$P" "$i" "$U/h$i.env" 1
done
for i in $(seq 1 $HOSTS); do for k in $(seq 1 $HOSTS); do
    [ "$k" != "$i" ] || continue
    ttl=$(ping_ttl "$P-h$i-p1" "$(topo_pod_ip "$P" "$k" 1)" 5) || fail "udp: h$i-p1 cannot ping h$k-p1"
    [ "$ttl" = 61 ] || fail "udp: h$i-p1 -> h$k-p1: reply TTL $ttl, expected 61"
done; done
log "udp network under $UPREFIX: flannel's udp lease values (no BackendType), 6 pairs ping with TTL 61"
log "PASS etcd in $((SECONDS - START_TIME))s"
