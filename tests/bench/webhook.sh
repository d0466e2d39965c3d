#!/usr/bin/env bash
# Webhook benchmark of the reference `order_to_crm` shape (tests/bench/flows/webhook/webhook.yaml): a ticketing
# order is posted (a new order id on every request, tests/bench/wrk/webhook_orders.lua), the listener validates
# it, claims the order id in a persistent object store (`idempotent`), publishes it to a persistent queue
# (fsync'd before the step returns) and answers 202; a consumer flow with 16 consumers maps each queued order.
#
# For each load it reports the webhooks accepted per second (202s), p50/p99 latency, the queue depth right
# after the load, how long the consumers took to drain it, and the rate they consumed at during the load:
# the consumers keep up when the depth after the load is about zero.
#
# relais runs on core 0 (`taskset -c 0`), wrk on core 1, as in tests/bench/http.sh. With BEFORE_BIN=DIR (the
# release directory of another build of relais, an earlier commit say), that build runs as a second side
# ("before") on BEFORE_PORT with its own state directory, and the loads alternate (before, relais, before,
# relais...) so that noise from other work on the machine hits both sides alike.
#
# Usage: tests/bench/webhook.sh         (from anywhere; builds the release binary first)
# Settings (environment): ROUNDS=1 DURATION=10s CONNECTIONS=64 THREADS=1 DRAIN_TIMEOUT=120
#                         RELAIS_PORT=9110 BEFORE_PORT=9111 RELAIS_ADMIN=9112 BEFORE_ADMIN=9113
#                         SERVER_CPU=0 LOAD_CPU=1 SKIP_BUILD=1 BEFORE_BIN=DIR STATE_ROOT=DIR (default: under
#                         the target directory, so on the disk the build uses)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
ROUNDS=${ROUNDS:-1}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-120}
RELAIS_PORT=${RELAIS_PORT:-9110}
BEFORE_PORT=${BEFORE_PORT:-9111}
RELAIS_ADMIN=${RELAIS_ADMIN:-9112}
BEFORE_ADMIN=${BEFORE_ADMIN:-9113}
BEFORE_BIN=${BEFORE_BIN:-}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/release
OUT=$TARGET/bench-webhook/$(date +%Y%m%d-%H%M%S)
STATE_ROOT=${STATE_ROOT:-$OUT}
ORDER=$ROOT/flows/data/samples/order.json
LUA=$ROOT/tests/bench/wrk/webhook_orders.lua
QUEUE=webhook_orders

BENCH_NAME=webhook.sh
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"
build_release -p relais-engine --bin relais
ensure_wrk
mkdir -p "$OUT"

declare -A PID PORT ADMIN
# Starts relais from directory $2 as side $1, pinned to the server core, with its own state directory.
start() {
    local name=$1 bin=$2 port=$3 admin=$4
    rm -rf "$STATE_ROOT/state-$name"
    taskset -c "$SERVER_CPU" env RELAIS_LOG=warn RELAIS_BENCH_PORT="$port" "$bin/relais" run tests/bench/flows/webhook \
        --no-watch --admin "127.0.0.1:$admin" --state "$STATE_ROOT/state-$name" >"$OUT/$name.log" 2>&1 &
    PIDS+=($!)
    PID[$name]=$!
    PORT[$name]=$port
    ADMIN[$name]=$admin
}

start relais "$BIN" "$RELAIS_PORT" "$RELAIS_ADMIN"
SIDES=(relais)
if [[ -n $BEFORE_BIN ]]; then
    start before "$BEFORE_BIN" "$BEFORE_PORT" "$BEFORE_ADMIN"
    SIDES=(before relais)
fi

# A gauge of the queue from side $1's admin port (0 when absent).
metric() {
    local n
    n=$(curl -s "http://127.0.0.1:${ADMIN[$1]}/metrics" | awk -v m="$2{queue=\"$QUEUE\"}" '$1 == m { print $2 }')
    echo "${n:-0}"
}

for side in "${SIDES[@]}"; do
    for _ in $(seq 1 300); do
        if curl -sf -o /dev/null "http://127.0.0.1:${ADMIN[$side]}/ready"; then break; fi
        sleep 0.1
    done
    answer=$(curl -s -X POST -H "content-type: application/json" --data-binary "@$ORDER" \
        "http://127.0.0.1:${PORT[$side]}/orders")
    log "$side answers: $answer"
    if [[ $answer != *queued* && $answer != *duplicate* ]]; then
        cat "$OUT/$side.log" >&2
        exit 1
    fi
done

# Loads side $1 for round $2, waits for its queue to drain, and prints one table row.
load() {
    local side=$1 round=$2 file="$OUT/round$2-$1.txt" depth busy started drained_in seconds
    RUN_ID="$side-$round-$$" ORDER_FILE=$ORDER taskset -c "$LOAD_CPU" wrk -t"$THREADS" -c"$CONNECTIONS" \
        -d"$DURATION" --latency -s "$LUA" "http://127.0.0.1:${PORT[$side]}/orders" >"$file" 2>&1
    depth=$(metric "$side" relais_queue_depth)
    busy=$(metric "$side" relais_queue_in_flight)
    started=$(date +%s.%N)
    drained_in="> ${DRAIN_TIMEOUT} s"
    while awk -v s="$started" -v t="$(date +%s.%N)" -v max="$DRAIN_TIMEOUT" 'BEGIN { exit !(t - s < max) }'; do
        if [[ $(metric "$side" relais_queue_depth) == 0 && $(metric "$side" relais_queue_in_flight) == 0 ]]; then
            drained_in=$(awk -v s="$started" -v t="$(date +%s.%N)" 'BEGIN { printf "%.1f s", t - s }')
            break
        fi
        sleep 0.1
    done
    local requests bad rps p50 p99 accepted consumed
    requests=$(awk '/ requests in / { print $1 }' "$file")
    seconds=$(awk '/ requests in / { v = $4; sub(",", "", v); n = v + 0; if (v ~ /ms$/) n /= 1000; else if (v ~ /m$/) n *= 60; print n }' "$file")
    bad=$(awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ {
        gsub(",", ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$file")
    accepted=$((requests - bad))
    rps=$(awk -v a="$accepted" -v s="$seconds" 'BEGIN { printf "%.0f", (s > 0 ? a / s : 0) }')
    p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$file")")
    p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$file")")
    consumed=$(awk -v a="$accepted" -v d="$depth" -v b="$busy" -v s="$seconds" \
        'BEGIN { printf "%.0f", (s > 0 ? (a - d - b) / s : 0) }')
    echo "| $round | $side | $rps | $p50 / $p99 | $bad | $consumed | $depth | $drained_in |"
}

ROWS=()
for round in $(seq 1 "$ROUNDS"); do
    for side in "${SIDES[@]}"; do
        log "round $round, $side: wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
        ROWS+=("$(load "$side" "$round")")
    done
done

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency; relais on core $SERVER_CPU, wrk on core $LOAD_CPU; $(nproc) cores"
echo "POST /orders: validate, idempotent claim (persistent store), queue.publish persistent, 202; 16 consumers map"
echo
echo "| round | build | webhooks accepted/s | p50 / p99 ms | failed | consumed/s during the load | queue depth after the load | drain time |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
log "raw wrk output and server logs in $OUT"
