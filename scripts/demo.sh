#!/usr/bin/env bash
# The main job: profiles a real workload from the outside and from the inside.
#
# Builds flamewatch and the bundled quickstart service workload (eight threads doing real CPU
# work and real sleeps, with a mid-run slowdown), then runs the workload under
# `flamewatch record`: on- and off-CPU stacks, flamegraph, pprof, folded stacks and the
# performance map land in flamewatch-out/, the report is printed, and the workload prints what
# the in-process library saw (statistics, anomalies, the regression).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p flamewatch-cli -p flamewatch --example quickstart
out=${OUT:-flamewatch-out}
./target/release/flamewatch record -o "$out" --format all -- ./target/release/examples/quickstart
echo
echo "outputs in $out/ (open the .svg in a browser; 'go tool pprof -top' reads the .pb.gz):"
ls -1t "$out" | head -7
