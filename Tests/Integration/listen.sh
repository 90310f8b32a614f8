#!/bin/bash
# listen.sh: what twilld exposes. While it runs, `ss -lntup` in its host namespace (where nothing else
# runs) may show nothing but the overlay's UDP port on the public IP, and sockets on loopback: no TCP
# listener, no other UDP socket. Checked for vxlan and udp on the embedded store, with several queues
# (their per-queue send sockets are bound to ephemeral ports, and must drop whatever reaches them),
# and with etcd as the store (its client connections must not show up as listeners); then dual stack
# over an IPv6 underlay.
SCENARIO=listen
. "$(dirname "$0")/common.sh"
require_tools ss

new_prefix l
topo_create "$P" 4

# exposed HOST: the listening sockets of HOST not on loopback, "proto address:port" per line.
exposed() {
    ip netns exec "$P-h$1" ss -Hlntup | awk '{ print $1, $5 }' | grep -vE ' (127\.[0-9.]+|\[::1\]|::1):[0-9]+$' | sort -u || true
}

# check HOST PORT LABEL [SENDERS]: HOST exposes exactly udp 192.0.2.1HOST:PORT (several reuseport
# sockets on it count once), plus, with several queues, SENDERS send-only sockets on ephemeral ports.
# Ten datagrams go to each extra UDP port from another host; a send-only socket must queue none of
# them (its filter drops everything), anything else fails with what the socket did.
check() {
    local got want="udp 192.0.2.1$1:$2" port ports queued
    got=$(exposed "$1")
    ports=$(awk -v w="$want" '$0 != w && $1 == "udp" { sub(/.*:/, "", $2); print $2 }' <<<"$got")
    for port in $ports; do
        ip netns exec "$P-h$(($1 == 4 ? 1 : 4))" "$PY" -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n in range(10): s.sendto(b"x" * 1000, (sys.argv[1], int(sys.argv[2])))' "192.0.2.1$1" "$port"
    done
    [ -n "$ports" ] && sleep 0.5
    # Receive queues of the extra ports after the datagrams (second column of ss).
    queued=$(for port in $ports; do ip netns exec "$P-h$1" ss -Hlnu "sport = :$port" | awk '{ print $2 }'; done | sort -u)
    if ! grep -qx "$want" <<<"$got" || [ "$(grep -cv "^udp " <<<"$got")" != 0 ] \
        || [ "$(wc -w <<<"$ports")" != "${4:-0}" ] || { [ -n "$ports" ] && [ "$queued" != 0 ]; }; then
        fail "$3: host $1 exposes
${got:-nothing}
expected only: $want${4:+ and $4 send-only ports}
ss -lnupm after 10 datagrams of 1000 bytes to each extra UDP port (Recv-Q is the second number, rb the receive buffer):
$(ip netns exec "$P-h$1" ss -Hlnupm)"
    fi
    log "$3: only $want is open${4:+, and $4 send-only ports that queued nothing}"
}

D=$TMP/vx
mkdir -p "$D"
write_net_config "$D/net.json" vxlan
start_twilld "$P" 1 "$D" auto
wait_ready "$D" 1
check 1 8472 "vxlan, embedded store, default queues"

D=$TMP/udp
mkdir -p "$D"
write_net_config "$D/net.json" udp
start_twilld "$P" 2 "$D" auto
wait_ready "$D" 2
check 2 8285 "udp, embedded store"

D=$TMP/mq
mkdir -p "$D"
write_net_config "$D/net.json" vxlan
start_twilld "$P" 3 "$D" auto --queues 2
wait_ready "$D" 3
check 3 8472 "vxlan, 2 queues" 2

if command -v etcd >/dev/null && command -v etcdctl >/dev/null; then
    D=$TMP/etcd
    mkdir -p "$D"
    etcd_cluster "$P" 1
    etcdctl_ul put /coreos.com/network/config '{"Network":"10.245.0.0/16","Backend":{"Type":"vxlan"}}' >/dev/null
    start_twilld "$P" 4 "$D" auto --etcd-endpoints http://192.0.2.1:2379
    wait_ready "$D" 4
    [ -n "$(ip netns exec "$P-h4" ss -Htn state established dst 192.0.2.1)" ] || fail "twilld on host 4 holds no connection to etcd"
    check 4 8472 "vxlan, etcd store"
else
    log "etcd not installed: the etcd variant was skipped"
fi

# Dual stack over an IPv6 underlay: the overlay port on the IPv4 and on the IPv6 public address, and
# (2 queues) two send-only ports per family, nothing else.
topo_add_host "$P" 5
topo_add_host_ipv6 "$P" 5
D=$TMP/dual
mkdir -p "$D"
write_net_config "$D/net.json" vxlan '"EnableIPv6":true,"IPv6Network":"fd00:247::/48"'
start_twilld "$P" 5 "$D" auto --queues 2
wait_ready "$D" 5
got=$(exposed 5)
want=$(printf 'udp 192.0.2.15:8472\nudp [2001:db8::15]:8472')
[ "$(grep -vE ':(8472)$' <<<"$got" | wc -l)" = 4 ] && [ "$(grep -E ':8472$' <<<"$got")" = "$want" ] \
    || fail "dual stack: host 5 exposes
$got
expected the overlay port on 192.0.2.15 and [2001:db8::15] and 4 send-only ports"
# Ten datagrams from host 1 to each send-only port, in its family; none may be queued.
topo_add_host_ipv6 "$P" 1
for addr in $(grep -vE ':8472$' <<<"$got" | awk '{ print $2 }'); do
    ip netns exec "$P-h1" "$PY" -c 'import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
host = host.strip("[]")
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
for n in range(10): s.sendto(b"x" * 1000, (host, int(port)))' "$addr"
done
sleep 0.5
for port in $(grep -vE ':8472$' <<<"$got" | sed 's/.*://'); do
    q=$(ip netns exec "$P-h5" ss -Hlnu "sport = :$port" | awk '{ print $2 }' | sort -u)
    [ "$q" = 0 ] || fail "dual stack: send-only port $port queued $q of the 10 datagrams sent to it"
done
log "dual stack, 2 queues: only udp 192.0.2.15:8472 and [2001:db8::15]:8472 are open, and 4 send-only ports that queued nothing"
log "PASS listen in $((SECONDS - START_TIME))s"
