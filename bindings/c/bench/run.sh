#!/usr/bin/env bash
# Benchmarks the cached feature check through the C ABI (target: under 20 ns per call).
# Prepares a licensed state directory with the tollgate CLI, then runs bench_has_feature.
#   bindings/c/bench/run.sh            # BENCH_CALLS, BENCH_THREADS tune it
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
(cd "$ROOT" && cargo build --quiet --release -p tollgate-ffi -p tollgate-cli)
make --no-print-directory -s -C "$HERE" bench
TG="$TARGET/release/tollgate"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export TOLLGATE_VENDOR_DIR="$WORK/vendor" TOLLGATE_HOST_CONFIG="$WORK/host.json"
COMPONENTS=(machine-id=bench-machine mac=02:42:ac:11:00:09 hostname=bench.local)
HOST=(--state "$WORK/state" --no-probes --allow-override)
for c in "${COMPONENTS[@]}"; do HOST+=(--component "$c"); done
# The published development root: the benchmark is built with its public key.
"$TG" vendor init --import-root "$ROOT/tests/fixtures/dev-root.seed" >/dev/null
"$TG" vendor host-config --product chariot --product-version 4.2.0 --out "$TOLLGATE_HOST_CONFIG" >/dev/null
"$TG" --json vendor issue --product chariot --customer bench --feature mqtt-server \
  --feature support:for=1y --feature iot-bridge:1000/month --key-out "$WORK/key" >/dev/null
"$TG" host "${HOST[@]}" request --key-file "$WORK/key" | tail -n1 > "$WORK/req"
"$TG" vendor fulfil "$WORK/req" | tail -n1 > "$WORK/ul"
"$TG" host "${HOST[@]}" install "$WORK/ul" >/dev/null
"$HERE/build/bench_has_feature" "$TOLLGATE_HOST_CONFIG" "$WORK/state" "${COMPONENTS[@]}"
