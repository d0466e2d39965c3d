#!/usr/bin/env bash
# What tracing costs per request, in instructions (callgrind counts them reliably on a loaded machine): the
# fixed-answer scenario of http.sh (GET /a, listener -> fixed JSON body) served by `relais run` under
# callgrind, N1 then N2 requests on one keep-alive connection; (Ir(N2) - Ir(N1)) / (N2 - N1) is the cost of
# one request, start-up and shutdown cancelling out.
#
# Sides: BEFORE=PATH (a relais built without tracing, e.g. the commit before it), AFTER=PATH (this build)
# with tracing off, and the same build with tracing on (OTEL_EXPORTER_OTLP_ENDPOINT at a port nothing
# listens on: every span is made, queued and its export attempted).
#
# Usage: AFTER=target/release/relais BEFORE=/path/to/old/relais tests/bench/trace_cost.sh
# Settings: N1=200 N2=1200 PORT=9310
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
N1=${N1:-200}
N2=${N2:-1200}
PORT=${PORT:-9310}
AFTER=${AFTER:-$ROOT/target/release/relais}
BEFORE=${BEFORE:-}
OUT=$(mktemp -d)

# Instructions executed by `relais` ($1) serving $2 requests, with the extra environment $3...
instructions() {
    local bin=$1 n=$2
    shift 2
    env RELAIS_LOG=warn RELAIS_BENCH_PORT="$PORT" RELAIS_UPSTREAM_BASE_URL=http://127.0.0.1:9 "$@" \
        valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.$n" "$bin" run tests/bench/flows/http \
        --admin off --state memory --no-watch >"$OUT/log.$n" 2>&1 &
    local pid=$!
    for _ in $(seq 1 600); do
        if curl -sf -o /dev/null "http://127.0.0.1:$PORT/a"; then break; fi
        sleep 0.2
    done
    : >"$OUT/curl.cfg"
    for _ in $(seq 2 "$n"); do
        printf 'url = "http://127.0.0.1:%s/a"\noutput = "/dev/null"\n' "$PORT" >>"$OUT/curl.cfg"
    done
    curl -sf --config "$OUT/curl.cfg"
    kill -TERM "$pid"
    wait "$pid" || true
    grep -E '^(summary|totals):' "$OUT/cg.$n" | head -1 | awk '{print $2}'
}

run_side() {
    local name=$1 bin=$2
    shift 2
    # `instructions BIN N ENV...`: the request count goes before the environment.
    local a b
    a=$(instructions "$bin" "$N1" "$@")
    b=$(instructions "$bin" "$N2" "$@")
    printf '%-28s %10s instructions per request\n' "$name" $(((b - a) / (N2 - N1)))
}

echo "GET /a (fixed answer), $N1 vs $N2 requests on one connection, under callgrind:"
if [[ -n $BEFORE ]]; then
    run_side "before (no tracing)" "$BEFORE"
fi
run_side "after, tracing off" "$AFTER"
run_side "after, tracing on" "$AFTER" OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9 OTEL_BSP_SCHEDULE_DELAY=100
rm -rf "$OUT"
