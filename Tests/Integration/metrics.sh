#!/bin/bash
# metrics.sh: /metrics, /healthz and /readyz of twilld. Two hosts with a pod each ping across; a
# stranger sends a datagram. Every datapath counter in /metrics must equal the stats file, the drop
# shows under its reason, peers 1, the engine label; the server listens on loopback only. A third
# daemon waiting for an unreachable etcd is alive but not ready. Then the shared store is corrupted
# until host 1's short lease expires (/readyz 503, renew errors counted) and restored (200 again).
SCENARIO=metrics
. "$(dirname "$0")/common.sh"
require_tools ss flock
PORT=9645
TTL=10

new_prefix m
D=$TMP
topo_create "$P" 3
write_net_config "$D/net.json" vxlan

# http_get NS PATH: "STATUS BODY..." from the daemon's server on the namespace's loopback.
http_get() {
    ip netns exec "$1" timeout 10 "$PY" - "http://127.0.0.1:$PORT$2" <<'PYEOF'
import os, sys, urllib.error, urllib.request
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=5)
    status, body = r.status, r.read()
except urllib.error.HTTPError as e:
    status, body = e.code, e.read()
try:
    sys.stdout.write(f"{status} {body.decode().rstrip()}\n")
    sys.stdout.flush()
except BrokenPipeError:  # a caller that reads only the first line may be gone already
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
PYEOF
}

# metric TEXT NAME{LABELS}: one sample's value from Prometheus text ("" when absent).
metric() { awk -v k="$2" '$1 == k { print $2 }' <<<"$1"; }

# Host 3 first: its etcd (loopback port 1) refuses, so it retries the config read forever.
start_twilld "$P" 3 "$D" uring --healthz-port "$PORT" --etcd-endpoints http://127.0.0.1:1
H3_PID=$TWILLD_PID
for i in 1 2; do start_twilld "$P" "$i" "$D" uring --healthz-port "$PORT" --subnet-lease-ttl "$TTL"; done
wait_ready "$D" 1
wait_ready "$D" 2
topo_add_pods "$P" 1 "$D/h1.env" 1
topo_add_pods "$P" 2 "$D/h2.env" 1
wait_stat "$D/stats1" peers 1 10 || fail "host 1 never saw host 2"

# Loopback only, unless --healthz-ip says otherwise: no TCP listener on any other address.
listeners=$(ip netns exec "$P-h1" ss -Hltn | awk '{ print $4 }')
[ "$listeners" = "127.0.0.1:$PORT" ] || fail "host 1 listens on TCP '$listeners', expected only 127.0.0.1:$PORT"

read -r code body < <(http_get "$P-h1" /healthz)
[ "$code $body" = "200 ok" ] || fail "/healthz answered '$code $body'"
read -r code body < <(http_get "$P-h1" /readyz)
[ "$code" = 200 ] && [[ $body == "ok: lease $(subnet_of "$D/h1.env") until "*", datapath running" ]] \
    || fail "/readyz of a forwarding host answered '$code $body'"
read -r code body < <(http_get "$P-h1" /nothing)
[ "$code" = 404 ] || fail "/nothing answered '$code $body', expected 404"

ip netns exec "$P-h1-p1" timeout 10 ping -n -q -c 20 -i 0.05 "$(topo_pod_ip "$P" 2 1)" >/dev/null \
    || fail "pod h1 -> pod h2 pings failed"
# A stranger's datagram (host 3 holds no lease): counted as unknown_peer on host 1.
ip netns exec "$P-h3" "$PY" -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"\x08\0\0\0\0\0\1\0" + bytes(60), ("192.0.2.11", 8472))'
wait_stat "$D/stats1" drop_unknown_peer 1 5 || fail "host 1 did not count the stranger's datagram"

