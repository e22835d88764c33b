#!/usr/bin/env bash
# Benchmarks `flamewatch record` against Linux perf on the same workloads at the same rate.
#
#   1. Slowdown of the target: a C workload (recursion depth 30, -O2 -g with frame pointers so
#      `perf record -g` gets full stacks) timed from inside with CLOCK_MONOTONIC; configurations
#      interleaved round by round (none, perf -g, flamewatch, flamewatch --cpu-only).
#   2. Program exit -> SVG written: the workload prints its exit time (CLOCK_REALTIME); the
#      tool's pipeline ends when the SVG (and, for flamewatch, every default output) exists.
#      perf's pipeline is `perf record -g` + `perf script` + inferno-collapse-perf +
#      inferno-flamegraph.
#   3. Fully unwound stacks on a Rust release binary built without frame pointers (stack root
#      is `_start`): flamewatch vs `perf record --call-graph dwarf` (8 KiB default and 32 KiB).
#
# Usage: scripts/bench-record.sh            (ROUNDS=5 by default)
#        ROUNDS=9 FLAMEWATCH=path/to/flamewatch scripts/bench-record.sh
# Needs: cc, rustc, perf (/usr/bin/perf), and inferno-collapse-perf/inferno-flamegraph on PATH
# for part 2 (`cargo install inferno`); part 2's perf column is skipped without them.
set -euo pipefail

ROUNDS=${ROUNDS:-5}
HZ=${HZ:-999}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/bench-record.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

if [[ -z "${FLAMEWATCH:-}" ]]; then
    (cd "$ROOT" && cargo build --release -q -p flamewatch-cli)
    FLAMEWATCH="$ROOT/target/release/flamewatch"
fi
PERF=${PERF:-/usr/bin/perf}
if [[ ! -x "$PERF" ]]; then
    SUDO=""
    [[ "$(id -u)" -eq 0 ]] || SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq linux-perf >/dev/null
fi

cat >"$WORK/work.c" <<'EOF'
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static volatile uint64_t sink;
static uint64_t ns(clockid_t c) {
    struct timespec ts; clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
__attribute__((noinline)) static uint64_t leaf(uint64_t x, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; }
    return x;
}
__attribute__((noinline)) static uint64_t rec(int d, uint64_t x, uint64_t n) {
    if (d == 0) return leaf(x, n);
    uint64_t r = rec(d - 1, x + 1, n);
    sink += r;
    return r ^ (uint64_t)d;
}
int main(int argc, char **argv) {
    uint64_t iters = argc > 1 ? strtoull(argv[1], 0, 10) : 6000;
    uint64_t t0 = ns(CLOCK_MONOTONIC);
    for (uint64_t i = 0; i < iters; i++) sink += rec(30, i, 20000);
    uint64_t t1 = ns(CLOCK_MONOTONIC);
    printf("WORK_MS=%llu\n", (unsigned long long)((t1 - t0) / 1000000));
    printf("END_NS=%llu\n", (unsigned long long)ns(CLOCK_REALTIME));
    fflush(stdout);
    return 0;
}
EOF
cc -O2 -g -fno-omit-frame-pointer -o "$WORK/work" "$WORK/work.c"
rustc --edition=2021 -C opt-level=3 -C debuginfo=line-tables-only -C force-frame-pointers=no \
    -o "$WORK/deep" "$ROOT/crates/flamewatch-record/tests/data/programs/deep.rs"
ITERS=${ITERS:-50000}

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
now_ns() { date +%s%N; }
work_ms() { grep -o 'WORK_MS=[0-9]*' | tail -1 | cut -d= -f2; }

echo "# flamewatch record benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -r), ${HZ} Hz, ${ROUNDS} rounds"
echo

# 1. Slowdown, interleaved.
declare -A runs
for ((r = 1; r <= ROUNDS; r++)); do
    runs[none]+="$("$WORK/work" "$ITERS" | work_ms) "
    runs[perf_fp]+="$(cd "$WORK" && "$PERF" record -q -g -e cpu-clock -F "$HZ" -o "$WORK/p.data" -- ./work "$ITERS" 2>/dev/null | work_ms) "
    runs[flamewatch]+="$("$FLAMEWATCH" record -F "$HZ" -o "$WORK/fw" -- "$WORK/work" "$ITERS" 2>/dev/null | work_ms) "
    runs[flamewatch_cpu]+="$("$FLAMEWATCH" record -F "$HZ" --cpu-only -o "$WORK/fw" -- "$WORK/work" "$ITERS" 2>/dev/null | work_ms) "
