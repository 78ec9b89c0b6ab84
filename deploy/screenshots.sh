#!/usr/bin/env bash
# Regenerates the screenshots in docs/screenshots/: the console's and the volunteer app's browser
# scenarios in Kazakh, Russian and English, saving each screen as <screen>-<lang>.png (the app's
# as app-<screen>-<lang>.png, at phone size).
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/lib.sh
ensure_servers
ensure_browser
KOMEK_SCREENSHOTS="$PWD/docs/screenshots" cargo test --locked -p komek-tests --test console_browser --test app_browser --test partner_browser -- --test-threads=1
