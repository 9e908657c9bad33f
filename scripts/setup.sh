#!/usr/bin/env bash
# Installs what the build and the tests need, idempotently. Safe to run repeatedly.
set -euo pipefail
need_apt=()
command -v cc >/dev/null || need_apt+=(build-essential)
command -v valgrind >/dev/null || need_apt+=(valgrind)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
# The C binding: cbindgen regenerates its header (Debian's 0.24.3 keeps the output stable);
# the Mosquitto plugin builds against mosquitto-dev and its end-to-end test runs a broker (on
# a random loopback port: a system service the package may start is never used) and clients.
command -v cbindgen >/dev/null || need_apt+=(cbindgen)
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null || need_apt+=(mosquitto)
command -v mosquitto_pub >/dev/null || need_apt+=(mosquitto-clients)
[ -f /usr/include/mosquitto_broker.h ] || need_apt+=(mosquitto-dev)
[ -f /usr/include/mosquitto.h ] || need_apt+=(libmosquitto-dev)
# The License page's browser tests (tests/browser) drive Debian's chromium through its
# chromedriver; no browser is ever downloaded.
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
# The ledger's PostgreSQL backend is tested against a real server (scripts/pg.sh).
[ -x /usr/lib/postgresql/15/bin/initdb ] || need_apt+=(postgresql-15)
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null; then
  echo "Rust (cargo) is required: install it with rustup" >&2
  exit 1
fi
# Selenium for the browser tests (pointed at /usr/bin/chromedriver; Selenium Manager unused).
python3 -c 'import selenium' 2>/dev/null || python3 -m pip install --quiet 'selenium>=4.20,<5'
rustup component add rustfmt clippy >/dev/null 2>&1 || true
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --quiet
fi
# The marketplace tests run Amazon's EC2 metadata mock (a Go module) on loopback as the AWS
# instance metadata service; it is built into the project-local target/tools/bin.
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ ! -x "$root/target/tools/bin/ec2-metadata-mock" ]; then
  if ! command -v go >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq golang-go >/dev/null
  fi
  GOBIN="$root/target/tools/bin" go install \
    github.com/aws/amazon-ec2-metadata-mock/cmd/ec2-metadata-mock@v1.13.0
fi
command -v openssl >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq openssl >/dev/null; }
# Stripe's own mock server for the shop's tests (server/tests/shop.rs), built from its Go
# module into ~/.cache/tollgate/bin (the tests look there, or at $TOLLGATE_STRIPE_MOCK).
STRIPE_MOCK_VERSION=v0.203.0
stripe_bin="${XDG_CACHE_HOME:-$HOME/.cache}/tollgate/bin"
if [ ! -x "$stripe_bin/stripe-mock" ] || [ "$(cat "$stripe_bin/stripe-mock.version" 2>/dev/null)" != "$STRIPE_MOCK_VERSION" ]; then
  command -v go >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq golang-go >/dev/null; }
  mkdir -p "$stripe_bin"
  (cd /tmp && GOBIN="$stripe_bin" GOFLAGS=-mod=mod go install "github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION")
  echo "$STRIPE_MOCK_VERSION" > "$stripe_bin/stripe-mock.version"
fi
