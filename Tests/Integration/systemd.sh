#!/bin/bash
# systemd.sh: twilld's sd_notify messages, received by a unix datagram listener standing in for
# systemd. With NOTIFY_SOCKET (a path) and WATCHDOG_USEC=1000000: READY=1 once, only when the subnet
# file exists, with a STATUS line; WATCHDOG=1 about every 0.5 s and never before READY; STOPPING=1
# on SIGTERM, last. Then the abstract form (@name) gets READY=1 too. packaging/twilld.service
# passes systemd-analyze verify.
SCENARIO=systemd
. "$(dirname "$0")/common.sh"
require_tools systemd-analyze

new_prefix y
D=$TMP
topo_create "$P" 1
write_net_config "$D/net.json" vxlan

# listen.py ADDRESS OUT SUBNET_FILE SECONDS: records every datagram as JSON lines (time, text,
# whether the subnet file existed on arrival); ends after STOPPING=1 or SECONDS.
cat >"$TMP/listen.py" <<'EOF'
import json, os, socket, sys, time
address, out, subnet_file, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + address[1:] if address.startswith("@") else address)
open(out + ".bound", "w").close()
deadline = time.time() + seconds
with open(out, "w") as f:
    while time.time() < deadline:
        s.settimeout(max(0.01, deadline - time.time()))
        try:
            data = s.recv(4096).decode()
        except socket.timeout:
            break
        f.write(json.dumps({"t": time.time(), "msg": data, "subnet_file": os.path.exists(subnet_file)}) + "\n")
        f.flush()
        if "STOPPING=1" in data.split("\n"):
            break
EOF
# listen NS ADDRESS NAME: starts the listener in NS (abstract names are per namespace); sets LISTEN_PID.
listen() {
    ip netns exec "$1" timeout 60 "$PY" "$TMP/listen.py" "$2" "$TMP/$3" "$D/h1.env" 40 &
    LISTEN_PID=$!
    for n in $(seq 1 50); do [ -e "$TMP/$3.bound" ] && return 0; sleep 0.1; done
    fail "the notify listener did not start"
}

listen "$P-h1" "$TMP/notify.sock" messages
LAUNCH=(env NOTIFY_SOCKET="$TMP/notify.sock" WATCHDOG_USEC=1000000)
start_twilld "$P" 1 "$D" uring
PID=$TWILLD_PID
wait_ready "$D" 1
sleep 3
T_TERM=$("$PY" -c 'import time; print(time.time())')
kill -TERM "$PID"
wait_exit "$PID" 15
[ "$EXIT_RC" = 0 ] || fail "twilld did not exit cleanly on SIGTERM ($EXIT_RC)"
wait_exit "$LISTEN_PID" 10
[ "$EXIT_RC" = 0 ] || fail "the listener did not end with STOPPING=1 ($EXIT_RC): $(cat "$TMP/messages")"

verdict=$("$PY" - "$TMP/messages" "$T_TERM" <<'PYEOF'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
t_term = float(sys.argv[2])
errors = []
kinds = [e["msg"].split("\n")[0] for e in events]
ready = [e for e in events if "READY=1" in e["msg"].split("\n")]
if len(ready) != 1:
    errors.append(f"{len(ready)} READY=1 messages")
else:
    r = ready[0]
    if not r["subnet_file"]:
        errors.append("READY=1 came before the subnet file existed")
    if not any(l.startswith("STATUS=lease 10.244.") for l in r["msg"].split("\n")):
        errors.append(f"READY=1 without a STATUS line naming the lease: {r['msg']!r}")
    dogs = [e["t"] for e in events if e["msg"] == "WATCHDOG=1"]
    early = [t for t in dogs if t < r["t"]]
    if early:
        errors.append(f"{len(early)} WATCHDOG=1 before READY=1")
    span = t_term - r["t"]
    # Sent every 0.5 s; what systemd enforces is that no gap reaches WATCHDOG_USEC (1 s).
    if len(dogs) < int(span):
        errors.append(f"{len(dogs)} WATCHDOG=1 in {span:.1f}s (every 0.5 s expected)")
    gaps = [b - a for a, b in zip(dogs, dogs[1:])]
    if gaps and max(gaps) >= 1.0:
        errors.append(f"a watchdog gap of {max(gaps):.2f}s: systemd would have killed twilld (WATCHDOG_USEC is 1 s)")
if not kinds or kinds[-1] != "STOPPING=1":
    errors.append(f"the last message is not STOPPING=1: {kinds[-3:]}")
elif events[-1]["t"] < t_term:
    errors.append("STOPPING=1 came before SIGTERM")
print("; ".join(errors) if errors else f"READY=1 after the subnet file, {kinds.count('WATCHDOG=1')} WATCHDOG=1, STOPPING=1 last")
sys.exit(1 if errors else 0)
PYEOF
) || fail "notifications: $verdict
$(cat "$TMP/messages")"
log "$verdict"

# The abstract namespace: NOTIFY_SOCKET=@name.
wait_released "$P-h1" 8472 10 || fail "host 1's port or device was not released"
rm -f "$D/h1.env"
listen "$P-h1" "@twill-itest-$$" abstract
LAUNCH=(env NOTIFY_SOCKET="@twill-itest-$$")
start_twilld "$P" 1 "$D" uring
PID=$TWILLD_PID
wait_ready "$D" 1
kill -TERM "$PID"
wait_exit "$PID" 15
wait_exit "$LISTEN_PID" 10
grep -q '"READY=1' "$TMP/abstract" && ! grep -q WATCHDOG "$TMP/abstract" \
    || fail "abstract socket: expected READY=1 and no watchdog (none configured): $(cat "$TMP/abstract")"
log "abstract socket @twill-itest-$$: READY=1, no WATCHDOG=1 without WATCHDOG_USEC"

# The unit file, with ExecStart pointing at this build.
sed "s#/usr/local/bin/twilld#$BIN/twilld#" "$ROOT/packaging/twilld.service" >"$TMP/twilld.service"
# verify exits 0 on lines it ignores (a misspelt value), so any output at all is a failure.
out=$(systemd-analyze verify "$TMP/twilld.service" 2>&1) && [ -z "$out" ] || fail "systemd-analyze verify: $out"
grep -qx "Type=notify" "$TMP/twilld.service" && grep -qx "WatchdogSec=30" "$TMP/twilld.service" \
    || fail "the unit is not Type=notify with WatchdogSec=30"
log "packaging/twilld.service verifies"
log "PASS systemd in $((SECONDS - START_TIME))s"
