# Shared helpers for the integration scenarios. Source it from a scenario after setting SCENARIO.
#
# Every scenario owns namespaces named twi<pid><letter>-*, so parallel runs never collide and the
# Swift wrapper can find leftovers by the script's pid. Everything is torn down from an EXIT trap.

set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../../scripts/lib/topology.sh
. "$ROOT/scripts/lib/topology.sh"

BIN=${TWILL_BIN_DIR:-$ROOT/.build/debug}
# The system interpreter: a pyenv shim may not resolve inside `ip netns exec` with another PATH.
PY=$(command -v /usr/bin/python3 || command -v python3)
SCENARIO=${SCENARIO:-$(basename "$0" .sh)}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/twill-itest-$SCENARIO.XXXXXX")
START_TIME=$SECONDS
PREFIXES=()
LOGS=()

log() { printf '[%s %3ds] %s\n' "$SCENARIO" $((SECONDS - START_TIME)) "$*"; }

# fail MESSAGE: the one way a check fails; the daemon logs go with it so the cause is visible.
fail() {
    trap - ERR
    printf '[%s] FAIL: %s\n' "$SCENARIO" "$*" >&2
    dump_logs >&2
    exit 1
}

# The logs of the (up to 4) daemons started last, which are the ones the failing check was about.
dump_logs() {
    local f first=$((${#LOGS[@]} > 4 ? ${#LOGS[@]} - 4 : 0))
    for f in "${LOGS[@]:$first}"; do
        [ -s "$f" ] || continue
        echo "----- $(basename "$f") (last 40 lines) -----"
        tail -n 40 "$f"
    done
}

cleanup() {
    local rc=$? p
    trap - ERR EXIT INT TERM
    for p in "${PREFIXES[@]}"; do topo_destroy "$p" >/dev/null 2>&1 || true; done
    if [ -n "${KEEP_TMP:-}" ]; then echo "[$SCENARIO] kept $TMP" >&2; else rm -rf "$TMP"; fi
    for p in "${PREFIXES[@]}"; do
        [ -z "$(topo_ns_list "$p")" ] || { echo "[$SCENARIO] FAIL: namespaces $p-* survived cleanup" >&2; rc=1; }
    done
    exit "$rc"
}
trap cleanup EXIT
# A signal must still run the EXIT trap (the wrapper sends SIGTERM on timeout).
trap 'trap - ERR; echo "[$SCENARIO] FAIL: interrupted by a signal" >&2; dump_logs >&2; exit 143' INT TERM
# In a $(...) subshell only leave: the caller's own check (or its ERR trap) reports with context.
trap '[ "$BASH_SUBSHELL" -gt 0 ] && exit 1; fail "command failed (line $LINENO): $BASH_COMMAND"' ERR

# new_prefix LETTER: sets P to a fresh namespace prefix owned by this run (destroyed at exit). Not
# through $(...): the registration must happen in this shell.
new_prefix() {
    P="twi$$$1"
    PREFIXES+=("$P")
}

require_tools() {
    local t
    [ "$(id -u)" = 0 ] || fail "must run as root (network namespaces)"
    for t in ip ping timeout "$@"; do command -v "$t" >/dev/null || fail "missing tool: $t"; done
    [ -x "$PY" ] || fail "missing python3"
    [ -x "$BIN/twilld" ] || fail "no twilld in $BIN (build first, or set TWILL_BIN_DIR)"
}

# write_net_config FILE FORMAT [EXTRA_JSON_MEMBERS]
write_net_config() {
    printf '{"Network":"10.244.0.0/16"%s,"Backend":{"Type":"%s"}}\n' "${3:+,$3}" "$2" >"$1"
}

# start_twilld PREFIX I DIR ENGINE [EXTRA ARGS...]: twilld on host I with its files under DIR
# (DIR/store.json shared, DIR/net.json, DIR/h<I>.env, DIR/mac<I>, DIR/stats<I>, DIR/log<I>), run
# through the command words in LAUNCH when set. Sets TWILLD_PID: `ip netns exec` and the launchers
# exec, so the pid is twilld's own.
LAUNCH=()
start_twilld() {
    local p=$1 i=$2 dir=$3 engine=$4
    shift 4
    LOGS+=("$dir/log$i")
    ip netns exec "$p-h$i" "${LAUNCH[@]}" "$BIN/twilld" --local-store "$dir/store.json" --net-config-path "$dir/net.json" \
        --subnet-file "$dir/h$i.env" --vtep-mac-file "$dir/mac$i" --stats-file "$dir/stats$i" \
        --iface eth0 --io-engine "$engine" "$@" >>"$dir/log$i" 2>&1 &
    TWILLD_PID=$!
}

# wait_ready DIR I [SECONDS]: the daemon wrote its subnet file (it does so once forwarding runs).
wait_ready() {
    topo_wait_file "$1/h$2.env" "${3:-20}" || fail "twilld on host $2 did not write its subnet file within ${3:-20}s"
}

# wait_log FILE PATTERN COUNT SECONDS: until PATTERN (grep -E) has appeared COUNT times in FILE.
wait_log() {
    local n
    for n in $(seq 1 $(($4 * 10))); do
        [ "$(grep -cE -- "$2" "$1" 2>/dev/null || true)" -ge "$3" ] && return 0
        sleep 0.1
    done
    return 1
}

# wait_exit PID SECONDS: waits for a background child of this shell; sets EXIT_RC to its status,
# or to "timeout" (not called through $(...): a subshell cannot wait for its parent's children).
wait_exit() {
    local pid=$1 n
    for n in $(seq 1 $(($2 * 10))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then EXIT_RC=timeout; return 0; fi
    EXIT_RC=0
    { wait "$pid"; } 2>/dev/null || EXIT_RC=$? # no "Killed" job notice: a signal may be expected
}

# subnet_of ENVFILE: "10.244.X.0/24" from FLANNEL_SUBNET=10.244.X.1/24.
subnet_of() {
    local s
    s=$(topo_subnet_var "$1" FLANNEL_SUBNET)
    echo "${s%.*/*}.0/${s#*/}"
}

# stat_value FILE NAME: a counter from a stats file (0 when absent).
stat_value() { awk -v n="$2" '$1 == n { print $2; found = 1 } END { if (!found) print 0 }' "$1"; }

# wait_stat FILE NAME VALUE SECONDS: until the counter reaches VALUE (the file is rewritten every 0.5 s).
wait_stat() {
    local n
    for n in $(seq 1 $(($4 * 10))); do
        [ -s "$1" ] && [ "$(stat_value "$1" "$2")" -ge "$3" ] && return 0
        sleep 0.1
    done
    return 1
}

# ping_ttl NS DEST [TRIES]: one echo (retried, for lease propagation); prints the reply's TTL.
ping_ttl() {
    local ns=$1 dst=$2 tries=${3:-3} t out
    for t in $(seq 1 "$tries"); do
        if out=$(ip netns exec "$ns" timeout 5 ping -n -c1 -W2 "$dst" 2>&1); then
            echo "$out" | sed -n 's/.* ttl=\([0-9]*\) .*/\1/p' | head -n1
            return 0
        fi
        sleep 0.5
    done
    echo "$out" >&2
    return 1
}

# The TCP transfer tool: the receiver hashes what it reads, the sender hashes what it writes
# (fresh random bytes, so reordered or duplicated segments cannot go unnoticed).
write_xfer_tool() {
    cat >"$TMP/xfer.py" <<'EOF'
import hashlib, os, socket, sys, time
# A stalled transfer (a black hole) fails after this many seconds without progress.
IDLE = float(os.environ.get("XFER_IDLE_TIMEOUT", "60"))

def recv(port):
    # One dual-stack listener serves IPv4 and IPv6 senders alike.
    s = socket.socket(socket.AF_INET6)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    s.listen(1)
    s.settimeout(IDLE)
    c, _ = s.accept()
    c.settimeout(IDLE)
    h, n = hashlib.sha256(), 0
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
    c.close()
    print(n, h.hexdigest())

def send(host, port, size):
    deadline = time.time() + 20
    while True:
        try:
            c = socket.create_connection((host, port), timeout=5)
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    c.settimeout(IDLE)
    h, n = hashlib.sha256(), 0
    while n < size:
        b = os.urandom(min(1 << 20, size - n))
        c.sendall(b)
        h.update(b)
        n += len(b)
    c.shutdown(socket.SHUT_WR)
    # The receiver closes after reading everything: wait so timing covers the whole transfer.
    while c.recv(4096):
        pass
    print(n, h.hexdigest())

if sys.argv[1] == "recv":
    recv(int(sys.argv[2]))
else:
    send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
EOF
}

# tcp_transfer FROM_NS TO_NS TO_IP MEGABYTES LABEL: checksummed transfer; fails on any mismatch.
tcp_transfer() {
    local from=$1 to=$2 ip=$3 mb=$4 label=$5 port=$((5000 + RANDOM % 1000)) rpid out_s out_r t0 ms
    [ -f "$TMP/xfer.py" ] || write_xfer_tool
    ip netns exec "$to" timeout 150 "$PY" "$TMP/xfer.py" recv "$port" >"$TMP/recv.$label" 2>&1 &
    rpid=$!
    t0=$(date +%s%N)
    out_s=$(ip netns exec "$from" timeout 120 "$PY" "$TMP/xfer.py" send "$ip" "$port" $((mb * 1024 * 1024)) 2>&1) \
        || { kill "$rpid" 2>/dev/null || true; fail "$label: sender failed: $out_s"; }
    ms=$((($(date +%s%N) - t0) / 1000000))
    wait "$rpid" || fail "$label: receiver failed: $(cat "$TMP/recv.$label")"
    out_r=$(cat "$TMP/recv.$label")
    [ "$out_s" = "$out_r" ] || fail "$label: sent '$out_s' but received '$out_r'"
    log "$label: $mb MiB in ${ms} ms ($((mb * 8389 / (ms + 1))) Mbit/s), sha256 ${out_s#* } equal on both ends"
}

# store_edit STORE put KEY VALUE EXPIRATION | STORE delete KEY: changes the embedded store as another
# writer (flanneld's stand-in) must: under the store's flock on STORE.lock, by an atomic rename.
store_edit() {
    timeout 15 flock -w 10 "$1.lock" "$PY" - "$@" <<'PYEOF' || fail "could not $2 lease $3 in $1"
import json, os, sys
path, op, key = sys.argv[1:4]
doc = {"version": 1, "subnets": {}}
if os.path.exists(path) and os.path.getsize(path) > 0:
    doc = json.load(open(path))
if op == "put":
    value, expiration = sys.argv[4:6]
    doc.setdefault("subnets", {})[key] = {"value": value, "expiration": expiration}
else:
    del doc["subnets"][key]
tmp = f"{path}.tmp-itest-{os.getpid()}"
with open(tmp, "w") as f:
    json.dump(doc, f, indent=2)
    f.flush()
    os.fsync(f.fileno())
os.rename(tmp, path)
PYEOF
}

# store_put STORE KEY VALUE EXPIRATION: adds a lease. store_delete STORE KEY: removes one (as
# `etcdctl del` would remove the key).
store_put() { store_edit "$1" put "$2" "$3" "$4"; }
store_delete() { store_edit "$1" delete "$2"; }

# lease_of STORE PUBLIC_IP: prints "SUBNET VTEPMAC" (MAC "-" when none) of that node's lease.
lease_of() {
    "$PY" - "$1" "$2" <<'PYEOF'
import json, sys
doc = json.load(open(sys.argv[1]))
for key, entry in doc["subnets"].items():
    value = json.loads(entry["value"])
    if value["PublicIP"] == sys.argv[2]:
        print(key.replace("-", "/"), (value.get("BackendData") or {}).get("VtepMAC", "-"))
        sys.exit(0)
sys.exit(1)
PYEOF
}

# expiration_of STORE SUBNET: the stored expiration text of the lease on SUBNET (a.b.c.d/n).
expiration_of() {
    "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["subnets"][sys.argv[2].replace("/", "-")]["expiration"])' "$1" "$2"
}

# random_mac: a random locally administered unicast MAC, as flannel makes for flannel.1.
random_mac() {
    printf '%02x:%02x:%02x:%02x:%02x:%02x\n' $(((RANDOM & 0xfc) | 0x02)) $((RANDOM & 255)) $((RANDOM & 255)) \
        $((RANDOM & 255)) $((RANDOM & 255)) $((RANDOM & 255))
}

# tx_csum_off NS DEV: completes checksums in software before DEV, as a physical NIC does on the wire.
# veth hands partially checksummed packets (CHECKSUM_PARTIAL) across namespaces, and a userspace
# receiver of a kernel VXLAN packet reads the unfinished inner checksum. No ethtool here: the legacy
# SIOCETHTOOL ETHTOOL_STXCSUM ioctl does it.
tx_csum_off() {
    ip netns exec "$1" "$PY" - "$2" <<'PYEOF' || fail "could not turn off tx checksumming on $1 $2"
import ctypes, fcntl, socket, struct, sys
SIOCETHTOOL, ETHTOOL_GTXCSUM, ETHTOOL_STXCSUM = 0x8946, 0x16, 0x17
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def call(cmd, data=0):
    value = ctypes.create_string_buffer(struct.pack("II", cmd, data), 8)
    fcntl.ioctl(s.fileno(), SIOCETHTOOL, struct.pack("16sP16x", sys.argv[1].encode(), ctypes.addressof(value)))
    return struct.unpack("II", value.raw)[1]
call(ETHTOOL_STXCSUM, 0)
sys.exit(0 if call(ETHTOOL_GTXCSUM) == 0 else 1)
PYEOF
}

# capture_start NS IFACE COUNT FILE FILTER: tshark in the background (classic pcap, so python can
# read it too); returns once it is capturing. Sets CAPTURE_PID. Bounded by timeout.
capture_start() {
    local n
    ip netns exec "$1" timeout 30 tshark -q -i "$2" -c "$3" -F pcap -w "$4" -f "$5" >"$4.log" 2>&1 &
    CAPTURE_PID=$!
    for n in $(seq 1 100); do
        grep -q "Capturing on" "$4.log" 2>/dev/null && return 0
        kill -0 "$CAPTURE_PID" 2>/dev/null || break
        sleep 0.1
    done
    fail "tshark on $1 $2 did not start: $(cat "$4.log")"
}

# capture_wait FILE SECONDS: waits for the capture started last to collect its packets.
capture_wait() {
    wait_exit "$CAPTURE_PID" "$2"
    [ "$EXIT_RC" = 0 ] || { kill "$CAPTURE_PID" 2>/dev/null || true; fail "capture $1 did not complete ($EXIT_RC): $(cat "$1.log")"; }
}

# --- etcd (etcd.sh, etcd-faults.sh). etcd runs only inside the underlay namespace, on addresses
# 192.0.2.1..3 added to its bridge, so the hosts reach it over the underlay; its data directories
# live under $TMP. topo_destroy stops it with everything else in the namespace (SIGKILL after
# SIGTERM, which also ends a member stopped with SIGSTOP), and cleanup removes $TMP.

# etcd_cluster PREFIX MEMBERS: MEMBERS (1..3) etcd members in PREFIX-ul, member I at 192.0.2.I
# (clients :2379, peers :2380), data in $TMP/etcd<I>, log $TMP/etcd<I>.log. Sets ETCD_NS,
# ETCD_ENDPOINTS (all client URLs, comma separated) and ETCD_PIDS[I]; waits until it is healthy.
ETCD_PIDS=()
etcd_cluster() {
    local i cluster=""
    ETCD_NS=$1-ul
    ETCD_MEMBERS=$2
    ETCD_ENDPOINTS=""
    command -v etcd >/dev/null && command -v etcdctl >/dev/null || fail "missing tool: etcd / etcdctl"
    for i in $(seq 1 "$ETCD_MEMBERS"); do
        ip -n "$ETCD_NS" addr add "192.0.2.$i/24" dev br0
        cluster+="${cluster:+,}m$i=http://192.0.2.$i:2380"
        ETCD_ENDPOINTS+="${ETCD_ENDPOINTS:+,}http://192.0.2.$i:2379"
    done
    ETCD_CLUSTER=$cluster
    for i in $(seq 1 "$ETCD_MEMBERS"); do etcd_member_start "$i"; done
    etcd_wait_healthy 30 || fail "etcd ($ETCD_MEMBERS members) did not become healthy within 30s: $(tail -n 5 "$TMP/etcd1.log")"
}

# etcd_member_start I: starts member I; with its data directory already there, it rejoins with it.
# ETCD_CLIENT_PORT (default 2379) moves its client URL elsewhere (the daemons then cannot find it).
etcd_member_start() {
    local i=$1 port=${ETCD_CLIENT_PORT:-2379}
    ip netns exec "$ETCD_NS" etcd --name "m$i" --data-dir "$TMP/etcd$i" \
        --listen-client-urls "http://192.0.2.$i:$port" --advertise-client-urls "http://192.0.2.$i:$port" \
        --listen-peer-urls "http://192.0.2.$i:2380" --initial-advertise-peer-urls "http://192.0.2.$i:2380" \
        --initial-cluster "$ETCD_CLUSTER" --initial-cluster-state new --initial-cluster-token "twi$$" \
        --logger zap --log-outputs stderr >>"$TMP/etcd$i.log" 2>&1 &
    ETCD_PIDS[i]=$!
}

# etcd_member_signal I SIGNAL: signals member I (KILL: and reaps it, bounded).
etcd_member_signal() {
    kill -s "$2" "${ETCD_PIDS[$1]}" 2>/dev/null || fail "etcd member $1 (pid ${ETCD_PIDS[$1]}) is not running"
    if [ "$2" = KILL ]; then
        exec 4>&2 2>/dev/null # bash's "Killed" job notice is expected noise here
        wait_exit "${ETCD_PIDS[$1]}" 10
        exec 2>&4 4>&-
        [ "$EXIT_RC" != timeout ] || fail "etcd member $1 did not die from SIGKILL within 10s"
    fi
}

# etcdctl_ul ARGS...: etcdctl (v3 API) from the underlay namespace, bounded, against every member
# (or the endpoints in ETCD_CTL_ENDPOINTS when set).
etcdctl_ul() {
    ip netns exec "$ETCD_NS" timeout 15 env ETCDCTL_API=3 etcdctl --endpoints "${ETCD_CTL_ENDPOINTS:-$ETCD_ENDPOINTS}" \
        --dial-timeout 2s --command-timeout 5s "$@"
}

# etcd_wait_healthy SECONDS: until a write through the endpoints succeeds.
etcd_wait_healthy() {
    local n
    for n in $(seq 1 $(($1 * 2))); do
        etcdctl_ul put /twill-itest/health ok >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    return 1
}

# etcd_subnets [ETCD_PREFIX]: one line per key under PREFIX/subnets/ (default /coreos.com/network):
# "KEY CREATE_REVISION MOD_REVISION LEASE_HEX VALUE" (VALUE last: it has no spaces, flannel's JSON).
etcd_subnets() {
    local out
    out=$(etcdctl_ul get --prefix "${1:-/coreos.com/network}/subnets/" -w json) || return 1
    "$PY" -c '
import base64, json, sys
doc = json.loads(sys.stdin.read())
for kv in doc.get("kvs", []):
    print(base64.b64decode(kv["key"]).decode(), kv.get("create_revision", 0), kv.get("mod_revision", 0),
          "%x" % kv.get("lease", 0), base64.b64decode(kv.get("value", "")).decode())
' <<<"$out"
}

# etcd_subnet_field KEY FIELD [ETCD_PREFIX]: FIELD (2 create, 3 mod revision, 4 lease, 5 value) of
# the subnet key KEY (a.b.c.d-n); empty when the key is absent.
etcd_subnet_field() {
    etcd_subnets "${3:-}" | awk -v k="${3:-/coreos.com/network}/subnets/$1" -v f="$2" '$1 == k { print $f }'
}

# etcd_lease_ttl LEASE_HEX: "GRANTED REMAINING" seconds of an etcd lease ("-1 -1" when it is gone).
etcd_lease_ttl() {
    local out
    out=$(etcdctl_ul lease timetolive "$1" -w json) || return 1
    "$PY" -c 'import json,sys; d = json.loads(sys.stdin.read()); print(d.get("grantedTTL", d.get("granted-ttl", -1)), d.get("ttl", -1))' <<<"$out"
}

# etcd_wait_key KEY SECONDS [ETCD_PREFIX]: until the subnet key KEY exists.
etcd_wait_key() {
    local n
    for n in $(seq 1 $(($2 * 4))); do
        [ -n "$(etcd_subnet_field "$1" 2 "${3:-}" 2>/dev/null)" ] && return 0
        sleep 0.25
    done
    return 1
}

# flannel_lease_value PUBLIC_IP [MAC]: flannel's lease JSON as Go's encoding/json writes it: vxlan
# with the VTEP MAC, udp (no MAC) without BackendType.
flannel_lease_value() {
    if [ -n "${2:-}" ]; then
        printf '{"PublicIP":"%s","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"%s"}}' "$1" "$2"
    else
        printf '{"PublicIP":"%s","PublicIPv6":null}' "$1"
    fi
}

# ping_start NS DEST SECONDS FILE: a continuous ping (every 0.2 s, at most SECONDS) in the
# background; sets PING_PID. ping_stop PID FILE stops it (SIGINT) and sets PING_VERDICT; it returns
# non-zero when a reply was lost: every sequence number up to the last must have been answered (only
# the final request may still be in flight when it is stopped) and no ICMP error may have come.
ping_start() {
    # Not ping -w: with a deadline ping quits at the first ICMP error. timeout passes SIGINT on.
    ip netns exec "$1" timeout -s INT "$3" ping -n -i 0.2 -W 1 "$2" >"$4" 2>&1 &
    PING_PID=$!
}
ping_stop() {
    local pid=$1 file=$2
    kill -INT "$pid" 2>/dev/null || true
    wait_exit "$pid" 5
    if [ "$EXIT_RC" = timeout ]; then
        kill -9 "$pid" 2>/dev/null || true
        PING_VERDICT="ping did not stop"
        return 1
    fi
    PING_VERDICT=$("$PY" - "$file" <<'PYEOF'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"(\d+) packets transmitted, (\d+) received", text)
if not m:
    print("FAIL no ping summary: " + text[-300:]); sys.exit()
sent, got = int(m.group(1)), int(m.group(2))
seqs = {int(s) for s in re.findall(r"icmp_seq=(\d+) ttl=", text)}
missing = [s for s in range(1, sent) if s not in seqs]
errors = re.findall(r"^From .*$", text, re.M)
if sent < 5 or missing or errors:
    print(f"FAIL {sent} sent, {got} received; {len(missing)} lost (icmp_seq {missing[:20]}{'...' if len(missing) > 20 else ''}); ICMP errors: {errors[:3]}")
else:
    print(f"OK {sent} sent, {got} received, none lost")
PYEOF
)
    [ "${PING_VERDICT%% *}" = OK ] || { PING_VERDICT=${PING_VERDICT#FAIL }; return 1; }
    PING_VERDICT=${PING_VERDICT#OK }
}

# etcd_leader: the leader's member name (m1..m3), "?" when no member says.
etcd_leader() {
    local out
    out=$(etcdctl_ul endpoint status -w json 2>/dev/null) || true
    "$PY" -c '
import json, sys
try:
    doc = json.loads(sys.stdin.read() or "[]")
except ValueError:
    doc = []
for s in doc:
    st = s.get("Status", {})
    if st.get("leader") and st.get("leader") == st.get("header", {}).get("member_id"):
        print("m" + s["Endpoint"].split("//")[1].split(":")[0].split(".")[3]); break
else:
    print("?")
' <<<"$out"
}

# wait_released NS PORT SECONDS: until nothing in NS holds UDP PORT and twill0 is gone. A daemon on
# the io_uring engine keeps both for some 60-80 ms after its process was reaped (the kernel tears the
# ring down, and drops the files its requests hold, asynchronously); a successor started at once
# fails with "bind ...: Address already in use".
wait_released() {
    local n
    for n in $(seq 1 $(($3 * 20))); do
        if [ -z "$(ip netns exec "$1" ss -Huan "sport = :$2" 2>/dev/null)" ] && ! ip -n "$1" link show twill0 >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# --- Reliability scenarios (storm, restart, churn, overload, soak).

# stream_start FROM_NS TO_NS TO_IP LABEL SECONDS [MBIT]: a checksummed TCP stream (xfer.py's receiver,
# a sender of fresh random bytes, at most MBIT Mbit/s when given) that runs until stream_stop LABEL or
# SECONDS have passed, in the background. stream_finish LABEL then fails on any difference and logs
# the size and rate.
declare -A STREAM_RECV STREAM_SEND STREAM_T0
stream_start() {
    local from=$1 to=$2 ip=$3 label=$4 seconds=$5 mbit=${6:-0} port=$((6000 + RANDOM % 1000)) n
    [ -f "$TMP/xfer.py" ] || write_xfer_tool
    [ -f "$TMP/stream.py" ] || cat >"$TMP/stream.py" <<'PYEOF'
import hashlib, os, socket, sys, time
host, port, stop, seconds, mbit = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
c = socket.create_connection((host, port), timeout=10)
c.settimeout(float(os.environ.get("XFER_IDLE_TIMEOUT", "60")))
h, n, start = hashlib.sha256(), 0, time.time()
while time.time() < start + seconds and not os.path.exists(stop):
    b = os.urandom(1 << 16)
    c.sendall(b)
    h.update(b)
    n += len(b)
    if mbit > 0:
        time.sleep(max(0, start + n * 8 / (mbit * 1e6) - time.time()))
c.shutdown(socket.SHUT_WR)
while c.recv(4096):
    pass
print(n, h.hexdigest())
PYEOF
    rm -f "$TMP/stream-stop.$label"
    ip netns exec "$to" timeout $((seconds + 90)) "$PY" "$TMP/xfer.py" recv "$port" >"$TMP/stream-recv.$label" 2>&1 &
    STREAM_RECV[$label]=$!
    for n in $(seq 1 100); do
        [ -n "$(ip netns exec "$to" ss -Hltn "sport = :$port")" ] && break
        sleep 0.1
    done
    ip netns exec "$from" timeout $((seconds + 90)) "$PY" "$TMP/stream.py" "$ip" "$port" "$TMP/stream-stop.$label" "$seconds" "$mbit" \
        >"$TMP/stream-send.$label" 2>&1 &
    STREAM_SEND[$label]=$!
    STREAM_T0[$label]=$(date +%s%N)
}

# stream_running LABEL: the sender is still sending (it has not met its deadline or failed).
stream_running() { kill -0 "${STREAM_SEND[$1]}" 2>/dev/null; }

# stream_stop LABEL: asks the sender to finish (it ends the stream cleanly).
stream_stop() { touch "$TMP/stream-stop.$1"; }

# stream_finish LABEL SECONDS: stops the stream and waits up to SECONDS for both ends; fails unless
# both ended well with the same byte count and sha256. Sets STREAM_BYTES.
stream_finish() {
    local label=$1 out_s out_r ms
    stream_stop "$label"
    wait_exit "${STREAM_SEND[$label]}" "$2"
    [ "$EXIT_RC" = 0 ] || { kill "${STREAM_RECV[$label]}" 2>/dev/null || true; fail "$label: stream sender ended with $EXIT_RC: $(cat "$TMP/stream-send.$label")"; }
    ms=$((($(date +%s%N) - ${STREAM_T0[$label]}) / 1000000))
    wait_exit "${STREAM_RECV[$label]}" 10
    [ "$EXIT_RC" = 0 ] || fail "$label: stream receiver ended with $EXIT_RC: $(cat "$TMP/stream-recv.$label")"
    out_s=$(cat "$TMP/stream-send.$label")
    out_r=$(cat "$TMP/stream-recv.$label")
    [ "$out_s" = "$out_r" ] || fail "$label: sent '$out_s' but received '$out_r'"
    STREAM_BYTES=${out_s% *}
    log "$label: $((STREAM_BYTES >> 20)) MiB in ${ms} ms ($((STREAM_BYTES * 8 / 1000 / (ms + 1))) Mbit/s), sha256 equal on both ends"
}

# rss_kib PID: the process's resident set in KiB (0 when it is gone).
rss_kib() { awk '/^VmRSS:/ { print $2; found = 1 } END { if (!found) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# udp_stat NS FIELD: a UDP counter of NS's kernel (/proc/net/snmp), e.g. RcvbufErrors (datagrams
# dropped at a full socket buffer) or NoPorts (datagrams for a port nobody holds).
udp_stat() {
    ip netns exec "$1" awk -v f="$2" '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) col[$i] = i; h = 1 } else print $col[f] }' /proc/net/snmp
}

# datapath_counters DIR HOSTS: "name value" lines for an accounting snapshot: every counter of the
# daemons on hosts 1..HOSTS (h1/sentPackets ...), every interface's packets and drops as the kernel
# counts them in every namespace of $P (h1/twill0/tx_dropped, h2-p1/eth0/rx_dropped ...), and the
# UDP receive buffer overflows and port misses of each (h2/udp/RcvbufErrors, h2/udp/NoPorts).
datapath_counters() {
    local ns i
    for i in $(seq 1 "$2"); do awk -v h="h$i" 'NF == 2 && $2 ~ /^[0-9]+$/ { print h "/" $1, $2 }' "$1/stats$i"; done
    for ns in $(topo_ns_list "$P"); do
        ip netns exec "$ns" awk -v ns="${ns#"$P"-}" 'NR > 2 { name = $1; sub(/:.*/, "", name); line = $0; sub(/^ *[^:]*:/, "", line)
            split(line, f); p = ns "/" name "/"
            print p "rx_packets", f[2]; print p "rx_dropped", f[4]; print p "tx_packets", f[10]; print p "tx_dropped", f[12] }' /proc/net/dev
        echo "${ns#"$P"-}/udp/RcvbufErrors $(udp_stat "$ns" RcvbufErrors)"
        echo "${ns#"$P"-}/udp/NoPorts $(udp_stat "$ns" NoPorts)"
    done
}

# datapath_balance BEFORE AFTER HOSTS [superpackets]: checks that every packet between two
# datapath_counters snapshots is accounted for on hosts 1..HOSTS: what the kernel queued to twill0
# twilld read; what twilld wrote to twill0 the kernel took; every datagram sent was received or
# dropped at a full socket buffer; and, unless "superpackets" is given (TCP through the offloads,
# where one TUN packet stands for many datagrams), what twilld took in (TUN reads and datagrams) it
# sent, wrote or counted as a drop. Writes the deltas to AFTER.delta; prints one line per mismatch
# and fails if there is any.
datapath_balance() {
    "$PY" - "$1" "$2" "$3" "${4:-}" <<'PYEOF'
import sys
def load(path):
    return {k: int(v) for k, v in (l.split() for l in open(path))}
before, after, hosts = load(sys.argv[1]), load(sys.argv[2]), [f"h{i}" for i in range(1, int(sys.argv[3]) + 1)]
superpackets = sys.argv[4] == "superpackets"
d = {k: after[k] - before.get(k, 0) for k in after}
with open(sys.argv[2] + ".delta", "w") as out:
    for k, v in sorted(d.items()):
        out.write(f"{k} {v}\n")
errors = []
for h in hosts:
    read, written, icmp = d[f"{h}/tunReadPackets"], d[f"{h}/tunWritePackets"], d[f"{h}/icmpErrorsSent"]
    drops = sum(v for k, v in d.items() if k.startswith(f"{h}/drop_"))
    if d[f"{h}/twill0/tx_packets"] != read:
        errors.append(f"{h}: the kernel queued {d[f'{h}/twill0/tx_packets']} packets to twill0, twilld read {read}")
    if d[f"{h}/twill0/rx_packets"] != written + icmp:
        errors.append(f"{h}: twilld wrote {written} packets and {icmp} ICMP errors to twill0, the kernel took {d[f'{h}/twill0/rx_packets']}")
    if not superpackets and read + d[f"{h}/receivedPackets"] != d[f"{h}/sentPackets"] + written + drops:
        errors.append(f"{h}: twilld took in {read} TUN packets and {d[f'{h}/receivedPackets']} datagrams but sent "
                      f"{d[f'{h}/sentPackets']}, wrote {written} and dropped {drops}")
sent = sum(d[f"{h}/sentPackets"] for h in hosts)
received = sum(d[f"{h}/receivedPackets"] for h in hosts)
overflows = sum(d[f"{h}/udp/RcvbufErrors"] for h in hosts)
if sent != received + overflows:
    errors.append(f"the daemons sent {sent} datagrams; they received {received} and their kernels dropped {overflows}")
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
PYEOF
}

# start_cluster DIR HOSTS PODS ENGINE [TWILLD ARGS...]: twilld on hosts 1..HOSTS of $P (files under
# DIR, network config DIR/net.json), PODS pods on each, and every daemon aware of all the others.
# Sets PIDS[i] to host i's daemon.
PIDS=()
start_cluster() {
    local dir=$1 hosts=$2 pods=$3 engine=$4 i
    shift 4
    for i in $(seq 1 "$hosts"); do
        start_twilld "$P" "$i" "$dir" "$engine" "$@"
        PIDS[i]=$TWILLD_PID
    done
    for i in $(seq 1 "$hosts"); do wait_ready "$dir" "$i"; done
    for i in $(seq 1 "$hosts"); do topo_add_pods "$P" "$i" "$dir/h$i.env" "$pods"; done
    for i in $(seq 1 "$hosts"); do
        wait_stat "$dir/stats$i" peers $((hosts - 1)) 10 || fail "host $i never saw its $((hosts - 1)) peers"
    done
}
