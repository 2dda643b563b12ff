#!/usr/bin/env bash
# Throwaway PostgreSQL 15 reference cluster, used to validate the test suites
# against real PostgreSQL semantics.
#
# Usage as a script:
#   tests/pg_reference.sh start    # initdb + start on $PG_REF_PORT (default 55432), create db `basalt`
#   tests/pg_reference.sh stop     # stop and delete the cluster
#   tests/pg_reference.sh status
#   tests/pg_reference.sh env      # print export lines for BASALT_PG_HOST/PORT/DB
# Or source it and call pg_ref_start / pg_ref_stop / pg_ref_status.
#
# Runs the server as the `postgres` system user (required when invoked as root:
# PostgreSQL refuses to run as root). Trust auth, listens on 127.0.0.1 only.
# The cluster lives in $PG_REF_DIR (default /tmp/basalt-pgref-$PG_REF_PORT).

PG_REF_PORT="${PG_REF_PORT:-55432}"
PG_REF_BIN="${PG_REF_BIN:-/usr/lib/postgresql/15/bin}"
PG_REF_DIR="${PG_REF_DIR:-/tmp/basalt-pgref-${PG_REF_PORT}}"
PG_REF_USER="${PG_REF_USER:-postgres}"
# Tests run without durability (fsync, synchronous_commit and full_page_writes off);
# benchmarks set PG_REF_DURABLE=1 for PostgreSQL's defaults (all on).
if [ "${PG_REF_DURABLE:-0}" = 1 ]; then PG_REF_FSYNC=on; else PG_REF_FSYNC=off; fi

_pg_ref_as() {
  # run a command as the cluster owner
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$PG_REF_USER" -- "$@"
  else
    "$@"
  fi
}

pg_ref_status() {
  [ -f "$PG_REF_DIR/data/PG_VERSION" ] && _pg_ref_as "$PG_REF_BIN/pg_ctl" -D "$PG_REF_DIR/data" status >/dev/null 2>&1
}

pg_ref_start() {
  if [ ! -x "$PG_REF_BIN/initdb" ]; then
    echo "pg_reference: $PG_REF_BIN/initdb not found (run scripts/install-test-deps.sh)" >&2
    return 1
  fi
  if pg_ref_status; then
    echo "pg_reference: already running on port $PG_REF_PORT ($PG_REF_DIR)"
    return 0
  fi
  rm -rf "$PG_REF_DIR"
  mkdir -p "$PG_REF_DIR"
  if [ "$(id -u)" -eq 0 ]; then chown "$PG_REF_USER" "$PG_REF_DIR"; fi
  chmod 700 "$PG_REF_DIR"
  _pg_ref_as "$PG_REF_BIN/initdb" -D "$PG_REF_DIR/data" -U postgres --auth=trust \
      --encoding=UTF8 --locale=C.UTF-8 >"$PG_REF_DIR/initdb.log" 2>&1 || {
    cat "$PG_REF_DIR/initdb.log" >&2; return 1; }
  cat >>"$PG_REF_DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = ${PG_REF_PORT}
unix_socket_directories = '${PG_REF_DIR}'
max_connections = 100
fsync = ${PG_REF_FSYNC}
synchronous_commit = ${PG_REF_FSYNC}
full_page_writes = ${PG_REF_FSYNC}
timezone = 'UTC'
log_timezone = 'UTC'
datestyle = 'ISO, MDY'
CONF
  _pg_ref_as "$PG_REF_BIN/pg_ctl" -D "$PG_REF_DIR/data" -l "$PG_REF_DIR/server.log" -w -t 60 start >/dev/null || {
    cat "$PG_REF_DIR/server.log" >&2; return 1; }
  _pg_ref_as "$PG_REF_BIN/psql" -h 127.0.0.1 -p "$PG_REF_PORT" -U postgres -d postgres -qAt \
      -c "CREATE DATABASE basalt" >/dev/null || return 1
  echo "pg_reference: PostgreSQL $("$PG_REF_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_REF_PORT db=basalt dir=$PG_REF_DIR"
}

pg_ref_stop() {
  if [ -f "$PG_REF_DIR/data/PG_VERSION" ]; then
    _pg_ref_as "$PG_REF_BIN/pg_ctl" -D "$PG_REF_DIR/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
  rm -rf "$PG_REF_DIR"
  echo "pg_reference: stopped (port $PG_REF_PORT)"
}

pg_ref_env() {
  echo "export BASALT_PG_HOST=127.0.0.1"
  echo "export BASALT_PG_PORT=$PG_REF_PORT"
  echo "export BASALT_PG_DB=basalt"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case "${1:-}" in
    start) pg_ref_start ;;
    stop) pg_ref_stop ;;
    status) if pg_ref_status; then echo running; else echo stopped; exit 1; fi ;;
    env) pg_ref_env ;;
    *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
  esac
fi
