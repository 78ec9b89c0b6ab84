#!/usr/bin/env bash
# Runs the whole test suite: unit and property tests, and the tests that start real nats-server
# and PostgreSQL processes, and the console's tests in headless Chromium (all installed from the
# distribution's packages when missing), and promtool's checks of the alert rules and dashboard.
# Ends with one line adding up every test binary's result.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/lib.sh
ensure_servers
ensure_browser
ensure_tools
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked "$@" 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "all tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
