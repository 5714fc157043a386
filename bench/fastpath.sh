#!/bin/bash
# bench/fastpath.sh - instructions per malloc(32)+free pair, per allocator.
#
# Runs bench-fastpath (N pairs of malloc(32)+free with 1000 other 32-byte blocks
# live) under `valgrind --tool=callgrind` with N and 2N pairs and reports
#     (Ir(2N) - Ir(N)) / N
# i.e. the instructions of one pair with start-up cancelled out (the loop itself
# adds ~8 instructions).  callgrind does not replace malloc (unlike memcheck),
# so an LD_PRELOAD'ed allocator is what the program really calls; the script
# checks that the library shows up among the objects in the callgrind profile.
#
# usage: bench/fastpath.sh [-n N] [-a glibc,jemalloc,...] [--pagepool PATH] [--lib NAME=PATH]
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
N=1000000
only=""
pagepool="${PAGEPOOL_LIB:-}"
declare -a extra=()
while [ $# -gt 0 ]; do
	case "$1" in
	-n) N=$2; shift 2 ;;
	-a|--allocators) only=$2; shift 2 ;;
	--pagepool) pagepool=$2; shift 2 ;;
	--lib) extra+=("$2"); shift 2 ;;
	-h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "unknown argument $1" >&2; exit 2 ;;
	esac
done
command -v valgrind >/dev/null || { echo "valgrind not found" >&2; exit 1; }
bindir=$("$here/compare" --print-bindir) || exit 1
prog="$bindir/bench-fastpath"

libdir=/usr/lib/x86_64-linux-gnu
declare -a names=(glibc jemalloc mimalloc tcmalloc) libs=("" "$libdir/libjemalloc.so.2" \
	"$libdir/libmimalloc.so.2" "$libdir/libtcmalloc_minimal.so.4")
if [ -z "$pagepool" ]; then
	for c in build/preload/libpagepool.so build/lib/libpagepool.so; do
		[ -e "$root/$c" ] && { pagepool="$root/$c"; break; }
	done
fi
names+=(pagepool); libs+=("${pagepool:-$root/build/preload/libpagepool.so}")
for e in "${extra[@]}"; do names+=("${e%%=*}"); libs+=("${e#*=}"); done

tmp=$(mktemp -d /tmp/pagepool-fastpath.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# total Ir of one run; also checks that the preloaded library was really used
ir() { # lib n outfile
	local lib=$1 n=$2 out=$3
	if [ -n "$lib" ]; then
		LD_PRELOAD="$lib" valgrind --tool=callgrind --callgrind-out-file="$out" \
			"$prog" "$n" >"$out.log" 2>&1
	else
		env -u LD_PRELOAD valgrind --tool=callgrind --callgrind-out-file="$out" \
			"$prog" "$n" >"$out.log" 2>&1
	fi
	local rc=$?
	[ $rc -eq 0 ] || { echo "exit $rc"; return 1; }
	# object names are listed once each as "ob=(id) /path"; match the file name stem
	if [ -n "$lib" ] && ! grep -Eq "^c?ob=.*/$(basename "$lib" | sed 's/\.so.*//')\.so" "$out"; then
		echo "not-preloaded"; return 1
	fi
	awk '/^totals:/ {print $2; found=1} END {if (!found) exit 1}' "$out" ||
		awk '/^summary:/ {print $2}' "$out"
}

printf '%-10s %14s %14s %12s  %s\n' allocator "Ir(N)" "Ir(2N)" "Ir/pair" "library"
printf '%-10s %14s %14s %12s  %s\n' ---------- ------------- ------------- ----------- -------
for i in "${!names[@]}"; do
	name=${names[$i]} lib=${libs[$i]}
	if [ -n "$only" ] && [[ ",$only," != *",$name,"* ]]; then continue; fi
	if [ -n "$lib" ] && [ ! -e "$lib" ]; then
		printf '%-10s %14s %14s %12s  %s\n' "$name" - - "n/a" "$lib (not found)"
		continue
	fi
	a=$(ir "$lib" "$N" "$tmp/$name.1") || { printf '%-10s %14s %14s %12s  %s\n' "$name" - - "fail:$a" "${lib:-libc}"; continue; }
	b=$(ir "$lib" $((2 * N)) "$tmp/$name.2") || { printf '%-10s %14s %14s %12s  %s\n' "$name" - - "fail:$b" "${lib:-libc}"; continue; }
	per=$(awk -v a="$a" -v b="$b" -v n="$N" 'BEGIN {printf "%.1f", (b - a) / n}')
	printf '%-10s %14s %14s %12s  %s\n' "$name" "$a" "$b" "$per" "${lib:-libc (no preload)}"
done
echo "(N = $N; Ir/pair = (Ir(2N) - Ir(N)) / N, includes the ~8 instructions of the loop itself; binary $prog)"
