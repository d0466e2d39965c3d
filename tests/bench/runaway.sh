#!/usr/bin/env bash
# Runaway scripts beside a healthy endpoint: p50/p99 of a healthy endpoint and of the admin `/health`, idle and
# then with eight runaway scripts in flight (closures over big arrays, loops, recursion, sorts, a costly native),
# printed side by side. The runaways run under a 20 s script budget, so they are still burning CPU while the
# second measurement runs; each must end with EXPRESSION:LIMIT.
#
# Measured on the release build (shared 2-core machine, wrk -t1 -c4 -d5s), three runs each, before and after the
# long-runner pool (`--long-scripts`, default half the cores: 1 slot here):
#                          p50 idle   p99 idle req/s idle     p50 busy   p99 busy req/s busy
#   no pool (the figures of the first version, then three runs on a busier machine)
#   GET /healthy             0.05ms     0.57ms      67783       0.07ms    11.45ms      13175
#                            0.07ms     7.73ms      30293       0.10ms    33.26ms       6212
#                            0.06ms     4.00ms      40254       0.10ms    81.76ms       5628
#                            0.06ms     7.61ms      39454       0.10ms    70.38ms       4985
#   admin GET /health        0.02ms     3.23ms     109404       0.05ms    10.09ms      29042
#                            0.05ms    25.96ms      46235       0.07ms    16.21ms       6812
#                            0.05ms    82.29ms      45069       0.05ms    43.11ms      16608
#                            0.05ms     4.75ms      50154       0.64ms    57.43ms       3589
#   pool of one long-runner
#   GET /healthy             0.06ms     0.66ms      58858       0.06ms     5.03ms      39759
#                            0.06ms     0.64ms      46519       0.07ms     7.17ms      43485
#                            0.06ms     1.62ms      52200       0.07ms     3.70ms      48572
#   admin GET /health        0.03ms     2.06ms      86824       0.05ms    95.74ms      47586
#                            0.05ms     0.95ms      53335       0.05ms     5.00ms      54028
#                            0.03ms     3.88ms      80218       0.05ms     2.95ms      57506
# Without the pool the eight runaways share the two cores with the healthy endpoint (throughput drops to the
# CPU left over, a fifth of idle or less); none of them holds a worker. With it, one runaway burns a core and
# the seven others wait (blocked, no CPU) for its slot: the healthy endpoint keeps 75-95 % of its idle
# throughput and a p99 of 3.7-7.2 ms (2-11x idle; one admin run had a 96 ms p99 outlier, the others 3-5 ms).
# All eight end with EXPRESSION:LIMIT: at their 20 s budget, whether running or waiting (the costly native ends
# at 0.1 s on its work limit when it gets the slot first).
# Usage: tests/bench/runaway.sh            (builds the release binary first; needs wrk and curl)
# Settings (environment): DURATION=5s CONNECTIONS=4 PORT=9110 ADMIN_PORT=9465 SKIP_BUILD=1
#                         RELAIS=path/to/relais (another build, an earlier commit say; with SKIP_BUILD=1)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-4}
PORT=${PORT:-9110}
ADMIN_PORT=${ADMIN_PORT:-9465}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
RELAIS=${RELAIS:-$TARGET/release/relais}
WORK=$(mktemp -d)
BENCH_NAME=runaway.sh
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"
build_release -p relais-engine --bin relais
ensure_wrk

