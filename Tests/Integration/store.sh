#!/bin/bash
# store.sh: the embedded store and the daemon's life cycle. Simultaneous starts never share a subnet;
# SIGTERM and SIGKILL restarts keep the subnet and VTEP MAC (and SIGTERM leaves no device); short
# leases are renewed, re-acquired when deleted, and freed when their daemon dies; a corrupt store, an
# invalid network config, unknown flags and bad values are refused with a clear message.
SCENARIO=store
. "$(dirname "$0")/common.sh"
require_tools

new_prefix t
topo_create "$P" 3
H1=$P-h1

# no_device HOST: twilld is gone from HOST and must have taken twill0 with it.
no_device() {
    local n
    for n in $(seq 1 20); do
        ip -n "$P-h$1" link | grep -q twill0 || return 0
        sleep 0.1
    done
    fail "$2: twill0 is still on host $1: $(ip -n "$P-h$1" link show twill0)"
}

# stop_twilld PID SIGNAL LABEL EXPECTED_RC
stop_twilld() {
    kill -s "$2" "$1"
    exec 4>&2 2>/dev/null # bash's "Killed" job notice is expected noise here
    wait_exit "$1" 15
    exec 2>&4 4>&-
    [ "$EXIT_RC" = "$4" ] || fail "$3: twilld exited with $EXIT_RC after SIG$2, expected $4"
}

