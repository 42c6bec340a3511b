#!/usr/bin/env bash
# A private PostgreSQL cluster for the ledger's tests, benchmarks and CI: Debian's postgresql package, our own
# data directory under $CW_STATE_DIR (default /var/lib/changeward-test)/pg, listening on 127.0.0.1 only,
# run as the postgres user, stopped by the pid pg_ctl recorded. Idempotent.
#
# Usage: scripts/services/postgres.sh start|stop|status|dsn
#   start   install postgresql if missing (apt-get, root), initdb once, start, create database changeward
#   stop    pg_ctl stop (fast shutdown of the postmaster whose pid is in postmaster.pid)
#   status  "running pid N port P" (exit 0) or "stopped" (exit 3)
#   dsn     print postgresql://changeward:<password>@127.0.0.1:<port>/changeward (a secret: do not log it)
# Port: $CW_PG_PORT (default 55432), or the next free one of the 20 after it; remembered in the state dir.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE="${CW_STATE_DIR:-/var/lib/changeward-test}/pg"
DATA="$STATE/data"
RUN="$STATE/run"
LOG="$STATE/postgres.log"
PORT_FILE="$STATE/port"
PW_FILE="$STATE/password"
BASE_PORT="${CW_PG_PORT:-55432}"
DB=changeward
ROLE=changeward

die() { echo "postgres.sh: $*" >&2; exit 1; }

pg_bin() {
  local d
  d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

as_pg() {
  if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

ensure_installed() {
  if [ -z "$(pg_bin || true)" ]; then
    [ "$(id -u)" = 0 ] || die "postgresql is not installed and installing it needs root"
    echo "postgres.sh: installing the postgresql package" >&2
    svc_apt_install postgresql >&2
    [ -n "$(pg_bin || true)" ] || die "postgresql installed but no initdb found under /usr/lib/postgresql"
  fi
  id postgres >/dev/null 2>&1 || die "the postgres user does not exist"
}

running() {
  local bin
  bin=$(pg_bin) || return 1
  [ -s "$DATA/PG_VERSION" ] && as_pg "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

port_busy() { svc_listening 127.0.0.1 "$1"; }

pick_port() {
  local p
  if [ -s "$PORT_FILE" ] && ! port_busy "$(cat "$PORT_FILE")"; then cat "$PORT_FILE"; return; fi
  for p in $(seq "$BASE_PORT" $((BASE_PORT + 20))); do
    if ! port_busy "$p"; then echo "$p" > "$PORT_FILE"; echo "$p"; return; fi
  done
  die "no free port in $BASE_PORT..$((BASE_PORT + 20))"
}

init_cluster() {
  local bin=$1
  install -d -m 0755 "$STATE"
  install -d -m 0700 -o postgres -g postgres "$DATA" "$RUN"
  if [ ! -s "$PW_FILE" ]; then
    (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=\n' > "$PW_FILE")
  fi
  if [ ! -s "$DATA/PG_VERSION" ]; then
    as_pg "$bin/initdb" -D "$DATA" -U postgres -E UTF8 --no-locale \
      --auth-local=peer --auth-host=scram-sha-256 >"$STATE/initdb.log" 2>&1 \
      || { cat "$STATE/initdb.log" >&2; die "initdb failed"; }
    cat >> "$DATA/postgresql.conf" <<CONF
# changeward test cluster
listen_addresses = '127.0.0.1'
unix_socket_directories = '$RUN'
max_connections = 60
shared_buffers = 32MB
CONF
  fi
}

psql_su() {  # SQL on stdin, as the superuser over the private socket
  as_pg "$(pg_bin)/psql" -X -q -v ON_ERROR_STOP=1 -h "$RUN" -p "$(cat "$PORT_FILE")" -U postgres -d postgres
}

create_database() {
  local pw
  pw=$(cat "$PW_FILE")
  # Statements on stdin, so the password never shows in a process list.
  psql_su <<SQL
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', '$ROLE', '$pw')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$ROLE') \gexec
SELECT format('ALTER ROLE %I PASSWORD %L', '$ROLE', '$pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', '$DB', '$ROLE')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DB') \gexec
SQL
}

status() {
  if running; then
    echo "running pid $(head -n 1 "$DATA/postmaster.pid") port $(cat "$PORT_FILE") data $DATA"
  else
    echo "stopped"
    return 3
  fi
}

start() {
  ensure_installed
  local bin port
  bin=$(pg_bin)
  init_cluster "$bin"
  if ! running; then
    port=$(pick_port)
    chown postgres:postgres "$LOG" 2>/dev/null || true
    [ -e "$LOG" ] || install -m 0600 -o postgres -g postgres /dev/null "$LOG"
    as_pg "$bin/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 -o "-p $port" start >/dev/null \
      || { tail -n 20 "$LOG" >&2; die "pg_ctl start failed (log: $LOG)"; }
  fi
  create_database
  status
}

stop() {
  if running; then
    as_pg "$(pg_bin)/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
  fi
  echo "stopped"
}

dsn() {
  if [ ! -s "$PW_FILE" ] || [ ! -s "$PORT_FILE" ]; then die "no cluster yet: run '$0 start' first"; fi
  echo "postgresql://$ROLE:$(cat "$PW_FILE")@127.0.0.1:$(cat "$PORT_FILE")/$DB"
}

svc_main "start|stop|status|dsn" "$@"
