#!/usr/bin/env bash
# Builds the `tollgate` wheel with maturin (bindings/python/pyproject.toml), installs it in a
# virtual environment (bindings/python/.venv, kept between runs) and runs the pytest suite
# against the INSTALLED wheel, with the `tollgate` command playing the vendor and a real
# tollgate-server and tollgate-floating on loopback for the online and floating tests.
# maturin and pytest come from PyPI into the virtual environment.
# Run from anywhere: `bindings/python/test.sh [pytest arguments]`.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
PY="bindings/python"
VENV="$PY/.venv"
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  'maturin>=1.9,<2' 'pytest>=8,<10'

rm -rf "$PY/build"
(cd "$PY" && "$ROOT/$VENV/bin/maturin" build --quiet --release --out build/wheels)
WHEELS=("$PY"/build/wheels/tollgate-*.whl)
[ ${#WHEELS[@]} -eq 1 ] || { echo "bindings/python: expected one wheel, got: ${WHEELS[*]}" >&2; exit 1; }
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall \
  --no-deps "${WHEELS[0]}"

cargo build --quiet -p tollgate-cli -p tollgate-server -p tollgate-floating
export TOLLGATE_CLI="$TARGET/debug/tollgate"
export TOLLGATE_SERVER="$TARGET/debug/tollgate-server"
export TOLLGATE_FLOATING="$TARGET/debug/tollgate-floating"
export PYTHONDONTWRITEBYTECODE=1
# Only the installed wheel may provide `tollgate` (tests/test_wheel.py checks where it
# came from).
unset PYTHONPATH
# pytest exits with 5 when it collected no test: that is a failure here, as is any other
# non-zero status.
status=0
(cd "$PY/tests" && "$ROOT/$VENV/bin/python" -m pytest -p no:cacheprovider -q . "$@") || status=$?
if [ "$status" -eq 5 ]; then
  echo "bindings/python: pytest collected no tests" >&2
fi
exit "$status"