# The counters move only when traffic does (a router solicitation may still come); compare the
# metrics against two identical stats files written before and after the scrape.
compare() {
    "$PY" - "$1" "$2" <<'PYEOF'
import re, sys
stats = dict(l.split() for l in open(sys.argv[1]) if l.strip())
samples = {}
for line in open(sys.argv[2]):
    m = re.match(r'^([a-z_]+)(\{[^}]*\})? (\S+)$', line.strip())
    if m:
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
pairs = {
    "sentPackets": 'twill_packets_total{direction="egress",format="vxlan"}',
    "receivedPackets": 'twill_packets_total{direction="ingress",format="vxlan"}',
    "sentBytes": 'twill_bytes_total{direction="egress",format="vxlan"}',
    "receivedBytes": 'twill_bytes_total{direction="ingress",format="vxlan"}',
    "tunReadPackets": 'twill_tun_packets_total{direction="read"}',
    "tunWritePackets": 'twill_tun_packets_total{direction="write"}',
    "tunReadBytes": 'twill_tun_bytes_total{direction="read"}',
    "tunWriteBytes": 'twill_tun_bytes_total{direction="write"}',
    "egressBatches": 'twill_batches_total{direction="egress"}',
    "ingressBatches": 'twill_batches_total{direction="ingress"}',
    "icmpErrorsSent": "twill_icmp_errors_sent_total",
    "poolExhaustions": "twill_pool_exhaustions_total",
    "peers": "twill_peers",
}
for name in stats:
    if name.startswith("drop_"):
        pairs[name] = 'twill_drops_total{reason="%s"}' % name[5:]
errors = [f"{s}={stats[s]} but {m}={samples.get(m)}" for s, m in pairs.items() if samples.get(m) != float(stats[s])]
if samples.get('twill_io_engine{engine="%s"}' % stats["engine"]) != 1:
    errors.append(f"no twill_io_engine{{engine=\"{stats['engine']}\"}} 1")
# twilld runs with --offloads auto: every offload this kernel grants is reported as on.
for o in ("tun-tso", "tun-uso", "udp-gso", "udp-gro", "tcp-gro"):
    key = 'twill_offload_enabled{offload="%s"}' % o
    if samples.get(key) != 1:
        errors.append(f"{key} is {samples.get(key)}, not 1")
for d, packets in (("egress", "tunReadPackets"), ("ingress", "receivedPackets")):
    batches = float(stats[d + "Batches"])
    want = float(stats[packets]) / batches if batches else 0
    got = samples.get('twill_batch_size_mean{direction="%s"}' % d)
    if got is None or abs(got - want) > 1e-6:
        errors.append(f"batch size mean {d} {got}, expected {want}")
print("; ".join(errors) if errors else f"{len(pairs)} counters equal")
sys.exit(1 if errors else 0)
PYEOF
}
matched=""
for attempt in $(seq 1 10); do
    cp "$D/stats1" "$TMP/before"
    http_get "$P-h1" /metrics | sed '1s/^200 //' >"$TMP/metrics"
    sleep 0.6 # the stats file is rewritten every 0.5 s
    cmp -s "$TMP/before" "$D/stats1" || continue
    verdict=$(compare "$TMP/before" "$TMP/metrics") && { matched=$verdict; break; }
    fail "/metrics disagrees with the stats file: $verdict"
done
[ -n "$matched" ] || fail "the counters never held still for a comparison"
M=$(cat "$TMP/metrics")
[ "$(metric "$M" 'twill_packets_total{direction="egress",format="vxlan"}')" -ge 20 ] \
    && [ "$(metric "$M" 'twill_packets_total{direction="ingress",format="vxlan"}')" -ge 20 ] \
    || fail "20 pings should show in both directions: $(grep '^twill_packets_total' <<<"$M" | paste -sd' ')"
[ "$(metric "$M" 'twill_drops_total{reason="unknown_peer"}')" = 1 ] || fail "unknown_peer drops: $(grep unknown_peer <<<"$M")"
[ "$(metric "$M" twill_peers)" = 1.0 ] && [ "$(metric "$M" twill_ready)" = 1.0 ] \
    && [ "$(metric "$M" twill_datapath_running)" = 1.0 ] || fail "peers/ready/running should be 1: $(grep -E '^twill_(peers|ready|datapath)' <<<"$M" | paste -sd' ')"
expiry=$(metric "$M" twill_lease_expiration_timestamp_seconds)
"$PY" -c "import sys, time; sys.exit(0 if 0 < float(sys.argv[1]) - time.time() <= $TTL + 1 else 1)" "$expiry" \
    || fail "lease expiry $expiry is not within the ${TTL}s TTL from now"
log "/metrics equals the stats file ($matched); unknown_peer 1, peers 1, engine uring, loopback only"

