#!/usr/bin/env bash
# Codec and packet I/O microbenchmarks (ordo-one/benchmark). The I/O benchmarks create a TUN device,
# so the run happens inside a network namespace made (and removed) here.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "needs root (network namespace, TUN)"; exit 1; }
scripts/deps.sh
ns="twill-mb-$$"
cleanup() { ip netns del "$ns" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
cd Benchmarks
ip netns exec "$ns" swift package --allow-writing-to-package-directory benchmark "$@"
