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
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
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

# store_put STORE KEY VALUE EXPIRATION: adds a lease to the embedded store as another writer
# (flanneld's stand-in) must: under the store's flock on STORE.lock, by an atomic rename.
store_put() {
    timeout 15 flock -w 10 "$1.lock" "$PY" - "$@" <<'PYEOF' || fail "could not write lease $2 into $1"
import json, os, sys
path, key, value, expiration = sys.argv[1:5]
doc = {"version": 1, "subnets": {}}
if os.path.exists(path) and os.path.getsize(path) > 0:
    doc = json.load(open(path))
doc.setdefault("subnets", {})[key] = {"value": value, "expiration": expiration}
tmp = f"{path}.tmp-itest-{os.getpid()}"
with open(tmp, "w") as f:
    json.dump(doc, f, indent=2)
    f.flush()
    os.fsync(f.fileno())
os.rename(tmp, path)
PYEOF
}

# store_delete STORE KEY: removes a lease the same way (as `etcdctl del` would remove the key).
store_delete() {
    timeout 15 flock -w 10 "$1.lock" "$PY" - "$@" <<'PYEOF' || fail "could not delete lease $2 from $1"
import json, os, sys
path, key = sys.argv[1:3]
doc = json.load(open(path))
del doc["subnets"][key]
tmp = f"{path}.tmp-itest-{os.getpid()}"
with open(tmp, "w") as f:
    json.dump(doc, f, indent=2)
    f.flush()
    os.fsync(f.fileno())
os.rename(tmp, path)
PYEOF
}

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
