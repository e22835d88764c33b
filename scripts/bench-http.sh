#!/usr/bin/env bash
# Overhead of flamewatch request profiling on a real HTTP service under a real load generator.
#
# Runs the example service (crates/flamewatch-example-service, release build) with profiling
# off, at 1 % sampling and at 100 % (mode full), under a loopback load generator with fixed
# duration and connections against a cheap endpoint (`GET /ping`, ~µs of work, so the
# profiler's own cost is what differs). The configurations are interleaved round by round (the
# order rotates each round) and every service run is fresh. On machines with 2 or more cores
# the service is pinned to CPU 0 (one worker thread) and the generator to CPU 1, so they do not
# fight over a core. The profiler's circuit breaker is disabled (`--overhead-max-pct 0`) so
# that "100 %" really traces every request for the whole run. Prints a Markdown table: mean
# throughput, its spread over rounds, the median P99 latency and the throughput loss vs off
# (the mean of the per-round paired losses, with its 95 % Student-t confidence interval: a
# machine's round-to-round noise is several percent, so one-digit losses need many rounds).
#
# Usage: scripts/bench-http.sh                              (ROUNDS=3 DURATION=10 by default)
#        ROUNDS=5 DURATION=10 CONNECTIONS=16 LOADGEN=flamewatch-load scripts/bench-http.sh
#        ENDPOINT='/hash?kib=256' scripts/bench-http.sh     (a fixed ~60 µs of CPU per request)
# LOADGEN: wrk (default; installed from Debian's packages if missing) or flamewatch-load.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-16}
ENDPOINT=${ENDPOINT:-/ping}
LOADGEN=${LOADGEN:-wrk}
WARMUP=${WARMUP:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/bench-http.XXXXXX)
SERVICE_PID=""
cleanup() {
    if [[ -n "$SERVICE_PID" ]]; then kill "$SERVICE_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

(cd "$ROOT" && cargo build --release -q -p flamewatch-example-service)
SERVICE="$ROOT/target/release/flamewatch-example-service"
LOAD="$ROOT/target/release/flamewatch-load"

if [[ "$LOADGEN" == wrk ]] && ! command -v wrk >/dev/null; then
    SUDO=""
    [[ "$(id -u)" -eq 0 ]] || SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
fi
case "$LOADGEN" in
    wrk | flamewatch-load) ;;
    *) echo "bench-http: unknown LOADGEN \`$LOADGEN\` (use wrk or flamewatch-load)" >&2; exit 2 ;;
esac

PIN_SERVICE=() PIN_LOAD=() WORKERS=()
if command -v taskset >/dev/null && [[ "$(nproc)" -ge 2 ]]; then
    PIN_SERVICE=(taskset -c 0) PIN_LOAD=(taskset -c 1) WORKERS=(--workers 1)
fi

declare -A FLAGS=(
    [off]="--off"
    [sampling-1pct]="--mode sampling --sample-rate 0.01 --overhead-max-pct 0"
    [full-100pct]="--mode full --overhead-max-pct 0"
)
CONFIGS=(off sampling-1pct full-100pct)

# Starts the service with the flags of config $1; sets SERVICE_PID and APP.
start_service() {
    local out="$WORK/service.out"
    # shellcheck disable=SC2086
    "${PIN_SERVICE[@]}" "$SERVICE" --bind 127.0.0.1:0 --api-bind 127.0.0.1:0 "${WORKERS[@]}" \
        ${FLAGS[$1]} >"$out" 2>"$WORK/service.err" &
    SERVICE_PID=$!
    APP=""
    for _ in $(seq 100); do
        APP=$(awk '/^app /{print $2}' "$out")
        [[ -n "$APP" ]] && return 0
        sleep 0.05
    done
    echo "bench-http: the service did not start: $(cat "$WORK/service.err")" >&2
    exit 2
}

stop_service() {
    kill "$SERVICE_PID" 2>/dev/null || true
    wait "$SERVICE_PID" 2>/dev/null || true
    SERVICE_PID=""
}

