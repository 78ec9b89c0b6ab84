#!/usr/bin/env bash
# Brings Komek up on this machine: PostgreSQL and NATS JetStream with their data under ./.komek/,
# then the four services, each its own process. `deploy/up.sh stop` stops everything.
#
# Ports (override with the variables): PostgreSQL KOMEK_PG_PORT=54329, NATS KOMEK_NATS_PORT=4229,
# intake 50051, triage 50052, roster 50053, matching 50054, the console (web) 8080.
#
# `deploy/up.sh --cluster`: a three-node NATS cluster (deploy/nats/cluster.conf; client ports
# 4229-4231, routes 6229-6231, monitoring 8229-8231) keeping three copies of every stream, and two replicas of every service (the
# second on 50061-50064); matching and the console spread their calls over the replicas.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/lib.sh

cluster=false
case "${1:-}" in
  --cluster) cluster=true ;;
  stop | "") ;;
  *) die "usage: deploy/up.sh [--cluster | stop]" ;;
esac

root=$PWD/.komek
run=$root/run
logs=$root/logs
pg_port=${KOMEK_PG_PORT:-54329}
nats_port=${KOMEK_NATS_PORT:-4229}
services=(intake:50051 triage:50052 roster:50053 matching:50054)
# Second replicas in a cluster: the same service, its port plus ten.
replicas=(intake-2:50061 triage-2:50062 roster-2:50063 matching-2:50064)
console_port=${KOMEK_CONSOLE_PORT:-8080}
nats_nodes=3

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
  for s in "${services[@]}" "${replicas[@]}"; do stop_pidfile "$run/${s%%:*}.pid"; done
  stop_pidfile "$run/nats.pid"
  for i in $(seq 0 $((nats_nodes - 1))); do stop_pidfile "$run/nats-$i.pid"; done
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

# The URLs of every replica of service $1 ("http://127.0.0.1:50051,http://127.0.0.1:50061").
urls_of() {
  local name=$1 s list=""
  for s in "${services[@]}" "${replicas[@]}"; do
    [ "${s%%:*}" = "$name" ] || [ "${s%%:*}" = "$name-2" ] || continue
    $cluster || [ "${s%%:*}" = "$name" ] || continue
    list="${list:+$list,}http://127.0.0.1:${s##*:}"
  done
  echo "$list"
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

if $cluster; then
  # Each node runs deploy/nats/cluster.conf (as compose and Kubernetes do) with its own ports
  # and store; stream copies live on the nodes' own stores.
  nats_urls=""
  for i in $(seq 0 $((nats_nodes - 1))); do
    mkdir -p "$root/nats-$i"
    KOMEK_NATS_NAME="komek-$i" KOMEK_NATS_LISTEN="127.0.0.1:$((nats_port + i))" \
      KOMEK_NATS_MONITOR="127.0.0.1:$((8229 + i))" KOMEK_NATS_STORE="$root/nats-$i" \
      KOMEK_NATS_CLUSTER_LISTEN="127.0.0.1:$((6229 + i))" \
      KOMEK_NATS_ROUTE_0=nats-route://127.0.0.1:6229 KOMEK_NATS_ROUTE_1=nats-route://127.0.0.1:6230 \
      KOMEK_NATS_ROUTE_2=nats-route://127.0.0.1:6231 \
      "$(find_nats)" -c deploy/nats/cluster.conf -l "$logs/nats-$i.log" -P "$run/nats-$i.pid" &
    disown
    nats_urls="${nats_urls:+$nats_urls,}nats://127.0.0.1:$((nats_port + i))"
  done
  for i in $(seq 0 $((nats_nodes - 1))); do wait_port $((nats_port + i)) "nats-server $i"; done
  stream_replicas=3
else
  "$(find_nats)" -js -a 127.0.0.1 -p "$nats_port" -sd "$root/nats" -l "$logs/nats.log" -P "$run/nats.pid" &
  disown
  wait_port "$nats_port" nats-server
  nats_urls="nats://127.0.0.1:$nats_port"
  stream_replicas=1
fi

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

started=("${services[@]}")
$cluster && started+=("${replicas[@]}")
for s in "${started[@]}"; do
  name=${s%%:*} port=${s##*:}
  KOMEK_DATABASE_URL=$db_url KOMEK_NATS_URL="$nats_urls" KOMEK_STREAM_REPLICAS=$stream_replicas \
    KOMEK_LISTEN="127.0.0.1:$port" KOMEK_INTAKE__URL="$(urls_of intake)" \
    nohup "target/release/${name%-2}" >"$logs/$name.log" 2>&1 &
  echo $! >"$run/$name.pid"
  disown
done
for s in "${started[@]}"; do wait_port "${s##*:}" "${s%%:*}"; done

# The console calls the services as whoever signs in; it needs no secret of its own.
KOMEK_LISTEN="127.0.0.1:$console_port" KOMEK_ROSTER_URL="$(urls_of roster)" \
  KOMEK_MATCHING_URL="$(urls_of matching)" KOMEK_INTAKE_URL="$(urls_of intake)" \
  KOMEK_TRIAGE_URL="$(urls_of triage)" \
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
PostgreSQL $db_url   NATS $nats_urls
$($cluster && echo "Second replicas: intake 50061, triage 50062, roster 50063, matching 50064; streams keep 3 copies.")
Logs in $logs

Demo: cargo run -p komek-tests --bin komek-demo   (groups near Almaty, a call and its offer, an
      escalated coal call in Kyzylorda Region, and a dispatcher key for the console)
Try:  export PATH=\$PWD/target/release:\$PATH; . $secrets
      KOMEK_KEY=\$KOMEK_AUTH__BOOTSTRAP_ADMIN_KEY komek keys create --role dispatcher \\
          --subject dispatchers/me --name "Me"; then KOMEK_KEY=<its secret> komek queue
Stop: deploy/up.sh stop
MSG
