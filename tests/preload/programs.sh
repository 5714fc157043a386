#!/usr/bin/env bash
# programs.sh — real programs under LD_PRELOAD=libpagepool.so.
#
#   usage: bash tests/preload/programs.sh /path/to/libpagepool.so
#
# Each program runs a deterministic workload twice, without and with LD_PRELOAD=$1, in fresh
# working directories; stdout and exit status must be the same, and the preloaded run must not
# print a "pagepool:" line on stderr (pagepool reports misuse and internal errors that way).
# Prints "ok - name", "not ok - name" (with a diff and the stderr tail) or "skip - name (reason)";
# ends with "N passed, N failed, N skipped"; exits 1 if any program failed.
#
# Environment: PAGEPOOL_PRELOAD_ONLY=name[,name...] runs only those programs;
#              PAGEPOOL_PRELOAD_KEEP=1 keeps the work directory (its path is printed);
#              PAGEPOOL_PRELOAD_TIMEOUT (seconds, default 120) bounds each run.
set -u

LIB=${1:-}
if [ -z "$LIB" ] || [ ! -f "$LIB" ]; then
    echo "usage: $0 /path/to/libpagepool.so (got '${LIB}')" >&2
    echo "not ok - library (not found: '${LIB}')"
    exit 1
fi
LIB=$(cd "$(dirname "$LIB")" && pwd)/$(basename "$LIB")
TIMEOUT=${PAGEPOOL_PRELOAD_TIMEOUT:-120}
ONLY=${PAGEPOOL_PRELOAD_ONLY:-}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pagepool-preload.XXXXXX")
[ -n "${PAGEPOOL_PRELOAD_KEEP:-}" ] || trap 'rm -rf "$TMP"' EXIT

passed=0
failed=0
skipped=0

# The environment of every workload: deterministic, isolated from the user's configuration.
export LC_ALL=C TZ=UTC PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 PYTHONNOUSERSITE=1
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP PERL5LIB PERL5OPT GIT_DIR GIT_WORK_TREE MALLOC_CONF 2>/dev/null
unset LD_PRELOAD

wanted() {
    [ -z "$ONLY" ] && return 0
    case ",$ONLY," in *",$1,"*) return 0 ;; esac
    return 1
}

ok() { echo "ok - $1"; passed=$((passed + 1)); }
skip() { echo "skip - $1 ($2)"; skipped=$((skipped + 1)); }
notok() {
    echo "not ok - $1${2:+ ($2)}"
    failed=$((failed + 1))
}

# show the tail of a file, indented as a comment
show() {
    local what=$1 file=$2 n=${3:-30}
    [ -s "$file" ] || return 0
    echo "#   --- $what (last $n lines)"
    tail -n "$n" "$file" | sed 's/^/#   /'
}

# run_in DIR PRELOAD(0|1) OUTPREFIX FUNCTION: run the exported bash function FUNCTION in a new
# bash (itself preloaded when PRELOAD=1) in DIR; stdout/stderr/status go to OUTPREFIX.{out,err,rc}
run_in() {
    local dir=$1 pre=$2 out=$3 fn=$4
    mkdir -p "$dir"
    local rc
    if [ "$pre" = 1 ]; then
        (cd "$dir" && HOME="$dir" timeout -k 10 "$TIMEOUT" env LD_PRELOAD="$LIB" bash -c "$fn") \
            >"$out.out" 2>"$out.err" </dev/null
        rc=$?
    else
        (cd "$dir" && HOME="$dir" timeout -k 10 "$TIMEOUT" bash -c "$fn") \
            >"$out.out" 2>"$out.err" </dev/null
        rc=$?
    fi
    echo "$rc" >"$out.rc"
    return 0
}

