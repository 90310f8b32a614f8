#!/bin/bash
# etcd-faults.sh: twilld against a three-member etcd cluster (in the underlay namespace) that fails.
# (a) the member the daemons use is SIGKILLed: no ping lost, renewals go on through the others, a new
# host joins; (b) every member down for 60 s and restarted on its data: no ping lost, the daemons log
# failed renewals and keep running, then renew the same keys; (c) every member SIGSTOPped for 15 s
# (requests hang): no ping lost, renewals resume; (d) a compaction under open watches, then one that
# a disconnected watch falls behind: every daemon re-lists and learns the changes and a new host.
SCENARIO=etcd-faults
. "$(dirname "$0")/common.sh"
require_tools etcd etcdctl

NETKEY=/coreos.com/network
TTL_A=6   # (a): short, so "the keys survive 2 TTLs" takes seconds
TTL=40    # (b)-(d): the renewal margin (TTL/2) outlasts the 15 s pause, retries every TTL/4 = 10 s
OUTAGE=${ETCD_OUTAGE:-60}
PAUSE=15

new_prefix f
D=$TMP
topo_create "$P" 4
etcd_cluster "$P" 3
etcdctl_ul put "$NETKEY/config" '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}' >/dev/null
log "etcd cluster m1..m3 at 192.0.2.1..3:2379 in $P-ul, leader $(etcd_leader)"

