#!/usr/bin/env bash
# Makes this machine ready to run and test Jarvis core without Docker:
#   1. finds PostgreSQL >= 15 and Redis, starting them when installed but stopped;
#   2. installs pgvector when the server lacks it (Debian package, else Debian's
#      source package built against this server);
#   3. installs Debian's chromium when missing (the TypeScript client's browser test);
#   4. leaves the database, roles, migrations and dev config to `jarvis dev`
#      (Go code, so the same logic serves tests and people).
# Idempotent: a second run changes nothing and takes well under a second.
set -euo pipefail

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# The superuser URL `jarvis dev` and the tests use too (docker compose: postgres:postgres@).
ADMIN_URL=${DEV_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
REDIS_PORT=${REDIS_PORT:-6379}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root for: $*"; fi
}

psql_super() {
  psql -X -q -v ON_ERROR_STOP=1 -d "$ADMIN_URL" "$@"
}

# --- PostgreSQL -------------------------------------------------------------
ensure_postgres() {
  if pg_isready -q -d "$ADMIN_URL" 2>/dev/null; then return; fi
  if command -v pg_lsclusters >/dev/null; then
    local ver
    ver=$(pg_lsclusters -h | awk '$1 >= 15 {print $1; exit}')
    [ -n "$ver" ] || die "no PostgreSQL >= 15 cluster installed (pg_lsclusters)"
    log "starting PostgreSQL $ver"
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start
    for _ in $(seq 1 30); do pg_isready -q -d "$ADMIN_URL" && return; sleep 0.5; done
  fi
  die "PostgreSQL is not reachable (DEV_DATABASE_URL or the local superuser on 127.0.0.1:5432) and could not be started"
}

server_major() {
  psql_super -At -c 'SHOW server_version_num' | cut -c1-2
}

# --- pgvector ---------------------------------------------------------------
pgvector_available() {
  [ "$(psql_super -At -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")" = "1" ]
}

apt_updated=0
apt_update_once() {
  if [ "$apt_updated" -eq 0 ]; then as_root apt-get update -qq >/dev/null; apt_updated=1; fi
}

# The mirror the machine already uses for Debian (deb822 or one-line format).
debian_mirror() {
  local m
  m=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -m1 -E '/debian/?$' || true)
  [ -n "$m" ] || m=$(grep -hsE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -m1 -E '/debian/?$' || true)
  printf '%s' "${m:-http://deb.debian.org/debian}"
}

install_pgvector() {
  local major=$1
  log "pgvector missing for PostgreSQL $major: trying the Debian package"
  apt_update_once
  if as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-$major-pgvector" >/dev/null 2>&1; then
    return
  fi
  log "no postgresql-$major-pgvector package: building Debian's pgvector source package (trixie)"
  local list=/etc/apt/sources.list.d/jarvis-trixie-src.list build
  build=$(mktemp -d)
  # apt-get source downloads as the _apt user: let it write there.
  if id _apt >/dev/null 2>&1; then as_root chown _apt "$build"; fi
  # The temporary deb-src line is removed whatever happens, so the machine's apt stays as it was.
  trap 'as_root rm -f '"$list"'; as_root apt-get update -qq >/dev/null 2>&1 || true; rm -rf '"$build" RETURN
  echo "deb-src $(debian_mirror) trixie main" | as_root tee "$list" >/dev/null
  as_root apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-server-dev-$major" build-essential dpkg-dev >/dev/null
  (cd "$build" && apt-get source -qq --download-only pgvector >/dev/null && dpkg-source -x --no-check ./pgvector_*.dsc src >/dev/null)
  make -s -C "$build/src" PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" >/dev/null
  as_root make -s -C "$build/src" PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" install >/dev/null
}

ensure_pgvector() {
  pgvector_available && return
  # A server elsewhere (docker compose) cannot get packages from here.
  case "$ADMIN_URL" in
    *@127.0.0.1*|*@localhost*|*@/*) ;;
    *) die "the server at DEV_DATABASE_URL lacks pgvector; use an image with it (pgvector/pgvector:pg16)";;
  esac
  command -v pg_lsclusters >/dev/null || die "pgvector missing and this server is not a local Debian cluster: install pgvector for it"
  install_pgvector "$(server_major)"
  pgvector_available || die "pgvector installed but the server does not list the 'vector' extension"
  log "pgvector installed"
}

# --- Redis (optional: the service falls back to in-process fan-out) -----------
ensure_redis() {
  if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then return; fi
  if command -v redis-server >/dev/null; then
    log "starting Redis on 127.0.0.1:$REDIS_PORT"
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/jarvis.log
    for _ in $(seq 1 20); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return; sleep 0.25; done
  fi
  log "Redis not reachable: the service will use its in-process single-node fallback"
}

# --- Chromium (the TypeScript client's browser test drives it) -----------------
ensure_chromium() {
  if command -v chromium >/dev/null; then return; fi
  log "installing Debian's chromium for the browser test"
  apt_update_once
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null ||
    die "could not install chromium (apt-get install chromium)"
}

# --- promtool (the test task validates the alert rules and a live scrape) -------
ensure_promtool() {
  if command -v promtool >/dev/null; then return; fi
  if command -v apt-get >/dev/null; then
    log "installing promtool (Debian's prometheus package; it starts nothing)"
    apt_update_once
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    # The package may enable a service; nothing here needs a running Prometheus.
    command -v promtool >/dev/null && return
  fi
  die "promtool not found: install Prometheus' promtool (Debian: apt-get install prometheus)"
}

ensure_postgres
major=$(server_major)
[ "$major" -ge 15 ] || die "PostgreSQL $major found; Jarvis needs 15 or newer"
ensure_pgvector
ensure_redis
ensure_chromium
ensure_promtool
log "ready: PostgreSQL $major with pgvector"
