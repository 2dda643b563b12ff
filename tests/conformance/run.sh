#!/usr/bin/env bash
# The conformance step of the test command: third-party corpora against a fresh Basalt.
#
#   BASALT_BIN=… bash tests/conformance/run.sh
#
# 1. sqlite-slt through the PostgreSQL protocol (simple and extended query), baseline: a
#    PostgreSQL 15 started here; mysql8-slt through the MySQL protocol, with a MariaDB
#    started here beside it (tests/conformance/run.py).
# 2. PostgreSQL 15's regression files for the areas Basalt covers, run with psql on both
#    servers and compared statement by statement (tests/conformance/pg_regress.py; the
#    sources come from Debian's postgresql-15 source package, scripts/fetch-pg-regress.sh).
# Fails if any pass count is below the one in tests/conformance/ratchet.json. Summaries
# and every failure go to $CONFORMANCE_OUT (default /tmp/basalt-conformance).
# RECORD=1 raises the recorded counts to this run's.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${CONFORMANCE_OUT:-/tmp/basalt-conformance}"
rm -rf "$OUT"; mkdir -p "$OUT"
BIN="${BASALT_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/basalt-target}/debug/basalt}"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RECORD_FLAG=(); [ "${RECORD:-0}" = 1 ] && RECORD_FLAG=(--record)

servers=()
start_basalt() { # start_basalt NAME: a fresh server; sets PG_PORT, MYSQL_PORT
  PG_PORT=$(free_port); MYSQL_PORT=$(free_port); local http; http=$(free_port)
  local data="$OUT/$1-data"
  "$BIN" serve --data-dir "$data" --listen 127.0.0.1 --pg-port "$PG_PORT" --http-port "$http" \
    --mysql-port "$MYSQL_PORT" > "$OUT/$1.log" 2>&1 &
  servers+=($!)
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$http/health" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "basalt did not start:"; cat "$OUT/$1.log"; return 1
}
export PG_REF_PORT; PG_REF_PORT=$(free_port)
export MARIADB_REF_PORT; MARIADB_REF_PORT=$(free_port)
cleanup() {
  for p in "${servers[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  bash tests/pg_reference.sh stop >/dev/null 2>&1
  bash tests/mariadb_reference.sh stop >/dev/null 2>&1
  rm -rf "$OUT"/*-data
}
trap cleanup EXIT

bash tests/pg_reference.sh start || exit 1
bash tests/mariadb_reference.sh start || exit 1
REGRESS=$(bash scripts/fetch-pg-regress.sh) || { echo "no PostgreSQL regression sources"; exit 1; }

# The regression files run beside the sqllogictest corpora (own Basalt server, own database
# on the reference PostgreSQL): each spends most of its time waiting on a server, so the
# two overlap on 2 cores. Their report is printed after the corpora's.
start_basalt regress || exit 1
python3 tests/conformance/pg_regress.py --regress "$REGRESS" --pg-ref "$PG_REF_PORT" \
  --basalt-pg "$PG_PORT" --summary "$OUT/pg-regress-summary.md" --diffs "$OUT/pg-regress-diffs" \
  --json "$OUT/pg-regress.json" --ratchet tests/conformance/ratchet.json "${RECORD_FLAG[@]}" \
  > "$OUT/pg-regress.out" 2>&1 &
regress=$!
# Both runners rewrite ratchet.json when recording: one after the other then.
[ "${RECORD:-0}" = 1 ] && { wait "$regress"; regress_status=$?; }

start_basalt slt || exit 1
status=0
python3 tests/conformance/run.py --basalt-pg "$PG_PORT" --pg-ref "$PG_REF_PORT" \
  --basalt-mysql "$MYSQL_PORT" --mariadb-ref "$MARIADB_REF_PORT" \
  --summary "$OUT/slt-summary.md" --failures "$OUT/slt-failures.txt" --json "$OUT/slt.json" \
  --ratchet tests/conformance/ratchet.json "${RECORD_FLAG[@]}" || status=1

if [ "${RECORD:-0}" = 1 ]; then [ "$regress_status" -eq 0 ] || status=1; else wait "$regress" || status=1; fi
cat "$OUT/pg-regress.out"
if grep -q panicked "$OUT"/*.log; then
  echo "a conformance server panicked:"; grep -A5 panicked "$OUT"/*.log | head -40; status=1
fi
echo "conformance outputs: $OUT"
exit $status
