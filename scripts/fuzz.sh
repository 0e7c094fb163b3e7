#!/usr/bin/env bash
# Runs each fuzz target under fuzz/ for SECONDS seconds (default 10) with
# libFuzzer through cargo-fuzz, starting from the seed corpus in
# fuzz/corpus/<target>/.
#
# Usage: scripts/fuzz.sh [--dev | --release] [SECONDS]
#
#   --dev      Build without optimizations. The build takes about half as
#              long, but each input runs 15 to 25 times slower. This is the
#              default for short runs.
#   --release  Build with optimizations and debug assertions. This is the
#              default for long runs.
#
# A short run, of less than 60 seconds per target, starts from the seeds
# alone, so its length does not depend on earlier runs. A long run also
# starts from, and adds to, the inputs that earlier long runs found in
# fuzz/generated-corpus/<target>/.
#
# Installs cargo-fuzz $CARGO_FUZZ_VERSION under target/fuzz-tools/ unless
# that version is already on PATH. libFuzzer needs unstable rustc flags, so
# the builds set RUSTC_BOOTSTRAP=1 to allow them on the stable toolchain.
# Build output goes to fuzz/target/, run logs to fuzz/target/fuzz-logs/, and
# failing inputs to fuzz/artifacts/<target>/.
#
# Exits with 1 if any target crashed, timed out or ran out of memory, and
# prints the input file and the command that reproduces it. Exits with 2 on
# invalid arguments, and with cargo's status if the build fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$PWD"

CARGO_FUZZ_VERSION=0.13.2
TARGETS=(otlp_protobuf otlp_json rate_limit_headers)
# Runs of at least this many seconds per target are long runs.
LONG_RUN_SECONDS=60
# Limits of libFuzzer: seconds for one input, and resident memory in MiB.
INPUT_TIMEOUT_SECONDS=10
RSS_LIMIT_MB=2048
# Extra seconds that a target may take past SECONDS before it is stopped.
# The run starts with a cargo build that finds nothing to do, and libFuzzer
# runs every seed before it checks the time limit.
STOP_MARGIN_SECONDS=120

usage() {
    echo "usage: scripts/fuzz.sh [--dev | --release] [SECONDS]" >&2
}

profile=""
seconds=10
for argument in "$@"; do
    case "$argument" in
        --dev) profile=dev ;;
        --release) profile=release ;;
        -h | --help)
            usage
            exit 0
            ;;
        *[!0-9]* | "")
            echo "fuzz.sh: invalid argument '$argument'" >&2
            usage
            exit 2
            ;;
        *) seconds="$argument" ;;
    esac
done
if ((seconds < 1)); then
    echo "fuzz.sh: SECONDS must be at least 1, got $seconds" >&2
    usage
    exit 2
fi
long_run=false
if ((seconds >= LONG_RUN_SECONDS)); then
    long_run=true
fi
if [[ -z "$profile" ]]; then
    if [[ "$long_run" == true ]]; then profile=release; else profile=dev; fi
fi

# The targets are built without a sanitizer because burnrate forbids unsafe
# code. libFuzzer still catches panics, failed assertions, integer overflows
# (debug assertions are on in both profiles), timeouts and memory limits.
profile_flags=(--sanitizer none)
if [[ "$profile" == dev ]]; then
    profile_flags+=(--dev)
fi
build_flags=("${profile_flags[@]}" --target-dir "$repo/fuzz/target")
export RUSTC_BOOTSTRAP=1
export RUST_BACKTRACE=1

# Prints the path of cargo-fuzz $CARGO_FUZZ_VERSION, installing it first if
# neither PATH nor target/fuzz-tools has it.
find_cargo_fuzz() {
    local expected="cargo-fuzz $CARGO_FUZZ_VERSION"
    local tools="$repo/target/fuzz-tools"
    local candidate
    for candidate in "$(command -v cargo-fuzz || true)" "$tools/bin/cargo-fuzz"; do
        if [[ -x "$candidate" && "$("$candidate" --version 2>/dev/null)" == "$expected" ]]; then
            echo "$candidate"
            return
        fi
    done
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION into $tools" >&2
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --root "$tools" >&2
    echo "$tools/bin/cargo-fuzz"
}

