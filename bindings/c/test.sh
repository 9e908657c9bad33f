#!/usr/bin/env bash
# Everything the C binding promises, as CI runs it (scripts/test.sh calls this):
# the committed header is what cbindgen generates, the static and shared libraries build, an
# application builds with pkg-config and runs the offline round trip, the C test suite passes
# under AddressSanitizer + UBSan and under valgrind, the benchmark runs, and the Mosquitto plugin
# gates a real broker end to end. Run from anywhere: bindings/c/test.sh
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
export TOLLGATE_BIN="$TARGET/release/tollgate"
# Everything here is built with the published DEVELOPMENT root (its private seed is
# tests/fixtures/dev-root.seed, which the tests' vendor imports): the CLI (cargo reads it from
# the environment at build time), the tests, the example and the Mosquitto plugin.
TOLLGATE_VENDOR_ROOT="$(sed -n 's/^TOLLGATE_VENDOR_ROOT.*"\([0-9a-fA-F]\{64\}\)".*/\1/p' \
  "$ROOT/.cargo/config.toml")"
export TOLLGATE_VENDOR_ROOT
DEV_ROOT_SEED="$ROOT/tests/fixtures/dev-root.seed"
MAKE=(make --no-print-directory -C "$HERE")
step() { printf '\n--> %s\n' "$*"; }

step "C: libtollgate.a, libtollgate.so and the tollgate CLI (release)"
(cd "$ROOT" && cargo build --release -p tollgate-ffi -p tollgate-cli)

step "C: include/tollgate.h is what cbindgen generates"
"${MAKE[@]}" check-header

step "C: vendor-root.sh writes the root bytes tollgate vendor export-root --format c writes"
ROOTCHK="$(mktemp -d)"
"$TOLLGATE_BIN" vendor --dir "$ROOTCHK/vendor" init --import-root "$DEV_ROOT_SEED" >/dev/null
"$TOLLGATE_BIN" vendor --dir "$ROOTCHK/vendor" export-root --format c --out "$ROOTCHK/cli.h" >/dev/null
"$HERE/vendor-root.sh" "$ROOTCHK/script.h"
diff <(grep -o '0x[0-9a-f][0-9a-f]' "$ROOTCHK/cli.h") <(grep -o '0x[0-9a-f][0-9a-f]' "$ROOTCHK/script.h")
[ "$(grep -o '0x[0-9a-f][0-9a-f]' "$ROOTCHK/script.h" | wc -l)" -eq 32 ]
if TOLLGATE_VENDOR_ROOT=not-hex "$HERE/vendor-root.sh" "$ROOTCHK/bad.h" 2>/dev/null \
  || [ -e "$ROOTCHK/bad.h" ]; then
  echo "vendor-root.sh accepted a malformed TOLLGATE_VENDOR_ROOT" >&2; exit 1
fi
rm -rf "$ROOTCHK"

step "C: install into a staging prefix (stripped, debug info split off); build the example with pkg-config and run it"
"${MAKE[@]}" example
PREFIX_LIB="$HERE/build/prefix/lib"
if readelf -S "$PREFIX_LIB/libtollgate.so" | grep -q '\.debug_info'; then
  echo "the installed libtollgate.so still carries debug info" >&2; exit 1
fi
readelf --string-dump=.gnu_debuglink "$PREFIX_LIB/libtollgate.so" | grep -q 'libtollgate.so.debug'
readelf -S "$PREFIX_LIB/.debug/libtollgate.so.debug" | grep -q '\.debug_line'
ls -l "$TARGET/release/libtollgate.so" "$PREFIX_LIB/libtollgate.so" "$PREFIX_LIB/.debug/libtollgate.so.debug"
EX="$HERE/build/tollgate_example"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(
  cd "$WORK"
  export TOLLGATE_VENDOR_DIR="$WORK/vendor"
  export TOLLGATE_COMPONENTS="machine-id=example-machine;mac=02:42:ac:11:00:07;hostname=example.local"
  "$TOLLGATE_BIN" vendor init --import-root "$DEV_ROOT_SEED" >/dev/null
  "$TOLLGATE_BIN" vendor host-config --product chariot --product-version 4.2.0 --out host.json >/dev/null
  "$TOLLGATE_BIN" --json vendor issue --product chariot --customer ACME --feature mqtt-server \
    --feature iot-bridge:1000/month --key-out key >/dev/null
  "$EX" host.json state request "$(cat key)" > request.tgrq
  "$TOLLGATE_BIN" vendor fulfil request.tgrq | tail -n1 > usage.tgul
  "$EX" host.json state install usage.tgul
  "$EX" host.json state check mqtt-server
  if "$EX" host.json state check support; then echo "support should not be usable" >&2; exit 1; fi
  "$EX" host.json state use iot-bridge 250
  "$EX" host.json state status | grep -q '"state":"active"'
  "$EX" host.json state deactivate > code.tgdc
  "$TOLLGATE_BIN" vendor deactivate code.tgdc
  if "$EX" host.json state renew 2>err.txt; then echo "renew after deactivation succeeded" >&2; exit 1; fi
  grep -q "error 200 (NotActivated)" err.txt
)

step "C: test suite, static library, AddressSanitizer + UBSan"
"${MAKE[@]}" test-asan

step "C: online activation against a real tollgate-server on loopback (ASan + UBSan)"
(cd "$ROOT" && cargo build -p tollgate-server -p tollgate-floating)
"${MAKE[@]}" test-online

step "C: floating license client against a real tollgate-floating on loopback (ASan + UBSan)"
"${MAKE[@]}" test-floating

step "C: test suite, shared library, valgrind (definite and possible leaks fail; valgrind.supp)"
"${MAKE[@]}" test-valgrind

step "C: online and floating clients, shared library, valgrind (definite and possible leaks fail)"
"${MAKE[@]}" test-online-valgrind
"${MAKE[@]}" test-floating-valgrind

step "C: feature-check benchmark (short run; bindings/c/bench/run.sh for the full one)"
BENCH_CALLS="${BENCH_CALLS:-2000000}" "$HERE/bench/run.sh"

step "C: Mosquitto plugin, end to end with a real broker"
"${MAKE[@]}" plugin
"$HERE/mosquitto/e2e.sh"

step "C binding: all checks passed"
