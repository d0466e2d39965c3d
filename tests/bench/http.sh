#!/usr/bin/env bash
# HTTP daemon benchmark: throughput and p50/p99 latency of `relais run` on six scenarios, each measured
# side by side with a minimal hand-written hyper server doing the same work (the ceiling):
#   (a) GET  /a  listener -> respond a fixed JSON body
#   (b) POST /b  listener -> loop-free Rhai mapping (585 B ticketing order -> CRM contact) -> respond
#   (c) GET  /c  listener -> http.request to a local upstream -> respond with its body
#   (d) POST /d  listener -> realistic Rhai mapping of the 2.6 KB order (a helper fn, a for loop, a sort, a
#                sum; tests/bench/flows/http/mappings/order_to_crm.rhai) -> respond
#   (e) POST /e  listener -> http.request POSTing the 2.6 KB body to the upstream -> respond with its body
#   (f) POST /f  listener -> logger at trace level (not written) -> respond the 2.6 KB order unchanged
# The servers under test and the upstream run on core 0 (`taskset -c 0`), wrk on core 1, so each side gets
# one core and the load generator never competes with it. Runs are interleaved (ceiling a, relais a,
# ceiling b, relais b, ...) so that noise from other work on the machine hits both sides alike.
#
# With BEFORE_BIN=DIR (the release directory of another build of relais, an earlier commit say), that
# build runs as a third side ("before") on BEFORE_PORT, interleaved with the two others, and the table adds
# its figures and relais / before: a change measured against what it replaces in the same run.
#
# Usage: tests/bench/http.sh            (from anywhere; builds release binaries first)
# Settings (environment): ROUNDS=1 DURATION=10s CONNECTIONS=32 THREADS=1 WARMUP=3s SCENARIOS="a b c d e f"
#                         RELAIS_PORT=9100 CEILING_PORT=9101 UPSTREAM_PORT=9103 BEFORE_PORT=9104
#                         SERVER_CPU=0 LOAD_CPU=1 SKIP_BUILD=1 (use the binaries already built)
#                         BEFORE_BIN=DIR (compare with the relais in DIR)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
ROUNDS=${ROUNDS:-1}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
WARMUP=${WARMUP:-3s}
RELAIS_PORT=${RELAIS_PORT:-9100}
CEILING_PORT=${CEILING_PORT:-9101}
UPSTREAM_PORT=${UPSTREAM_PORT:-9103}
BEFORE_PORT=${BEFORE_PORT:-9104}
BEFORE_BIN=${BEFORE_BIN:-}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/release
OUT=$TARGET/bench-http/$(date +%Y%m%d-%H%M%S)
SMALL_ORDER=$ROOT/flows/data/samples/order.json
LARGE_ORDER=$ROOT/tests/bench/data/order_large.json
LUA=$ROOT/tests/bench/wrk/post_order.lua

BENCH_NAME=http.sh
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"
build_release -p relais-engine -p relais-bench --bins
ensure_wrk
mkdir -p "$OUT"

declare -A PID
# Starts a server pinned to the server core (`taskset` execs it, so `$!` is the server's pid); its output goes
# to a log file next to the results.
start() {
    local name=$1
    shift
    taskset -c "$SERVER_CPU" "$@" >"$OUT/$name.log" 2>&1 &
    PIDS+=($!)
    PID[$name]=$!
}

# Waits until `curl ARGS...` succeeds (2xx), for up to 30 s; shows the server's log when it never does.
wait_ready() {
    local name=$1
    shift
    for _ in $(seq 1 300); do
        if curl -sf -o /dev/null "$@"; then return 0; fi
        sleep 0.1
    done
    log "$name does not answer: $*"
    cat "$OUT/$name.log" >&2
    exit 1
}

start upstream "$BIN/http_upstream" --port "$UPSTREAM_PORT"
start ceiling "$BIN/http_ceiling" --port "$CEILING_PORT" --upstream "http://127.0.0.1:$UPSTREAM_PORT"
start relais env RELAIS_LOG=warn RELAIS_BENCH_PORT="$RELAIS_PORT" \
    RELAIS_UPSTREAM_BASE_URL="http://127.0.0.1:$UPSTREAM_PORT" "$BIN/relais" run tests/bench/flows/http --admin off
if [[ -n $BEFORE_BIN ]]; then
    start before env RELAIS_LOG=warn RELAIS_BENCH_PORT="$BEFORE_PORT" \
        RELAIS_UPSTREAM_BASE_URL="http://127.0.0.1:$UPSTREAM_PORT" "$BEFORE_BIN/relais" run tests/bench/flows/http \
        --admin off --state memory
    SIDES=(ceiling before relais)