cargo_fuzz="$(find_cargo_fuzz)"
# The command to show in reproduction hints, relative to the repository.
cargo_fuzz_command="${cargo_fuzz#"$repo"/}"
if [[ "$cargo_fuzz_command" != target/* ]]; then
    cargo_fuzz_command="cargo fuzz"
fi

echo "== building the fuzz targets ($profile profile)"
"$cargo_fuzz" build "${build_flags[@]}"

log_directory="$repo/fuzz/target/fuzz-logs"
mkdir -p "$log_directory"
failed=()
for target in "${TARGETS[@]}"; do
    seeds="$repo/fuzz/corpus/$target"
    artifacts="$repo/fuzz/artifacts/$target"
    log="$log_directory/$target.log"
    # libFuzzer writes the inputs it finds to the first corpus directory.
    if [[ "$long_run" == true ]]; then
        found="$repo/fuzz/generated-corpus/$target"
    else
        found="$repo/fuzz/target/short-run-corpus/$target"
        rm -rf "$found"
    fi
    mkdir -p "$artifacts" "$found"
    marker="$(mktemp)"

    echo "== fuzzing $target for $seconds s (log: ${log#"$repo"/})"
    status=0
    # The outer timeout stops a run that libFuzzer itself fails to end, for
    # example one stuck outside the per-input timeout.
    timeout --kill-after=30 "$((seconds + STOP_MARGIN_SECONDS))" \
        "$cargo_fuzz" run "${build_flags[@]}" "$target" "$found" "$seeds" -- \
        -max_total_time="$seconds" \
        -timeout="$INPUT_TIMEOUT_SECONDS" \
        -rss_limit_mb="$RSS_LIMIT_MB" \
        -print_final_stats=1 \
        >"$log" 2>&1 || status=$?

    if ((status == 0)); then
        runs="$(grep -o '^Done [0-9]* runs in [0-9]* second(s)' "$log" | tail -n 1 || true)"
        found_count="$(find "$found" -type f | wc -l)"
        echo "   ok: ${runs:-finished}; ${found_count} inputs in ${found#"$repo"/}"
        rm -f "$marker"
        continue
    fi

    failed+=("$target")
    # Show the panic message and backtrace, libFuzzer's report, or the
    # compiler error, whichever comes first; otherwise the end of the log.
    first_error="$(grep -n -m 1 -E 'panicked at|ERROR: libFuzzer|^error' "$log" | cut -d: -f1 || true)"
    if [[ -n "$first_error" ]]; then
        sed -n "${first_error},$((first_error + 80))p" "$log"
    else
        tail -n 60 "$log"
    fi
    echo
    if ((status == 124 || status == 137)); then
        echo "FAILED: $target did not stop within $((seconds + STOP_MARGIN_SECONDS)) s"
    else
        echo "FAILED: $target exited with status $status"
    fi
    # libFuzzer names its failing inputs crash-*, oom-*, timeout-* or leak-*.
    while IFS= read -r input; do
        relative="${input#"$repo"/}"
        echo "   input:     $relative"
        echo "   reproduce: RUSTC_BOOTSTRAP=1 $cargo_fuzz_command run ${profile_flags[*]} $target $relative"
    done < <(find "$artifacts" -type f -newer "$marker" \
        \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \))
    rm -f "$marker"
done

if ((${#failed[@]} > 0)); then
    echo "fuzz.sh: ${#failed[@]} of ${#TARGETS[@]} targets failed: ${failed[*]}"
    exit 1
fi
echo "fuzz.sh: no failures in ${#TARGETS[@]} targets"