# --- 1. Simultaneous starts. The config leaves exactly two subnets, so without mutual exclusion the
# two daemons would pick the same one half the time; a third daemon then finds none free.
for r in 1 2 3 4 5; do
    D=$TMP/race$r
    mkdir -p "$D"
    write_net_config "$D/net.json" vxlan '"SubnetMin":"10.244.7.0","SubnetMax":"10.244.8.0"'
    # Both wait for the same file, then exec twilld within a few milliseconds of each other.
    LAUNCH=(bash -c 'for n in $(seq 1 2000); do [ -e "$0" ] && exec "$@"; sleep 0.002; done; exit 97' "$D/go")
    start_twilld "$P" 1 "$D" syscalls
    pid1=$TWILLD_PID
    start_twilld "$P" 2 "$D" syscalls
    pid2=$TWILLD_PID
    LAUNCH=()
    sleep 0.2
    touch "$D/go"
    wait_ready "$D" 1
    wait_ready "$D" 2
    s1=$(subnet_of "$D/h1.env")
    s2=$(subnet_of "$D/h2.env")
    [ "$s1" != "$s2" ] || fail "round $r: both daemons took $s1"
    [ "$(printf '%s\n' "$s1" "$s2" | sort | paste -sd' ')" = "10.244.7.0/24 10.244.8.0/24" ] \
        || fail "round $r: subnets $s1 $s2, expected 10.244.7.0/24 and 10.244.8.0/24"
    [ "$(lease_of "$D/store.json" 192.0.2.11 | cut -d' ' -f1)" = "$s1" ] || fail "round $r: host 1's lease is not $s1"
    [ "$(lease_of "$D/store.json" 192.0.2.12 | cut -d' ' -f1)" = "$s2" ] || fail "round $r: host 2's lease is not $s2"
    if [ "$r" = 1 ]; then
        rc=0
        out=$(ip netns exec "$P-h3" timeout 15 "$BIN/twilld" --local-store "$D/store.json" --net-config-path "$D/net.json" \
            --subnet-file "$D/h3.env" --vtep-mac-file "$D/mac3" 2>&1) || rc=$?
        [ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q "no free subnet" <<<"$out" \
            || fail "a third daemon with no subnet left should exit with 'no free subnet', got $rc: $out"
        no_device 3 "no free subnet"
    fi
    stop_twilld "$pid1" TERM "round $r host 1" 0
    stop_twilld "$pid2" TERM "round $r host 2" 0
    log "race round $r: host 1 $s1, host 2 $s2"
done
log "5 simultaneous starts: never the same subnet; a third daemon exits with 'no free subnet'"

# --- 2. Restarts keep the subnet and the VTEP MAC, and the overlay works again afterwards.
D=$TMP/restart
mkdir -p "$D"
write_net_config "$D/net.json" vxlan
start_twilld "$P" 1 "$D" uring
PID1=$TWILLD_PID
start_twilld "$P" 2 "$D" uring
PID2=$TWILLD_PID
wait_ready "$D" 1
wait_ready "$D" 2
topo_add_pods "$P" 1 "$D/h1.env" 1
topo_add_pods "$P" 2 "$D/h2.env" 1
A=$(topo_pod_ip "$P" 1 1)
ping_ttl "$P-h2-p1" "$A" 5 >/dev/null || fail "no ping before the restarts"
LEASE=$(lease_of "$D/store.json" 192.0.2.11)
MAC=$(cat "$D/mac1")
[ "${LEASE#* }" = "$MAC" ] || fail "the lease's VtepMAC ${LEASE#* } is not the MAC file's $MAC"

stop_twilld "$PID1" TERM "SIGTERM" 0
no_device 1 "after SIGTERM"
grep -q "stopped: .*device twill0 removed, lease ${LEASE% *} kept" "$D/log1" || fail "no 'stopped' line after SIGTERM"
[ "$(lease_of "$D/store.json" 192.0.2.11)" = "$LEASE" ] || fail "the lease changed or vanished after SIGTERM"
start_twilld "$P" 1 "$D" uring
PID1=$TWILLD_PID
wait_log "$D/log1" "ready: subnet file" 2 20 || fail "twilld did not come back after SIGTERM"
[ "$(lease_of "$D/store.json" 192.0.2.11)" = "$LEASE" ] || fail "after the SIGTERM restart the lease is '$(lease_of "$D/store.json" 192.0.2.11)', was '$LEASE'"
[ "$(subnet_of "$D/h1.env")" = "${LEASE% *}" ] || fail "after the SIGTERM restart the subnet file says $(subnet_of "$D/h1.env")"
grep -q "VTEP MAC $MAC" <(grep "lease " "$D/log1" | tail -n1) || fail "after the SIGTERM restart the VTEP MAC is not $MAC"
ping_ttl "$P-h2-p1" "$A" 5 >/dev/null || fail "no ping after the SIGTERM restart"
log "SIGTERM: twill0 removed, restart keeps ${LEASE% *} and $MAC, ping works"

# SIGKILL: no shutdown code runs. The subnet file goes too (/run is gone after a reboot), so only
# the store's lease (found by the public IP) can give the subnet back.
stop_twilld "$PID1" KILL "SIGKILL" 137
no_device 1 "after SIGKILL" # a TUN device dies with its last descriptor
rm -f "$D/h1.env"
start_twilld "$P" 1 "$D" uring
PID1=$TWILLD_PID
wait_ready "$D" 1
[ "$(lease_of "$D/store.json" 192.0.2.11)" = "$LEASE" ] || fail "after the SIGKILL restart the lease is '$(lease_of "$D/store.json" 192.0.2.11)', was '$LEASE'"
[ "$(subnet_of "$D/h1.env")" = "${LEASE% *}" ] || fail "after the SIGKILL restart the subnet file says $(subnet_of "$D/h1.env")"
grep -q "reusing this node's lease" <(tail -n 12 "$D/log1") || fail "the SIGKILL restart did not say it reused the lease"
ping_ttl "$P-h2-p1" "$A" 5 >/dev/null || fail "no ping after the SIGKILL restart"
log "SIGKILL: restart without a subnet file keeps ${LEASE% *} and $MAC, ping works"
stop_twilld "$PID1" TERM "host 1" 0
stop_twilld "$PID2" TERM "host 2" 0
# --- 3. Lease lifetime, with a network of a single subnet: a short lease is renewed in time; a
# lease deleted from the store is taken again by its running daemon; a killed daemon's lease
# expires and frees the subnet for another host.
D=$TMP/ttl
mkdir -p "$D"
write_net_config "$D/net.json" vxlan '"SubnetMin":"10.244.9.0","SubnetMax":"10.244.9.0"'
start_twilld "$P" 3 "$D" syscalls --subnet-lease-ttl 3
PID3=$TWILLD_PID
wait_ready "$D" 3
E0=$(expiration_of "$D/store.json" 10.244.9.0/24)
for n in $(seq 1 50); do [ "$(expiration_of "$D/store.json" 10.244.9.0/24)" != "$E0" ] && break; sleep 0.1; done
[ "$(expiration_of "$D/store.json" 10.244.9.0/24)" != "$E0" ] || fail "a 3 s lease was not renewed within 5 s"
store_delete "$D/store.json" 10.244.9.0-24
wait_log "$D/log3" "lease 10.244.9.0/24 was lost; acquiring again" 1 5 || fail "the daemon did not notice its deleted lease"
for n in $(seq 1 30); do lease_of "$D/store.json" 192.0.2.13 >/dev/null && break; sleep 0.1; done
[ "$(lease_of "$D/store.json" 192.0.2.13 | cut -d' ' -f1)" = 10.244.9.0/24 ] || fail "the deleted lease was not taken again"
sleep 3.5 # more than a TTL: the lease must still be alive, renewed all along
[ "$(lease_of "$D/store.json" 192.0.2.13 | cut -d' ' -f1)" = 10.244.9.0/24 ] || fail "the re-acquired lease was not kept"
stop_twilld "$PID3" KILL "SIGKILL with a 3 s lease" 137
sleep 3.2 # the lease outlives its daemon by at most one TTL
start_twilld "$P" 1 "$D" syscalls
wait_ready "$D" 1
[ "$(subnet_of "$D/h1.env")" = 10.244.9.0/24 ] || fail "the expired subnet was not given to host 1"
grep -q "dropping expired lease" "$D/log1" || fail "host 1 did not log dropping the expired lease"
log "3 s lease renewed; deleted lease taken again; killed daemon's lease expired and went to another host"

topo_destroy "$P"
new_prefix u
topo_create "$P" 1
H1=$P-h1

# --- 4. Refusals. expect_reject DIR LABEL NEEDLES ARGS...: twilld must exit non-zero (not hang),
# with every '|'-separated needle in its output, leaving no device behind.
expect_reject() {
    local dir=$1 label=$2 needles=$3 out rc=0 needle
    shift 3
    out=$(ip netns exec "$H1" timeout 15 "$BIN/twilld" --local-store "$dir/store.json" --net-config-path "$dir/net.json" \
        --subnet-file "$dir/h1.env" --vtep-mac-file "$dir/mac1" "$@" 2>&1) || rc=$?
    [ "$rc" != 0 ] || fail "$label: twilld exited 0: $out"
    [ "$rc" != 124 ] || fail "$label: twilld did not exit within 15s"
    IFS='|' read -ra list <<<"$needles"
    for needle in "${list[@]}"; do
        grep -qF -- "$needle" <<<"$out" || fail "$label: the message does not mention '$needle': $out"
    done
    no_device 1 "$label"
    [ ! -e "$dir/h1.env" ] || fail "$label: a subnet file was written"
    log "refused $label (exit $rc): $(grep -m1 -iE 'error|invalid|corrupt|cannot|must' <<<"$out" || head -n1 <<<"$out")"
}

D=$TMP/corrupt
mkdir -p "$D"
write_net_config "$D/net.json" vxlan
EXP='"expiration":"2099-01-01T00:00:00.000Z"'
for bad in '{"version":1,"subnets":{"10.244.5.0-24":' \
    '{"version":1,"subnets":{"10.244.5.0-24":{"value":"{\"PublicIP\":\"nonsense\"}",'"$EXP"'}}}' \
    '{"version":1,"subnets":{"10.244.5.7-24":{"value":"{\"PublicIP\":\"192.0.2.99\"}",'"$EXP"'}}}' \
    '{"version":2,"subnets":{}}' \
    '[]'; do
    printf '%s' "$bad" >"$D/store.json"
    before=$(sha256sum <"$D/store.json")
    expect_reject "$D" "corrupt store $bad" "$D/store.json|corrupt"
    [ "$(sha256sum <"$D/store.json")" = "$before" ] || fail "the corrupt store was modified: $(cat "$D/store.json")"
    [ -z "$(find "$D" -name '.store.json.tmp*')" ] || fail "a temporary store file was left behind"
done

# Network configs, each naming its field; no lease may be taken for a refused config.
D=$TMP/config
mkdir -p "$D"
config_reject() {
    printf '%s' "$2" >"$D/net.json"
    expect_reject "$D" "config $2" "$D/net.json|$1"
    [ ! -e "$D/store.json" ] || fail "config $2: a lease was written for an invalid config: $(cat "$D/store.json")"
}
config_reject SubnetLen '{"Network":"10.244.0.0/16","SubnetLen":31,"Backend":{"Type":"vxlan"}}'
config_reject Network '{"Backend":{"Type":"vxlan"}}'
config_reject Backend.Type '{"Network":"10.244.0.0/16","Backend":{"Type":"bogus"}}'
config_reject SubnetMin '{"Network":"10.244.0.0/16","SubnetMin":"10.244.0.5"}'
config_reject Network '{"Network":"10.244.0.0/29"}'
config_reject Backend.VNI '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":16777216}}'
config_reject JSON '{"Network":"10.244.0.0/16",'
rm -f "$D/net.json"
expect_reject "$D" "missing config" "$D/net.json"

# Flags: an unknown one, and bad values, each named in the message.
D=$TMP/flags
mkdir -p "$D"
write_net_config "$D/net.json" vxlan
expect_reject "$D" "unknown flag" "--bogus-flag" --bogus-flag
expect_reject "$D" "--io-engine warp" "io-engine|warp" --io-engine warp
expect_reject "$D" "--subnet-lease-ttl 1" "subnet-lease-ttl" --subnet-lease-ttl 1
expect_reject "$D" "--subnet-lease-ttl abc" "subnet-lease-ttl|abc" --subnet-lease-ttl abc
expect_reject "$D" "--subnet-lease-renew-margin 0" "subnet-lease-renew-margin" --subnet-lease-renew-margin 0
expect_reject "$D" "--public-ip 300.1.1.1" "public-ip|300.1.1.1" --public-ip 300.1.1.1
expect_reject "$D" "--tun-name of 16 characters" "tun-name" --tun-name twill0123456789a
expect_reject "$D" "--batch-size 0" "batch-size" --batch-size 0
expect_reject "$D" "--log-level loud" "log-level|loud" --log-level loud
expect_reject "$D" "--iface nosuch0" "iface|nosuch0" --iface nosuch0
expect_reject "$D" "missing value" "subnet-lease-ttl" --subnet-lease-ttl
rc=0
out=$(FLANNELD_IO_ENGINE=warp ip netns exec "$H1" timeout 15 "$BIN/twilld" --local-store "$D/store.json" \
    --net-config-path "$D/net.json" --subnet-file "$D/h1.env" --vtep-mac-file "$D/mac1" 2>&1) || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q "io-engine" <<<"$out" \
    || fail "FLANNELD_IO_ENGINE=warp should be refused naming io-engine, got $rc: $out"
log "refused FLANNELD_IO_ENGINE=warp (exit $rc)"
[ ! -e "$D/store.json" ] || fail "a refused command line still took a lease"
log "PASS store in $((SECONDS - START_TIME))s"
