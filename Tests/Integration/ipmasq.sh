#!/bin/bash
# ipmasq.sh: twilld --ip-masq. Two hosts with a pod each; host 1 also reaches an "outside" network
# (namespace ext, 198.51.100.0/24 on a veth) that routes back only to host 1's address there, so a
# pod source that is not masqueraded gets no answer. Checks: the subnet files say
# FLANNEL_IPMASQ=true; the table is flannel's rules exactly; a pod reaches the outside as host 1's
# address; pod to pod across hosts keeps the pod's address; from the outside, host 1's pods see the
# client's address and host 2's pods see host 1's overlay address; a removed or altered table is
# restored with each rule once; a restart over a leftover table leaves one copy; SIGTERM removes it.
# Then the same in a dual-stack overlay, whose IPv6 rules live in a table ip6 twill.
SCENARIO=ipmasq
. "$(dirname "$0")/common.sh"
require_tools nft
SERVER_PORT=8080

new_prefix q
D=$TMP
topo_create "$P" 2
write_net_config "$D/net.json" vxlan
EXT="$P-ext"
ip netns add "$EXT"
ip -n "$EXT" link set lo up
ip -n "$P-h1" link add ext0 type veth peer name eth0 netns "$EXT"
ip -n "$P-h1" addr add 198.51.100.1/24 dev ext0
ip -n "$P-h1" link set ext0 up
ip -n "$EXT" addr add 198.51.100.2/24 dev eth0
ip -n "$EXT" link set eth0 up

start_twilld "$P" 1 "$D" uring --ip-masq --iptables-resync 1
H1_PID=$TWILLD_PID
start_twilld "$P" 2 "$D" uring --ip-masq --iptables-resync 1
wait_ready "$D" 1
wait_ready "$D" 2
for i in 1 2; do
    grep -qx "FLANNEL_IPMASQ=true" "$D/h$i.env" || fail "host $i subnet file lacks FLANNEL_IPMASQ=true: $(cat "$D/h$i.env")"
done
topo_add_pods "$P" 1 "$D/h1.env" 1
topo_add_pods "$P" 2 "$D/h2.env" 1
wait_stat "$D/stats1" peers 1 10 || fail "host 1 never saw host 2"
S1=$(subnet_of "$D/h1.env")
A=$(topo_pod_ip "$P" 1 1)
B=$(topo_pod_ip "$P" 2 1)

# The table as nft lists it: flannel's rules with this Network and host 1's subnet, nothing else.
expected_table() {
    cat <<EOF
table ip twill {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		meta mark & 0x00004000 == 0x00004000 return
		ip saddr 10.244.0.0/16 ip daddr 10.244.0.0/16 return
		ip saddr != 10.244.0.0/16 ip daddr $S1 return
		ip saddr 10.244.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random
		ip saddr != 10.244.0.0/16 ip daddr 10.244.0.0/16 masquerade fully-random
	}

	chain forward {
		type filter hook forward priority filter; policy accept;
		ip saddr 10.244.0.0/16 accept
		ip daddr 10.244.0.0/16 accept
	}
}
EOF
}
check_table() { # check_table WHAT: host 1's ruleset is exactly our table
    local got
    got=$(ip netns exec "$P-h1" nft list ruleset)
    [ "$got" = "$(expected_table)" ] || fail "$1: host 1's ruleset is not the expected table:
$got"
}
check_table "after start"

# peer.py serve PORT: answers one connection with the address it came from. peer.py ask HOST PORT:
# prints that answer (connecting for at most 5 s).
cat >"$TMP/peer.py" <<'EOF'
import socket, sys
if sys.argv[1] == "serve":
    # One dual-stack listener; an IPv4 client shows as ::ffff:a.b.c.d, told as a.b.c.d.
    s = socket.socket(socket.AF_INET6)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", int(sys.argv[2])))
    s.listen(1)
    s.settimeout(15)
    c, addr = s.accept()
    c.sendall(addr[0].removeprefix("::ffff:").encode())
    c.close()
else:
    c = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=5)
    print(c.recv(100).decode())
