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

step "PostgreSQL 15 on loopback (the ledger and online-service tests run on it and on SQLite)"
pg_env="$(scripts/pg.sh start)"
eval "$pg_env"
trap 'scripts/pg.sh stop' EXIT

step "tests"
cargo test --workspace

step "the authority's suite again, on PostgreSQL"
TOLLGATE_TEST_BACKEND=postgres cargo test -p tollgate-authority --features postgres

step "core builds as no_std (no default features, and linked into a no_std staticlib)"
cargo build -p tollgate-core --no-default-features
(cd core/no-std-check && cargo build --release)

step "benches compile"
cargo bench --workspace --no-run

step "C binding: header, libraries, pkg-config, C tests (ASan, valgrind), bench, Mosquitto e2e"
bindings/c/test.sh

step "Python binding (uniffi): maturin wheel in a venv, pytest lifecycle, online and floating against real servers, vectors"
bindings/python/test.sh

step "Kotlin binding (uniffi): generate, compile with Maven, smoke, online and floating tests"
bindings/kotlin/test.sh

step "Java binding (JNI): Maven build, JUnit vectors, every method and error, Moquette e2e"
bindings/java/test.sh

step "the License page and the support console in a real browser (headless chromium + Selenium): every wizard path against tollgate-server, tollgate-floating and the vendor CLI (about 45 s after the build)"
tests/browser/run.sh

step "fuzz targets build and run briefly"
FUZZ_SECONDS="${FUZZ_SECONDS:-10}" fuzz/run-all.sh

step "all checks passed"
