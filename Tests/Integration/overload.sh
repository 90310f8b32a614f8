#!/bin/bash
# overload.sh: more traffic than the datapath can carry. Two pods on host 1 blast unthrottled UDP
# (iperf3 -b 0, small and full-size datagrams) at a pod on host 2 for OVERLOAD_SECONDS. Both daemons
# must stay up with a bounded resident set (the pools hold: nothing allocates), every packet must be
# accounted for between the kernel's and twilld's counters (datapath_balance: what was queued to the
# TUN was read, what was read was sent, written or counted as a drop, what was sent was received or
# counted at a full socket), iperf3 must have lost something (else it was no overload), and once the
# load stops forwarding must recover at once: pings without loss, a checksummed TCP transfer, and the
# pool's exhaustion count standing still.
SCENARIO=overload
. "$(dirname "$0")/common.sh"
require_tools iperf3
SECONDS_LOAD=${OVERLOAD_SECONDS:-10}
RSS_LIMIT_KIB=${OVERLOAD_RSS_LIMIT_KIB:-65536}

new_prefix v
D=$TMP
topo_create "$P" 2
write_net_config "$D/net.json" vxlan
start_cluster "$D" 2 2 uring
PID1=${PIDS[1]}
PID2=${PIDS[2]}
B=$(topo_pod_ip "$P" 2 1)
ping_ttl "$P-h1-p1" "$B" 5 >/dev/null || fail "no ping before the load"

sleep 0.6
datapath_counters "$D" 2 >"$TMP/before"
ip netns exec "$P-h2-p1" timeout $((SECONDS_LOAD + 100)) iperf3 -s -1 -p 5201 >"$TMP/srv1" 2>&1 &
S1=$!
ip netns exec "$P-h2-p1" timeout $((SECONDS_LOAD + 100)) iperf3 -s -1 -p 5202 >"$TMP/srv2" 2>&1 &
S2=$!
sleep 0.5
# The clients' end-of-test exchange runs over TCP through the flooded path: its retransmissions back
# off to some 13 s during the load, so the exchange can end well after the load does.
ip netns exec "$P-h1-p1" timeout $((SECONDS_LOAD + 90)) iperf3 -c "$B" -p 5201 -u -b 0 -l 64 -t "$SECONDS_LOAD" -J >"$TMP/c1.json" 2>"$TMP/c1.err" &
C1=$!
ip netns exec "$P-h1-p2" timeout $((SECONDS_LOAD + 90)) iperf3 -c "$B" -p 5202 -u -b 0 -l 1350 -t "$SECONDS_LOAD" -J >"$TMP/c2.json" 2>"$TMP/c2.err" &
C2=$!
max1=0
max2=0
for n in $(seq 1 $((SECONDS_LOAD * 4))); do
    kill -0 "$PID1" 2>/dev/null || fail "twilld on host 1 died under the load"
    kill -0 "$PID2" 2>/dev/null || fail "twilld on host 2 died under the load"
    r=$(rss_kib "$PID1"); [ "$r" -gt "$max1" ] && max1=$r
    r=$(rss_kib "$PID2"); [ "$r" -gt "$max2" ] && max2=$r
    sleep 0.25
done
for p in $C1 $C2; do
    wait_exit "$p" 90
    [ "$EXIT_RC" = 0 ] || fail "an iperf3 client failed ($EXIT_RC): $(cat "$TMP/c1.err" "$TMP/c2.err" | tail -5) $(tail -c 300 "$TMP/c1.json" "$TMP/c2.json")"
done
for p in $S1 $S2; do wait_exit "$p" 10; done
# Every packet is accounted for (see datapath_balance); the TUN queue's drops are the back-pressure.
# The stats file is written every 0.5 s and the kernel's counters are read live, so a stray packet
# (an ACK, a router solicitation) can fall between the two: take up to five snapshots a period apart
# until they agree.
for attempt in 1 2 3 4 5; do
    sleep 1.1 # two stats periods: every counter includes the load's end
    datapath_counters "$D" 2 >"$TMP/after"
    balance=$(datapath_balance "$TMP/before" "$TMP/after" 2) && break
