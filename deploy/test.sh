#!/usr/bin/env bash
# Runs the whole test suite: unit and property tests, and the tests that start real nats-server
# and PostgreSQL processes (installed from the distribution's packages when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/lib.sh
ensure_servers
exec cargo test --workspace --locked "$@"
