#!/usr/bin/env bash
# The C API's online activation client against a real `tollgate-server` on loopback: the CLI
# (the vendor) issues an online license into a fresh data directory, the service serves that
# directory on 127.0.0.1:0, and test_online (the arguments: the program, after any wrapper such as valgrind) activates, reactivates and deactivates
# through it, and through a closed port for "the service is down".
# Needs TOLLGATE_BIN (the CLI) and TOLLGATE_SERVER_BIN (cargo build -p tollgate-server).
set -euo pipefail
# The test program, after any wrapper (e.g. valgrind and its options).
TEST=("$@")
WORK="$(mktemp -d)"
SERVER_PID=
cleanup() { [ -z "$SERVER_PID" ] || kill "$SERVER_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
# The vendor holds the published development root, whose public key the tests are built with.
DEV_ROOT_SEED="$(cd "$(dirname "$0")/../../.." && pwd)/tests/fixtures/dev-root.seed"
export TOLLGATE_VENDOR_DIR="$WORK/vendor"
"$TOLLGATE_BIN" vendor init --import-root "$DEV_ROOT_SEED" >/dev/null
"$TOLLGATE_BIN" vendor host-config --product chariot --product-version 4.2.0 \
  --out "$WORK/host.json" >/dev/null
"$TOLLGATE_BIN" --json vendor issue --product chariot --customer ACME --feature mqtt-server \
  --models online --key-out "$WORK/key" >/dev/null

TOLLGATE_DATA_DIR="$WORK/vendor" TOLLGATE_LISTEN=127.0.0.1:0 TOLLGATE_LOG_FORMAT=text \
  TOLLGATE_ADMIN_TOKEN=online-test-admin-token NO_COLOR=1 \
  "$TOLLGATE_SERVER_BIN" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
addr=
for _ in $(seq 100); do
  addr="$(grep -o '127\.0\.0\.1:[0-9]*' "$WORK/server.log" | head -n1 || true)"
  [ -n "$addr" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] || { echo "tollgate-server did not start" >&2; cat "$WORK/server.log" >&2; exit 1; }

# A port nothing listens on: bound, then closed.
dead="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
TMPDIR="$WORK" "${TEST[@]}" "$WORK/host.json" "http://$addr" "$(cat "$WORK/key")" "http://127.0.0.1:$dead"
