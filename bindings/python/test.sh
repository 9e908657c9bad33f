#!/usr/bin/env bash
# Builds the library, generates the Python binding into bindings/python/build/ and runs the
# pytest suite against it, with the `tollgate` command playing the vendor.
# Run from anywhere: `bindings/python/test.sh [pytest arguments]`.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! python3 -c 'import pytest' 2>/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pytest >/dev/null
fi
BUILD="bindings/python/build"
rm -rf "$BUILD"
LIB="$(ffi/uniffi/generate.sh python "$BUILD" | tail -n1)"
cp "$LIB" "$BUILD/"
cargo build --quiet -p tollgate-cli
export TOLLGATE_CLI="${CARGO_TARGET_DIR:-$PWD/target}/debug/tollgate"
export PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH="$PWD/$BUILD${PYTHONPATH:+:$PYTHONPATH}"
# pytest exits with 5 when it collected no test: that is a failure here, as is any other
# non-zero status.
status=0
python3 -m pytest -p no:cacheprovider -q bindings/python/tests "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "bindings/python: pytest collected no tests" >&2
fi
exit "$status"