done
base=$(echo ${runs[none]} | tr ' ' '\n' | median)
echo "## 1. Target slowdown (median WORK_MS of ${ROUNDS} interleaved rounds)"
echo
echo "| configuration | median ms | runs (ms) | slowdown |"
echo "|---|---|---|---|"
for cfg in none perf_fp flamewatch flamewatch_cpu; do
    m=$(echo ${runs[$cfg]} | tr ' ' '\n' | median)
    pct=$(awk -v m="$m" -v b="$base" 'BEGIN {printf "%+.1f %%", 100 * (m - b) / b}')
    label=$cfg
    case $cfg in
        none) label="no profiler" ;;
        perf_fp) label="perf record -g (FP), cpu-clock" ;;
        flamewatch) label="flamewatch record (DWARF 32 KiB + off-CPU)" ;;
        flamewatch_cpu) label="flamewatch record --cpu-only" ;;
    esac
    echo "| $label | $m | ${runs[$cfg]}| $pct |"
done
echo

# 2. Program exit -> SVG written.
fw_post=()
perf_post=()
have_inferno=0
if ! command -v inferno-collapse-perf >/dev/null || ! command -v inferno-flamegraph >/dev/null; then
    # the reference pipeline's tools, from crates.io, kept inside target/
    cargo install --quiet --locked --root "$ROOT/target/bench-tools" inferno >/dev/null 2>&1 || true
    export PATH="$ROOT/target/bench-tools/bin:$PATH"
fi
command -v inferno-collapse-perf >/dev/null && command -v inferno-flamegraph >/dev/null && have_inferno=1
for ((r = 1; r <= ROUNDS; r++)); do
    out=$("$FLAMEWATCH" record -F "$HZ" -o "$WORK/fw2" -- "$WORK/work" "$ITERS" 2>/dev/null)
    t=$(now_ns)
    end=$(echo "$out" | grep -o 'END_NS=[0-9]*' | cut -d= -f2)
    fw_post+=($(((t - end) / 1000000)))
    if ((have_inferno)); then
        out=$(cd "$WORK" && "$PERF" record -q -g -e cpu-clock -F "$HZ" -o "$WORK/p2.data" -- ./work "$ITERS" 2>/dev/null)
        "$PERF" script -i "$WORK/p2.data" 2>/dev/null | inferno-collapse-perf | inferno-flamegraph >"$WORK/p2.svg"
        t=$(now_ns)
        end=$(echo "$out" | grep -o 'END_NS=[0-9]*' | cut -d= -f2)
        perf_post+=($(((t - end) / 1000000)))
    fi
done
echo "## 2. Program exit → SVG written (median ms)"
echo
echo "| pipeline | median ms | runs (ms) |"
echo "|---|---|---|"
echo "| flamewatch record (svg, pprof, folded, map) | $(printf '%s\n' "${fw_post[@]}" | median) | ${fw_post[*]} |"
if ((have_inferno)); then
    echo "| perf record -g + perf script + inferno-collapse-perf + inferno-flamegraph | $(printf '%s\n' "${perf_post[@]}" | median) | ${perf_post[*]} |"
else
    echo "| perf + inferno | skipped: inferno not on PATH | |"
fi
echo

# 3. Unwinding without frame pointers.
"$FLAMEWATCH" record -F "$HZ" --cpu-only --format folded -o "$WORK/fw3" -- "$WORK/deep" 2000 >/dev/null 2>&1
fw_full=$(cat "$WORK"/fw3/*.folded | awk '{n = $NF; total += n; if ($0 ~ /^_start;/) full += n} END {printf "%.1f", 100 * full / total}')
perf_dwarf() {
    (cd "$WORK" && "$PERF" record -q -e cpu-clock -F "$HZ" --call-graph "dwarf,$1" -o "$WORK/d.data" -- ./deep 2000 >/dev/null 2>&1)
    "$PERF" script -i "$WORK/d.data" -F ip,sym 2>/dev/null | awk '
        NF == 0 { if (n) { total++; if (last ~ /_start/) full++ } n = 0; next }
        { n++; last = $0 }
        END { if (n) { total++; if (last ~ /_start/) full++ } printf "%.1f", 100 * full / total }'
}
echo "## 3. Fully unwound stacks, Rust release binary without frame pointers (root is _start)"
echo
echo "| tool | fully unwound |"
echo "|---|---|"
echo "| flamewatch record (framehop, 32 KiB stack copies) | ${fw_full} % |"
echo "| perf record --call-graph dwarf (8 KiB) | $(perf_dwarf 8192) % |"
echo "| perf record --call-graph dwarf,32768 | $(perf_dwarf 32768) % |"
