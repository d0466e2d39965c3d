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
# SCENARIO=e measures scenario (e) of http.sh instead: POST /e, the 2.6 KB order checked on arrival and
# forwarded to the local upstream (target/release/http_upstream, started on UPSTREAM_PORT; its own
# instructions are not counted, only relais's). TRACE_ON=0 leaves out the tracing-on side. KEEP=DIR keeps
# the callgrind files (callgrind_annotate them to see where the instructions went).
#
# Usage: AFTER=target/release/relais BEFORE=/path/to/old/relais tests/bench/trace_cost.sh
# Settings: N1=200 N2=1200 PORT=9310 SCENARIO=a UPSTREAM_PORT=9311 TRACE_ON=1 KEEP=
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
N1=${N1:-200}
N2=${N2:-1200}
PORT=${PORT:-9310}
AFTER=${AFTER:-$ROOT/target/release/relais}
BEFORE=${BEFORE:-}
SCENARIO=${SCENARIO:-a}
UPSTREAM_PORT=${UPSTREAM_PORT:-9311}
TRACE_ON=${TRACE_ON:-1}
KEEP=${KEEP:-}
OUT=$(mktemp -d)
UPSTREAM_PID=
trap '[[ -n $UPSTREAM_PID ]] && kill "$UPSTREAM_PID" 2>/dev/null; rm -rf "$OUT"' EXIT

# The curl arguments of one request of the scenario, and the upstream it needs.
case $SCENARIO in
    a)
        URL_PATH=/a
        CURL_BODY=()
        ;;
    e)
        URL_PATH=/e
        CURL_BODY=(-X POST -H "content-type: application/json" --data-binary "@tests/bench/data/order_large.json")
        "$ROOT/target/release/http_upstream" --port "$UPSTREAM_PORT" >"$OUT/upstream.log" 2>&1 &
        UPSTREAM_PID=$!
        for _ in $(seq 1 100); do
            if curl -sf -o /dev/null "http://127.0.0.1:$UPSTREAM_PORT/quote"; then break; fi
            sleep 0.1
        done
        ;;
    *)
        echo "SCENARIO must be a or e" >&2
        exit 2
        ;;
esac
# One request in a curl config file (`next` ends its options, so bodies are not joined into one); a body is
# read from the file named after `@`.
config_entry() {
    printf 'url = "http://127.0.0.1:%s%s"\noutput = "/dev/null"\n' "$PORT" "$URL_PATH"
    if [[ $SCENARIO == e ]]; then
        printf 'request = "POST"\nheader = "content-type: application/json"\ndata-binary = "@tests/bench/data/order_large.json"\n'
    fi
}

# Instructions executed by `relais` ($1) serving $2 requests, with the extra environment $3...
instructions() {
    local bin=$1 n=$2
    shift 2
    env RELAIS_LOG=warn RELAIS_BENCH_PORT="$PORT" RELAIS_UPSTREAM_BASE_URL="http://127.0.0.1:$UPSTREAM_PORT" "$@" \
        valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.$n" "$bin" run tests/bench/flows/http \
        --admin off --state memory --no-watch >"$OUT/log.$n" 2>&1 &
    local pid=$!
    for _ in $(seq 1 600); do
        if curl -sf -o /dev/null "${CURL_BODY[@]}" "http://127.0.0.1:$PORT$URL_PATH"; then break; fi
        sleep 0.2
    done
    : >"$OUT/curl.cfg"
    for _ in $(seq 2 "$n"); do
        if [[ -s $OUT/curl.cfg && $SCENARIO == e ]]; then echo next >>"$OUT/curl.cfg"; fi
        config_entry >>"$OUT/curl.cfg"
    done
    curl -sf --config "$OUT/curl.cfg"
    kill -TERM "$pid"
    wait "$pid" || true
    if [[ -n $KEEP ]]; then
        mkdir -p "$KEEP"
        cp "$OUT/cg.$n" "$KEEP/callgrind.$(basename "$bin").$SCENARIO.$n"
    fi
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

case $SCENARIO in
    a) echo "GET /a (fixed answer), $N1 vs $N2 requests on one connection, under callgrind:" ;;
    e) echo "POST /e (2.6 KB body forwarded), $N1 vs $N2 requests on one connection, under callgrind:" ;;
esac
if [[ -n $BEFORE ]]; then
    run_side "before (no tracing)" "$BEFORE"
fi
run_side "after, tracing off" "$AFTER"
if [[ $TRACE_ON == 1 ]]; then
    run_side "after, tracing on" "$AFTER" OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9 OTEL_BSP_SCHEDULE_DELAY=100
fi
