#!/bin/bash
# soak.sh: SOAK_SECONDS (default 60) of mixed traffic over three hosts with two pods each: two
# checksummed TCP streams at fixed rates, a UDP stream (iperf3, 1000-byte datagrams), a ping every
# 0.2 s, and every 5 s a short TCP transfer on a new connection, a ping to an address nobody leases
# and a ping whose TTL runs out. Every twilld's resident set is sampled every 5 s: it must stay under
# SOAK_RSS_LIMIT_KIB (32 MiB for a release build, 48 MiB for a debug one) and flat (the last third's
# peak at most SOAK_RSS_GROWTH_KIB above the first third's, after a warm-up). At the end every packet
# is accounted for (datapath_balance), the drop counters hold exactly the unroutable and expired pings
# sent, the datapath lost nothing (a UDP datagram may only be lost at the receiving application's full
# socket, counted by its kernel), and the pools leak nothing: idle, they never run dry, and a last
# transfer goes through.
SCENARIO=soak
. "$(dirname "$0")/common.sh"
require_tools iperf3
DURATION=${SOAK_SECONDS:-60}
# 32 MiB is the release build's budget; a debug build's unoptimized code takes about 7 MiB more.
case $BIN in */release) RSS_LIMIT_KIB=${SOAK_RSS_LIMIT_KIB:-32768} ;; *) RSS_LIMIT_KIB=${SOAK_RSS_LIMIT_KIB:-49152} ;; esac
GROWTH_KIB=${SOAK_RSS_GROWTH_KIB:-1024}
HOSTS=3

new_prefix s
D=$TMP
topo_create "$P" "$HOSTS"
write_net_config "$D/net.json" vxlan
start_cluster "$D" $HOSTS 2 uring
pod() { topo_pod_ip "$P" "$1" "$2"; }
ping_ttl "$P-h1-p1" "$(pod 2 1)" 5 >/dev/null || fail "no ping before the soak"
for u in $(seq 254 -1 200); do grep -q "10.244.$u.0-24" "$D/store.json" || break; done
UNLEASED=10.244.$u.9
log "$HOSTS hosts ready; soaking for ${DURATION}s (RSS limit $((RSS_LIMIT_KIB / 1024)) MiB, growth limit $GROWTH_KIB KiB)"

sleep 0.6
datapath_counters "$D" $HOSTS >"$TMP/before"
stream_start "$P-h1-p1" "$P-h2-p1" "$(pod 2 1)" s1 $((DURATION + 30)) 80
stream_start "$P-h3-p1" "$P-h1-p2" "$(pod 1 2)" s2 $((DURATION + 30)) 40
ip netns exec "$P-h3-p2" timeout $((DURATION + 40)) iperf3 -s -1 -p 5201 >"$TMP/iperf-server" 2>&1 &
IPERF_SERVER=$!
sleep 0.3
ip netns exec "$P-h2-p2" timeout $((DURATION + 30)) iperf3 -c "$(pod 3 2)" -p 5201 -u -b 10M -l 1000 -t "$DURATION" -J \
    >"$TMP/iperf.json" 2>"$TMP/iperf.err" &
IPERF_CLIENT=$!
ping_start "$P-h3-p1" "$(pod 2 2)" $((DURATION + 20)) "$TMP/ping.out"
PINGER=$PING_PID

noroute=0
expired=0
transfers=0
t0=$SECONDS
: >"$TMP/samples"
while [ $((SECONDS - t0)) -lt "$DURATION" ]; do
    line="$((SECONDS - t0))"
    for i in $(seq 1 $HOSTS); do
        kill -0 "${PIDS[$i]}" 2>/dev/null || fail "twilld on host $i died during the soak"
        line+=" $(rss_kib "${PIDS[$i]}")"
    done
    echo "$line" >>"$TMP/samples"
    ip netns exec "$P-h1-p1" timeout 3 ping -n -c 1 -W 1 "$UNLEASED" >/dev/null 2>&1 || true
    noroute=$((noroute + 1))
    ip netns exec "$P-h1-p2" timeout 3 ping -n -c 1 -W 1 -t 2 "$(pod 2 2)" >/dev/null 2>&1 || true
    expired=$((expired + 1))
    tcp_transfer "$P-h2-p1" "$P-h3-p1" "$(pod 3 1)" 2 "transfer $transfers" >/dev/null
    transfers=$((transfers + 1))
    sleep $((5 - (SECONDS - t0) % 5))