# twilld_up I TTL: starts host I's daemon against all three members; PID[I].
PID=()
twilld_up() {
    start_twilld "$P" "$1" "$D" uring --etcd-endpoints "$ETCD_ENDPOINTS" --subnet-lease-ttl "$2"
    PID[$1]=$TWILLD_PID
}
# twilld_down I: SIGTERM, exit 0.
twilld_down() {
    kill -TERM "${PID[$1]}"
    wait_exit "${PID[$1]}" 15
    [ "$EXIT_RC" = 0 ] || fail "host $1's daemon exited with $EXIT_RC after SIGTERM"
    wait_released "$P-h$1" 8472 5 || fail "host $1: port 8472 or twill0 still held 5s after the daemon exited"
}
# alive LABEL HOSTS...: each host's daemon is still running.
alive() {
    local label=$1 i
    shift
    for i in "$@"; do
        kill -0 "${PID[i]}" 2>/dev/null || fail "$label: host $i's daemon is gone"
    done
}
# key_state I: "CREATE_REVISION LEASE" of host I's key (empty when absent or etcd is unreachable).
key_state() { { etcd_subnets 2>/dev/null || true; } | awk -v k="$NETKEY/subnets/${KEY[$1]}" '$1 == k { print $2, $4 }'; }
# wait_renewed SECONDS HOSTS...: until each host's key carries an etcd lease other than LEASE[i]
# (a renewal) with the same create revision (never gone); then records the new lease in LEASE[i].
wait_renewed() {
    local secs=$1 i n st
    shift
    for i in "$@"; do
        for n in $(seq 1 $((secs * 2))); do
            st=$(key_state "$i")
            [ -n "$st" ] && [ "${st#* }" != "${LEASE[i]}" ] && break
            sleep 0.5
        done
        [ -n "$st" ] || fail "host $i's key ${KEY[i]} is gone"
        [ "${st#* }" != "${LEASE[i]}" ] || fail "host $i's key ${KEY[i]} was not renewed within ${secs}s (still etcd lease ${LEASE[i]})"
        [ "${st% *}" = "${CREATE[i]}" ] || fail "host $i's key ${KEY[i]} was re-created (create revision ${st% *}, was ${CREATE[i]})"
        LEASE[i]=${st#* }
    done
}
# record_keys HOSTS...: KEY, SUBNET, CREATE and LEASE of each host's key.
KEY=() SUBNET=() CREATE=() LEASE=()
record_keys() {
    local i st
    for i in "$@"; do
        SUBNET[i]=$(subnet_of "$D/h$i.env")
        KEY[i]=$(tr / - <<<"${SUBNET[i]}")
        st=$(key_state "$i")
        [ -n "$st" ] || fail "host $i has no key ${KEY[i]} in etcd"
        CREATE[i]=${st% *} LEASE[i]=${st#* }
    done
}
count() { grep -cE -- "$2" "$1" 2>/dev/null || true; }
# check_failed MESSAGE: a failed check whose phase can still go on (lost pings, flapping peers): it is
# reported at once, the later phases still run, and the scenario fails at the end with all of them.
FAILED=()
check_failed() {
    printf '[%s] FAIL: %s\n' "$SCENARIO" "$*" >&2
    FAILED+=("$*")
}
# peers_kept PHASE SINCE_LINE HOSTS...: no daemon removed a peer after line SINCE_LINE[i] of its log:
# the keys never left etcd (wait_renewed checked their create revisions).
declare -a SINCE=()
mark_logs() { local i; for i in "$@"; do SINCE[i]=$(wc -l <"$D/log$i"); done; }
peers_kept() {
    local phase=$1 i removed
    shift
    for i in "$@"; do
        removed=$(tail -n +$((SINCE[i] + 1)) "$D/log$i" | grep -E "peer (removed|added)" | sed 's/^\([^ ]*\) .*\] /\1 /' | paste -sd';' || true)
        [ -z "$removed" ] || check_failed "$phase: host $i dropped and re-added peers whose keys never left etcd: $removed"
    done
}

# --- (a) One member SIGKILLed under running daemons.
twilld_up 1 $TTL_A
twilld_up 2 $TTL_A
wait_ready "$D" 1
wait_ready "$D" 2
topo_add_pods "$P" 1 "$D/h1.env" 1
topo_add_pods "$P" 2 "$D/h2.env" 1
A1=$(topo_pod_ip "$P" 1 1) A2=$(topo_pod_ip "$P" 2 1)
record_keys 1 2
ping_ttl "$P-h1-p1" "$A2" 5 >/dev/null || fail "no ping between hosts 1 and 2 before the faults"
ping_start "$P-h1-p1" "$A2" 120 "$TMP/ping.a"
PING_A=$PING_PID
sleep 1
T_KILL=$SECONDS
leader=$(etcd_leader)
etcd_member_signal 1 KILL
log "(a) SIGKILLed m1 (the daemons' first endpoint; leader was $leader); keys ${KEY[1]} ${KEY[2]} on ${TTL_A}s leases"
# A new host joins through the remaining members.
twilld_up 3 $TTL_A
wait_ready "$D" 3 20
topo_add_pods "$P" 3 "$D/h3.env" 1
A3=$(topo_pod_ip "$P" 3 1)
record_keys 3
for i in 1 2; do
    wait_log "$D/log$i" "peer added: ${SUBNET[3]} via 192.0.2.13:8472" 1 10 || fail "(a) host $i did not learn the new host 3"
done
ping_ttl "$P-h3-p1" "$A1" 10 >/dev/null || fail "(a) the new host 3 cannot reach host 1"
ping_ttl "$P-h2-p1" "$A3" 10 >/dev/null || fail "(a) host 2 cannot reach the new host 3"
# Renewals continue: more than two TTLs after the kill, each key renewed (new etcd lease) and never gone.
while [ $((SECONDS - T_KILL)) -le $((2 * TTL_A)) ]; do wait_renewed $((TTL_A + 5)) 1 2 3; done
ping_stop "$PING_A" "$TMP/ping.a" || check_failed "(a) continuous ping h1-p1 -> h2-p1 across the SIGKILL of m1: $PING_VERDICT"
for i in 1 2; do
    grep -q "using etcd endpoint http://192.0.2.[23]:2379" "$D/log$i" || fail "(a) host $i never logged a failover to m2 or m3"
done
alive "(a)" 1 2 3
log "(a) keys renewed $((SECONDS - T_KILL))s (> 2 TTLs) after the kill, host 3 joined, ping: $PING_VERDICT"
etcd_member_start 1
ETCD_CTL_ENDPOINTS=http://192.0.2.1:2379 etcd_wait_healthy 20 || fail "m1 did not rejoin with its data: $(tail -n 5 "$TMP/etcd1.log")"

# The long TTL from here on: restarted daemons keep their subnets (the same keys, new leases).
for i in 1 2 3; do twilld_down "$i"; done
# Host 3 a few seconds after the others, as daemons never start in lockstep: its renewals (and its
# retries while etcd is away) run on another schedule.
for i in 1 2 3; do
    [ "$i" != 3 ] || sleep $((TTL / 8))
    rm -f "$D/h$i.env"
    twilld_up "$i" $TTL
done
for i in 1 2 3; do wait_ready "$D" "$i" 20; done
for i in 1 2 3; do
    [ "$(subnet_of "$D/h$i.env")" = "${SUBNET[i]}" ] || fail "host $i came back with $(subnet_of "$D/h$i.env"), had ${SUBNET[i]}"
    wait_stat "$D/stats$i" peers 2 10 || fail "host $i has $(stat_value "$D/stats$i" peers) peers after the restart"
done
record_keys 1 2 3
for i in 1 2 3; do
    read -r granted left < <(etcd_lease_ttl "${LEASE[i]}")
    [ "$granted" = $TTL ] || fail "host $i's key is on a lease of ${granted}s, expected $TTL"
done
ping_ttl "$P-h1-p1" "$A2" 10 >/dev/null && ping_ttl "$P-h3-p1" "$A1" 10 >/dev/null || fail "no pings after the restart with TTL $TTL"
log "daemons restarted with ${TTL}s leases: same subnets ${SUBNET[*]}"

# --- (b) All of etcd down for $OUTAGE s.
ping_start "$P-h1-p1" "$A2" $((OUTAGE + 120)) "$TMP/ping.b1"
PING_B1=$PING_PID
ping_start "$P-h3-p1" "$A1" $((OUTAGE + 120)) "$TMP/ping.b2"
PING_B2=$PING_PID
FAILS=()
for i in 1 2 3; do FAILS[i]=$(count "$D/log$i" "renewing lease ${SUBNET[i]} failed"); done
mark_logs 1 2 3
sleep 1
for m in 1 2 3; do etcd_member_signal "$m" KILL; done
T_DOWN=$SECONDS
log "(b) every member SIGKILLed; waiting ${OUTAGE}s"
while [ $((SECONDS - T_DOWN)) -lt "$OUTAGE" ]; do
    sleep 5
    alive "(b) during the outage" 1 2 3
done
for i in 1 2 3; do
    n=$(($(count "$D/log$i" "renewing lease ${SUBNET[i]} failed") - FAILS[i]))
    [ "$n" -ge 1 ] || fail "(b) host $i logged no failed renewal during the ${OUTAGE}s outage"
    FAILS[i]=$n
done
log "(b) after ${OUTAGE}s: daemons running, failed renewals logged (${FAILS[1]}, ${FAILS[2]}, ${FAILS[3]}); restarting the members"
for m in 1 2 3; do etcd_member_start "$m"; done
etcd_wait_healthy 30 || fail "(b) etcd did not come back on its data dirs: $(tail -n 5 "$TMP/etcd1.log")"
T_UP=$SECONDS
# What etcd did with the leases granted before the outage (the daemons replace them in seconds).
ttls=""
for i in 1 2 3; do ttls+=" $(etcd_lease_ttl "${LEASE[i]}" 2>/dev/null | awk '{ print $2 }' || echo '?')"; done
log "(b) etcd back after $((T_UP - T_DOWN))s (leader $(etcd_leader)); the leases granted before the outage have ${ttls# } s left of $TTL"
# The leases survived the outage inside etcd (it refreshes them when a leader takes over); each
# daemon renews its own key within its retry interval.
wait_renewed $((2 * TTL)) 1 2 3
for i in 1 2 3; do
    read -r granted left < <(etcd_lease_ttl "${LEASE[i]}")
    [ "$granted" = $TTL ] && [ "$left" -gt $((TTL / 2)) ] || fail "(b) host $i's renewed lease: TTL $granted, remaining $left"
done
log "(b) every key renewed $((SECONDS - T_UP))s after etcd returned, same subnets, same keys"
sleep 2
alive "(b)" 1 2 3
for i in 1 2 3; do
    [ "$(count "$D/log$i" "ready: subnet file")" = 2 ] || fail "(b) host $i's daemon restarted"
done
peers_kept "(b) after etcd returned" 1 2 3
ping_stop "$PING_B1" "$TMP/ping.b1" || check_failed "(b) continuous ping h1-p1 -> h2-p1 through the etcd outage and its end: $PING_VERDICT"
v1=$PING_VERDICT
ping_stop "$PING_B2" "$TMP/ping.b2" || check_failed "(b) continuous ping h3-p1 -> h1-p1 through the etcd outage and its end: $PING_VERDICT"
log "(b) pings through the outage: $v1; $PING_VERDICT"

# --- (c) All of etcd paused: requests hang rather than fail.
ping_start "$P-h1-p1" "$A2" $((PAUSE + 120)) "$TMP/ping.c"
PING_C=$PING_PID
# Pause soon after one daemon renewed, so its next renewal (TTL/2 later) falls into the pause.
for n in $(seq 1 $((TTL + 10))); do
    for i in 1 2 3; do
        st=$(key_state "$i")
        [ -n "$st" ] && [ "${st#* }" != "${LEASE[i]}" ] && break 2
    done
    sleep 0.5
done
[ "${st#* }" != "${LEASE[i]}" ] || fail "(c) no key was renewed within $((TTL / 2 + 5))s"
T_RENEWED=$SECONDS
sleep $((TTL / 2 - PAUSE / 2 - 2))
record_keys 1 2 3
mark_logs 1 2 3
for m in 1 2 3; do etcd_member_signal "$m" STOP; done
T_STOP=$SECONDS
sleep "$PAUSE"
alive "(c) during the pause" 1 2 3
for m in 1 2 3; do etcd_member_signal "$m" CONT; done
log "(c) every member SIGSTOPped for $((SECONDS - T_STOP))s (host $i's renewal was due $((TTL / 2 - (T_STOP - T_RENEWED)))s into it), then SIGCONT"
etcd_wait_healthy 20 || fail "(c) etcd did not answer after SIGCONT"
wait_renewed $((2 * TTL)) 1 2 3
hung=$(for i in 1 2 3; do tail -n +$((SINCE[i] + 1)) "$D/log$i" | grep -c "renewing lease .* failed" || true; done | paste -sd/)
log "(c) every key renewed $((SECONDS - T_STOP - PAUSE))s after SIGCONT, never gone (failed renewals logged: $hung)"
alive "(c)" 1 2 3
peers_kept "(c) after SIGCONT" 1 2 3
ping_stop "$PING_C" "$TMP/ping.c" || check_failed "(c) continuous ping h1-p1 -> h2-p1 through the pause: $PING_VERDICT"
log "(c) ping through the pause: $PING_VERDICT"

# --- (d) Compaction. First under watches that are keeping up: several writes (a fake flannel lease
# put, changed and deleted), compact at the latest revision, and a new host joins right after.
FAKE=10.244.251.0-24
for n in 1 2 3 4 5; do
    etcdctl_ul put "$NETKEY/subnets/$FAKE" "$(flannel_lease_value 192.0.2.99 "$(random_mac)")" >/dev/null
done
etcdctl_ul del "$NETKEY/subnets/$FAKE" >/dev/null
rev=$(etcdctl_ul get "$NETKEY/config" -w json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
etcdctl_ul compact "$rev" >/dev/null
twilld_up 4 $TTL
wait_ready "$D" 4 20
SUBNET[4]=$(subnet_of "$D/h4.env")
for i in 1 2 3; do
    wait_log "$D/log$i" "peer added: ${SUBNET[4]} via 192.0.2.14:8472" 1 10 || fail "(d) host $i did not learn host 4 after the compaction at $rev"
done
wait_stat "$D/stats4" peers 3 10 || fail "(d) host 4 has $(stat_value "$D/stats4" peers) peers"
topo_add_pods "$P" 4 "$D/h4.env" 1
ping_ttl "$P-h4-p1" "$A1" 10 >/dev/null || fail "(d) host 4 cannot reach host 1"
log "(d) compacted at revision $rev under open watches; host 4 joined (${SUBNET[4]}), every daemon added it"

# Then a watch that falls behind: the members are restarted on another client port, so the daemons
# lose etcd; meanwhile a flannel lease appears and changes, another comes and goes, and the
# history is compacted. Back on the usual port, every watch resumes below the compaction and must
# list again, ending up with exactly the final leases.
for i in 1 2 3 4; do RELIST[i]=$(count "$D/log$i" "fell behind etcd's compaction"); done
for m in 1 2 3; do etcd_member_signal "$m" KILL; done
for m in 1 2 3; do
    ETCD_CLIENT_PORT=2479 etcd_member_start "$m"
done
ETCD_CTL_ENDPOINTS=http://192.0.2.1:2479,http://192.0.2.2:2479,http://192.0.2.3:2479
etcd_wait_healthy 30 || fail "(d) etcd on port 2479 did not come up"
KEPT=10.244.252.0-24 GONE=10.244.253.0-24
for n in 1 2 3; do
    MACK=$(random_mac)
    etcdctl_ul put "$NETKEY/subnets/$KEPT" "$(flannel_lease_value 192.0.2.98 "$MACK")" >/dev/null
    etcdctl_ul put "$NETKEY/subnets/$GONE" "$(flannel_lease_value 192.0.2.97 "$(random_mac)")" >/dev/null
done
etcdctl_ul del "$NETKEY/subnets/$GONE" >/dev/null
rev=$(etcdctl_ul get "$NETKEY/config" -w json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
etcdctl_ul compact "$rev" >/dev/null
for m in 1 2 3; do etcd_member_signal "$m" KILL; done
unset ETCD_CTL_ENDPOINTS
for m in 1 2 3; do etcd_member_start "$m"; done
etcd_wait_healthy 30 || fail "(d) etcd did not come back on port 2379"
for i in 1 2 3 4; do
    wait_log "$D/log$i" "fell behind etcd's compaction" $((RELIST[i] + 1)) 20 \
        || fail "(d) host $i's watch did not report falling behind the compaction at $rev (no re-list)"
    wait_log "$D/log$i" "peer added: ${KEPT%-24}/24 via 192.0.2.98:8472 mac $MACK" 1 10 \
        || fail "(d) host $i did not learn the lease written while its watch was away: $(grep "192.0.2.98" "$D/log$i" | tail -n 2)"
    ! grep -q "192.0.2.97" "$D/log$i" || fail "(d) host $i saw the lease that came and went: $(grep "192.0.2.97" "$D/log$i")"
done
# The watch goes on after the re-list.
etcdctl_ul del "$NETKEY/subnets/$KEPT" >/dev/null
for i in 1 2 3 4; do
    wait_log "$D/log$i" "peer removed: ${KEPT%-24}/24 via 192.0.2.98:8472" 1 10 || fail "(d) host $i's watch stopped after the re-list"
    wait_stat "$D/stats$i" peers 3 10 || fail "(d) host $i has $(stat_value "$D/stats$i" peers) peers"
done
ping_ttl "$P-h1-p1" "$(topo_pod_ip "$P" 4 1)" 10 >/dev/null && ping_ttl "$P-h2-p1" "$A3" 10 >/dev/null \
    || fail "(d) no pings after the compactions"
alive "(d)" 1 2 3 4
log "(d) watches below compaction $rev re-listed: each daemon has the final leases and keeps watching"
[ ${#FAILED[@]} = 0 ] || fail "${#FAILED[@]} check(s) failed:$(printf '\n  - %s' "${FAILED[@]}")"
log "PASS etcd-faults in $((SECONDS - START_TIME))s"
