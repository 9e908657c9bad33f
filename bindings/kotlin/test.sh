#!/usr/bin/env bash
# Builds the library, generates the Kotlin binding into bindings/kotlin/build/, then compiles
# it and runs the tests with Maven (Kotlin compiler, JNA and JUnit from Maven Central): the
# smoke tests, and the online and floating clients against a real tollgate-server and
# tollgate-floating on loopback (the `tollgate` command plays the vendor).
# Run from anywhere: `bindings/kotlin/test.sh [mvn arguments]`.
set -euo pipefail
cd "$(dirname "$0")/../.."
need_apt=()
command -v javac >/dev/null || need_apt+=(default-jdk-headless)
command -v mvn >/dev/null || need_apt+=(maven)
if [ ${#need_apt[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
BUILD="bindings/kotlin/build"
rm -rf "$BUILD"
mkdir -p "$BUILD/native"
LIB="$(ffi/uniffi/generate.sh kotlin "$BUILD/generated/kotlin" | tail -n1)"
cp "$LIB" "$BUILD/native/"
cargo build --quiet -p tollgate-cli -p tollgate-server -p tollgate-floating
BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug"
cd bindings/kotlin
mvn -B -q -Dstyle.color=never -Dtollgate.cli="$BIN/tollgate" \
  -Dtollgate.server="$BIN/tollgate-server" -Dtollgate.floating="$BIN/tollgate-floating" \
  verify "$@"
