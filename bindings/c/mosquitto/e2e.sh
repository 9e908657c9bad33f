#!/usr/bin/env bash
# End-to-end test of the Tollgate Mosquitto plugin: a real broker on loopback (a free port,
# its own configuration, never the system service) driven by mosquitto_pub / mosquitto_sub.
#   licensed            the plugin installs the usage license at start; clients connect; the
#                       status is published; the license's connection limit (2) is enforced
#   unlicensed          every client is refused, the log says why
#   support expired     mqtt-server is perpetual: clients connect; the status shows Support
#                       inactive with a warning
#   deactivated         after `tollgate host deactivate`, clients are refused again
#   forged vendor       the customer's own vendor mints a license with every feature: the JSON
#                       naming its key stops the broker; the forged usage license is refused
#                       and every client with it; the broker stays unlicensed
# The vendor holds the published development root (tests/fixtures/dev-root.seed); the plugin
# and the CLI are built with its public key (TOLLGATE_VENDOR_ROOT, .cargo/config.toml).
# Needs: the plugin (make -C bindings/c plugin), the tollgate CLI, mosquitto, mosquitto-clients.
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
TG="${TOLLGATE_BIN:-$TARGET/release/tollgate}"
PLUGIN="$HERE/build/tollgate_mosquitto.so"
MOSQUITTO="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
for f in "$TG" "$PLUGIN" "$MOSQUITTO" "$(command -v mosquitto_pub)" "$(command -v mosquitto_sub)"; do
  [ -x "$f" ] || [ -f "$f" ] || { echo "missing: $f" >&2; exit 1; }
done