else
    SIDES=(ceiling relais)
fi
wait_ready upstream "http://127.0.0.1:$UPSTREAM_PORT/quote"

read -r -a SCENARIOS <<<"${SCENARIOS:-a b c d e f}"
# The body posted in scenario $1 (none for the GET scenarios).
body_of() {
    case $1 in
        b) echo "$SMALL_ORDER" ;;
        d | e | f) echo "$LARGE_ORDER" ;;
        *) echo "" ;;
    esac
}
# Sets REQUEST to the curl arguments that make one request of scenario $1 against base URL $2.
request() {
    local body
    body=$(body_of "$1")
    if [[ -n $body ]]; then
        REQUEST=(-X POST -H "content-type: application/json" --data-binary "@$body" "$2/$1")
    else
        REQUEST=("$2/$1")
    fi
}
# The port of side $1.
port_of() {
    case $1 in
        relais) echo "$RELAIS_PORT" ;;
        before) echo "$BEFORE_PORT" ;;
        *) echo "$CEILING_PORT" ;;
    esac
}
for side in "${SIDES[@]}"; do
    port=$(port_of "$side")
    for s in "${SCENARIOS[@]}"; do
        request "$s" "http://127.0.0.1:$port"
        wait_ready "$side" "${REQUEST[@]}"
        log "$side $s answers: $(curl -s "${REQUEST[@]}")"
    done
done

# CPU time (user + system, in clock ticks) a process has used so far.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}
TICK=$(getconf CLK_TCK)

# Runs wrk pinned to the load core against one scenario of one side, writing its output to a file, and
# appends the CPU time the server under test spent meanwhile (`server cpu ticks: N`): on a shared machine
# CPU per request is steadier than requests per second, which also moves with what else runs on the core.
load() {
    local side=$1 s=$2 duration=$3 file=$4 port before
    port=$(port_of "$side")
    local script=() body
    body=$(body_of "$s")
    [[ -n $body ]] && script=(-s "$LUA")
    before=$(cpu_ticks "${PID[$side]}")
    ORDER_FILE=$body taskset -c "$LOAD_CPU" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$duration" --latency "${script[@]}" \
        "http://127.0.0.1:$port/$s" >"$file" 2>&1
    echo "server cpu ticks: $(($(cpu_ticks "${PID[$side]}") - before))" >>"$file"
    # Threads and resident memory right after the load, and the peak resident memory so far.
    awk '/^(Threads|VmRSS|VmHWM):/ { print "server " $1 " " $2 }' "/proc/${PID[$side]}/status" >>"$file"
}

