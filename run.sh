#!/bin/bash
# run.sh — install what is missing, build, and run the main job: pagepool against glibc, jemalloc,
# mimalloc and tcmalloc under the project's workloads and stress-ng, side by side.
#   ./run.sh              quick comparison (about a minute)
#   ./run.sh --full       every workload, 1/2/4 threads (under 15 minutes)
#   ./run.sh ARGS...      any bench/compare options (bench/compare --help)
set -euo pipefail
cd "$(dirname "$0")"
scripts/deps.sh bench
if [ ! -f build/build.ninja ]; then
    meson setup build >build.setup.log 2>&1 || { cat build.setup.log; exit 1; }
fi
echo "== build"
meson compile -C build >build.compile.log 2>&1 || { tail -40 build.compile.log; exit 1; }
echo "== comparison (bench/compare ${*:---quick})"
exec bench/compare "${@:---quick}"
