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

# The checks of what deploy/ holds, in the test command: promtool (Debian's prometheus package)
# for the alert rules and the dashboard's queries, docker-compose (Debian's, no Docker engine
# needed) for the compose file, kubectl's kustomize (Debian's kubernetes-client when no kubectl
# is installed) for the Kubernetes overlays, and kubernetes-validate (PyPI, in a virtualenv under
# target/komek-tools) for the manifests against Kubernetes' schemas.
KUBERNETES_VALIDATE_VERSION=1.31.0
KUBERNETES_VALIDATE=target/komek-tools/venv/bin/kubernetes-validate

ensure_tools() {
  local missing=()
  command -v promtool >/dev/null || missing+=(prometheus)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  command -v kubectl >/dev/null || missing+=(kubernetes-client)
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
  if [ "${#missing[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get here; install them"
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
      command -v sudo >/dev/null || die "missing ${missing[*]}; run as root or install sudo"
      sudo="sudo"
    fi
    echo "komek: installing ${missing[*]} from the distribution's packages" >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  command -v promtool >/dev/null || die "promtool still missing after install"
  if [ ! -x "$KUBERNETES_VALIDATE" ]; then
    python3 -m venv target/komek-tools/venv
    target/komek-tools/venv/bin/pip install -q "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" ||
      die "could not install kubernetes-validate from PyPI"
  fi
}

# The console's browser tests: Debian's headless Chromium and its WebDriver, and axe-core
# (MPL-2.0, from the npm registry, checked against its published SHA-512) for the
# accessibility checks, kept under target/komek-tools.
AXE_VERSION=4.14.1
AXE_SHA512=1477dafa598d8d065f273d6af302aa203c02e83131707b7fa648cd41bd3d6b734f8c22a0dab86ee6a6f64b8afbe804b214d36db85a2826965edfb3a0b9d546b5
AXE_JS=target/komek-tools/axe.min.js

find_browser() {
  command -v chromedriver >/dev/null && { command -v chromium >/dev/null || command -v chromium-browser >/dev/null; }
}

ensure_axe() {
  [ -s "$AXE_JS" ] && return 0
  local tmp
  tmp=$(mktemp -d)
  curl -sSfL -o "$tmp/axe.tgz" "https://registry.npmjs.org/axe-core/-/axe-core-$AXE_VERSION.tgz" ||
    die "could not download axe-core $AXE_VERSION from registry.npmjs.org"
  echo "$AXE_SHA512  $tmp/axe.tgz" | sha512sum -c --quiet - || die "axe-core download does not match its checksum"
  tar -xzf "$tmp/axe.tgz" -C "$tmp" package/axe.min.js package/LICENSE
  mkdir -p "$(dirname "$AXE_JS")"
  mv "$tmp/package/axe.min.js" "$AXE_JS"
  mv "$tmp/package/LICENSE" "$(dirname "$AXE_JS")/axe-core.LICENSE"
  rm -rf "$tmp"
}

# Installs chromium, chromium-driver and curl from the distribution when missing, then
# axe-core.
ensure_browser() {
  if ! { find_browser && command -v curl >/dev/null; }; then
    command -v apt-get >/dev/null || die "chromium, chromedriver or curl missing and no apt-get here; install them"
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
      command -v sudo >/dev/null || die "chromium missing; run as root or install sudo"
      sudo="sudo"
    fi
    echo "komek: installing chromium and chromium-driver from the distribution's packages" >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver \
      curl ca-certificates >/dev/null
    find_browser || die "chromium or chromedriver still missing after install"
  fi
  ensure_axe
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
