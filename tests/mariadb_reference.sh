#!/usr/bin/env bash
# Throwaway MariaDB reference server, the other side of the MySQL-protocol tests and of
# bench/oltp.sh's MySQL runs.
#
#   tests/mariadb_reference.sh start   # install a data dir and start on $MARIADB_REF_PORT (default 53306)
#   tests/mariadb_reference.sh stop    # stop and delete it
#   tests/mariadb_reference.sh status
#
# Listens on 127.0.0.1 only, with grant tables skipped (user root, no password, like
# Basalt's MySQL port), durable commits (innodb_flush_log_at_trx_commit = 1).
# Extra server options can be given in MARIADB_REF_OPTS.

MARIADB_REF_PORT="${MARIADB_REF_PORT:-53306}"
MARIADB_REF_DIR="${MARIADB_REF_DIR:-/tmp/basalt-mariadbref-${MARIADB_REF_PORT}}"

mariadb_ref_status() {
  [ -f "$MARIADB_REF_DIR/mariadbd.pid" ] && kill -0 "$(cat "$MARIADB_REF_DIR/mariadbd.pid")" 2>/dev/null
}

mariadb_ref_start() {
  if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
    echo "mariadb_reference: mariadbd not found (run scripts/install-test-deps.sh)" >&2
    return 1
  fi
  if mariadb_ref_status; then
    echo "mariadb_reference: already running on port $MARIADB_REF_PORT"
    return 0
  fi
  rm -rf "$MARIADB_REF_DIR"
  mkdir -p "$MARIADB_REF_DIR/data"
  chown -R mysql:mysql "$MARIADB_REF_DIR" 2>/dev/null || true
  mariadb-install-db --no-defaults --datadir="$MARIADB_REF_DIR/data" --user=mysql \
    --auth-root-authentication-method=normal --skip-test-db >"$MARIADB_REF_DIR/install.log" 2>&1 || {
    cat "$MARIADB_REF_DIR/install.log" >&2; return 1; }
  # shellcheck disable=SC2086
  /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$MARIADB_REF_DIR/data" \
    --port="$MARIADB_REF_PORT" --bind-address=127.0.0.1 \
    --socket="$MARIADB_REF_DIR/mariadbd.sock" --pid-file="$MARIADB_REF_DIR/mariadbd.pid" \
    --skip-grant-tables --innodb-flush-log-at-trx-commit=1 --max-connections=500 \
    --log-error="$MARIADB_REF_DIR/error.log" $MARIADB_REF_OPTS &
  for _ in $(seq 1 100); do
    if mariadb -h 127.0.0.1 -P "$MARIADB_REF_PORT" -u root -e "SELECT 1" >/dev/null 2>&1; then
      echo "mariadb_reference: running on 127.0.0.1:$MARIADB_REF_PORT ($MARIADB_REF_DIR)"
      return 0
    fi
    sleep 0.2
  done
  echo "mariadb_reference: server did not start:" >&2
  cat "$MARIADB_REF_DIR/error.log" >&2
  return 1
}

mariadb_ref_stop() {
  if mariadb_ref_status; then
    kill "$(cat "$MARIADB_REF_DIR/mariadbd.pid")" 2>/dev/null
    for _ in $(seq 1 100); do mariadb_ref_status || break; sleep 0.1; done
  fi
  rm -rf "$MARIADB_REF_DIR"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-}" in
    start) mariadb_ref_start ;;
    stop) mariadb_ref_stop ;;
    status) if mariadb_ref_status; then echo running; else echo stopped; exit 1; fi ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
  esac
fi