EOF
# seen_as FROM_NS SERVER_NS SERVER_IP: the source address the server saw for FROM's connection.
seen_as() {
    local spid out
    ip netns exec "$2" timeout 20 "$PY" "$TMP/peer.py" serve "$SERVER_PORT" >/dev/null 2>&1 &
    spid=$!
    for n in $(seq 1 50); do
        ip netns exec "$2" ss -Hltn "sport = :$SERVER_PORT" | grep -q . && break
        sleep 0.1
    done
    out=$(ip netns exec "$1" timeout 10 "$PY" "$TMP/peer.py" ask "$3" "$SERVER_PORT" 2>&1) || out="no answer: ${out##*$'\n'}"
    kill "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    echo "$out"
}

got=$(seen_as "$P-h1-p1" "$EXT" 198.51.100.2)
[ "$got" = 198.51.100.1 ] || fail "pod $A -> outside: the server saw '$got', expected host 1's address 198.51.100.1"
log "pod $A reaches the outside as 198.51.100.1"
got=$(seen_as "$P-h1-p1" "$P-h2-p1" "$B")
[ "$got" = "$A" ] || fail "pod $A -> pod $B across hosts: seen as '$got', expected the pod's own address"
got=$(seen_as "$P-h2-p1" "$P-h1-p1" "$A")
[ "$got" = "$B" ] || fail "pod $B -> pod $A across hosts: seen as '$got', expected the pod's own address"
log "pod to pod across hosts keeps the pods' addresses"

# From the outside (now routed to the Network through host 1): host 1's own pods see the client,
# host 2's pods see host 1's overlay address (which host 2 accepts from host 1).
ip -n "$EXT" route add 10.244.0.0/16 via 198.51.100.1
got=$(seen_as "$EXT" "$P-h1-p1" "$A")
[ "$got" = 198.51.100.2 ] || fail "outside -> pod $A on host 1: seen as '$got', expected the client 198.51.100.2"
got=$(seen_as "$EXT" "$P-h2-p1" "$B")
[ "$got" = "${S1%/*}" ] || fail "outside -> pod $B on host 2: seen as '$got', expected host 1's overlay address ${S1%/*}"
log "outside -> host 1's pod keeps the client address; -> host 2's pod arrives as ${S1%/*}"

# Someone removes the table, then adds a rule to it: each time it comes back exactly.
ip netns exec "$P-h1" nft delete table ip twill
wait_log "$D/log1" "table ip twill was missing; restored it" 1 5 || fail "host 1 did not restore its deleted table"
check_table "after a deletion"
ip netns exec "$P-h1" nft add rule ip twill postrouting ip saddr 10.244.0.0/16 masquerade
wait_log "$D/log1" "table ip twill had been changed; restored it" 1 5 || fail "host 1 did not restore its altered table"
check_table "after an added rule"
sleep 2.5 # more resync periods: an unchanged table is left alone
check_table "after quiet resyncs"
[ "$(grep -c "restored it" "$D/log1")" = 2 ] || fail "host 1 restored its table without a change: $(grep "restored it" "$D/log1")"
got=$(seen_as "$P-h1-p1" "$EXT" 198.51.100.2)
[ "$got" = 198.51.100.1 ] || fail "after the restores, pod -> outside was seen as '$got'"
log "a deleted and an altered table were restored, each rule once; quiet resyncs changed nothing"

# SIGKILL leaves the table; the restarted daemon replaces it in one transaction (still one copy).
kill -KILL "$H1_PID"
wait_exit "$H1_PID" 10 2>/dev/null || true
ip netns exec "$P-h1" nft list tables | grep -qx "table ip twill" || fail "the table went with a SIGKILL (nothing could remove it)"
wait_released "$P-h1" 8472 10 || fail "host 1's port or device was not released after SIGKILL"
start_twilld "$P" 1 "$D" uring --ip-masq --iptables-resync 1
H1_PID=$TWILLD_PID
wait_log "$D/log1" "ip-masq: table ip twill installed" 2 20 || fail "the restarted host 1 did not install its table"
check_table "after a restart over the old table"
[ "$(subnet_of "$D/h1.env")" = "$S1" ] || fail "host 1 changed subnet across the restart"

