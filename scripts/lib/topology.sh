# Network-namespace topology for Twill's demo, integration tests and benchmarks.
#
# Hosts are namespaces <prefix>-h<i> on an underlay bridge in <prefix>-ul (192.0.2.0/24, the
# documentation range); pods are namespaces <prefix>-h<i>-p<j> on a bridge in their host, addressed
# from that host's subnet file as flannel's CNI plugin (bridge + host-local) would. Nothing is added to
# the root namespace. topo_destroy removes everything with the prefix, daemons included.
#
# Source this file; call topo_destroy from an EXIT trap.

TOPO_UNDERLAY_NET=192.0.2
# The IPv6 underlay (topo_add_host_ipv6): 2001:db8::11, ::12, ... (the documentation range).
TOPO_UNDERLAY_NET6=2001:db8:
TOPO_UNDERLAY_MTU=${TOPO_UNDERLAY_MTU:-1500}

topo_ns_list() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$1-" || true; }

# topo_create PREFIX HOSTS: the underlay bridge and HOSTS hosts (192.0.2.11, .12, ...).
topo_create() {
    local p=$1 n=$2 i
    ip netns add "$p-ul"
    ip -n "$p-ul" link set lo up
    ip -n "$p-ul" link add br0 type bridge
    ip -n "$p-ul" link set br0 up
    for i in $(seq 1 "$n"); do topo_add_host "$p" "$i"; done
}

# topo_add_host PREFIX I: host I on the underlay, forwarding on, eth0 = 192.0.2.(10+I).
topo_add_host() {
    local p=$1 i=$2 h="$1-h$2"
    ip netns add "$h"
    ip -n "$h" link set lo up
    # Both ends are created inside their namespaces: nothing ever appears in the root namespace, so
    # an interrupted run cannot leave a veth there and names cannot collide with other runs.
    ip -n "$h" link add eth0 type veth peer name "h$i" netns "$p-ul"
    ip -n "$h" link set eth0 mtu "$TOPO_UNDERLAY_MTU" up
    ip -n "$h" addr add "$TOPO_UNDERLAY_NET.$((10 + i))/24" dev eth0
    ip -n "$p-ul" link set "h$i" mtu "$TOPO_UNDERLAY_MTU" master br0 up
    ip netns exec "$h" sysctl -qw net.ipv4.ip_forward=1
}

topo_host_ip() { echo "$TOPO_UNDERLAY_NET.$((10 + $1))"; }

# topo_add_host_ipv6 PREFIX I: gives host I the IPv6 underlay address 2001:db8::(10+I)/64 too,
# usable at once (no duplicate address detection). The underlay bridge stops snooping multicast, so
# neighbour discovery needs no querier.
topo_add_host_ipv6() {
    ip -n "$1-ul" link set br0 type bridge mcast_snooping 0
    ip -n "$1-h$2" addr add "$TOPO_UNDERLAY_NET6:$((10 + $2))/64" dev eth0 nodad
}

topo_host_ip6() { echo "$TOPO_UNDERLAY_NET6:$((10 + $1))"; }

# topo_subnet_var FILE NAME: a variable from a flannel subnet file.
topo_subnet_var() { sed -n "s/^$2=//p" "$1"; }

# topo_add_pods PREFIX I SUBNET_FILE COUNT: bridge cni0 = FLANNEL_SUBNET, pods .2, .3, ... with the
# overlay MTU and a default route via the bridge (what bridge + host-local would configure). With
# FLANNEL_IPV6_SUBNET in the file (dual stack) the bridge and pods get IPv6 addresses (::2, ::3, ...)
# and an IPv6 default route too, and the host forwards IPv6.
topo_add_pods() {
    local p=$1 i=$2 file=$3 count=$4 h="$1-h$2" j
    local subnet mtu gw prefix base last subnet6 gw6 prefix6
    subnet=$(topo_subnet_var "$file" FLANNEL_SUBNET)
    subnet6=$(topo_subnet_var "$file" FLANNEL_IPV6_SUBNET)
    gw6=${subnet6%/*}
    prefix6=${subnet6#*/}
    mtu=$(topo_subnet_var "$file" FLANNEL_MTU)
    gw=${subnet%/*}
    prefix=${subnet#*/}
    base=${gw%.*}
    last=${gw##*.}
    ip -n "$h" link add cni0 type bridge
    ip -n "$h" addr add "$subnet" dev cni0
    ip -n "$h" link set cni0 mtu "$mtu" up
    if [ -n "$subnet6" ]; then
        ip netns exec "$h" sysctl -qw net.ipv6.conf.all.forwarding=1
        ip -n "$h" addr add "$subnet6" dev cni0 nodad
    fi
    for j in $(seq 1 "$count"); do
        local pod="$h-p$j"
        ip netns add "$pod"
        ip -n "$pod" link set lo up
        ip -n "$pod" link add eth0 type veth peer name "pod$j" netns "$h"
        ip -n "$pod" link set eth0 mtu "$mtu" up
        ip -n "$pod" addr add "$base.$((last + j))/$prefix" dev eth0
        ip -n "$pod" route add default via "$gw"
        if [ -n "$subnet6" ]; then
            # The gateway ends in ::1, so pod j is ...::<1 + j in hex>.
            ip -n "$pod" addr add "${gw6%1}$(printf %x $((1 + j)))/$prefix6" dev eth0 nodad
            ip -n "$pod" -6 route add default via "$gw6"
        fi
        ip -n "$h" link set "pod$j" mtu "$mtu" master cni0 up
    done
}

# topo_pod_ip PREFIX I J: pod J's address on host I (after topo_add_pods).
topo_pod_ip() {
    local subnet
    subnet=$(ip -n "$1-h$2-p$3" -4 -o addr show dev eth0 | awk '{print $4}')
    echo "${subnet%/*}"
}

# topo_pod_ip6 PREFIX I J: pod J's global IPv6 address on host I (dual stack).
topo_pod_ip6() {
    local subnet
    subnet=$(ip -n "$1-h$2-p$3" -6 -o addr show dev eth0 scope global | awk '{print $4}')
    echo "${subnet%/*}"
}

# topo_destroy PREFIX: stops every process in the prefix's namespaces, then deletes them.
topo_destroy() {
    local p=$1 ns pids
    for ns in $(topo_ns_list "$p"); do
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        [ -n "$pids" ] && kill $pids 2>/dev/null || true
    done
    sleep 0.3
    for ns in $(topo_ns_list "$p"); do
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
    done
    # Pods first, then hosts, then the underlay: veth pairs go with their namespaces. (A plain
    # sort -r put "-ul" before "-h*", deleting the underlay first.)
    # awk rather than grep: no failing pipeline for callers running under set -e / an ERR trap.
    for ns in $(topo_ns_list "$p" | sort -r | awk '!/-ul$/') $(topo_ns_list "$p" | awk '/-ul$/'); do
        ip netns del "$ns" 2>/dev/null || true
    done
}

# topo_wait_file PATH SECONDS: waits for a file to appear.
topo_wait_file() {
    local i
    for i in $(seq 1 $(( $2 * 10 ))); do [ -s "$1" ] && return 0; sleep 0.1; done
    return 1
}
