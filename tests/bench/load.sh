#!/usr/bin/env bash
# Load run of the reference integration: sustained ticketing webhooks (`POST /ticketing/orders`, each a new
# order) against `relais run flows/` (the integration and its simulated systems in one process). Every
# accepted order is queued and pushed to the simulated CRM (sessions fetched from simulated ticketing, OAuth2
# token, contact upsert), so the rate that holds is the rate of the whole pipeline: when the consumers fall
# behind, the bounded queue fills and webhooks wait, which shows in their latency.
#
# relais runs on core 0, wrk on core 1. For each number of connections the script reports requests per second
# and latency percentiles, waits for the queue to drain, and counts the orders that reached the CRM; the
# answer is the highest rate whose p99 stays under 100 ms.
#
# Usage: tests/bench/load.sh     Settings: DURATION=10s LEVELS="4 8 16 32 64" SKIP_BUILD=1
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
DURATION=${DURATION:-10s}
LEVELS=${LEVELS:-"4 8 16 32 64"}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=$TARGET/bench-load/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
export ORDER_TEMPLATE=$OUT/order.json
head -1 flows/data/samples/orders.jsonl >"$ORDER_TEMPLATE"

BENCH_NAME=load.sh
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"
build_release -p relais-engine
ensure_wrk

CRM_CLIENT_SECRET=dev-secret RELAIS_LOG=warn taskset -c 0 "$TARGET/release/relais" run flows/ --no-watch --admin-insecure --state "$OUT/state" \
    >"$OUT/relais.log" 2>&1 &
PID=$!
PIDS+=("$PID")
for _ in $(seq 1 300); do
    curl -sf -o /dev/null http://127.0.0.1:9464/ready && break
    sleep 0.1
done

metric() { curl -s http://127.0.0.1:9464/metrics | awk -v m="$1" '$1 == m { print $2 }'; }
pushed() { local n; n=$(metric 'relais_flow_events_total{flow="push_order_to_crm"}'); echo "${n:-0}"; }

printf '| connections | webhooks/s | p50 | p90 | p99 | orders in CRM (cumulative) | drain after the run |\n'
printf '|---|---|---|---|---|---|---|\n'
best_rate=0
best_line=""
for c in $LEVELS; do
    taskset -c 1 wrk -t1 -c"$c" -d"$DURATION" --latency -s tests/bench/load/orders.lua \
        http://127.0.0.1:8080/ticketing/orders >"$OUT/wrk-$c.txt"
    started=$(date +%s.%N)
    for _ in $(seq 1 600); do
        depth=$(metric 'relais_queue_depth{queue="crm_contacts"}')
        busy=$(metric 'relais_queue_in_flight{queue="crm_contacts"}')
        [[ ${depth:-0} == 0 && ${busy:-0} == 0 ]] && break
        sleep 0.1
    done
    drain=$(echo "$(date +%s.%N) - $started" | bc)
    rate=$(awk '/Requests\/sec/ { print $2 }' "$OUT/wrk-$c.txt")
    p50=$(awk '$1 == "50%" { print $2 }' "$OUT/wrk-$c.txt")
    p90=$(awk '$1 == "90%" { print $2 }' "$OUT/wrk-$c.txt")
    p99=$(awk '$1 == "99%" { print $2 }' "$OUT/wrk-$c.txt")
    errors=$(awk '/Non-2xx/ { print $5 }' "$OUT/wrk-$c.txt")
    printf '| %s | %s | %s | %s | %s | %s | %.1f s |\n' "$c" "$rate${errors:+ ($errors non-2xx)}" "$p50" "$p90" "$p99" "$(pushed)" "$drain"
    # p99 under 100 ms: wrk prints it in us, ms or s.
    ok=$(echo "$p99" | awk '{ v = $1 + 0; if ($1 ~ /us$/) v /= 1000; else if ($1 ~ /ms$/) v += 0; else if ($1 ~ /s$/) v *= 1000; print (v < 100) ? 1 : 0 }')
    if [[ $ok == 1 ]] && (( $(echo "$rate > $best_rate" | bc) )); then
        best_rate=$rate
        best_line="$c connections: $rate webhooks/s, p99 $p99"
    fi
done
dead=$(curl -s http://127.0.0.1:9464/dead-letters | { grep -o '"flow"' || true; } | wc -l)
echo
echo "highest sustained rate with p99 < 100 ms: ${best_line:-none}; dead letters: $dead"
echo "raw wrk output and relais log: $OUT"