# compare NAME FUNCTION [check-function]: run FUNCTION both ways; same stdout and status, no
# pagepool errors. An optional check-function gets OUTPREFIX of the preloaded run and may fail.
compare() {
    local name=$1 fn=$2 check=${3:-}
    wanted "$name" || return 0
    local a="$TMP/$name.plain" b="$TMP/$name.preload"
    run_in "$TMP/$name.plain.d" 0 "$a" "$fn"
    run_in "$TMP/$name.preload.d" 1 "$b" "$fn"
    local rca rcb why=""
    rca=$(cat "$a.rc")
    rcb=$(cat "$b.rc")
    if [ "$rcb" = 124 ] || [ "$rcb" = 137 ]; then
        why="timed out after ${TIMEOUT}s under preload"
    elif [ "$rca" != "$rcb" ]; then
        why="exit status $rca without preload, $rcb with"
    elif ! cmp -s "$a.out" "$b.out"; then
        why="stdout differs"
    elif grep -q '^pagepool:' "$b.err" && ! grep -q '^pagepool:' "$a.err"; then
        why="pagepool printed to stderr"
    elif [ "$rca" != 0 ] && [ -z "${ALLOW_NONZERO:-}" ]; then
        why="exit status $rca in both runs: the workload itself is broken"
    elif [ -n "$check" ] && ! "$check" "$b"; then
        why="check failed"
    fi
    if [ -z "$why" ]; then
        ok "$name"
    else
        notok "$name" "$why"
        if ! cmp -s "$a.out" "$b.out"; then
            echo "#   --- diff (without preload vs with)"
            diff "$a.out" "$b.out" | head -n 40 | sed 's/^/#   /'
        fi
        show "stderr with preload" "$b.err"
        [ "$rca" != 0 ] && show "stderr without preload" "$a.err" 10
    fi
}

have() { command -v "$1" >/dev/null 2>&1; }

echo "# library: $LIB"
[ -n "${PAGEPOOL_PRELOAD_KEEP:-}" ] && echo "# work directory: $TMP"

# ---------------------------------------------------------------- preload really active
if wanted active; then
    err=$(PAGEPOOL_STATS=1 LD_PRELOAD="$LIB" /bin/true 2>&1 >/dev/null)
    rc=$?
    if [ $rc != 0 ]; then
        notok active "/bin/true exits $rc under preload"
        echo "$err" | head -n 20 | sed 's/^/#   /'
    elif echo "$err" | grep -qi pagepool; then
        ok active
    else
        skip active "PAGEPOOL_STATS=1 printed nothing: cannot tell"
    fi
    # PAGEPOOL_STATS=2: the per-class table and its sums (bash, whose variables live until exit;
    # not coreutils, whose close_stdout closes stderr before the destructors run)
    err=$(PAGEPOOL_STATS=2 LD_PRELOAD="$LIB" bash -c 'a=$(seq 1 3000); exit 0' 2>&1 >/dev/null)
    if echo "$err" | grep -q "touched KiB" && echo "$err" | grep -Eq "pagepool: +all +[1-9]" &&
       echo "$err" | grep -q "free blocks by order"; then
        ok stats-classes
    else
        notok stats-classes "PAGEPOOL_STATS=2 printed no class table"
        echo "$err" | tail -n 5 | sed 's/^/#   /'
    fi
    # tools/pagepool-run: the options table, and --stats-classes is PAGEPOOL_STATS=2
    run="$(cd "$(dirname "$0")/../.." && pwd)/tools/pagepool-run"
    if [ -x "$run" ]; then
        opts=$("$run" --lib "$LIB" --options 2>&1)
        err=$("$run" --lib "$LIB" --stats-classes -- bash -c 'a=$(seq 1 100); exit 0' 2>&1 >/dev/null)
        if echo "$opts" | grep -q "PAGEPOOL_STATS" && echo "$err" | grep -q "touched KiB"; then
            ok pagepool-run
        else
            notok pagepool-run "--options or --stats-classes printed nothing"
        fi
    fi
    # the library must define malloc itself (an LD_PRELOAD of a library without it is a no-op)
    if have nm; then
        if nm -D --defined-only "$LIB" 2>/dev/null | grep -qw malloc; then
            ok exports-malloc
        else
            notok exports-malloc "no malloc in the dynamic symbol table"
        fi
    fi
fi

# ---------------------------------------------------------------- python3 (Debian's)
PY=/usr/bin/python3
cat >"$TMP/work.py" <<'EOF'
import gc, hashlib, json, random, re, sys
from collections import Counter, defaultdict, OrderedDict

random.seed(12345)
out = []

# dicts: build, grow, delete, rebuild
d = {}
for i in range(200000):
    d["k%07d" % i] = i * 7
for i in range(0, 200000, 3):
    del d["k%07d" % i]
d2 = {v: k for k, v in d.items()}
out.append(("dict", len(d), len(d2), sum(d.values()) % 1000003))

