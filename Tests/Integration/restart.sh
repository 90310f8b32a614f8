#!/bin/bash
# restart.sh: twilld killed with SIGKILL in the middle of a checksummed TCP stream into a pod on its
# host, and started again at once, RESTART_ROUNDS times: the same subnet, its peers back in the table,
# and pod-to-pod pings (one every 10 ms) answered again within RESTART_LIMIT_MS of the restart; the
# stream survives every restart with the same sha256. Then a clean SIGTERM leaves no device, address,
# route or socket behind: a host whose daemon started and stopped looks exactly as before it started.
SCENARIO=restart
. "$(dirname "$0")/common.sh"
require_tools
ROUNDS=${RESTART_ROUNDS:-3}
LIMIT_MS=${RESTART_LIMIT_MS:-2000}

new_prefix k
D=$TMP
topo_create "$P" 3
# The state of a host no daemon ever ran on, to compare with after a SIGTERM.
host_state() {
    local h=$1
    {
        ip -n "$h" -o link | sed 's/^[0-9]*: //; s/ link\/.*//'
        ip -n "$h" -o addr | awk '{ $1 = ""; print }' | sed 's/valid_lft.*//'
        ip -n "$h" route show table all
        ip -n "$h" -6 route show table all
        ip -n "$h" rule
        ip netns exec "$h" ss -Hantu
    } 2>&1
}
# (Once IPv6 duplicate address detection on eth0 is over: it changes the addresses and local routes.)
for n in $(seq 1 50); do ip -n "$P-h3" -6 addr | grep -q tentative || break; sleep 0.1; done
host_state "$P-h3" >"$TMP/h3.before"

write_net_config "$D/net.json" vxlan
start_cluster "$D" 3 1 uring
PID1=${PIDS[1]}
PID3=${PIDS[3]}
A=$(topo_pod_ip "$P" 1 1)
LEASE=$(lease_of "$D/store.json" 192.0.2.11)
ping_ttl "$P-h2-p1" "$A" 5 >/dev/null || fail "no ping before the restarts"

