#!/usr/bin/env bash
# Brings up a local three-node Citus cluster on PostgreSQL 15: a coordinator
# on 9700 and workers on 9701 and 9702 (pg_createcluster), each with
# shared_preload_libraries = citus and pgvector available. Citus comes from
# the distribution's packages when they have it, else it is built from the
# source tarball named by CITUS_TARBALL (a .tar.gz of citusdata/citus; a
# patch beside it named *.patch is applied). Idempotent: a running cluster
# is left as is. Needs root (packages, pg_createcluster) or the postgres
# tools on PATH. See docs/scale-out.md.
set -euo pipefail

PGVER=${PGVER:-15}
CITUS_VERSION=${CITUS_VERSION:-13.2.2}
COORD_PORT=${CITUS_COORDINATOR_PORT:-9700}
WORKER_PORTS=${CITUS_WORKER_PORTS:-"9701 9702"}
PGBIN=/usr/lib/postgresql/$PGVER/bin
PKGLIB=$("$PGBIN/pg_config" --pkglibdir 2>/dev/null || pg_config --pkglibdir)
SHAREDIR=$("$PGBIN/pg_config" --sharedir 2>/dev/null || pg_config --sharedir)

say() { echo "citus-up: $*" >&2; }
die() { say "$*"; exit 1; }

citus_installed() {
  [ -f "$PKGLIB/citus.so" ] && [ -f "$SHAREDIR/extension/citus.control" ] &&
    grep -q "default_version = '${CITUS_VERSION%.*}" "$SHAREDIR/extension/citus.control"
}

install_from_packages() {
  command -v apt-get >/dev/null || return 1
  local pkg
  pkg=$(apt-cache search --names-only "^postgresql-$PGVER-citus" 2>/dev/null | awk '{print $1}' | sort -V | tail -1)
  [ -n "$pkg" ] || return 1
  say "installing $pkg from the distribution's packages"
  DEBIAN_FRONTEND=noninteractive apt-get install -y "$pkg" >/dev/null
}

build_from_tarball() {
  [ -n "${CITUS_TARBALL:-}" ] || return 1
  [ -f "$CITUS_TARBALL" ] || die "CITUS_TARBALL=$CITUS_TARBALL does not exist"
  local deps=(postgresql-server-dev-$PGVER libcurl4-openssl-dev liblz4-dev libzstd-dev libkrb5-dev autoconf flex bison make gcc)
  local missing=()
  for d in "${deps[@]}"; do dpkg -s "$d" >/dev/null 2>&1 || missing+=("$d"); done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing build dependencies: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null
  fi
  local work
  work=$(mktemp -d)
  tar -xzf "$CITUS_TARBALL" -C "$work"
  local src
  src=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -1)
  for p in "$(dirname "$CITUS_TARBALL")"/*.patch; do
    [ -f "$p" ] || continue
    say "applying $(basename "$p")"
    (cd "$src" && patch -p1 -N < "$p" >/dev/null)
  done
  say "building Citus from $(basename "$CITUS_TARBALL") (several minutes)"
  local start=$SECONDS
  (cd "$src" && ./configure >"$work/configure.log" 2>&1 && make -j"$(nproc)" >"$work/make.log" 2>&1 && make install >"$work/install.log" 2>&1) ||
    die "build failed: see $work/*.log"
  say "built and installed in $((SECONDS - start)) s"
  rm -rf "$work"
}

if ! citus_installed; then
  install_from_packages || build_from_tarball || die "Citus $CITUS_VERSION is not installed for PostgreSQL $PGVER, the distribution has no postgresql-$PGVER-citus package, and no source tarball was named: set CITUS_TARBALL=/path/to/citus-$CITUS_VERSION.tar.gz (https://github.com/citusdata/citus/releases), or install Citus's packages (docs/scale-out.md)"
  citus_installed || die "Citus was installed but $PKGLIB/citus.so or its $CITUS_VERSION control file is missing"
else
  say "Citus $CITUS_VERSION already installed in $PKGLIB: no build"
fi
[ -f "$SHAREDIR/extension/vector.control" ] || die "pgvector is not installed for PostgreSQL $PGVER (scripts/setup.sh installs it)"

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

node() { # name port
  local name=$1 port=$2
  if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$PGVER $name"; then
    say "creating cluster $name on port $port"
    pg_createcluster "$PGVER" "$name" --port "$port" >/dev/null
  fi
  local conf=/etc/postgresql/$PGVER/$name/postgresql.conf
  if ! grep -q "^shared_preload_libraries = 'citus'" "$conf"; then
    cat >>"$conf" <<CONF
shared_preload_libraries = 'citus'
listen_addresses = '127.0.0.1'
max_connections = 300
max_prepared_transactions = 200
wal_level = logical
fsync = off
synchronous_commit = off
citus.max_client_connections = 250
CONF
    local hba=/etc/postgresql/$PGVER/$name/pg_hba.conf
    sed -i '/^host/d' "$hba"
    echo "host all all 127.0.0.1/32 trust" >>"$hba"
  fi
  if ! pg_lsclusters -h | awk '$1=="'"$PGVER"'" && $2=="'"$name"'" {print $4}' | grep -q online; then
    pg_ctlcluster "$PGVER" "$name" start
  fi
}

node citus_coord "$COORD_PORT"
i=1
for p in $WORKER_PORTS; do node "citus_w$i" "$p"; i=$((i + 1)); done

psqlc() { as_pg psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres "$@"; }
for p in $COORD_PORT $WORKER_PORTS; do
  for _ in $(seq 1 30); do psqlc -p "$p" -d postgres -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 1; done
  # Only when missing: once the coordinator has synced its metadata to a
  # worker, Citus refuses CREATE EXTENSION there even with IF NOT EXISTS
  # ("operation is not allowed on this node"), so a second run must not ask.
  for ext in citus vector; do
    if [ "$(psqlc -p "$p" -d postgres -Atc "SELECT 1 FROM pg_extension WHERE extname = '$ext'")" != 1 ]; then
      psqlc -p "$p" -d postgres -c "CREATE EXTENSION $ext"
    fi
  done
done
# The postgres database of the coordinator knows its workers; every test
# database registers them again (internal/db/dbtest), as Citus keeps its
# metadata per database.
psqlc -p "$COORD_PORT" -d postgres -c "SELECT citus_set_coordinator_host('127.0.0.1', $COORD_PORT)" >/dev/null
for p in $WORKER_PORTS; do
  psqlc -p "$COORD_PORT" -d postgres -c "SELECT citus_add_node('127.0.0.1', $p) WHERE NOT EXISTS (SELECT 1 FROM pg_dist_node WHERE nodeport = $p)" >/dev/null
done
psqlc -p "$COORD_PORT" -d postgres -c "SELECT nodename, nodeport, noderole FROM pg_dist_node ORDER BY nodeport"
say "ready: coordinator 127.0.0.1:$COORD_PORT, workers $(echo $WORKER_PORTS | sed "s/\([0-9]*\)/127.0.0.1:\1/g")"