done
[ -z "$balance" ] || fail "packets unaccounted for under overload:
$balance"
verdict=$("$PY" - "$TMP/after.delta" "$TMP/c1.json" "$TMP/c2.json" 2>&1 <<'EOF'
import json, sys
# A counter that stayed at zero may be absent from the snapshot: read every one with a default.
d = {k: int(v) for k, v in (l.split() for l in open(sys.argv[1]))}
offered = lost = 0
notes = []
for f in sys.argv[2:]:
    doc = json.load(open(f))
    end = doc.get("end", {})
    # iperf3 3.12 leaves sum_sent/sum_received out when the end-of-test exchange over the flooded
    # path went wrong; the client's own "sum" still has what it sent and what the server reported.
    if "sum_sent" in end and "sum_received" in end:
        n = end["sum_sent"]["packets"]
        lost += n - end["sum_received"]["bytes"] // doc["start"]["test_start"]["blksize"]
    elif "sum" in end:
        n = end["sum"]["packets"]
        lost += end["sum"].get("lost_packets", 0)
        notes.append(f"{f.rsplit('/', 1)[-1]}: no sum_sent, used sum")
    else:
        n = 0
        notes.append(f"{f.rsplit('/', 1)[-1]}: no end summary (keys {sorted(end)}, error {doc.get('error')!r})")
    offered += n
drops = {h: sum(v for k, v in d.items() if k.startswith(f"{h}/drop_")) for h in ("h1", "h2")}
counted = (d.get('h1/twill0/tx_dropped', 0) + d.get('h2/udp/RcvbufErrors', 0) + drops['h1'] + drops['h2']
           + d.get('h2-p1/udp/RcvbufErrors', 0))
# Without a client summary the counters are the evidence of overload.
if lost == 0 and notes:
    lost = counted
print(("; ".join(notes) + "; " if notes else "") +
      f"{offered} datagrams offered, {lost} lost: {d.get('h1/twill0/tx_dropped', 0)} dropped at host 1's full TUN queue, "
      f"{d.get('h2/udp/RcvbufErrors', 0)} at host 2's overlay socket, {drops['h1']} + {drops['h2']} by twilld, "
      f"{d.get('h2-p1/udp/RcvbufErrors', 0)} at the receiving iperf3's socket; pool exhaustions "
      f"{d.get('h1/poolExhaustions', 0)} and {d.get('h2/poolExhaustions', 0)}")
sys.exit(0 if lost > 0 else 1)
EOF
) || fail "nothing was lost, the load did not exceed what the datapath carries: $verdict"
log "$verdict"
log "peak RSS: host 1 $((max1 / 1024)) MiB, host 2 $((max2 / 1024)) MiB"
[ "$max1" -le "$RSS_LIMIT_KIB" ] && [ "$max2" -le "$RSS_LIMIT_KIB" ] || fail "resident set above $((RSS_LIMIT_KIB / 1024)) MiB under load"

# Recovery: right away, no loss.
out=$(ip netns exec "$P-h1-p1" timeout 10 ping -n -c 20 -i 0.05 -W 1 "$B" 2>&1) || fail "pings after the load failed: $out"
grep -q " 0% packet loss" <<<"$out" || fail "pings after the load lost packets: $(tail -2 <<<"$out")"
tcp_transfer "$P-h1-p2" "$P-h2-p1" "$B" 20 "after the load"
e1=$(stat_value "$D/stats1" poolExhaustions)
sleep 2
[ "$(stat_value "$D/stats1" poolExhaustions)" = "$e1" ] || fail "host 1's pool keeps running dry while idle: slots leaked"
log "PASS overload in $((SECONDS - START_TIME))s"
