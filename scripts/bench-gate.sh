#!/usr/bin/env bash
# End-to-end benchmark of the `flamewatch bench` regression gate on this machine.
#
# Measures, at default settings (3 counted runs, 1 warm-up, --threshold 10%, gate on CPU time and
# peak RSS, adaptive runs up to 30 while inconclusive):
#   1. the A/A false-alarm rate: baseline and candidate are the same CPU-bound program;
#   2. the detection rate of a 10 % CPU-time regression: the candidate does 10 % more work;
# each side by side with a hyperfine-style rule ("median wall time of the 3 runs is more than 10 %
# above the baseline's") evaluated on exactly the same runs (and the same rule on CPU time);
#   3. per-run harness overhead of `flamewatch bench` against `hyperfine -N` on `true`.
#
# Usage: scripts/bench-gate.sh [TRIALS]   (default 100 A/A + 100 regression trials)
# Output: a Markdown summary on stdout and in target/bench-gate/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
TRIALS=${1:-100}
OUT=target/bench-gate
mkdir -p "$OUT"

if ! command -v hyperfine >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "bench-gate: installing hyperfine" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends hyperfine >/dev/null
fi
command -v python3 >/dev/null || { echo "bench-gate: python3 is needed to read the JSON results" >&2; exit 2; }

cargo build --release -q -p flamewatch-cli
FW="$PWD/target/release/flamewatch"

cat > "$OUT/burn.c" <<'C'
#include <stdlib.h>
int main(int argc, char **argv) {
    long n = atol(argv[1]) * 100000L;
    volatile unsigned long acc = 1;
    for (long i = 0; i < n; i++) acc = acc * 6364136223846793005UL + 1442695040888963407UL;
    return acc == 42 ? 1 : 0;
}
C
cc -O2 -o "$OUT/burn" "$OUT/burn.c"
BASE_WORK=600      # ~60-80 ms of CPU on a 2-vCPU EPYC VM
# The candidate must cost +10 % CPU time, not +10 % loop iterations (process start-up is a fixed
# cost), so calibrate: CPU(work) = fixed + work * per_unit.
"$FW" bench --runs 15 --export-json "$OUT/cal0.json" -- "$OUT/burn" 0 >/dev/null 2>&1
"$FW" bench --runs 15 --export-json "$OUT/cal1.json" -- "$OUT/burn" "$BASE_WORK" >/dev/null 2>&1
SLOW_WORK=$(python3 - "$OUT" "$BASE_WORK" <<'PY'
import json, statistics, sys
out, base = sys.argv[1], int(sys.argv[2])
cpu = lambda f: statistics.median(r["values"]["cpu_time"] for r in json.load(open(f))["benchmarks"][0]["runs"])
c0, c1 = cpu(f"{out}/cal0.json"), cpu(f"{out}/cal1.json")
print(round((1.10 * c1 - c0) / ((c1 - c0) / base)))
PY
)
echo "bench-gate: candidate work $SLOW_WORK for +10 % CPU time over $BASE_WORK" >&2

# one trial: $1 = label, $2 = candidate work; appends "label exit_code" and the run files
trial() {
  local label=$1 work=$2 i=$3
  local dir="$OUT/trials/$label-$i"
  mkdir -p "$dir"
  # a noisy baseline is refused by --save (exit 2): measure it again, as CI would
  local refused=0
  until "$FW" bench --name burn --save "$dir/base.json" -- "$OUT/burn" "$BASE_WORK" >/dev/null 2>"$dir/base.err"; do
    refused=$((refused + 1))
    if [ "$refused" -ge 5 ]; then
      echo "bench-gate: baseline refused 5 times: $(cat "$dir/base.err")" >&2
      exit 2
    fi
  done
  echo "$refused" >"$dir/refused"
  set +e
  "$FW" bench --name burn --compare "$dir/base.json" --fail-on-regression \
    --export-json "$dir/cand.json" -- "$OUT/burn" "$work" >"$dir/report.txt" 2>"$dir/cand.err"
  local rc=$?
  set -e
  echo "$rc" >"$dir/rc"
}

rm -rf "$OUT/trials"
start=$(date +%s)
for i in $(seq 1 "$TRIALS"); do trial aa "$BASE_WORK" "$i"; done
for i in $(seq 1 "$TRIALS"); do trial reg "$SLOW_WORK" "$i"; done
elapsed=$(( $(date +%s) - start ))

# harness overhead: per-run wall of `true` as each tool measures it, and total time per run
RUNS=300
t0=$(date +%s%N)
"$FW" bench --runs $RUNS --warmup 5 --export-json "$OUT/fw-true.json" -- true >/dev/null 2>&1
t1=$(date +%s%N)
hyperfine -N --runs $RUNS --warmup 5 --export-json "$OUT/hf-true.json" true >/dev/null 2>&1
t2=$(date +%s%N)

