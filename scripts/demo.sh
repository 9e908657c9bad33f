#!/usr/bin/env bash
# The whole offline licensing story of the Chariot MQTT Server pages, end to end, in a
# temporary directory: what the vendor's support desk and the broker's operator see at each step.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
cargo build --quiet --release -p tollgate-cli
TG="$PWD/target/release/tollgate"
DEV_ROOT_SEED="$PWD/tests/fixtures/dev-root.seed"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

export TOLLGATE_VENDOR_DIR="$WORK/vendor"
export TOLLGATE_HOST_CONFIG="$WORK/chariot-host.json"
# Two simulated air-gapped machines: each has its own state directory and fingerprint.
HOST_A=(--state "$WORK/broker-a" --no-probes --allow-override --component machine-id=7f3a-broker-a
        --component mac=02:42:ac:11:00:02 --component root-disk=WD-WX11A1234567
        --component hostname=broker-a.plant.local --component dmi-product-uuid=4c4c4544-a)
HOST_B=(--state "$WORK/broker-b" --no-probes --allow-override --component machine-id=91bc-broker-b
        --component mac=02:42:ac:11:00:03 --component root-disk=WD-WX22B7654321
        --component hostname=broker-b.plant.local --component dmi-product-uuid=4c4c4544-b)

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ tollgate %s\n' "$*"; "$TG" "$@"; }
# `tollgate host` on each simulated machine (its state directory and fingerprint flags elided).
host_a() { printf '$ tollgate host <broker-a> %s\n' "$*"; "$TG" host "${HOST_A[@]}" "$@"; }
host_b() { printf '$ tollgate host <broker-b> %s\n' "$*"; "$TG" host "${HOST_B[@]}" "$@"; }

say "0. The vendor sets up its root and signing key and ships the host configuration with Chariot"
# The tollgate binary was built with the published DEVELOPMENT root compiled in
# (TOLLGATE_VENDOR_ROOT in .cargo/config.toml); its seed is public, so the demo imports it. A
# real vendor runs plain `vendor init` and builds its product with its own root.
run vendor init --import-root "$DEV_ROOT_SEED"
run vendor host-config --product chariot --product-version 4.2.0 --out "$TOLLGATE_HOST_CONFIG"

echo "The root PUBLIC key is what Chariot's build compiles in (export-root --format rust|c|java):"
run vendor export-root

say "1. The vendor issues a license: MQTT Server (perpetual) + a year of Support, 1 activation"
"$TG" --json vendor issue --product chariot --customer "ACME Industrial" \
  --feature mqtt-server --feature support:for=1y --models offline,online --activations 1 \
  --offline-refresh-days 365 --key-out "$WORK/license.key" > issued.json
python3 -c 'import json;d=json.load(open("issued.json"));print("License", d["license_id"], "issued. Key e-mailed to the customer:", d["key"])'
LICENSE_ID=$(python3 -c 'import json;print(json.load(open("issued.json"))["license_id"])')

say "2. Broker A (air-gapped) generates a usage request from the license key"
host_a request --key-file "$WORK/license.key" | tee request-a.txt
tail -n1 request-a.txt > request-a.tgrq
echo "($(wc -c < request-a.tgrq) characters, sent to the vendor by e-mail)"

say "3. The vendor's support desk fulfils the request"
run vendor fulfil request-a.tgrq | tee usage-a.txt
tail -n1 usage-a.txt > usage-a.tgul
echo "($(wc -c < usage-a.tgul) characters, e-mailed back)"

say "4. Broker A installs the usage license"
host_a install usage-a.tgul

say "5. The license status page"
host_a status
host_a check mqtt-server
host_a check iot-bridge-snowflake || echo "(exit $?: not licensed yet)"

say "6. The customer buys IoT Bridge for Snowflake (metered) and another year of Support"
run vendor upgrade --license "$LICENSE_ID" --add-feature iot-bridge-snowflake:1000000/month --extend support:for=1y

say "7. Offline upgrade: a new round trip (reactivation does not work offline)"
host_a renew | tee request-a2.txt
tail -n1 request-a2.txt > request-a2.tgrq
run vendor fulfil request-a2.tgrq | tee usage-a2.txt
tail -n1 usage-a2.txt > usage-a2.tgul
echo "An answer to the OLD request is now refused:"
host_a install usage-a.tgul || echo "(exit $?)"
host_a install usage-a2.tgul
host_a use iot-bridge-snowflake 1200

say "Meanwhile a second broker cannot activate: the only seat is taken"
host_b request --key-file "$WORK/license.key" | tail -n1 > request-b.tgrq
run vendor fulfil request-b.tgrq || echo "(exit $?)"

say "8. Broker A is decommissioned: it deactivates and prints a deactivation code"
host_a deactivate | tee deact.txt
tail -n1 deact.txt > deact.tgdc
host_a status

say "9. The vendor verifies the deactivation code and frees the seat"
run vendor deactivate deact.tgdc
echo "Replaying the same code is refused:"
run vendor deactivate deact.tgdc || echo "(exit $?)"

say "10. Broker B activates with the freed seat"
host_b request --key-file "$WORK/license.key" | tail -n1 > request-b2.tgrq
run vendor fulfil request-b2.tgrq | tail -n1 > usage-b.tgul
host_b install usage-b.tgul
echo "Broker A's old usage license does not work on broker B's machine:"
host_b verify usage-a2.tgul || echo "(exit $?)"

say "11. Unpaid invoice: the vendor suspends the license; broker B's next round trip is refused"
run vendor suspend "$LICENSE_ID" --reason "invoice 4711 unpaid"
host_b renew | tail -n1 > request-b3.tgrq
run vendor fulfil request-b3.tgrq || echo "(exit $?)"
run vendor resume "$LICENSE_ID" --reason "invoice 4711 paid"

say "The vendor's view: license (a new seat minutes after a freed one is flagged), activations, audit log"
run vendor show "$LICENSE_ID"
run vendor audit --license "$LICENSE_ID"

say "A customer cannot mint a license with a vendor of their own"
echo "On a third broker, the customer runs 'tollgate vendor init' in a directory of their own,"
echo "issues themselves every feature until 2099 and answers their own request:"
HOST_C=(--state "$WORK/broker-c" --no-probes --allow-override --component machine-id=c3d4-broker-c
        --component mac=02:42:ac:11:00:04 --component root-disk=WD-WX33C0000001
        --component hostname=broker-c.plant.local)
export TOLLGATE_VENDOR_DIR="$WORK/customer-vendor"
"$TG" vendor init > /dev/null
"$TG" --json vendor issue --product chariot --customer "Me" --feature mqtt-server \
  --feature support:until=2099-01-01 --models offline --key-out "$WORK/own.key" > /dev/null
"$TG" host "${HOST_C[@]}" request --key-file "$WORK/own.key" | tail -n1 > request-c.tgrq
"$TG" vendor fulfil request-c.tgrq | tail -n1 > minted.tgul
printf '$ tollgate host <broker-c> install minted.tgul\n'
"$TG" host "${HOST_C[@]}" install minted.tgul \
  || echo "(exit $?: its signing key is not certified by the vendor root built into Chariot)"