# Loads $1 for $2 seconds; prints "THROUGHPUT P99_MS".
run_load() {
    local url=$1 secs=$2
    if [[ "$LOADGEN" == wrk ]]; then
        "${PIN_LOAD[@]}" wrk -t1 -c"$CONNECTIONS" -d"${secs}s" --latency "$url" >"$WORK/wrk.out"
        awk '
            /Requests\/sec:/ { rps = $2 }
            $1 == "99%" {
                v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
                p99 = (unit == "us") ? v / 1000 : (unit == "s") ? v * 1000 : v
            }
            END { printf "%s %.3f\n", rps, p99 }' "$WORK/wrk.out"
    else
        "${PIN_LOAD[@]}" "$LOAD" "$url" -n 10000000 -d "${secs}s" -c "$CONNECTIONS" --json >"$WORK/load.out"
        sed -E 's/.*"throughput_rps":([0-9.e+-]+).*"p99_ms":([0-9.e+-]+).*/\1 \2/' "$WORK/load.out" |
            awk '{ printf "%.2f %.3f\n", $1, $2 }'
    fi
}

RESULTS="$WORK/results.txt"
: >"$RESULTS"
echo "bench-http: $ROUNDS rounds x ${DURATION}s, $CONNECTIONS connections, $LOADGEN -> GET $ENDPOINT" >&2
for round in $(seq "$ROUNDS"); do
    for i in 0 1 2; do
        config=${CONFIGS[$(((i + round - 1) % 3))]}
        start_service "$config"
        run_load "$APP$ENDPOINT" "$WARMUP" >/dev/null
        read -r rps p99 < <(run_load "$APP$ENDPOINT" "$DURATION")
        stop_service
        echo "$round $config $rps $p99" >>"$RESULTS"
        echo "  round $round $config: $rps req/s, p99 ${p99}ms" >&2
    done
done

echo
echo "$(date -u +%Y-%m-%d) · $(nproc) cores · $LOADGEN, $CONNECTIONS connections, ${DURATION}s x $ROUNDS rounds, GET $ENDPOINT"
echo
awk -v order="off sampling-1pct full-100pct" '
    { rps[$2, $1] = $3; p99[$2, $1] = $4; rounds[$1] = 1 }
    END {
        n = split(order, cfg, " ")
        # two-sided 95 % Student t quantiles by degrees of freedom (30+: normal-ish)
        split("12.71 4.30 3.18 2.78 2.57 2.45 2.36 2.31 2.26 2.23 2.20 2.18 2.16 2.14 2.13 2.12 2.11 2.10 2.09 2.09", tq, " ")
        print "| configuration | throughput (req/s, mean) | min–max | P99 (ms, median) | throughput loss vs off | 95 % CI of the loss |"
        print "|---|---:|---:|---:|---:|---:|"
        for (c = 1; c <= n; c++) {
            k = cfg[c]; sum = 0; cnt = 0; lo = ""; hi = ""; loss = 0; loss2 = 0; m = 0
            for (r in rounds) {
                v = rps[k, r]; sum += v; cnt++
                if (lo == "" || v < lo) lo = v
                if (hi == "" || v > hi) hi = v
                ps[++m] = p99[k, r]
                d = (rps["off", r] - v) / rps["off", r] * 100
                loss += d; loss2 += d * d
            }
            # median P99 (insertion sort of m values)
            for (i = 2; i <= m; i++) { x = ps[i]; j = i - 1; while (j > 0 && ps[j] > x) { ps[j + 1] = ps[j]; j-- } ps[j + 1] = x }
            med = (m % 2) ? ps[(m + 1) / 2] : (ps[m / 2] + ps[m / 2 + 1]) / 2
            mean = loss / cnt
            l = (k == "off") ? "—" : sprintf("%+.2f %%", mean)
            ci = "—"
            if (k != "off" && cnt > 1) {
                var = (loss2 - cnt * mean * mean) / (cnt - 1); if (var < 0) var = 0
                t = (cnt - 1 <= 20) ? tq[cnt - 1] : 2.0
                h = t * sqrt(var / cnt)
                ci = sprintf("%+.2f … %+.2f %%", mean - h, mean + h)
            }
            printf "| %s | %.0f | %.0f–%.0f | %.3f | %s | %s |\n", k, sum / cnt, lo, hi, med, l, ci
        }
    }' "$RESULTS"
