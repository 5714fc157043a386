#!/bin/bash
# bench.sh LIB BUILD_DIR — the comparison's workloads (bench/compare, the main job behind ./run.sh),
# each run once under LIB at its quick scale, with 1 and 4 threads where it has threads: every
# run must exit 0 and print its figure. Also bench/compare --verify: LD_PRELOAD reaches every
# stress-ng process. Behaviour only (TAP, one line per workload); timing belongs to bench/.
set -u
lib=$1
builddir=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
fail=0

ok()    { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $1"; shift; printf '#   %s\n' "$@"; }

if ! command -v stress-ng >/dev/null; then
    echo "1..0 # skip stress-ng not installed (scripts/deps.sh test installs it)"
    exit 0
fi

all=$(python3 "$root/bench/compare" --help | sed -n 's/^workloads: //p' | tr -d ' ')
python3 "$root/bench/compare" --quick --allocators pagepool --pagepool "$lib" --build-dir "$builddir" \
    --reps 1 --threads 1,4 --workloads "$all" --timeout 120 --out "$tmp/r" >"$tmp/log" 2>&1
rc=$?
if [ $rc -ne 0 ] || [ ! -f "$tmp/r/summary.csv" ]; then
    notok "bench/compare ran" "exit status $rc" "$(tail -5 "$tmp/log")"
else
    ok "bench/compare ran ($(tail -1 "$tmp/log" | sed 's/.* in //'))"
    # config,allocator,status,reps_ok,...,figure_name,figure,...: one row per workload
    while IFS=, read -r cfg alloc status _ _ _ _ _ fname figure _; do
        [ "$alloc" = pagepool ] || continue
        if [ "$status" = ok ] && [ -n "$figure" ]; then
            ok "$cfg: $fname=$figure"
        else
            notok "$cfg" "status $status, figure '$figure'" \
                "$(cat "$tmp"/r/logs/*"$(echo "$cfg" | tr ' =' '__')"* 2>/dev/null | tail -5)"
        fi
    done < <(tail -n +2 "$tmp/r/summary.csv")
fi

if python3 "$root/bench/compare" --verify --allocators pagepool --pagepool "$lib" \
        --build-dir "$builddir" >"$tmp/verify" 2>&1 &&
        grep -q '^verify pagepool .*stress-ng processes.* -> OK$' "$tmp/verify"; then
    ok "LD_PRELOAD reaches every stress-ng process ($(grep -o 'processes \[[0-9, ]*\]' "$tmp/verify"))"
else
    notok "LD_PRELOAD reaches every stress-ng process" "$(cat "$tmp/verify")"
fi

echo "1..$n"
[ $fail -eq 0 ]
