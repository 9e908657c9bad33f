#!/usr/bin/env bash
# The whole Tollgate test suite, as CI runs it (`.ci/run` calls this script).
# Run from anywhere: `scripts/test.sh`. Installs what it needs on a fresh Debian/Ubuntu machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
step() { printf '\n==> %s\n' "$*"; }

step "toolchain and tools"
scripts/setup.sh

step "format"
cargo fmt --all -- --check

step "clippy (-D warnings)"
cargo clippy --workspace --all-targets -- -D warnings

step "tests"
cargo test --workspace

step "core builds as no_std (no default features, and linked into a no_std staticlib)"
cargo build -p tollgate-core --no-default-features
(cd core/no-std-check && cargo build --release)

step "benches compile"
cargo bench --workspace --no-run

step "fuzz targets build and run briefly"
FUZZ_SECONDS="${FUZZ_SECONDS:-10}" fuzz/run-all.sh

step "all checks passed"