WORK="$(mktemp -d)"
BROKER_PID=""
HOLDERS=()
cleanup() {
  for p in "${HOLDERS[@]}" $BROKER_PID; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP_E2E_DIR:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

export TOLLGATE_VENDOR_DIR="$WORK/vendor" TOLLGATE_HOST_CONFIG="$WORK/host.json"
COMPONENTS=(machine-id=e2e-broker-7f3a mac=02:42:ac:11:00:42 hostname=broker.e2e.local)
COMPONENT_ARGS=()
for c in "${COMPONENTS[@]}"; do COMPONENT_ARGS+=(--component "$c"); done
# The components claim kinds the probes read: a test's escape hatch, allowed explicitly.
host() {
  local state="$1"; shift
  "$TG" host --state "$state" --no-probes --allow-override "${COMPONENT_ARGS[@]}" "$@"
}

CASE=""
LOG=""
STATUS_FILE=""
PORT=""
fail() {
  echo "FAIL [$CASE]: $*" >&2
  [ -f "$LOG" ] && { echo "--- broker log ($LOG):" >&2; cat "$LOG" >&2; }
  exit 1
}
ok() { echo "  ok: $*"; }
contains() { grep -qF -- "$2" "$1" || fail "$(basename "$1") does not contain: $2"; }

# Waits (up to 10 s) until the broker log contains a text.
wait_log() {
  for _ in $(seq 1 100); do
    grep -qF -- "$1" "$LOG" && return 0
    sleep 0.1
  done
  return 1
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Starts a broker with the plugin on a free loopback port. Extra arguments are plugin options.
start_broker() {
  local name="$1" state="$2"; shift 2
  LOG="$WORK/$name.log"
  STATUS_FILE="$WORK/$name.status.json"
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    PORT=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    port_open "$PORT" && continue
    {
      echo "listener $PORT 127.0.0.1"
      echo "allow_anonymous true"
      echo "persistence false"
      echo "user $(id -un)"
      echo "log_dest file $LOG"
      echo "log_type all"
      echo "plugin $PLUGIN"
      echo "plugin_opt_config $TOLLGATE_HOST_CONFIG"
      echo "plugin_opt_state_dir $state"
      echo "plugin_opt_probes false"
      echo "plugin_opt_allow_override true"
      for c in "${COMPONENTS[@]}"; do echo "plugin_opt_component $c"; done
      echo "plugin_opt_status_file $STATUS_FILE"
      echo "plugin_opt_status_interval 1"
      for o in "$@"; do echo "plugin_opt_$o"; done
    } > "$WORK/$name.conf"
    : > "$LOG"
    "$MOSQUITTO" -c "$WORK/$name.conf" >>"$WORK/$name.stderr" 2>&1 &
    BROKER_PID=$!
    for _ in $(seq 1 100); do
      port_open "$PORT" && return 0
      kill -0 "$BROKER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=""
  done
  cat "$WORK/$name.stderr" "$LOG" >&2 || true
  fail "the broker did not start"
}

stop_broker() {
  kill "$BROKER_PID" 2>/dev/null || true
  wait "$BROKER_PID" 2>/dev/null || true
  BROKER_PID=""
}

# Publishes one message; succeeds when the broker accepted the connection.
can_connect() { mosquitto_pub -h 127.0.0.1 -p "$PORT" -q 1 -t e2e/probe -m "$1" 2>>"$WORK/clients.err"; }
# The retained license status, from the broker.
status_topic() { mosquitto_sub -h 127.0.0.1 -p "$PORT" -t '$SYS/broker/license/status' -C 1 -W 5; }

echo "== vendor: signing key, host configuration, licenses"
"$TG" vendor init --import-root "$ROOT/tests/fixtures/dev-root.seed" >/dev/null
"$TG" vendor host-config --product chariot --product-version 4.2.0 --out "$TOLLGATE_HOST_CONFIG" >/dev/null
"$TG" --json vendor issue --product chariot --customer "ACME Industrial" --feature mqtt-server \
  --feature support:for=1y --feature mqtt-connections:2/month --models offline --activations 2 \
  --key-out "$WORK/licensed.key" >/dev/null
"$TG" --json vendor issue --product chariot --customer "ACME Industrial" --feature mqtt-server \
  --feature support:until=2020-01-01 --models offline --key-out "$WORK/support.key" >/dev/null

CASE="licensed"
echo "== $CASE: the plugin installs the usage license at start; limit of 2 concurrent clients"
host "$WORK/state-licensed" request --key-file "$WORK/licensed.key" | tail -n1 > "$WORK/licensed.tgrq"
"$TG" vendor fulfil "$WORK/licensed.tgrq" | tail -n1 > "$WORK/licensed.tgul"
start_broker licensed "$WORK/state-licensed" "usage_license $WORK/licensed.tgul"
contains "$LOG" "is installed (state: active)"
contains "$LOG" "licensed: license"
contains "$LOG" "the license allows 2 concurrent clients"
ok "the plugin installed the usage license and reports it in the log"
status_topic > "$WORK/licensed.topic" || fail "no status on \$SYS/broker/license/status"
contains "$WORK/licensed.topic" '"state":"active"'
contains "$WORK/licensed.topic" '"name":"mqtt-server","kind":"perpetual","expires_at":null,"active":true'
ok "retained status on \$SYS/broker/license/status: active"
mosquitto_sub -h 127.0.0.1 -p "$PORT" -i e2e-echo -t e2e/echo -C 1 -W 10 > "$WORK/echo.out" &
SUB=$!
wait_log "e2e-echo 0 e2e/echo" || fail "the subscriber did not subscribe"
can_connect hello || fail "a licensed broker refused a client"
mosquitto_pub -h 127.0.0.1 -p "$PORT" -t e2e/echo -m "hello, licensed world" || fail "publish refused"
wait "$SUB" || fail "the subscriber got nothing"
contains "$WORK/echo.out" "hello, licensed world"
ok "clients connect, publish and subscribe"
if "$TG" host --state "$WORK/state-licensed" status >/dev/null 2>&1; then
  fail "the CLI opened the state directory the broker holds"
fi
ok "the state directory is locked while the broker runs"
for i in 1 2; do
  mosquitto_sub -h 127.0.0.1 -p "$PORT" -i "e2e-holder-$i" -t "e2e/hold/$i" -W 60 >/dev/null 2>&1 &
  HOLDERS+=($!)
  wait_log "as e2e-holder-$i " || fail "holder $i did not connect"
done
if can_connect third; then fail "a third concurrent client was accepted (limit 2)"; fi
wait_log "connection limit of 2 concurrent clients is reached" || fail "the log does not say why"
ok "a third concurrent client is refused, and the log says why"
kill "${HOLDERS[0]}"; wait "${HOLDERS[0]}" 2>/dev/null || true
wait_log "Client e2e-holder-1 closed its connection" || wait_log "e2e-holder-1 disconnected" \
  || fail "holder 1 did not disconnect"
can_connect again || fail "a client was refused after another disconnected"
ok "after a client disconnects, a new one is accepted"
kill "${HOLDERS[1]}" 2>/dev/null || true; wait "${HOLDERS[1]}" 2>/dev/null || true
HOLDERS=()
stop_broker

CASE="unlicensed"
echo "== $CASE: no usage license installed"
start_broker unlicensed "$WORK/state-unlicensed"
if can_connect nope; then fail "an unlicensed broker accepted a client"; fi
grep -q "Connection Refused: not authori" "$WORK/clients.err" || fail "the client was not told it is not authorised"
stop_broker
contains "$LOG" "NOT licensed for 'mqtt-server': no usage license is installed (state: unlicensed)"
contains "$LOG" "refusing client"
contains "$STATUS_FILE" '"state":"unlicensed"'
ok "clients are refused; the log and the status say why"

CASE="support-expired"
echo "== $CASE: MQTT Server is perpetual, Support ended on 2020-01-01"
host "$WORK/state-support" request --key-file "$WORK/support.key" | tail -n1 > "$WORK/support.tgrq"
"$TG" vendor fulfil "$WORK/support.tgrq" | tail -n1 > "$WORK/support.tgul"
host "$WORK/state-support" install "$WORK/support.tgul" >/dev/null
start_broker support "$WORK/state-support"
can_connect "still licensed" || fail "an expired Support subscription refused clients"
status_topic > "$WORK/support.topic" || fail "no status published"
contains "$WORK/support.topic" '"state":"active"'
contains "$WORK/support.topic" '"name":"support","kind":"subscription","expires_at":"2020-01-01T00:00:00Z","active":false'
contains "$WORK/support.topic" 'support expired on 2020-01-01T00:00:00Z'
contains "$LOG" "license warnings"
ok "clients connect; the status shows Support inactive and warns"
stop_broker

CASE="deactivated"
echo "== $CASE: the operator deactivates; the vendor frees the seat"
host "$WORK/state-support" deactivate | tail -n1 > "$WORK/support.tgdc"
"$TG" vendor deactivate "$WORK/support.tgdc" >/dev/null
start_broker deactivated "$WORK/state-support"
if can_connect nope; then fail "a deactivated broker accepted a client"; fi
stop_broker
contains "$LOG" "refusing client"
contains "$LOG" "no usage license is installed"
contains "$STATUS_FILE" '"state":"unlicensed"'
ok "clients are refused after deactivation"

CASE="forged-vendor"
echo "== $CASE: the customer's own vendor key in the JSON, and a usage license it signed"
MINE="$WORK/customer-vendor"
"$TG" vendor --dir "$MINE" init >/dev/null
"$TG" vendor --dir "$MINE" issue --product chariot --customer Mallory --feature mqtt-server \
  --feature support:until=2099-12-31 --feature mqtt-connections:999999/month --models offline \
  --activations 99 --key-out "$WORK/forged.key" >/dev/null
MINE_PUB="$("$TG" --json vendor --dir "$MINE" key list | python3 -c \
  'import json, sys; print(json.load(sys.stdin)["keys"][0]["public_key"])')"
host "$WORK/state-forged" request --key-file "$WORK/forged.key" | tail -n1 > "$WORK/forged.tgrq"
"$TG" vendor --dir "$MINE" fulfil "$WORK/forged.tgrq" | tail -n1 > "$WORK/forged.tgul"
grep -q '^TGUL:' "$WORK/forged.tgul" || fail "the customer's vendor made no usage license"
# 1. The host configuration swapped for one naming the customer's key: the broker refuses it.
python3 - "$TOLLGATE_HOST_CONFIG" "$WORK/forged-host.json" "$MINE_PUB" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg["vendor_keys"] = [sys.argv[3]]
json.dump(cfg, open(sys.argv[2], "w"))
PY
LOG="$WORK/forged-json.log"
: > "$LOG"
{
  echo "listener $(( 20000 + RANDOM % 40000 )) 127.0.0.1"
  echo "allow_anonymous true"
  echo "persistence false"
  echo "user $(id -un)"
  echo "log_dest file $LOG"
  echo "log_type all"
  echo "plugin $PLUGIN"
  echo "plugin_opt_config $WORK/forged-host.json"
  echo "plugin_opt_state_dir $WORK/state-forged"
  echo "plugin_opt_probes false"
  echo "plugin_opt_allow_override true"
  for c in "${COMPONENTS[@]}"; do echo "plugin_opt_component $c"; done
  echo "plugin_opt_usage_license $WORK/forged.tgul"
} > "$WORK/forged-json.conf"
if timeout 20 "$MOSQUITTO" -c "$WORK/forged-json.conf" >"$WORK/forged-json.stderr" 2>&1; then
  fail "the broker ran with a host configuration naming the customer's key"
fi
grep -qF "vendor_keys" "$LOG" "$WORK/forged-json.stderr" \
  || fail "the log does not say the configuration names a key"
ok "the JSON naming the customer's key stops the broker (the log says why)"
# 2. The honest configuration and the forged usage license: not installed, clients refused.
start_broker forged "$WORK/state-forged" "usage_license $WORK/forged.tgul"
if can_connect forged; then fail "a broker with a forged usage license accepted a client"; fi
stop_broker
contains "$LOG" "was not installed: error 124 (KeyNotCertified)"
contains "$LOG" "refusing client"
contains "$STATUS_FILE" '"state":"pending"'
ok "the forged usage license is refused (124); clients are refused; the broker stays unlicensed"

echo "== mosquitto end-to-end: all cases passed"