# name and script of each runaway (the same kinds as engine/tests/daemon_script_limits.rs)
RUNAWAYS=(
    "closure-map|let a = []; a.pad(100000, 0); let c = a; a.map(|x| { let b = c; x }).len()"
    "closure-filter|let a = []; a.pad(100000, 0); let c = a; a.filter(|x| { let b = c; true }).len()"
    "closure-reduce|let a = []; a.pad(100000, 0); let c = a; a.reduce(|s, x| { let b = c; s + x }, 0)"
    "loop|let a = []; a.pad(100000, 0); let n = 0; loop { let b = a; n += 1; }"
    "while|let a = []; a.pad(100000, 0); let n = 0; while n < 100000 { let b = a; n += 1; } n"
    "recursion|fn f(n, a) { if n == 0 { 0 } else { let b = a; f(n - 1, a) + f(n - 1, a) } } let a = []; a.pad(100000, 0); f(40, a)"
    "sort|let a = []; for i in 0..100000 { a.push(100000 - i) } for r in 0..100000 { a.reverse(); a.sort(); } a.len()"
    "costly-native|let s = pad_left(\"\", 1000000, \"x\"); let n = 0; for i in 0..400000 { n += sha256(s).len(); } n"
)
{
    echo "configs:"
    echo "  api: { http.listener: { port: $PORT, request_timeout: 60s } }"
    echo "flows:"
    echo "  healthy:"
    echo "    source: { http.listener: { config: api, method: GET, path: /healthy } }"
    echo "    steps:"
    echo "      - set_payload: \"#[#{ ok: true }]\""
    for entry in "${RUNAWAYS[@]}"; do
        echo "  ${entry%%|*}:"
        echo "    source: { http.listener: { config: api, method: GET, path: /${entry%%|*} } }"
        echo "    steps:"
        echo "      - set_payload: '#[${entry#*|}]'"
    done
} > "$WORK/flows.yaml"

"$RELAIS" run "$WORK" --admin "127.0.0.1:$ADMIN_PORT" --state memory --no-watch --script-budget 20s \
    > "$WORK/relais.log" 2>&1 &
RELAIS_PID=$!
PIDS+=("$RELAIS_PID")
trap 'kill_started; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$PORT/healthy" > /dev/null 2>&1 && break
    sleep 0.1
done

# p50 and p99 in ms of one wrk run against $1
measure() {
    wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "$1" 2>&1 | awk '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) } /Requests\/sec/ { rps = $2 }
        END { printf "%.2f %.2f %.0f", p50, p99, rps }'
}

log "idle"
read -r H50 H99 HRPS <<< "$(measure "http://127.0.0.1:$PORT/healthy")"
read -r A50 A99 ARPS <<< "$(measure "http://127.0.0.1:$ADMIN_PORT/health")"

log "eight runaways in flight"
RUNAWAY_PIDS=()
for entry in "${RUNAWAYS[@]}"; do
    curl -s -o "$WORK/${entry%%|*}.out" -w '%{http_code} %{time_total}\n' "http://127.0.0.1:$PORT/${entry%%|*}" \
        > "$WORK/${entry%%|*}.status" &
    RUNAWAY_PIDS+=($!)
done
read -r RH50 RH99 RHRPS <<< "$(measure "http://127.0.0.1:$PORT/healthy")"
read -r RA50 RA99 RARPS <<< "$(measure "http://127.0.0.1:$ADMIN_PORT/health")"
wait "${RUNAWAY_PIDS[@]}"

printf '\n%-22s %10s %10s %10s   %10s %10s %10s\n' "" "p50 idle" "p99 idle" "req/s idle" "p50 busy" "p99 busy" "req/s busy"
printf '%-22s %8.2fms %8.2fms %10s   %8.2fms %8.2fms %10s\n' "GET /healthy" "$H50" "$H99" "$HRPS" "$RH50" "$RH99" "$RHRPS"
printf '%-22s %8.2fms %8.2fms %10s   %8.2fms %8.2fms %10s\n' "admin GET /health" "$A50" "$A99" "$ARPS" "$RA50" "$RA99" "$RARPS"
echo
echo "runaways (status, seconds, error type):"
for entry in "${RUNAWAYS[@]}"; do
    name=${entry%%|*}
    printf '  %-16s %s %s\n' "$name" "$(cat "$WORK/$name.status")" \
        "$(grep -o '"error_type":"[A-Z_:]*"' "$WORK/$name.out" || head -c 80 "$WORK/$name.out")"
done
