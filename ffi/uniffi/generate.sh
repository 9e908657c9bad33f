#!/usr/bin/env bash
# Builds libtollgate_uniffi (release) and generates its bindings for one language with this
# crate's uniffi-bindgen, in library mode. Used by bindings/kotlin/test.sh; the Python wheel
# is built by maturin (bindings/python/pyproject.toml), which runs the same uniffi-bindgen.
#
#   ffi/uniffi/generate.sh python|kotlin OUT_DIR
#
# Prints the path of the built library on the last line of standard output.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 python|kotlin OUT_DIR" >&2; exit 2; }
LANGUAGE="$1"
OUT="$(mkdir -p "$2" && cd "$2" && pwd)"
cd "$(dirname "$0")/../.."
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"

case "$(uname -s)" in
  Darwin) LIB="$TARGET/release/libtollgate_uniffi.dylib" ;;
  *) LIB="$TARGET/release/libtollgate_uniffi.so" ;;
esac

cargo build --quiet --release -p tollgate-uniffi >&2
# The generator is a build tool: the dev profile is enough and builds faster.
cargo build --quiet -p tollgate-uniffi --features cli --bin uniffi-bindgen >&2
FLAGS=()
[ "$LANGUAGE" = kotlin ] && FLAGS+=(--no-format)
"$TARGET/debug/uniffi-bindgen" generate --library "$LIB" --language "$LANGUAGE" \
  --out-dir "$OUT" "${FLAGS[@]}" >&2
echo "$LIB"