# lists and sorting of random data
xs = [random.randint(0, 10**9) for _ in range(300000)]
ys = sorted(xs)
out.append(("sort", ys[0], ys[len(ys) // 2], ys[-1], sum(ys[::1000]) % 999983))

# strings: concatenation, join, split, replace, formatting
parts = []
for i in range(50000):
    parts.append(("%d-%s" % (i, "x" * (i % 37))).upper())
s = "|".join(parts)
s2 = s.replace("X", "yz").lower()
words = re.findall(r"[0-9]+-y+z", s2)
out.append(("str", len(s), len(s2), len(words), hashlib.sha256(s2.encode()).hexdigest()[:16]))
acc = ""
for i in range(20000):
    acc += chr(65 + i % 26) * (i % 5)
out.append(("concat", len(acc), acc[-10:]))

# json round trip of a nested structure
def tree(depth):
    if depth == 0:
        return {"leaf": random.random(), "s": "v" * random.randint(0, 40), "l": list(range(random.randint(0, 10)))}
    return {"n%d" % i: tree(depth - 1) for i in range(4)}
t = [tree(5) for _ in range(3)]
js = json.dumps(t, sort_keys=True)
t2 = json.loads(js)
assert t2 == t
out.append(("json", len(js), hashlib.md5(json.dumps(t2, sort_keys=True).encode()).hexdigest()))

# big objects: huge allocations and reallocs
b = bytearray()
for i in range(2000):
    b += bytes([i % 251]) * 4096
big = bytes(30 * 1024 * 1024)
out.append(("bytes", len(b), sum(b[::4096]) % 65521, len(big)))
del big, b

# cycles for the collector
class Node:
    def __init__(self, v):
        self.v = v
        self.peer = None
nodes = [Node(i) for i in range(100000)]
for i, n in enumerate(nodes):
    n.peer = nodes[(i * 7919) % len(nodes)]
del nodes
collected = gc.collect()
out.append(("gc", collected > 0))

# counters, sets, defaultdicts
words = ["w%d" % (random.randint(0, 5000)) for _ in range(200000)]
c = Counter(words)
top = sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
sets = [set(range(i, i + 1000)) for i in range(0, 50000, 500)]
u = set().union(*sets)
dd = defaultdict(list)
for i, w in enumerate(words[:50000]):
    dd[w[-1]].append(i)
out.append(("coll", top, len(u), sorted((k, len(v)) for k, v in dd.items())))

for row in out:
    print(row)
EOF
py_regr_check() { grep -q "Tests result: SUCCESS" "$1.out"; }
if ! [ -x "$PY" ]; then
    wanted python3 && skip python3 "$PY not installed"
    wanted python3-regrtest && skip python3-regrtest "$PY not installed"
else
    export PY_WORK="$TMP/work.py"
    prog_python3() { /usr/bin/python3 "$PY_WORK"; }
    export -f prog_python3
    compare python3 prog_python3
    if "$PY" -c 'import test.test_dict, test.test_list, test.test_json, test.test_set' >/dev/null 2>&1; then
        PY_TESTS="test_dict test_list test_json test_set"
        "$PY" -c 'import test.test_unicode' >/dev/null 2>&1 && PY_TESTS="$PY_TESTS test_unicode"
        export PY_TESTS
        # stdout has timings: compare a filtered summary instead
        prog_python3_regrtest() {
            /usr/bin/python3 -m test $PY_TESTS >regrtest.log 2>&1
            local rc=$?
            cat regrtest.log >&2
            grep -E "^(Tests result:|All [0-9]+ tests OK)" regrtest.log
            return $rc
        }
        export -f prog_python3_regrtest
        compare python3-regrtest prog_python3_regrtest py_regr_check
    else
        wanted python3-regrtest && skip python3-regrtest "python3's test package absent (apt-get install libpython3.11-testsuite)"
    fi
fi

# ---------------------------------------------------------------- git
if ! have git; then
    wanted git && skip git "git not installed"
else
    prog_git() {
        set -e
        export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
        export GIT_AUTHOR_NAME=Test GIT_AUTHOR_EMAIL=test@example.com
        export GIT_COMMITTER_NAME=Test GIT_COMMITTER_EMAIL=test@example.com
        git init -q -b main repo
        cd repo
        for c in 1 2 3 4 5 6 7 8; do
            for f in 1 2 3 4 5 6 7 8 9 10; do
                seq $((c * f)) $((c * f * 50)) >"file$f.txt"
            done
            mkdir -p "dir$c"
            printf 'commit %s\n' "$c" >"dir$c/readme"
            git add -A
            export GIT_AUTHOR_DATE="2020-01-0$c 12:00:00 +0000" GIT_COMMITTER_DATE="2020-01-0$c 12:00:00 +0000"
            git commit -q -m "commit $c"
        done
        git log --format='%H %an %ad %s' --date=iso
        git diff --stat HEAD~3 HEAD
        git branch side HEAD~2
        git checkout -q side
        echo side >side.txt
        git add side.txt
        git commit -q -m side
        git checkout -q main
        git merge -q --no-edit side
        git rev-parse HEAD^{tree}
        git gc -q --aggressive
        git fsck --no-progress --strict 2>&1
        git count-objects -v | grep -E '^(count|in-pack|packs):'
        git log --oneline --graph | wc -l
        git grep -c 400 | sort
    }
    export -f prog_git
    compare git prog_git
fi

# ---------------------------------------------------------------- gcc
if ! have gcc; then
    wanted gcc && skip gcc "gcc not installed"
else
    cat >"$TMP/prog.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ent { char *key; int count; struct ent *next; };
#define NB 4096
static struct ent *tab[NB];
static unsigned hash(const char *s) { unsigned h = 5381; while (*s) h = h * 33 + (unsigned char)*s++; return h; }
static void add(const char *k)
{
    unsigned h = hash(k) % NB;
    for (struct ent *e = tab[h]; e; e = e->next)
        if (!strcmp(e->key, k)) { e->count++; return; }
    struct ent *e = malloc(sizeof *e);
    e->key = strdup(k);
    e->count = 1;
    e->next = tab[h];
    tab[h] = e;
}
static int cmp(const void *a, const void *b)
{
    const struct ent *x = *(struct ent *const *)a, *y = *(struct ent *const *)b;
    return x->count != y->count ? y->count - x->count : strcmp(x->key, y->key);
}
int main(void)
{
    unsigned long x = 1;
    char buf[64];
    for (int i = 0; i < 300000; i++) {
        x = x * 6364136223846793005UL + 1442695040888963407UL;
        snprintf(buf, sizeof buf, "w%lu", (x >> 33) % 20000);
        add(buf);
    }
    size_t n = 0, cap = 16;
    struct ent **all = malloc(cap * sizeof *all);
    for (int b = 0; b < NB; b++)
        for (struct ent *e = tab[b]; e; e = e->next) {
            if (n == cap) all = realloc(all, (cap *= 2) * sizeof *all);
            all[n++] = e;
        }
    qsort(all, n, sizeof *all, cmp);
    printf("%zu distinct\n", n);
    for (int i = 0; i < 5; i++) printf("%s %d\n", all[i]->key, all[i]->count);
    for (size_t i = 0; i < n; i++) { free(all[i]->key); free(all[i]); }
    free(all);
    return 0;
}
EOF
    export GCC_SRC="$TMP/prog.c"
    prog_gcc() {
        set -e
        cp "$GCC_SRC" prog.c
        gcc -O2 -Wall -c prog.c -o prog.o
        gcc -O2 -o prog prog.o
        ./prog
        # the compiler's outputs must be identical with and without pagepool
        md5sum prog.o | cut -d' ' -f1
        gcc -O2 -S -o - prog.c | md5sum | cut -d' ' -f1
    }
    export -f prog_gcc
    compare gcc prog_gcc
    if have g++; then
        cat >"$TMP/prog.cpp" <<'EOF'
#include <iostream>
#include <map>
#include <string>
#include <vector>
#include <algorithm>
int main()
{
    std::map<std::string, int> m;
    std::vector<std::string> v;
    unsigned long x = 7;
    for (int i = 0; i < 200000; i++) {
        x = x * 6364136223846793005UL + 1442695040888963407UL;
        std::string s = "k" + std::to_string((x >> 35) % 30000);
        m[s]++;
        if (i % 10 == 0) v.push_back(s + std::string(i % 100, '.'));
    }
    std::sort(v.begin(), v.end());
    std::cout << m.size() << " " << v.size() << " " << v.front() << " " << v.back().size() << "\n";
    return 0;
}
EOF
        export GXX_SRC="$TMP/prog.cpp"
        prog_gxx() {
            set -e
            cp "$GXX_SRC" prog.cpp
            g++ -O2 -o prog prog.cpp
            ./prog
        }
        export -f prog_gxx
        compare g++ prog_gxx
    fi
fi

# ---------------------------------------------------------------- perl
if ! have perl; then
    wanted perl && skip perl "perl not installed"
else
    prog_perl() {
        perl -e '
            use strict; use warnings;
            my %h; my $x = 1;
            for my $i (1 .. 200000) {
                $x = ($x * 1103515245 + 12345) % 2147483648;
                my $k = "key" . ($x % 30000);
                $h{$k} .= chr(97 + $i % 26);
            }
            my @keys = sort { length($h{$b}) <=> length($h{$a}) || $a cmp $b } keys %h;
            print scalar(@keys), " keys\n";
            print "$_ ", length($h{$_}), "\n" for @keys[0..4];
            my $text = join(" ", map { "w$_-" . ("ab" x ($_ % 13)) } 1 .. 50000);
            my @m = ($text =~ /w(\d+)-((?:ab){5,})/g);
            print scalar(@m), " matches\n";
            (my $t2 = $text) =~ s/(ab)+/X/g;
            print length($t2), "\n";
            my @split = split /\s+/, $text;
            my %cnt; $cnt{length $_}++ for @split;
            print join(",", map { "$_:$cnt{$_}" } sort { $a <=> $b } keys %cnt), "\n";
            my $big = "z" x (20 * 1024 * 1024); $big =~ tr/z/y/;
            print length($big), " ", substr($big, -3), "\n";
            my @aoa = map { [ map { $_ * 2 } 1 .. 50 ] } 1 .. 20000;
            my $sum = 0; $sum += $_->[49] for @aoa; print "$sum\n";
        '
    }
    export -f prog_perl
    compare perl prog_perl
fi

# ---------------------------------------------------------------- sqlite3
if ! have sqlite3; then
    wanted sqlite3 && skip sqlite3 "sqlite3 not installed"
else
    prog_sqlite3() {
        sqlite3 -batch test.db <<'EOF'
PRAGMA journal_mode=WAL;
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val REAL, blob BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000)
INSERT INTO t(grp, name, val, blob)
  SELECT x % 97, 'name-' || (x * 7919 % 20000), (x * 37 % 1000) / 10.0, zeroblob(x % 500) FROM c;
CREATE INDEX t_grp ON t(grp, val);
SELECT count(*), sum(grp), round(avg(val), 4), sum(length(blob)) FROM t;
SELECT grp, count(*), round(sum(val), 2), max(name) FROM t GROUP BY grp ORDER BY grp LIMIT 10;
SELECT name, val FROM t WHERE grp = 42 ORDER BY val DESC, name LIMIT 5;
SELECT count(DISTINCT name) FROM t;
SELECT a.grp, count(*) FROM t a JOIN t b ON a.id = b.id + 1 AND a.grp = b.grp + 1 GROUP BY a.grp ORDER BY 2 DESC, 1 LIMIT 3;
UPDATE t SET name = upper(name) || 'x' WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
SELECT count(*), sum(length(name)) FROM t;
SELECT group_concat(id, ',') FROM (SELECT id FROM t ORDER BY id DESC LIMIT 8);
VACUUM;
PRAGMA integrity_check;
EOF
    }
    export -f prog_sqlite3
    compare sqlite3 prog_sqlite3
fi

# ---------------------------------------------------------------- bash pipelines (bash preloaded)
prog_bash() {

    for i in $(seq 1 200); do echo "$i" | (read -r x; echo $((x * x))); done | sort -n | tail -3
    a=$(for i in {1..500}; do printf '%s,' "$i"; done)
    echo "${#a}"
    read -r -a arr <<<"$(seq -s ' ' 1 1000)"
    echo "${#arr[@]} ${arr[999]}"
    declare -A h
    for i in $(seq 1 3000); do h["k$((i % 700))"]+="x"; done
    echo "${#h[@]} ${#h[k5]}"
    s=""
    for i in $(seq 1 2000); do s+="$i"; done
    echo "${#s} ${s: -8}"
    tr 'a-z' 'A-Z' <<<"here string $(echo nested $(echo deeper))"
    x=$( ( for i in 1 2 3; do ( echo "sub$i" ); done ) | wc -l)
    echo "$x"
    seq 1 50000 | awk '{ s += $1 } END { print s }'
    seq 1 20000 | sort -r | uniq | head -2
}
export -f prog_bash
compare bash prog_bash

# ---------------------------------------------------------------- coreutils (sort, awk, tar, gzip)
prog_coreutils() {
    set -e
    seq 1 300000 | awk '{ printf "%08d %s\n", ($1 * 7919) % 300007, substr("abcdefghij", 1 + $1 % 10) }' >data
    sort -S 50% data | md5sum | cut -d' ' -f1
    sort -k2,2 -k1,1n data | head -3
    awk '{ c[$2]++ } END { for (k in c) print k, c[k] }' data | sort
    mkdir -p d && cp data d/a && cp data d/b
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - d | gzip -n -9 | md5sum | cut -d' ' -f1
}
export -f prog_coreutils
compare coreutils prog_coreutils

# ---------------------------------------------------------------- stress-ng (status only)
if wanted stress-ng; then
    if ! have stress-ng; then
        skip stress-ng "stress-ng not installed"
    else
        out="$TMP/stress-ng"
        mkdir -p "$out.d"
        (cd "$out.d" && timeout -k 10 "$TIMEOUT" env LD_PRELOAD="$LIB" stress-ng \
            --malloc 2 --malloc-ops 100000 --verify --metrics-brief \
            --timeout 60s --temp-path "$out.d") >"$out.1" 2>&1 </dev/null
        rc1=$?
        (cd "$out.d" && timeout -k 10 "$TIMEOUT" env LD_PRELOAD="$LIB" stress-ng \
            --malloc 2 --malloc-bytes 64M --malloc-max 4096 --verify --timeout 5s \
            --tsearch 1 --hsearch 1 --temp-path "$out.d") >"$out.2" 2>&1 </dev/null
        rc2=$?
        if [ $rc1 = 0 ] && [ $rc2 = 0 ] && ! grep -q '^pagepool:' "$out.1" "$out.2"; then
            ok stress-ng
        else
            notok stress-ng "exit status $rc1 (ops run), $rc2 (timed run)"
            show "ops run output" "$out.1"
            show "timed run output" "$out.2"
        fi
        # the preload reaches the stressor processes: each worker (they end with _exit) and the
        # parent print pagepool's statistics
        (cd "$out.d" && timeout -k 10 "$TIMEOUT" env LD_PRELOAD="$LIB" PAGEPOOL_STATS=1 stress-ng \
            --malloc 2 --malloc-ops 20000 --timeout 20s --temp-path "$out.d") >"$out.3" 2>&1 </dev/null
        n=$(grep -c '^pagepool: statistics for pid' "$out.3")
        if [ "$n" -ge 3 ]; then
            ok stress-ng-workers-preloaded
        else
            notok stress-ng-workers-preloaded "$n processes printed statistics, expected the parent and 2 workers"
            show "stats run output" "$out.3"
        fi
    fi
fi

# An address-space limit of 4 GB. The flat slab map (the default build) reserves 16 GiB
# (lib/internal.h): the program must stop at once with one line that names the cause and what to
# do, not crash later. A build with -Dslab_map=paged (PAGEPOOL_TEST_SLAB_MAP=paged, set by
# meson) must just run.
if wanted ulimit-v; then
    out=$TMP/ulimit-v
    bash -c 'ulimit -v 4000000 && LD_PRELOAD=$0 /bin/echo hi; exit $?' "$LIB" >"$out.out" 2>"$out.err"
    rc=$?
    if [ "${PAGEPOOL_TEST_SLAB_MAP:-flat}" = paged ]; then
        if [ "$rc" = 0 ] && grep -q hi "$out.out" && ! grep -q "^pagepool:" "$out.err"; then
            ok ulimit-v
        else
            notok ulimit-v "paged slab map, exit status $rc"
            show "stderr" "$out.err"
        fi
    elif [ "$rc" != 0 ] && ! grep -q hi "$out.out" &&
         grep -q "^pagepool: cannot reserve the slab map.*ulimit -v.*-Dslab_map=paged" "$out.err"; then
        ok ulimit-v
    else
        notok ulimit-v "exit status $rc"
        show "stderr" "$out.err"
    fi
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
