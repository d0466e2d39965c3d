#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/fuzz_targets/ for a bounded time each, after seeding its corpus.
#
#   fuzz/run.sh                 # every target, FUZZ_SECONDS (default 60) each
#   FUZZ_SECONDS=300 fuzz/run.sh convert check_pipeline
#
# Seeds: every flow file under flows/ and tests/fixtures/ (YAML, .flow, test suites), the JSON, XML and CSV
# files there (request bodies, payloads), and small generated JSON documents for the conversions, among them
# values nested just under, at and past the depth limit. Seeds are copied into fuzz/corpus/<target>/, which
# keeps what the fuzzer finds between runs (git-ignored).
#
# Needs `cargo install cargo-fuzz` and a nightly toolchain (`cargo +nightly`); set FUZZ_TOOLCHAIN to use
# another (for instance FUZZ_TOOLCHAIN= RUSTC_BOOTSTRAP=1 on a stable one). Exits non-zero at the first target
# that crashes, times out or runs out of memory, printing the artifact's path under fuzz/artifacts/<target>/;
# turn it into a regression test (a unit test or a fixture) when fixing it.
set -euo pipefail
shopt -s nullglob

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
seconds="${FUZZ_SECONDS:-60}"
toolchain="${FUZZ_TOOLCHAIN-+nightly}"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for file in "$here"/fuzz_targets/*.rs; do
        targets+=("$(basename "$file" .rs)")
    done
fi

# Copies files matching the find expression into the corpus of a target, named by content (no duplicates).
seed_files() {
    local corpus="$1"
    shift
    find "$root/flows" "$root/tests/fixtures" -type f \( "$@" \) -size -1024k -print0 |
        while IFS= read -r -d '' file; do
            cp "$file" "$corpus/seed-$(sha1sum "$file" | cut -c1-16)"
        done
}

# Writes a generated seed.
seed_text() {
    local corpus="$1" name="$2" text="$3"
    printf '%s' "$text" >"$corpus/gen-$name"
}

nested() { # nested DEPTH OPEN CLOSE INNER
    local open="" close="" i
    for ((i = 0; i < $1; i++)); do
        open+="$2"
        close+="$3"
    done
    printf '%s%s%s' "$open" "$4" "$close"
}

seed() {
    local target="$1" corpus="$here/corpus/$1"
    mkdir -p "$corpus"
    case "$target" in
    check_pipeline | dsl_parser | yaml_loader)
        seed_files "$corpus" -name '*.yaml' -o -name '*.yml' -o -name '*.flow'
        ;;
    convert)
        # The first byte picks the mode: even, JSON text (0 mod 4 also through parse_json/to_json); odd,
        # bytes building a script value.
        seed_files "$corpus" -name '*.json'
        for file in "$corpus"/seed-*; do
            { printf '\000'; cat "$file"; } >"$file.tmp" && mv "$file.tmp" "$file"
        done
        seed_text "$corpus" scalars $'\000[null, true, -0, 1e300, 18446744073709551615, "x\\u00e9"]'
        seed_text "$corpus" object $'\002{"a": {"b": [1, 2.5, {"c": null}]}, "a": 3}'
        seed_text "$corpus" at-limit $'\000'"$(nested 100 '[' ']' 1)"
        seed_text "$corpus" past-limit $'\000'"$(nested 101 '{"k":' '}' 1)"
        seed_text "$corpus" mixed $'\000'"$(nested 60 '[{"v":' '}]' '"x"')"
        # Script values: wrap in 100 / 101 / 255 arrays or maps, odd leaves, gathered into arrays and maps.
        printf '\001\002\007\013\014\004' >"$corpus/gen-wrap-at-limit"
        printf '\001\002\007\014\014\005' >"$corpus/gen-wrap-past-limit"
        printf '\001\004\000\005\101\007\001\010\000\011\003\013\377\377' >"$corpus/gen-odd-deep"
        printf '\001\015\000\016\000\012\002\015\000' >"$corpus/gen-shared"
        ;;
    *)
        # A target this script does not know (another engineer's): every flow and body file.
        seed_files "$corpus" -name '*.yaml' -o -name '*.flow' -o -name '*.json' -o -name '*.xml' -o -name '*.csv'
        ;;
    esac
}

cd "$here"
failed=0
for target in "${targets[@]}"; do
    seed "$target"
    echo "== $target: ${seconds}s, corpus $(find "corpus/$target" -type f | wc -l) files"
    mkdir -p "artifacts/$target"
    before="$(find "artifacts/$target" -type f | wc -l)"
    log="$here/artifacts/$target.log"
    set +e
    cargo ${toolchain:+"$toolchain"} fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 >"$log" 2>&1
    status=$?
    set -e
    grep -E '^(#[0-9]+ *DONE|stat::number_of_executed_units|stat::average_exec_per_sec)' "$log" || true
    after="$(find "artifacts/$target" -type f | wc -l)"
    if [ "$status" -ne 0 ] || [ "$after" -gt "$before" ]; then
        echo "!! $target failed (exit $status); log: $log"
        grep -E 'Test unit written to|panicked at|ERROR: libFuzzer' "$log" || tail -n 30 "$log"
        failed=1
        break
    fi
done
exit "$failed"
