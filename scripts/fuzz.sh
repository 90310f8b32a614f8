#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/Targets (each together with Sources/TwillWire/*.swift, and for
# netconfig and leasejson the config and lease parsers of Sources/TwillControl, under AddressSanitizer)
# and runs each for a bounded time over its committed seeds in Fuzz/Corpus/<target>.
#
#   scripts/fuzz.sh [seconds-per-target] [target ...]     default: 20 seconds, every target
#   scripts/fuzz.sh 600                                    a long run (about an hour for all targets)
#
# New inputs go to Fuzz/.out/corpus/<target> (gitignored), never into the committed seeds. A crash
# leaves Fuzz/.out/crashes/<target>-crash-<sha1>; reproduce it with Fuzz/.out/bin/<target> <that file>.
# Exits non-zero when a target fails to build or any run finds a crash.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-20}"
if [ $# -gt 0 ]; then shift; fi
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    echo "usage: $0 [seconds-per-target] [target ...]" >&2
    exit 2
fi
if [ $# -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for f in Fuzz/Targets/*.swift; do targets+=("$(basename "$f" .swift)"); done
fi

out=Fuzz/.out
mkdir -p "$out/bin" "$out/corpus" "$out/crashes" "$out/logs"

# The targets over TwillControl's parsers also compile these of its files. They join the target's one
# module, so copies in $out/src/control go without their `import TwillWire` line; nothing else changes.
control_targets=" netconfig leasejson "
control_files=(JSONParser JSONValue JSONParseError NetworkConfig BackendConfig ConfigError LeaseAttributes
               LeaseFormatError Lease LeaseRecord LeaseFile LeaseStoreError IPv6NetworkConfig "IPv6Address+Arithmetic")
rm -rf "$out/src/control"
mkdir -p "$out/src/control"
for f in "${control_files[@]}"; do
    grep -v '^import TwillWire$' "Sources/TwillControl/$f.swift" >"$out/src/control/$f.swift"
done

# build_target T: one fuzzer binary, under AddressSanitizer; the build log in $out/logs/T.build.log.
build_target() {
    local t=$1 extra=()
    if [[ $control_targets == *" $t "* ]]; then
        for f in "${control_files[@]}"; do extra+=("$out/src/control/$f.swift"); done
    fi
    # The linker warns about every asan symbol it cannot export; those lines are noise, the rest is not.
    if ! swiftc -sanitize=fuzzer,address -parse-as-library -O -swift-version 6 -module-name "Fuzz_$t" \
            "Fuzz/Targets/$t.swift" Fuzz/Support/*.swift Sources/TwillWire/*.swift "${extra[@]}" \
            -o "$out/bin/$t" >"$out/logs/$t.build.log" 2>&1; then
        grep -v "Cannot export local symbol" "$out/logs/$t.build.log" >&2 || true
        echo "build failed: $t" >&2
        return 1
    fi
}

# As many builds and runs at once as there are cores (FUZZ_JOBS to change it).
jobs_max=${FUZZ_JOBS:-$(nproc)}
for t in "${targets[@]}"; do
    [ -f "Fuzz/Targets/$t.swift" ] || { echo "no such target: $t" >&2; exit 2; }
done
# for_each_target FUNC: FUNC T for every target, $jobs_max at once; sets `failed` to the targets
# whose FUNC failed.
for_each_target() {
    local t i pids=()
    for t in "${targets[@]}"; do
        while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
        "$1" "$t" &
        pids+=("$!")
    done
    failed=()
    for i in "${!targets[@]}"; do
        wait "${pids[$i]}" || failed+=("${targets[$i]}")
    done
}

echo "== build ${#targets[@]} targets, $jobs_max at a time"
for_each_target build_target
[ ${#failed[@]} -eq 0 ] || { echo "fuzz targets did not build: ${failed[*]}" >&2; exit 1; }

# run_target T: one bounded run; its verdict line goes to $out/logs/T.result, its exit status is 0/1.
run_target() {
    local t=$1 log="$out/logs/$1.run.log" rc execs cov
    mkdir -p "$out/corpus/$t"
    set +e
    # -timeout: one input may take 10 s at most; the wall-clock guard covers a stuck process too.
    timeout --kill-after=30 $((seconds + 120)) "$out/bin/$t" "$out/corpus/$t" "Fuzz/Corpus/$t" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$out/crashes/$t-" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
    if [ "$rc" -ne 0 ]; then
        printf '%-12s FAILED (exit %s), executions %s\n' "$t" "$rc" "${execs:-?}" >"$out/logs/$t.result"
        return 1
    fi
    printf '%-12s ok  executions %-10s %s\n' "$t" "${execs:-?}" "$cov" >"$out/logs/$t.result"
}

echo "== run ${#targets[@]} targets for ${seconds}s each, $jobs_max at a time"
for_each_target run_target

echo "== fuzz summary (${seconds}s per target)"
for t in "${targets[@]}"; do cat "$out/logs/$t.result"; done
for t in "${failed[@]}"; do tail -n 40 "$out/logs/$t.run.log" >&2; done
if [ ${#failed[@]} -gt 0 ]; then
    echo "crashes or errors in: ${failed[*]} (artifacts in $out/crashes, logs in $out/logs)" >&2
    exit 1
fi
