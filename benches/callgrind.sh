#!/usr/bin/env bash
# Instruction counts of the verification path against a bare ed25519 verify_strict, under
# valgrind's callgrind (deterministic, unlike wall-clock time).
#
# Usage: benches/callgrind.sh [ITERATIONS]     (default 1000)
#
# Each mode of the `callgrind-ratio` binary runs with 0 and with N iterations; the difference
# divided by N is the cost of one verification, fixture setup excluded. The profiles of the
# N-iteration runs are kept in target/callgrind/ for `callgrind_annotate`.
# Target: full armored verification ≤ 1.05 × bare verify_strict.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000}"
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 2; }

cargo build --release -p tollgate-benches --bin callgrind-ratio
target_dir="$(cargo metadata --format-version 1 --no-deps \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
bin="$target_dir/release/callgrind-ratio"
out="$target_dir/callgrind"
mkdir -p "$out"

# instructions MODE ITERATIONS: total instructions (Ir) of one run.
instructions() {
    local file="$out/$1.$2.out"
    valgrind --tool=callgrind --callgrind-out-file="$file" "$bin" "$1" "$2" 2>/dev/null
    sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$file"
}

declare -A per
for mode in bare full bytes jwt; do
    base="$(instructions "$mode" 0)"
    total="$(instructions "$mode" "$n")"
    per[$mode]=$(( (total - base) / n ))
    printf '%-6s %10d instructions/iteration   (profile: %s)\n' \
        "$mode" "${per[$mode]}" "$out/$mode.$n.out"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a / b }'; }
echo "full  / bare = $(ratio "${per[full]}" "${per[bare]}")   (target <= 1.05)"
echo "bytes / bare = $(ratio "${per[bytes]}" "${per[bare]}")"
echo "jwt   / bare = $(ratio "${per[jwt]}" "${per[bare]}")"
