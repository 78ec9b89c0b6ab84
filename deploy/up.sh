#!/usr/bin/env bash
# Brings Komek up on this machine: PostgreSQL and NATS JetStream with their data under ./.komek/,
# then the four services, each its own process. `deploy/up.sh stop` stops everything.
#
# Ports (override with the variables): PostgreSQL KOMEK_PG_PORT=54329, NATS KOMEK_NATS_PORT=4229,
# intake 50051, triage 50052, roster 50053, matching 50054, the console (web) 8080.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/lib.sh

root=$PWD/.komek
run=$root/run
logs=$root/logs
pg_port=${KOMEK_PG_PORT:-54329}
nats_port=${KOMEK_NATS_PORT:-4229}
services=(intake:50051 triage:50052 roster:50053 matching:50054)
console_port=${KOMEK_CONSOLE_PORT:-8080}

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop_pidfile() {
  local file=$1
  [ -f "$file" ] || return 0
  local pid
  pid=$(head -n 1 "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$file"
}

stop_all() {
  stop_pidfile "$run/console.pid"
  for s in "${services[@]}"; do stop_pidfile "$run/${s%%:*}.pid"; done
  stop_pidfile "$run/nats.pid"
  if [ -f "$root/pg/data/postmaster.pid" ]; then
    as_pg "$(find_pg_bin)/pg_ctl" -D "$root/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
}

wait_port() {
  local port=$1 what=$2
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  die "$what did not listen on port $port; see $logs"
}

if [ "${1:-}" = stop ]; then
  stop_all
  echo "komek: stopped"
  exit 0
fi

ensure_servers
stop_all
mkdir -p "$run" "$logs" "$root/pg" "$root/nats"

echo "komek: building the services (release; the first build takes a few minutes)"
cargo build --release --locked --bins

pg_bin=$(find_pg_bin)
if [ "$(id -u)" = 0 ]; then
  chown -R postgres:postgres "$root/pg"
  runuser -u postgres -- test -x "$root/pg" \
    || die "the postgres user cannot reach $root; move the checkout to a directory others can enter"
fi
if [ ! -f "$root/pg/data/PG_VERSION" ]; then
  as_pg "$pg_bin/initdb" -D "$root/pg/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$logs/initdb.log"
fi
as_pg "$pg_bin/pg_ctl" -D "$root/pg/data" -l "$root/pg/postgres.log" -w \
  -o "-p $pg_port -k $root/pg -c listen_addresses=127.0.0.1" start >/dev/null
db_url="postgres://postgres@127.0.0.1:$pg_port/komek"
if ! as_pg psql -h 127.0.0.1 -p "$pg_port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'komek'" | grep -q 1; then
  as_pg psql -h 127.0.0.1 -p "$pg_port" -U postgres -qc "CREATE DATABASE komek" >/dev/null
fi

"$(find_nats)" -js -a 127.0.0.1 -p "$nats_port" -sd "$root/nats" -l "$logs/nats.log" -P "$run/nats.pid" &
disown
wait_port "$nats_port" nats-server

# Keys for caller personal data and the credentials' secrets, made once per installation and
# kept beside the data.
secrets=$root/secrets.env
umask 077
if [ ! -f "$secrets" ]; then
  {
    echo "KOMEK_PII__KEY_ID=k1"
    echo "KOMEK_PII__KEYS__K1=$(head -c 32 /dev/urandom | base64)"
    echo "KOMEK_PII__INDEX_KEY=$(head -c 32 /dev/urandom | base64)"
  } >"$secrets"
fi
if ! grep -q '^KOMEK_AUTH__KEY_PEPPER=' "$secrets"; then
  {
    echo "KOMEK_AUTH__KEY_PEPPER=$(head -c 32 /dev/urandom | base64)"
    echo "KOMEK_AUTH__SERVICE_SECRET=$(head -c 32 /dev/urandom | base64)"
    echo "KOMEK_AUTH__BOOTSTRAP_ADMIN_KEY=$(head -c 33 /dev/urandom | base64 | tr '+/' '-_')"
  } >>"$secrets"
fi
umask 022
set -a
. "$secrets"
set +a

for s in "${services[@]}"; do
  name=${s%%:*} port=${s##*:}
  KOMEK_DATABASE_URL=$db_url KOMEK_NATS_URL="nats://127.0.0.1:$nats_port" \
    KOMEK_LISTEN="127.0.0.1:$port" nohup "target/release/$name" >"$logs/$name.log" 2>&1 &
  echo $! >"$run/$name.pid"
  disown
done
for s in "${services[@]}"; do wait_port "${s##*:}" "${s%%:*}"; done

# The console calls the services as whoever signs in; it needs no secret of its own.
KOMEK_LISTEN="127.0.0.1:$console_port" KOMEK_ROSTER_URL="http://127.0.0.1:50053" \
  KOMEK_MATCHING_URL="http://127.0.0.1:50054" KOMEK_INTAKE_URL="http://127.0.0.1:50051" \
  KOMEK_TRIAGE_URL="http://127.0.0.1:50052" \
  nohup target/release/console >"$logs/console.log" 2>&1 &
echo $! >"$run/console.pid"
disown
wait_port "$console_port" console

cat <<MSG

Komek is up. Dispatchers' console: http://127.0.0.1:$console_port/ (sign in with a dispatcher's key).
gRPC endpoints (plaintext, health and reflection on each; every other call needs
"authorization: Bearer <key>"; the admin key is KOMEK_AUTH__BOOTSTRAP_ADMIN_KEY in
$secrets, and AccessService/CreateApiKey issues keys for dispatchers, volunteers and partners):
  intake    127.0.0.1:50051   komek.intake.v1.IntakeService, komek.partner.v1.PartnerService,
                              komek.places.v1.PlaceService
  triage    127.0.0.1:50052   komek.triage.v1.TriageService
  roster    127.0.0.1:50053   komek.roster.v1.RosterService, komek.access.v1.AccessService
  matching  127.0.0.1:50054   komek.matching.v1.AssignmentService, DispatchService
PostgreSQL $db_url   NATS nats://127.0.0.1:$nats_port
Logs in $logs

Demo: cargo run -p komek-tests --bin komek-demo   (groups near Almaty, a call and its offer, an
      escalated coal call in Kyzylorda Region, and a dispatcher key for the console)
Try:  grpcurl -plaintext 127.0.0.1:50051 list
      grpcurl -plaintext -d '{"service":"komek.intake.v1.IntakeService"}' 127.0.0.1:50051 grpc.health.v1.Health/Check
Stop: deploy/up.sh stop
MSG
