#!/bin/bash
# scripts/deps.sh — install the Debian packages pagepool needs, when they are missing.
#   scripts/deps.sh build|test|bench
# As root: apt-get install -y. Otherwise: print the exact command and fail, so nothing is half-done.
set -euo pipefail
build=(gcc g++ meson ninja-build pkg-config liburcu-dev libnuma-dev libunwind-dev)
test=(python3 libpython3.11-testsuite git perl sqlite3 bash stress-ng time)   # time: GNU time, for bench/compare (tests/preload/bench.sh)
bench=(stress-ng libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4 hyperfine gnuplot-nox time valgrind sqlite3 perl)   # sqlite3, perl: compare's real programs
want=("${build[@]}")
case "${1:-build}" in
    build) ;;
    test) want+=("${test[@]}") ;;
    bench) want+=("${bench[@]}") ;;
    *) echo "usage: scripts/deps.sh build|test|bench" >&2; exit 2 ;;
esac
missing=()
for p in "${want[@]}"; do
    # a package counts as present if it, or an alternative providing the same, is installed
    case "$p" in
        gnuplot-nox) dpkg -s gnuplot-nox >/dev/null 2>&1 || dpkg -s gnuplot >/dev/null 2>&1 || dpkg -s gnuplot-qt >/dev/null 2>&1 || missing+=("$p") ;;
        *) dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p") ;;
    esac
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "pagepool: missing Debian packages. Install them with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "pagepool: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends "${missing[@]}" >/tmp/pagepool-apt.log 2>&1; then
    apt-get update >/tmp/pagepool-apt-update.log 2>&1 || true
    apt-get install -y --no-install-recommends "${missing[@]}" >/tmp/pagepool-apt.log 2>&1 || {
        echo "pagepool: apt-get install failed; see /tmp/pagepool-apt.log" >&2; tail -5 /tmp/pagepool-apt.log >&2; exit 1; }
fi
