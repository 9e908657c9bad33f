#!/usr/bin/env bash
# Builds every fuzz target and runs each for a while; exits non-zero if any target crashes.
# CI (scripts/test.sh) runs it with the default of 10 seconds per target.
#
# Usage: fuzz/run-all.sh [SECONDS]        (or FUZZ_SECONDS=…; default 10)
#
# Runs on the stable toolchain with `-s none`: libFuzzer's coverage instrumentation
# (`-Cpasses=sancov-module`) is a stable codegen option; only the sanitizers need nightly.
# tollgate-core forbids `unsafe`, so AddressSanitizer would add little. To fuzz with it anyway:
# `cd fuzz && cargo +nightly fuzz run <target>`.
#
# New inputs found go to fuzz/corpus/<target>/ and crashes to fuzz/artifacts/<target>/ (both
# git-ignored); fuzz/seeds/ is rebuilt from tests/vectors/ on each run.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-${FUZZ_SECONDS:-10}}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

./seed-corpus.sh
cargo fuzz build -s none

failed=()
for t in $(cargo fuzz list); do
    mkdir -p "corpus/$t"
    log="$(mktemp)"
    if cargo fuzz run -s none "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$secs" -timeout=10 -print_final_stats=0 >"$log" 2>&1; then
        printf '%-18s ok   %s\n' "$t" "$(grep -aE '^Done [0-9]+ runs' "$log" | tail -1)"
    else
        printf '%-18s FAILED\n' "$t"
        tail -n 40 "$log"
        failed+=("$t")
    fi
    rm -f "$log"
done

if [ "${#failed[@]}" -ne 0 ]; then
    echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]} (inputs in fuzz/artifacts/)"
    exit 1
fi
echo "fuzz: all targets ran ${secs}s without a crash"