stream_start "$P-h2-p1" "$P-h1-p1" "$A" "stream" 120
# Pings every 10 ms with receive timestamps (-D); the first reply after a kill dates the recovery.
ip netns exec "$P-h2-p1" timeout -s INT 120 ping -D -n -i 0.01 -W 1 "$A" >"$TMP/ping.out" 2>&1 &
PING_PID=$!
sleep 1
results=()
for r in $(seq 1 "$ROUNDS"); do
    grep -q "icmp_seq=.*ttl=" "$TMP/ping.out" || fail "round $r: no ping replies before the kill"
    stream_running stream || fail "round $r: the stream is not running before the kill: $(cat "$TMP/stream-send.stream")"
    kill -KILL "$PID1"
    exec 4>&2 2>/dev/null # bash's "Killed" job notice is expected noise here
    wait_exit "$PID1" 10
    exec 2>&4 4>&-
    [ "$EXIT_RC" = 137 ] || fail "round $r: twilld exited with $EXIT_RC after SIGKILL"
    t_kill=$(date +%s.%N)
    # As a supervisor would: at once, with the same flags. The new daemon waits for the port itself.
    t_restart=$(date +%s.%N)
    start_twilld "$P" 1 "$D" uring
    PID1=$TWILLD_PID
    for n in $(seq 1 200); do
        [ "$(grep -c "ready: subnet file" "$D/log1")" -gt "$r" ] && break
        kill -0 "$PID1" 2>/dev/null || fail "round $r: the restarted twilld exited: $(tail -n1 "$D/log1")"
        sleep 0.1
    done
    [ "$(grep -c "ready: subnet file" "$D/log1")" -gt "$r" ] || fail "round $r: twilld did not become ready within 20 s of the restart"
    for n in $(seq 1 100); do
        awk -v t="$t_kill" -F'[][]' '/ttl=/ && $2 > t { found = 1 } END { exit !found }' "$TMP/ping.out" && break
        sleep 0.05
    done
    recovery_ms=$(awk -v k="$t_kill" -v s="$t_restart" -F'[][]' '
        /ttl=/ { if ($2 <= k) last = $2; else if (!first) first = $2 }
        END { if (!first) print "none"; else printf "%d %d\n", (first - s) * 1000, (first - last) * 1000 }' "$TMP/ping.out")
    [ "$recovery_ms" != none ] || fail "round $r: no ping reply within 5 s of the restart: $(tail -3 "$TMP/ping.out")"
    read -r back_ms outage_ms <<<"$recovery_ms"
    [ "$(lease_of "$D/store.json" 192.0.2.11)" = "$LEASE" ] || fail "round $r: the lease is $(lease_of "$D/store.json" 192.0.2.11), was $LEASE"
    [ "$(subnet_of "$D/h1.env")" = "${LEASE% *}" ] || fail "round $r: the subnet file says $(subnet_of "$D/h1.env"), the lease ${LEASE% *}"
    grep "ready: subnet file" "$D/log1" | tail -n1 | grep -q ", 2 peers" || fail "round $r: the restarted daemon did not start with its 2 peers: $(grep 'ready:' "$D/log1" | tail -n1)"
    wait_stat "$D/stats1" peers 2 5 || fail "round $r: host 1 has $(stat_value "$D/stats1" peers) peers after the restart"
    log "round $r: SIGKILL, restart: same lease ${LEASE% *}, 2 peers; pings back ${back_ms} ms after the restart (outage ${outage_ms} ms)"
    results+=("$back_ms")
    [ "$back_ms" -le "$LIMIT_MS" ] || fail "round $r: traffic came back ${back_ms} ms after the restart, more than $LIMIT_MS ms"
    sleep 1
done
kill -INT "$PING_PID" 2>/dev/null || true
wait_exit "$PING_PID" 5
stream_finish stream 60
log "traffic back after each restart (ms): ${results[*]}"

# A clean stop: twill0 goes with its address and the Network's route; nothing holds the port.
kill -TERM "$PID1"
wait_exit "$PID1" 15
[ "$EXIT_RC" = 0 ] || fail "twilld exited with $EXIT_RC after SIGTERM"
grep -q "stopped: .*device twill0 removed" "$D/log1" || fail "no 'stopped' line after SIGTERM"
wait_released "$P-h1" 8472 5 || fail "host 1: port 8472 or twill0 still there 5 s after SIGTERM"
left=$( { ip -n "$P-h1" -o link; ip -n "$P-h1" -o addr; ip -n "$P-h1" route show table all; ip -n "$P-h1" -6 route show table all; } | grep -E "twill0|10\.244\.0\.0/16" || true)
[ -z "$left" ] || fail "after SIGTERM host 1 still has: $left"
[ -z "$(ip -n "$P-h1" tuntap show)" ] || fail "after SIGTERM host 1 still has a TUN device: $(ip -n "$P-h1" tuntap show)"
kill -TERM "$PID3"
wait_exit "$PID3" 15
[ "$EXIT_RC" = 0 ] || fail "twilld on host 3 exited with $EXIT_RC after SIGTERM"
wait_released "$P-h3" 8472 5 || fail "host 3: port 8472 or twill0 still there 5 s after SIGTERM"
# The test's own pod and bridge go too: what remains is what the daemon left.
ip netns del "$P-h3-p1"
ip -n "$P-h3" link del cni0
host_state "$P-h3" >"$TMP/h3.after"
diff -u "$TMP/h3.before" "$TMP/h3.after" >"$TMP/h3.diff" || fail "host 3 differs after its daemon stopped:
$(cat "$TMP/h3.diff")"
log "SIGTERM: no twill0, address, route, TUN or socket left; host 3 exactly as before its daemon started"
log "PASS restart in $((SECONDS - START_TIME))s"