# rps, p50 (ms), p99 (ms), server CPU µs per request, failed requests (non-2xx plus socket errors), and the
# server's threads and resident MiB after the load, from one wrk output.
parse() {
    local rps p50 p99 cpu bad threads rss
    rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$1")
    cpu=$(awk -v tick="$TICK" '/ requests in / { n = $1 } /^server cpu ticks:/ { t = $4 }
        END { printf "%.1f", (n > 0 ? t * 1e6 / tick / n : 0) }' "$1")
    p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$1")")
    p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$1")")
    bad=$(awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ {
        gsub(",", ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$1")
    threads=$(awk '$2 == "Threads:" { print $3 }' "$1")
    rss=$(awk '$2 == "VmRSS:" { printf "%.1f", $3 / 1024 }' "$1")
    echo "$rps $p50 $p99 $cpu $bad ${threads:-?} ${rss:-?}"
}

# The median of the numbers on standard input.
median() {
    sort -n | awk '{ v[NR] = $1 } END { printf "%.0f\n", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

# Idle figures of relais, before any load: what an operator sees on a daemon that serves nothing yet.
IDLE=$(awk '/^(Threads|VmRSS):/ { printf "%s %s ", $1, $2 }' "/proc/${PID[relais]}/status")
log "relais idle: $IDLE(kB)"

log "warming up each server and scenario for $WARMUP"
for s in "${SCENARIOS[@]}"; do
    for side in "${SIDES[@]}"; do
        load "$side" "$s" "$WARMUP" "$OUT/warmup-$side-$s.txt"
    done
done

ROWS=()
BEFORE_ROWS=()
declare -A RATIOS CPU_RATIOS BEFORE_RATIOS BEFORE_CPU_RATIOS
for round in $(seq 1 "$ROUNDS"); do
    for s in "${SCENARIOS[@]}"; do
        for side in "${SIDES[@]}"; do
            log "round $round, scenario $s, $side: wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
            load "$side" "$s" "$DURATION" "$OUT/round$round-$side-$s.txt"
        done
        read -r c_rps c_p50 c_p99 c_cpu c_bad _ _ < <(parse "$OUT/round$round-ceiling-$s.txt")
        read -r r_rps r_p50 r_p99 r_cpu r_bad r_threads r_rss < <(parse "$OUT/round$round-relais-$s.txt")
        if ((c_bad + r_bad > 0)); then
            log "WARNING: round $round scenario $s: $c_bad failed requests on the ceiling, $r_bad on relais"
        fi
        ratio=$(awk -v r="$r_rps" -v c="$c_rps" 'BEGIN { printf "%.0f", (c > 0 ? 100 * r / c : 0) }')
        cpu_ratio=$(awk -v r="$r_cpu" -v c="$c_cpu" 'BEGIN { printf "%.0f", (r > 0 ? 100 * c / r : 0) }')
        RATIOS[$s]+="$ratio "
        CPU_RATIOS[$s]+="$cpu_ratio "
        ROWS+=("| $round | $s | $c_rps | $r_rps | **$ratio %** | $c_p50 / $c_p99 | $r_p50 / $r_p99 | $c_cpu / $r_cpu | $cpu_ratio % | $r_threads / $r_rss | $c_bad / $r_bad |")
        if [[ -n $BEFORE_BIN ]]; then
            read -r b_rps b_p50 b_p99 b_cpu b_bad _ _ < <(parse "$OUT/round$round-before-$s.txt")
            vs=$(awk -v r="$r_rps" -v b="$b_rps" 'BEGIN { printf "%.0f", (b > 0 ? 100 * r / b : 0) }')
            cpu_vs=$(awk -v r="$r_cpu" -v b="$b_cpu" 'BEGIN { printf "%.0f", (r > 0 ? 100 * b / r : 0) }')
            BEFORE_RATIOS[$s]+="$vs "
            BEFORE_CPU_RATIOS[$s]+="$cpu_vs "
            BEFORE_ROWS+=("| $round | $s | $b_rps | $r_rps | **$vs %** | $b_p50 / $b_p99 | $r_p50 / $r_p99 | $b_cpu / $r_cpu | $cpu_vs % | $b_bad / $r_bad |")
        fi
    done
done

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency; servers on core $SERVER_CPU, wrk on core $LOAD_CPU; $(nproc) cores"
echo "relais idle (before any load): $IDLE(kB)"
echo "(a) GET /a fixed JSON; (b) POST /b loop-free order -> contact mapping; (c) GET /c via a local upstream;"
echo "(d) POST /d 2.6 KB order -> realistic mapping (fn, for, sort, sum); (e) POST /e 2.6 KB body forwarded"
echo "to the upstream; (f) POST /f 2.6 KB order echoed (a trace-level logger)"
echo
echo "| round | scenario | ceiling rps | relais rps | relais / ceiling rps | ceiling p50 / p99 ms | relais p50 / p99 ms | server CPU µs/req (c / r) | ceiling / relais CPU | relais threads / RSS MiB | failed (c / r) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
if [[ -n $BEFORE_BIN ]]; then
    echo
    echo "relais against the build in $BEFORE_BIN (before), same run:"
    echo
    echo "| round | scenario | before rps | relais rps | relais / before rps | before p50 / p99 ms | relais p50 / p99 ms | server CPU µs/req (b / r) | before / relais CPU | failed (b / r) |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${BEFORE_ROWS[@]}"
    if ((ROUNDS > 1)); then
        echo
        echo "| scenario | median relais / before rps | median before / relais CPU per request |"
        echo "|---|---|---|"
        for s in "${SCENARIOS[@]}"; do
            # shellcheck disable=SC2086 # one number per word
            echo "| $s | $(printf '%s\n' ${BEFORE_RATIOS[$s]} | median) % | $(printf '%s\n' ${BEFORE_CPU_RATIOS[$s]} | median) % |"
        done
    fi
fi
if ((ROUNDS > 1)); then
    echo
    echo "| scenario | median relais / ceiling rps | median ceiling / relais CPU per request |"
    echo "|---|---|---|"
    for s in "${SCENARIOS[@]}"; do
        # shellcheck disable=SC2086 # one number per word
        echo "| $s | $(printf '%s\n' ${RATIOS[$s]} | median) % | $(printf '%s\n' ${CPU_RATIOS[$s]} | median) % |"
    done
fi
echo
log "raw wrk output and server logs in $OUT"
