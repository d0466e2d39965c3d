#!/usr/bin/env bash
# Scale-out benchmark: the webhook flow of tests/bench/webhook.sh (validate, idempotent claim in a persistent
# store, persistent queue.publish, 202; 16 consumers per replica map each queued order) on 1, 2 and 3 relais
# replicas sharing one PostgreSQL schema, next to one relais on its embedded redb store, in one run.
#
# For each setup it loads every replica at once (one wrk per replica, CONNECTIONS split between them) and
# reports the webhooks accepted per second in all, the worst replica's p50/p99, the queue depth right after
# the load and the drain time, and, from PostgreSQL's own counters (pg_stat_database), the transactions
# committed and the rows written per accepted webhook (publish, claim, lease, ack and the consumer's claim
# confirmation included).
#
# Nothing is pinned: on a 2-core machine the replicas, wrk and PostgreSQL share both cores, so more replicas
# add no CPU; what the table shows there is the cost of sharing the state, not the gain of more machines.
#
# Usage: tests/bench/replicas.sh    (builds the release binary first; needs wrk, curl, psql)
# Settings (environment): DURATION=10s CONNECTIONS=64 REPLICAS="1 2 3" SKIP_BUILD=1 DRAIN_TIMEOUT=120
#                         PG=postgres://postgres@127.0.0.1:5432/test  BASE_PORT=9200
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
REPLICAS=${REPLICAS:-"1 2 3"}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-120}
PG=${PG:-postgres://postgres@127.0.0.1:5432/test}
BASE_PORT=${BASE_PORT:-9200}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/release
OUT=$TARGET/bench-replicas/$(date +%Y%m%d-%H%M%S)
ORDER=$ROOT/flows/data/samples/order.json
LUA=$ROOT/tests/bench/wrk/webhook_orders.lua
QUEUE=webhook_orders

BENCH_NAME=replicas.sh
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"
build_release -p relais-engine --bin relais
ensure_wrk
mkdir -p "$OUT"

sql() { PGOPTIONS="--client-min-messages=warning" psql "$PG" -qtAX -c "$1"; }
# Transactions committed and rows written in the benchmark's database so far.
pg_counters() {
    sql "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted FROM pg_stat_database
         WHERE datname = current_database()" | tr '|' ' '
}

# Starts replica $2 (0-based) of setup $1 on state $3; sets PORT_OF/ADMIN_OF.
declare -A PORT_OF ADMIN_OF
start_replica() {
    local setup=$1 i=$2 state=$3 port admin
    port=$((BASE_PORT + 10 * i))
    admin=$((port + 1))
    RELAIS_LOG=warn RELAIS_BENCH_PORT=$port "$BIN/relais" run tests/bench/flows/webhook --no-watch \
        --admin "127.0.0.1:$admin" --state "$state" >"$OUT/$setup-$i.log" 2>&1 &
    PIDS+=($!)
    PORT_OF[$i]=$port
    ADMIN_OF[$i]=$admin
    for _ in $(seq 1 300); do
        if curl -sf -o /dev/null "http://127.0.0.1:$admin/ready"; then return 0; fi
        sleep 0.1
    done
    log "replica $i of $setup is not ready"
    cat "$OUT/$setup-$i.log" >&2
    exit 1
}

gauge() {
    local n
    n=$(curl -s "http://127.0.0.1:${ADMIN_OF[0]}/metrics" | awk -v m="$1{queue=\"$QUEUE\"}" '$1 == m { print $2 }')
    echo "${n:-0}"
}

# Loads the $2 replicas of setup $1 at once and prints one table row.
run_setup() {
    local setup=$1 n=$2 each=$(( (CONNECTIONS + $2 - 1) / $2 )) i before after
    before=$(pg_counters)
    local wrks=()
    for i in $(seq 0 $((n - 1))); do
        RUN_ID="$setup-$i-$$" ORDER_FILE=$ORDER wrk -t1 -c"$each" -d"$DURATION" --latency -s "$LUA" \
            "http://127.0.0.1:${PORT_OF[$i]}/orders" >"$OUT/$setup-wrk-$i.txt" 2>&1 &
        wrks+=($!)
    done
    wait "${wrks[@]}"
    local depth started drained_in="> ${DRAIN_TIMEOUT} s"
    depth=$(gauge relais_queue_depth)
    started=$(date +%s.%N)
    while awk -v s="$started" -v t="$(date +%s.%N)" -v max="$DRAIN_TIMEOUT" 'BEGIN { exit !(t - s < max) }'; do
        if [[ $(gauge relais_queue_depth) == 0 && $(gauge relais_queue_in_flight) == 0 ]]; then
            drained_in=$(awk -v s="$started" -v t="$(date +%s.%N)" 'BEGIN { printf "%.1f s", t - s }')
            break
        fi
        sleep 0.1
    done
    after=$(pg_counters)
    local accepted=0 bad=0 seconds=0 p50=0 p99=0 f r b s
    for i in $(seq 0 $((n - 1))); do
        f=$OUT/$setup-wrk-$i.txt
        r=$(awk '/ requests in / { print $1 }' "$f")
        b=$(awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ {
            gsub(",", ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$f")
        s=$(awk '/ requests in / { v = $4; sub(",", "", v); n = v + 0; if (v ~ /ms$/) n /= 1000; else if (v ~ /m$/) n *= 60; print n }' "$f")
        accepted=$((accepted + r - b))
        bad=$((bad + b))
        seconds=$s
        p50=$(awk -v a="$p50" -v b="$(to_ms "$(awk '$1 == "50%" { print $2 }' "$f")")" 'BEGIN { print (b > a ? b : a) }')
        p99=$(awk -v a="$p99" -v b="$(to_ms "$(awk '$1 == "99%" { print $2 }' "$f")")" 'BEGIN { print (b > a ? b : a) }')
    done
    local rps per_msg
    rps=$(awk -v a="$accepted" -v s="$seconds" 'BEGIN { printf "%.0f", (s > 0 ? a / s : 0) }')
    if [[ $setup == redb ]]; then
        per_msg="— / —"
    else
        per_msg=$(awk -v b="$before" -v a="$after" -v n="$accepted" 'BEGIN {
            split(b, x, " "); split(a, y, " ");
            printf "%.1f / %.1f", (n > 0 ? (y[1] - x[1]) / n : 0), (n > 0 ? (y[2] - x[2]) / n : 0) }')
    fi
    echo "| $setup | $n | $rps | $p50 / $p99 | $bad | $depth | $drained_in | $per_msg |"
}

ROWS=()
# The embedded store first, in a fresh directory on the build's disk.
rm -rf "$OUT/redb-state"
start_replica redb 0 "$OUT/redb-state"
log "redb: 1 replica, wrk -c$CONNECTIONS -d$DURATION"
ROWS+=("$(run_setup redb 1)")
kill_started
PIDS=()

for n in $REPLICAS; do
    schema=bench_replicas_$n
    sql "DROP SCHEMA IF EXISTS $schema CASCADE"
    url="$PG?schema=$schema"
    for i in $(seq 0 $((n - 1))); do
        start_replica "pg$n" "$i" "$url"
    done
    log "PostgreSQL: $n replica(s), wrk -c$CONNECTIONS -d$DURATION split between them"
    ROWS+=("$(run_setup "pg$n" "$n")")
    kill_started
    PIDS=()
    sql "DROP SCHEMA IF EXISTS $schema CASCADE"
done

echo
echo "POST /orders (validate, idempotent claim, persistent publish, 202; 16 consumers per replica); $(nproc) cores,"
echo "nothing pinned; wrk -c$CONNECTIONS -d$DURATION in all, split between the replicas"
echo
echo "| state | replicas | webhooks accepted/s | worst p50 / p99 ms | failed | queue depth after | drain time | PostgreSQL commits / rows written per webhook |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
log "raw wrk output and server logs in $OUT"