python3 - "$OUT" "$TRIALS" "$elapsed" "$RUNS" "$t0" "$t1" "$t2" "$SLOW_WORK" <<'PY' | tee "$OUT/results.md"
import json, os, statistics, sys
out, trials, elapsed, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
t0, t1, t2, slow_work = map(int, sys.argv[5:9])

def vals(doc, key, n=None):
    v = [r["values"][key] for r in doc["benchmarks"][0]["runs"]]
    return v[:n] if n else v

rows = {}
for label in ("aa", "reg"):
    stats = {"gate_fail": 0, "gate_regressed": 0, "gate_inconclusive": 0, "hf_wall": 0, "hf_cpu": 0,
             "runs": [], "n": 0, "ratio": [], "wall_cv": [], "refused": 0}
    for i in range(1, trials + 1):
        d = os.path.join(out, "trials", f"{label}-{i}")
        rc = int(open(os.path.join(d, "rc")).read())
        if rc == 2:
            sys.exit(f"trial {d} failed: " + open(os.path.join(d, "cand.err")).read())
        base = json.load(open(os.path.join(d, "base.json")))
        cand = json.load(open(os.path.join(d, "cand.json")))
        stats["n"] += 1
        stats["refused"] += int(open(os.path.join(d, "refused")).read())
        stats["gate_regressed"] += rc == 1
        stats["gate_inconclusive"] += rc == 3
        stats["gate_fail"] += rc != 0
        stats["runs"].append(len(cand["benchmarks"][0]["runs"]))
        # hyperfine-style rule on the same runs: the candidate's first 3 runs (the default)
        for key, name in (("wall_time", "hf_wall"), ("cpu_time", "hf_cpu")):
            b = statistics.median(vals(base, key))
            c = statistics.median(vals(cand, key, 3))
            stats[name] += c / b > 1.10
        allc = vals(cand, "cpu_time")
        stats["ratio"].append(statistics.median(allc) / statistics.median(vals(base, "cpu_time")))
        w = vals(cand, "wall_time")
        stats["wall_cv"].append(statistics.stdev(w) / statistics.mean(w))
    rows[label] = stats

def pct(k, n): return f"{100.0 * k / n:.1f} % ({k}/{n})"
aa, reg = rows["aa"], rows["reg"]
fw = json.load(open(os.path.join(out, "fw-true.json")))
hf = json.load(open(os.path.join(out, "hf-true.json")))
fw_wall = statistics.median(vals(fw, "wall_time"))
hf_wall = statistics.median(hf["results"][0]["times"])
print(f"## flamewatch bench gate — {os.uname().nodename}, {os.cpu_count()} CPUs, kernel {os.uname().release}\n")
print(f"{trials} A/A trials and {trials} trials with a +10 % CPU-work candidate; default settings "
      f"(3 runs + 1 warm-up, threshold 10 %, noise floor 5 %, drift allowance 2 %, gate cpu+rss, adaptive up to 30 runs); {elapsed} s total.\n")
print("| rule (same runs) | A/A false alarms | detection of +10 % CPU |")
print("|---|---:|---:|")
print(f"| flamewatch gate: regression (exit 1) | {pct(aa['gate_regressed'], aa['n'])} | {pct(reg['gate_regressed'], reg['n'])} |")
print(f"| flamewatch gate: inconclusive (exit 3) | {pct(aa['gate_inconclusive'], aa['n'])} | {pct(reg['gate_inconclusive'], reg['n'])} |")
print(f"| hyperfine-style: median wall of 3 runs > +10 % | {pct(aa['hf_wall'], aa['n'])} | {pct(reg['hf_wall'], reg['n'])} |")
print(f"| same rule on CPU time | {pct(aa['hf_cpu'], aa['n'])} | {pct(reg['hf_cpu'], reg['n'])} |")
print(f"\nInjected change (median over trials of the candidate/baseline CPU-time ratio, work {slow_work} vs 600): "
      f"{100 * (statistics.median(reg['ratio']) - 1):+.1f} %; A/A: {100 * (statistics.median(aa['ratio']) - 1):+.1f} %. "
      f"Median wall-time CV within a candidate: {100 * statistics.median(aa['wall_cv'] + reg['wall_cv']):.1f} %.")
print(f"\nBaselines refused as noisy by --save and re-measured: {aa['refused'] + reg['refused']} "
      f"(of {2 * trials} saved).")
print(f"\nCandidate runs used by the gate: A/A median {statistics.median(aa['runs'])} (max {max(aa['runs'])}), "
      f"+10 %: median {statistics.median(reg['runs'])} (max {max(reg['runs'])}).\n")
print("| harness overhead on `true` | flamewatch bench | hyperfine -N |")
print("|---|---:|---:|")
print(f"| median measured wall per run | {fw_wall*1e3:.3f} ms | {hf_wall*1e3:.3f} ms |")
print(f"| total elapsed / run ({runs} runs + 5 warm-ups) | {(t1-t0)/1e6/(runs+5):.3f} ms | {(t2-t1)/1e6/(runs+5):.3f} ms |")
PY