done
wait_exit "$IPERF_CLIENT" 30
[ "$EXIT_RC" = 0 ] || fail "the UDP stream's client failed ($EXIT_RC): $(tail -5 "$TMP/iperf.err")"
wait_exit "$IPERF_SERVER" 10
ping_stop "$PINGER" "$TMP/ping.out" || fail "the ping lost replies during the soak: $PING_VERDICT"
log "ping: $PING_VERDICT"
stream_finish s1 30
stream_finish s2 30
# The stats file lags the kernel's live counters by up to a period: snapshots a period apart until
# they agree (a stray packet can fall between the two reads).
for attempt in 1 2 3 4 5; do
    sleep 1.1 # two stats periods: every counter includes the end
    datapath_counters "$D" $HOSTS >"$TMP/after"
    balance=$(datapath_balance "$TMP/before" "$TMP/after" $HOSTS superpackets) && break
done
[ -z "$balance" ] || fail "packets unaccounted for after the soak:
$balance"
# The counters hold exactly what was sent; the resident set stayed under the limit and flat (after
# the first 20% of the run, the last third's peak against the first third's).
verdict=$("$PY" - "$TMP/after.delta" "$TMP/iperf.json" "$noroute" "$expired" "$HOSTS" "$TMP/samples" "$RSS_LIMIT_KIB" "$GROWTH_KIB" <<'EOF'
import json, sys
d = {k: int(v) for k, v in (l.split() for l in open(sys.argv[1]))}
noroute, expired, hosts = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rows = [list(map(int, l.split())) for l in open(sys.argv[6]) if l.strip()]
limit, growth = int(sys.argv[7]), int(sys.argv[8])
doc = json.load(open(sys.argv[2]))
sent = doc["end"]["sum_sent"]["packets"]
got = doc["end"]["sum_received"]["bytes"] // doc["start"]["test_start"]["blksize"]
errors = []
# The datapath may lose nothing: a datagram the receiving iperf3 did not read in time is the only
# loss allowed, and its kernel must have counted it.
app = d["h3-p2/udp/RcvbufErrors"]
if sent - got != app:
    errors.append(f"the UDP stream lost {sent - got} of {sent} datagrams, {app} of them at the receiving socket")
want = {("h1", "no_route"): noroute, ("h1", "ttl_expired"): expired}
for k, v in d.items():
    h, _, name = k.partition("/")
    if name.startswith("drop_") and name != "drop_ipv6_not_routed" and v != want.get((h, name[5:]), 0):
        errors.append(f"{h} counted {v} {name}, expected {want.get((h, name[5:]), 0)}")
if d["h1/icmpErrorsSent"] != noroute + expired:
    errors.append(f"host 1 sent {d['h1/icmpErrorsSent']} ICMP errors for {noroute + expired} unroutable and expired pings")
kernel = {k: v for k, v in d.items() if (k.endswith("_dropped") or k.endswith("RcvbufErrors")) and v and k != "h3-p2/udp/RcvbufErrors"}
if kernel:
    errors.append(f"the kernel dropped packets: {kernel}")
moved = sum(d[f"h{i}/sentPackets"] for i in range(1, hosts + 1))
print(f"counters: {moved} datagrams between the hosts; UDP stream {got} of {sent} datagrams received "
      f"({app} overflowed the receiving iperf3's socket); {noroute} no_route and {expired} ttl_expired "
      f"drops as sent, no other drop")
warm = [r for r in rows if r[0] >= rows[-1][0] * 0.2] or rows
third = max(1, len(warm) // 3)
report = []
for h in range(1, len(rows[0])):
    series = [r[h] for r in rows]
    early, late = max(r[h] for r in warm[:third]), max(r[h] for r in warm[-third:])
    report.append(f"host {h} {min(series)}-{max(series)} KiB (early peak {early}, late {late})")
    if max(series) > limit:
        errors.append(f"host {h}'s resident set reached {max(series)} KiB, above {limit}")
    if late - early > growth:
        errors.append(f"host {h}'s resident set grew by {late - early} KiB from the first to the last third")
print(f"RSS in {len(rows)} samples: " + "; ".join(report))
for e in errors:
    print("MISMATCH", e)
sys.exit(1 if errors else 0)
EOF
) || fail "after the soak: $verdict"
while read -r line; do log "$line"; done <<<"$verdict"

# Leaked slots would leave a pool dry: idle, no exhaustion may be counted, and a transfer still works.
e0=$(for i in $(seq 1 $HOSTS); do stat_value "$D/stats$i" poolExhaustions; done | paste -sd' ')
sleep 2
e1=$(for i in $(seq 1 $HOSTS); do stat_value "$D/stats$i" poolExhaustions; done | paste -sd' ')
[ "$e0" = "$e1" ] || fail "pools ran dry while idle (exhaustions $e0 -> $e1): slots leaked"
tcp_transfer "$P-h1-p2" "$P-h3-p2" "$(pod 3 2)" 20 "after the soak"
log "pool exhaustions after the soak: $e1 (unchanged while idle); $transfers short transfers during it"
log "PASS soak ${DURATION}s in $((SECONDS - START_TIME))s"
