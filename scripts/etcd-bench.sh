#!/usr/bin/env bash
# Starts a three-member etcd cluster on loopback (data in /dev/shm), runs twill-etcd-bench against
# it with the given arguments (default: 1000 nodes), and removes the cluster, also on failure.
# Usage: scripts/etcd-bench.sh [--nodes N] [other twill-etcd-bench flags]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${TWILL_BENCH_BIN:-$(swift build -c release --product twill-etcd-bench --show-bin-path)/twill-etcd-bench}
[ -x "$BIN" ] || swift build -c release --product twill-etcd-bench
dir=$(mktemp -d /dev/shm/twill-etcd-bench.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
base=${TWILL_BENCH_PORT:-32379}
cluster=""
for i in 0 1 2; do cluster+="${cluster:+,}m$i=http://127.0.0.1:$((base + 100 + i))"; done
endpoints=""
for i in 0 1 2; do
    client=http://127.0.0.1:$((base + i))
    peer=http://127.0.0.1:$((base + 100 + i))
    endpoints+="${endpoints:+,}$client"
    etcd --name "m$i" --data-dir "$dir/m$i" --listen-client-urls "$client" --advertise-client-urls "$client" \
        --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" --initial-cluster "$cluster" \
        --initial-cluster-state new --initial-cluster-token "bench-$$" --logger zap --log-level error \
        --log-outputs "$dir/m$i.log" &
    pids+=($!)
done
for _ in $(seq 100); do
    etcdctl --endpoints "$endpoints" endpoint health >/dev/null 2>&1 && break
    sleep 0.2
done
etcdctl --endpoints "$endpoints" endpoint health
"$BIN" --endpoints "$endpoints" "$@"
