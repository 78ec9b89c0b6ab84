# Shared by up.sh and test.sh: find or install the servers Komek runs on.
# Debian's nats-server (/usr/sbin) and PostgreSQL (/usr/lib/postgresql/<major>/bin) are used.

die() { echo "komek: $*" >&2; exit 1; }

find_nats() {
  command -v nats-server 2>/dev/null && return 0
  for p in /usr/sbin/nats-server /usr/local/sbin/nats-server; do
    [ -x "$p" ] && { echo "$p"; return 0; }
  done
  return 1
}

find_pg_bin() {
  if [ -n "${KOMEK_PG_BIN:-}" ]; then echo "$KOMEK_PG_BIN"; return 0; fi
  local best
  best=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n | tail -n 1)
  [ -n "$best" ] && [ -x "$best/initdb" ] && { echo "$best"; return 0; }
  local initdb
  initdb=$(command -v initdb 2>/dev/null) && { dirname "$initdb"; return 0; }
  return 1
}

# Installs nats-server and postgresql from the distribution when either is missing.
ensure_servers() {
  command -v cargo >/dev/null || die "cargo not found: install the Rust toolchain (https://rustup.rs)"
  if find_nats >/dev/null && find_pg_bin >/dev/null; then
    return 0
  fi
  command -v apt-get >/dev/null || die "nats-server or PostgreSQL missing and no apt-get here; install both, or set KOMEK_PG_BIN"
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "nats-server or PostgreSQL missing; run as root or install sudo"
    sudo="sudo"
  fi
  echo "komek: installing nats-server and postgresql from the distribution's packages" >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server postgresql >/dev/null
  find_nats >/dev/null || die "nats-server still missing after install"
  find_pg_bin >/dev/null || die "PostgreSQL server binaries still missing after install"
}
