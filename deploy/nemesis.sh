#!/usr/bin/env bash
# The long crash, pause and partition run: 10,000 requests over about eleven minutes, every
# kind of fault, then the checker. Its report replaces tests/NEMESIS-LONG-RUN.md; the exit
# status says whether the checker found anything. Extra flags go to komek-nemesis (see
# tests/nemesis_cli.rs), e.g. `deploy/nemesis.sh --seed 7`.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/lib.sh
ensure_servers
cargo build --release --locked -p komek-tests --bin komek-nemesis
exec target/release/komek-nemesis run --requests 10000 --per-second 15 \
  --report tests/NEMESIS-LONG-RUN.md "$@"
