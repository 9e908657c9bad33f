#!/usr/bin/env bash
# The License page in a real browser: builds the binaries the test starts, then drives Debian's
# chromium (headless, through chromium-driver and Selenium) against them. Bounded: every wait in
# the test is at most 30 s and the whole run at most 10 minutes. Screenshots go to
# $TOLLGATE_SCREENSHOTS (default: a temporary directory, printed at the end).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
for tool in /usr/bin/chromium /usr/bin/chromedriver; do
  [ -x "$tool" ] || { echo "$tool is missing: run scripts/setup.sh" >&2; exit 1; }
done
python3 -c 'import selenium' 2>/dev/null || { echo "selenium is missing: run scripts/setup.sh" >&2; exit 1; }
cargo build --quiet -p tollgate-cli -p tollgate-server -p tollgate-floating --manifest-path "$ROOT/Cargo.toml"
# No browser download, no Selenium Manager: the system chromium and chromedriver only.
export SE_OFFLINE=true
timeout 600 python3 "$ROOT/tests/browser/license_page.py"