kill -TERM "$H1_PID"
wait_exit "$H1_PID" 15
[ "$EXIT_RC" = 0 ] || fail "host 1 did not exit cleanly on SIGTERM ($EXIT_RC)"
tables=$(ip netns exec "$P-h1" nft list tables)
[ -z "$tables" ] || fail "after SIGTERM host 1 still has: $tables"
grep -q "ip-masq: table ip twill removed" "$D/log1" || fail "host 1 did not log the removal"
log "restart over a leftover table: one copy; SIGTERM removed it"

# --- Dual stack: the same rules in an ip6 table. Host 1 reaches an IPv6 outside (2001:db8:100::/64)
# that routes back only to host 1's address there; a pod reaches it as that address, pod to pod over
# IPv6 keeps the pods' addresses, and SIGTERM removes both tables.
topo_destroy "$P"
new_prefix 6
D6=$TMP/dual
mkdir -p "$D6"
topo_create "$P" 2
write_net_config "$D6/net.json" vxlan '"EnableIPv6":true,"IPv6Network":"fd00:246::/48"'
EXT="$P-ext"
ip netns add "$EXT"
ip -n "$EXT" link set lo up
ip -n "$P-h1" link add ext0 type veth peer name eth0 netns "$EXT"
ip -n "$P-h1" addr add 2001:db8:100::1/64 dev ext0 nodad
ip -n "$P-h1" link set ext0 up
ip -n "$EXT" addr add 2001:db8:100::2/64 dev eth0 nodad
ip -n "$EXT" link set eth0 up
for i in 1 2; do start_twilld "$P" "$i" "$D6" uring --ip-masq --iptables-resync 1; PIDS[i]=$TWILLD_PID; done
for i in 1 2; do wait_ready "$D6" "$i"; done
for i in 1 2; do topo_add_pods "$P" "$i" "$D6/h$i.env" 1; done
wait_stat "$D6/stats1" peers 1 10 || fail "dual stack: host 1 never saw host 2"
[ "$(ip netns exec "$P-h1" nft list tables | sort | paste -sd,)" = "table ip twill,table ip6 twill" ] \
    || fail "dual stack: host 1's tables are not ip twill and ip6 twill: $(ip netns exec "$P-h1" nft list tables)"
ip netns exec "$P-h1" nft list table ip6 twill | grep -q "ip6 saddr fd00:246::/48 ip6 daddr != ff00::/8 masquerade" \
    || fail "dual stack: the ip6 table lacks the masquerade rule: $(ip netns exec "$P-h1" nft list table ip6 twill)"
A6=$(topo_pod_ip6 "$P" 1 1)
B6=$(topo_pod_ip6 "$P" 2 1)
got=$(seen_as "$P-h1-p1" "$EXT" 2001:db8:100::2)
[ "$got" = 2001:db8:100::1 ] || fail "dual stack: pod $A6 -> IPv6 outside: seen as '$got', expected host 1's 2001:db8:100::1"
got=$(seen_as "$P-h1-p1" "$P-h2-p1" "$B6")
[ "$got" = "$A6" ] || fail "dual stack: pod $A6 -> pod $B6: seen as '$got', expected the pod's own address"
ip netns exec "$P-h1" nft delete table ip6 twill
wait_log "$D6/log1" "table ip6 twill was missing; restored it" 1 5 || fail "dual stack: host 1 did not restore its deleted ip6 table"
kill -TERM "${PIDS[1]}"
wait_exit "${PIDS[1]}" 15
tables=$(ip netns exec "$P-h1" nft list tables)
[ -z "$tables" ] || fail "dual stack: after SIGTERM host 1 still has: $tables"
log "dual stack: ip6 twill beside ip twill; pod -> IPv6 outside as 2001:db8:100::1, pod to pod keeps $A6; restored when deleted; SIGTERM removed both"
log "PASS ipmasq in $((SECONDS - START_TIME))s"
