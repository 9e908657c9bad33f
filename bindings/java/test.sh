#!/usr/bin/env bash
# The Java binding's tests: builds the JNI library (release) and the `tollgate` CLI the tests use
# as the vendor, copies the library into the jar's resources, and runs `mvn verify` (JUnit 5:
# shared vectors, every LicenseManager method and error, concurrency, online activation against
# a real tollgate-server on loopback, the floating client against a real tollgate-floating, and the Moquette broker end to end), then checks that the packaged jar loads its own native library.
# Run from anywhere: `bindings/java/test.sh`. Benchmarks: see README.md ("Benchmarks").
set -euo pipefail
cd "$(dirname "$0")"
ROOT="$(cd ../.. && pwd)"

if ! command -v mvn >/dev/null || ! command -v javac >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq maven openjdk-17-jdk-headless >/dev/null
fi

cargo build --quiet --release -p tollgate-jni --manifest-path "$ROOT/Cargo.toml"
cargo build --quiet -p tollgate-cli -p tollgate-server -p tollgate-floating --manifest-path "$ROOT/Cargo.toml"
cargo build --quiet -p tollgate-tests --bin sign-unchecked --manifest-path "$ROOT/Cargo.toml"

# The tests are built with the published development root's `VendorRoot` (as a product is with
# its vendor's): the committed class must be what `tollgate vendor export-root` writes.
ROOTDIR="$(mktemp -d)"
trap 'rm -rf "$ROOTDIR"' EXIT
"$ROOT/target/debug/tollgate" vendor --dir "$ROOTDIR/vendor" init \
  --import-root "$ROOT/tests/fixtures/dev-root.seed" >/dev/null
"$ROOT/target/debug/tollgate" vendor --dir "$ROOTDIR/vendor" export-root --format java \
  --package dev.tollgate --out "$ROOTDIR/VendorRoot.java" >/dev/null
diff -u src/test/java/dev/tollgate/VendorRoot.java "$ROOTDIR/VendorRoot.java" || {
  echo "src/test/java/dev/tollgate/VendorRoot.java differs from tollgate vendor export-root" >&2
  exit 1
}

RES=src/main/resources/native/linux-x86_64
mkdir -p "$RES"
cp "$ROOT/target/release/libtollgate_jni.so" "$RES/"
# The release profile keeps line tables for profiling; the jar ships the library stripped, and
# its debug info stays in bindings/java/target/native-debug/ (GNU debuglink), outside the jar.
TOLLGATE_DEBUG_DIR="$PWD/target/native-debug" "$ROOT/scripts/split-debug.sh" "$RES/libtollgate_jni.so"

mvn -q -B verify -Dtollgate.cli="$ROOT/target/debug/tollgate" \
  -Dtollgate.server="$ROOT/target/debug/tollgate-server" \
  -Dtollgate.floating="$ROOT/target/debug/tollgate-floating" \
  -Dtollgate.signUnchecked="$ROOT/target/debug/sign-unchecked"
# -q hides Surefire's summary: add up its reports.
cat target/surefire-reports/*.txt | awk -F'[:,] *' '/^Tests run:/ {
    run += $2; failed += $4 + $6; skipped += $8 }
  END { printf "java: %d passed, %d failed, %d skipped\n", run - failed - skipped, failed, skipped }'

# The jar alone: its native library comes from its own resources.
out="$(java -jar target/tollgate-java-*.jar)"
echo "$out"
case "$out" in
  *"native library: resource /native/linux-x86_64/libtollgate_jni.so"*) ;;
  *) echo "the jar did not load its bundled native library" >&2; exit 1 ;;
esac
