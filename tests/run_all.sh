#!/usr/bin/env bash
# The one test command: installs what the tests need, builds once (dev profile), and runs
# every suite: Rust unit tests, sqllogictest files through the PostgreSQL protocol (simple
# and extended query) against Basalt and against a real PostgreSQL 15, MySQL-dialect files
# through the MySQL protocol against Basalt and a real MariaDB, driver tests of both
# protocols (psql, mariadb CLI, psycopg, asyncpg, PyMySQL, mysql-connector, mysqlclient,
# mysql2), cross-protocol, isolation, bad-input and crash tests, and the conformance corpora
# (tests/conformance: SQLite's sqllogictest corpus, its MySQL 8 version, PostgreSQL 15's
# regression files). Ends with one line "basalt-tests: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/basalt-target}"

passed=0
failed=0
failures=()
step() { echo; echo "=== $*"; }
record() { # record NAME EXIT_CODE
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$1"); fi
}

step "install test dependencies"
bash scripts/install-test-deps.sh || { echo "dependency installation failed"; exit 1; }

step "build (dev profile, one build for every test)"
cargo build --workspace --bins --tests || { echo "build failed"; exit 1; }
BIN="$CARGO_TARGET_DIR/debug/basalt"

step "cargo test"
cargo test --workspace 2>&1 | tee /tmp/basalt-cargo-test.log
record "cargo test" "${PIPESTATUS[0]}"

# ---- a Basalt server for the protocol-level suites
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PG_PORT=$(free_port); HTTP_PORT=$(free_port); MYSQL_PORT=$(free_port)
DATA=$(mktemp -d)
"$BIN" serve --data-dir "$DATA" --pg-port "$PG_PORT" --http-port "$HTTP_PORT" --mysql-port "$MYSQL_PORT" > "$DATA.log" 2>&1 &
SERVER=$!
cleanup() {
  kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null
  bash tests/pg_reference.sh stop >/dev/null 2>&1
  bash tests/mariadb_reference.sh stop >/dev/null 2>&1
  rm -rf "$DATA"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  python3 -c "import urllib.request,sys; urllib.request.urlopen(\"http://127.0.0.1:$HTTP_PORT/health\", timeout=1)" 2>/dev/null && break
  sleep 0.1
done
python3 -c "import urllib.request; urllib.request.urlopen(\"http://127.0.0.1:$HTTP_PORT/health\", timeout=1)" 2>/dev/null || { echo "server did not start:"; cat "$DATA.log"; exit 1; }

slt() { # slt LABEL PORT ENGINE [LABEL2]: records marked "skipif basalt" document differences
  step "sqllogictest $1 ($3, port $2)"
  sqllogictest --engine "$3" --label "$1" ${4:+--label "$4"} --host 127.0.0.1 --port "$2" --db basalt --user postgres tests/slt/*.slt
  record "slt $1 $3" $?
}
slt basalt "$PG_PORT" postgres
slt basalt "$PG_PORT" postgres-extended

# ---- the same SQL corpus on the column engine (invariant 2: same answers on both paths).
# A second server loads every table into the column engine at CREATE TABLE and forces
# every session's scans onto it; the expected results are the row engine's and PostgreSQL's.
COL_PG_PORT=$(free_port); COL_HTTP_PORT=$(free_port); COL_MYSQL_PORT=$(free_port)
COL_DATA=$(mktemp -d)
"$BIN" serve --data-dir "$COL_DATA" --pg-port "$COL_PG_PORT" --http-port "$COL_HTTP_PORT" \
  --mysql-port "$COL_MYSQL_PORT" --engine column --columnar-tables all > "$COL_DATA.log" 2>&1 &
COL_SERVER=$!
for _ in $(seq 1 100); do
  python3 -c "import urllib.request; urllib.request.urlopen(\"http://127.0.0.1:$COL_HTTP_PORT/health\", timeout=1)" 2>/dev/null && break
  sleep 0.1
done
slt basalt "$COL_PG_PORT" postgres basalt-column
slt basalt "$COL_PG_PORT" postgres-extended basalt-column
step "sqllogictest basalt (mysql, column engine)"
mariadb -h 127.0.0.1 -P "$COL_MYSQL_PORT" -u root -e "DROP DATABASE IF EXISTS slt; CREATE DATABASE slt" &&
  sqllogictest --engine mysql --label basalt --label basalt-column --host 127.0.0.1 --port "$COL_MYSQL_PORT" --user root --pass '' --db slt tests/slt-mysql/*.slt
record "slt basalt mysql (column engine)" $?
# The run must have read through the column engine, not around it.
scans=$(psql -h 127.0.0.1 -p "$COL_PG_PORT" -U postgres -d basalt -Atc "SHOW basalt.column_scans" 2>/dev/null || echo 0)
echo "column scans in the differential run: $scans"
[ "${scans:-0}" -gt 300 ]; record "differential run used the column engine" $?
kill "$COL_SERVER" 2>/dev/null; wait "$COL_SERVER" 2>/dev/null
if grep -q "panicked" "$COL_DATA.log"; then grep -A5 panicked "$COL_DATA.log"; record "column server free of panics" 1; fi
rm -rf "$COL_DATA" "$COL_DATA.log"

step "reference PostgreSQL 15"
export PG_REF_PORT="${PG_REF_PORT:-$(free_port)}"
if bash tests/pg_reference.sh start; then
  slt postgresql "$PG_REF_PORT" postgres
  slt postgresql "$PG_REF_PORT" postgres-extended
  bash tests/pg_reference.sh stop
else
  record "reference PostgreSQL start" 1
fi

slt_mysql() { # slt_mysql LABEL PORT: MySQL-dialect files through the MySQL protocol
  step "sqllogictest $1 (mysql)"
  mariadb -h 127.0.0.1 -P "$2" -u root -e "DROP DATABASE IF EXISTS slt; CREATE DATABASE slt" &&
    sqllogictest --engine mysql --label "$1" --host 127.0.0.1 --port "$2" --user root --pass '' --db slt tests/slt-mysql/*.slt
  record "slt $1 mysql" $?
}
slt_mysql basalt "$MYSQL_PORT"

step "reference MariaDB"
export MARIADB_REF_PORT="${MARIADB_REF_PORT:-$(free_port)}"
if bash tests/mariadb_reference.sh start; then
  slt_mysql mariadb "$MARIADB_REF_PORT"
  bash tests/mariadb_reference.sh stop
else
  record "reference MariaDB start" 1
fi

step "pytest: drivers (PostgreSQL and MySQL), isolation, bad input, crash, fast path"
BASALT_TARGET=basalt BASALT_PG_PORT="$PG_PORT" BASALT_MYSQL_PORT="$MYSQL_PORT" BASALT_BIN="$BIN" \
  CRASH_CYCLES="${CRASH_CYCLES:-20}" \
  python3 -m pytest -q tests/drivers tests/isolation tests/badinput tests/psql tests/crash tests/mysql tests/fastpath tests/columnar
record "pytest" $?

step "conformance: sqlite-slt (PostgreSQL protocol), mysql8-slt (MySQL protocol), PostgreSQL 15 regression files"
BASALT_BIN="$BIN" bash tests/conformance/run.sh
record "conformance (ratchet: tests/conformance/ratchet.json)" $?

kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null
if grep -q "panicked" "$DATA.log"; then
  echo "the server panicked during the tests:"; grep -A5 panicked "$DATA.log"
  record "server log free of panics" 1
else
  record "server log free of panics" 0
fi
rm -f "$DATA.log"

echo
if [ "$failed" -gt 0 ]; then echo "failed suites: ${failures[*]}"; fi
echo "basalt-tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
