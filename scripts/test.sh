#!/usr/bin/env bash
# The test command (make test): installs what is missing, builds, then runs every test. Tests that
# create TUN devices run inside a network namespace made here; the integration scenarios make their
# own. Everything made is removed on exit, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "make test needs root (network namespaces, TUN devices)"; exit 1; }
scripts/deps.sh
swift build --build-tests
TWILL_BIN_DIR=$(swift build --show-bin-path)
TWILL_OUTER_NETNS=$(stat -L -c %i /proc/self/ns/net)
export TWILL_BIN_DIR TWILL_OUTER_NETNS
ns="twill-test-$$"
cleanup() { ip netns del "$ns" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
status=0
ip netns exec "$ns" swift test --skip-build || status=$?
if [ -x scripts/fuzz.sh ]; then
    scripts/fuzz.sh "${TWILL_FUZZ_SECONDS:-60}" || status=$?
fi
# The benchmark harness in quick mode (about a second per workload, no thresholds), so it never rots.
"$TWILL_BIN_DIR/twill-bench" --quick --twilld "$TWILL_BIN_DIR/twilld" --out .bench-out/quick || status=$?
exit $status
