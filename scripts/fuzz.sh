#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each, one after the other, on a
# corpus seeded from ../shared/conformance (scripts/fuzz-seeds.py); prints each target's
# executions and executions per second, and appends them to target/fuzz-runs.tsv.
# Seeds over 128 KiB run once each first. A crash, a timeout (30 s per input) or an
# out-of-memory (2 GiB) stops with a failure and leaves the input in fuzz/artifacts/<target>/.
# Usage: scripts/fuzz.sh SECONDS [TARGET...]   (cargo-fuzz and nightly Rust on the PATH)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=$1
shift
shared=${ALLOT_SHARED:-$(cd .. && pwd)/shared}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(sed -n 's/^name = "\(.*\)"/\1/p' fuzz/Cargo.toml | grep -v '^allot-fuzz$')
fi
python3 scripts/fuzz-seeds.py "$shared" fuzz/corpus >/dev/null
export ALLOT_SHARED=$shared
(cd fuzz && cargo +nightly fuzz build -O)
mkdir -p target
log=$(mktemp)
trap 'rm -f "$log"' EXIT
total=0
printf '%-22s %14s %10s\n' target executions execs/s
# Runs one libFuzzer session; on failure shows its end and stops.
session() {
    local target=$1
    shift
    if ! (cd fuzz && cargo +nightly fuzz run -O "$target" "$@") >"$log" 2>&1; then
        grep -v "^\s*$" "$log" | cut -c1-400 | grep -v -A3 "Output of .std::fmt::Debug" | tail -n 60
        echo "fuzz target $target failed; the input is in fuzz/artifacts/$target/"
        exit 1
    fi
}
limits=(-timeout=30 -rss_limit_mb=2048)
for target in "${targets[@]}"; do
    # The seeds over 128 KiB (up to the 1 MiB request cap and past it) run once each;
    # then the fuzzer mutates inputs of at most 128 KiB for the given time.
    if [ -n "$(ls -A "fuzz/corpus/_large/$target" 2>/dev/null)" ]; then
        session "$target" "corpus/_large/$target" -- -runs=0 -max_len=1200000 "${limits[@]}"
    fi
    session "$target" "corpus/$target" -- -max_total_time="$seconds" -max_len=131072 \
        "${limits[@]}" -print_final_stats=1
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    total=$((total + runs))
    printf '%-22s %14s %10s\n' "$target" "$runs" "$rate"
    printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$target" "$seconds" "$runs" "$rate" >>target/fuzz-runs.tsv
done
echo "total executions: $total (${#targets[@]} targets, ${seconds} s each; log: target/fuzz-runs.tsv)"
