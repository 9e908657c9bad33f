#!/usr/bin/env bash
# The C API's floating license client against a real `tollgate-floating` on loopback: the CLI
# (the vendor) issues a floating license with one seat, the floating server activates with it
# (its own request, fulfilled for the floating model, installed), serves on 127.0.0.1:0, and
# test_floating (the arguments: the program, after any wrapper such as valgrind) checks out, checks, releases, is refused a second seat, and
# meets a closed port for "the server is down".
# Needs TOLLGATE_BIN (the CLI) and TOLLGATE_FLOATING_BIN (cargo build -p tollgate-floating).
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
  --models floating --floating-seats 1 --key-out "$WORK/key" >/dev/null

export TOLLGATE_FLOATING_STATE_DIR="$WORK/floating" TOLLGATE_HOST_CONFIG="$WORK/host.json" \
  TOLLGATE_FLOATING_COMPONENTS="operator=floating-test-server;workload=floating-test;cloud-instance=i-ft" \
  TOLLGATE_FLOATING_PROBES=0 \
  TOLLGATE_FLOATING_LISTEN=127.0.0.1:0 TOLLGATE_LOG_FORMAT=text NO_COLOR=1
"$TOLLGATE_FLOATING_BIN" request --key "$(cat "$WORK/key")" >"$WORK/request.tgrq"
"$TOLLGATE_BIN" vendor fulfil --model floating "$WORK/request.tgrq" | tail -n1 >"$WORK/floating.tgul"
"$TOLLGATE_FLOATING_BIN" install "$WORK/floating.tgul" >/dev/null

"$TOLLGATE_FLOATING_BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
addr=
for _ in $(seq 100); do
  addr="$(grep -o '127\.0\.0\.1:[0-9]*' "$WORK/server.log" | head -n1 || true)"
  [ -n "$addr" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] || { echo "tollgate-floating did not start" >&2; cat "$WORK/server.log" >&2; exit 1; }

# A port nothing listens on: bound, then closed.
dead="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"${TEST[@]}" "$WORK/host.json" "http://$addr" "http://127.0.0.1:$dead"

# The same server again with a shared checkout token: clients without it are refused (401).
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
TOKEN="plant-7-checkout-token-0123"
: >"$WORK/server.log"
TOLLGATE_FLOATING_CHECKOUT_TOKEN="$TOKEN" "$TOLLGATE_FLOATING_BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
addr=
for _ in $(seq 100); do
  addr="$(grep -o '127\.0\.0\.1:[0-9]*' "$WORK/server.log" | head -n1 || true)"
  [ -n "$addr" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] || { echo "tollgate-floating did not restart" >&2; cat "$WORK/server.log" >&2; exit 1; }
"${TEST[@]}" "$WORK/host.json" "http://$addr" "http://127.0.0.1:$dead" "$TOKEN"
