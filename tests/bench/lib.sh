# Shell helpers shared by the load scripts in tests/bench/ (sourced, not run). The sourcing script sets
# BENCH_NAME (the prefix of its log lines) first.

# A progress line on standard error, prefixed with the script's name.
log() { echo "${BENCH_NAME:-bench}: $*" >&2; }

# Installs wrk with apt-get when it is missing (every script drives its load with it).
ensure_wrk() {
    if ! command -v wrk >/dev/null; then
        log "installing wrk"
        if [[ $(id -u) -eq 0 ]]; then apt-get install -y wrk >&2; else sudo apt-get install -y wrk >&2; fi
    fi
}

# Builds the release binaries of the packages named (`-p NAME ...` arguments), unless SKIP_BUILD is set.
build_release() {
    if [[ -z ${SKIP_BUILD:-} ]]; then
        log "building release binaries"
        cargo build --release "$@" >&2
    fi
}

# Servers started by the script; `kill_started` (run at exit) stops them all.
PIDS=()
kill_started() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap kill_started EXIT

# A wrk latency (`812.00us`, `1.23ms`, `1.05s`) in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n *= 1; else if (v ~ /s$/) n *= 1000
        printf "%.2f", n
    }'
}
