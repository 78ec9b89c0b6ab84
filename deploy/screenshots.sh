#!/usr/bin/env bash
# Regenerates the console's screenshots in docs/screenshots/: the browser scenario in Kazakh,
# Russian and English, saving each screen as <screen>-<lang>.png.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/lib.sh
ensure_servers
ensure_browser
KOMEK_SCREENSHOTS="$PWD/docs/screenshots" cargo test --locked -p komek-tests --test console_browser -- --test-threads=1
