#!/bin/bash
# test.sh — install what is missing, build, and run every test suite; the last line is
# "N passed, N failed" and the exit status is non-zero on any failure.
#   ./test.sh            everything: unit, integration, stress, preload, and unit under ASan+UBSan
#   ./test.sh unit ...   only the named suites (unit, integration, stress, preload, asan)
set -uo pipefail
cd "$(dirname "$0")"
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(unit integration stress preload asan)
jobs=$(nproc 2>/dev/null || echo 2)

step() { printf '\n== %s\n' "$*"; }

step "dependencies"
scripts/deps.sh test || { echo "0 passed, 1 failed"; exit 1; }

build() {   # build DIR [meson options...]
    local dir=$1; shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; return 1; }
    fi
    meson compile -C "$dir" -j "$jobs" >"$dir.compile.log" 2>&1 || { tail -40 "$dir.compile.log"; return 1; }
}

logs=()
failed_builds=0
meson_suites=()
for s in "${suites[@]}"; do [ "$s" != asan ] && meson_suites+=(--suite "$s"); done

if [ ${#meson_suites[@]} -gt 0 ]; then
    step "build (release, tests on)"
    if build build -Dtests=true; then
        step "tests: ${meson_suites[*]}"
        rm -f build/meson-logs/testlog.json
        meson test -C build "${meson_suites[@]}" --print-errorlogs --num-processes "$jobs" || true
        logs+=(build/meson-logs/testlog.json)
    else
        failed_builds=$((failed_builds + 1))
    fi
fi

if [[ " ${suites[*]} " == *" unit "* ]]; then
    # the other slab map (meson_options.txt: slab_map), for programs under a small ulimit -v
    step "build (slab_map=paged)"
    if build build-paged -Dtests=true -Dslab_map=paged -Dexamples=false; then
        step "tests: unit, integration, and the ulimit -v program check with the paged slab map"
        rm -f build-paged/meson-logs/testlog.json
        PAGEPOOL_PRELOAD_ONLY=ulimit-v,bash \
            meson test -C build-paged --suite unit --suite integration --suite preload --print-errorlogs --num-processes "$jobs" || true
        logs+=(build-paged/meson-logs/testlog.json)
    else
        failed_builds=$((failed_builds + 1))
    fi
fi

if [[ " ${suites[*]} " == *" asan "* ]]; then
    step "build (ASan + UBSan)"
    if build build-asan -Dtests=true -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false -Dexamples=false; then
        step "tests: unit and core under ASan + UBSan"
        rm -f build-asan/meson-logs/testlog.json
        ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
            meson test -C build-asan --suite unit --suite core --print-errorlogs --num-processes "$jobs" || true
        logs+=(build-asan/meson-logs/testlog.json)
    else
        failed_builds=$((failed_builds + 1))
    fi
fi

step "summary"
python3 - "$failed_builds" "${logs[@]}" <<'PY'
# Count subtests: the "ok - name" / "not ok - name" lines each test prints (TAP); a test that
# failed without printing a "not ok" line (a crash, a timeout) counts as one more failure.
import json, re, sys
failed_builds = int(sys.argv[1])
passed = failed = skipped = 0
for path in sys.argv[2:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        failed += 1
        print(f"missing test log {path}")
        continue
    tag = path.split("/")[0]
    for line in lines:
        t = json.loads(line)
        out = t.get("stdout") or ""
        ok = len(re.findall(r"^ok\b(?!.*# skip)", out, re.M))
        skip = len(re.findall(r"^(ok\b.*# skip|skip\b)", out, re.M))
        bad = len(re.findall(r"^not ok\b", out, re.M))
        result_ok = t["result"] in ("OK", "EXPECTEDFAIL")
        if ok + bad + skip == 0:
            ok, bad = (1, 0) if result_ok else (0, 1)
        elif not result_ok and bad == 0:
            bad = 1
        passed += ok
        failed += bad
        skipped += skip
        if not result_ok:
            print(f"FAILED: {tag}: {t['name']} ({t['result']})")
failed += failed_builds
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
sys.exit(1 if failed else 0)
PY