# Host 3 is alive but has no lease: 503 with the reason, and the failed config reads counted.
wait_log "$D/log3" "reading the network config failed" 2 10 || fail "host 3 did not retry the config read"
read -r code body < <(http_get "$P-h3" /healthz)
[ "$code" = 200 ] || fail "host 3 /healthz answered '$code $body'"
read -r code body < <(http_get "$P-h3" /readyz)
[ "$code" = 503 ] && [[ $body == "no lease yet"* ]] || fail "host 3 /readyz answered '$code $body', expected 503 no lease yet"
M3=$(http_get "$P-h3" /metrics)
[ "$(metric "$M3" 'twill_store_errors_total{op="config"}')" -ge 2 ] && [ "$(metric "$M3" twill_ready)" = 0.0 ] \
    || fail "host 3 metrics: $(grep -E 'store_errors|twill_ready' <<<"$M3" | paste -sd' ')"
kill "$H3_PID"
log "host 3 (etcd unreachable): /healthz 200, /readyz 503 '$body', config errors counted"

# A second daemon on the same port stops at once, naming the flags.
out=$(ip netns exec "$P-h1" timeout 10 "$BIN/twilld" --iface eth0 --healthz-port "$PORT" --local-store "$D/other.json" \
    --net-config-path "$D/net.json" --subnet-file "$D/other.env" 2>&1) && fail "a second daemon on port $PORT started"
grep -q -- "--healthz-ip 127.0.0.1 --healthz-port $PORT: .*in use" <<<"$out" || fail "the bind failure does not name the flags: $out"
[ ! -e "$D/other.json" ] || fail "the failed daemon touched its store"
for bad in "--healthz-port 70000" "--healthz-ip nowhere" "--iptables-resync 0"; do
    # shellcheck disable=SC2086 # the flag and its value are two words
    out=$(ip netns exec "$P-h3" "$BIN/twilld" $bad 2>&1) && fail "twilld accepted $bad"
    grep -q -- "${bad%% *} must be" <<<"$out" || fail "twilld $bad: no message naming the flag: $out"
done
out=$(ip netns exec "$P-h3" env FLANNELD_HEALTHZ_PORT=70000 "$BIN/twilld" 2>&1) && fail "twilld accepted FLANNELD_HEALTHZ_PORT=70000"
grep -q -- "--healthz-port must be" <<<"$out" || fail "FLANNELD_HEALTHZ_PORT=70000: no message naming the flag: $out"
log "port in use and bad values (flags and FLANNELD_*) are refused naming the flag"

# The store becomes unreadable: renewals fail until the lease expires; readiness follows.
cp "$D/store.json" "$TMP/store.good"
flock -w 10 "$D/store.json.lock" sh -c "echo corrupt >'$D/store.json'"
for n in $(seq 1 $(((TTL + 10) * 4))); do
    read -r code body < <(http_get "$P-h1" /readyz)
    [ "$code" = 503 ] && break
    sleep 0.25
done
[ "$code" = 503 ] && [[ $body == "lease $(subnet_of "$D/h1.env") expired at "*" (renewal failing)" ]] \
    || fail "with the store unreadable, /readyz answered '$code $body' after $((TTL + 10))s"
M=$(http_get "$P-h1" /metrics)
[ "$(metric "$M" 'twill_store_errors_total{op="renew"}')" -ge 1 ] && [ "$(metric "$M" twill_ready)" = 0.0 ] \
    || fail "store errors not counted: $(grep -E 'store_errors|twill_ready' <<<"$M" | paste -sd' ')"
log "store unreadable: /readyz 503 '$body'; renew errors $(metric "$M" 'twill_store_errors_total{op="renew"}')"
flock -w 10 "$D/store.json.lock" cp "$TMP/store.good" "$D/store.json"
for n in $(seq 1 80); do
    read -r code body < <(http_get "$P-h1" /readyz)
    [ "$code" = 200 ] && break
    sleep 0.25
done
[ "$code" = 200 ] || fail "/readyz did not recover after the store came back: '$code $body'"
grep -q "re-acquired a different subnet" "$D/log1" && fail "host 1 moved to another subnet"
log "store back: /readyz 200 '$body'"
log "PASS metrics in $((SECONDS - START_TIME))s"
