#!/usr/bin/env bash
# TPC-H benchmark: Basalt against DuckDB on the same machine, in the same run.
# Generates TPC-H data with tpchgen-cli (PyPI package `tpchgen-cli`, the tpchgen-rs
# generator), loads it into Basalt (COPY FROM STDIN, then ALTER TABLE … SET (columnar = on))
# and into DuckDB (PyPI `duckdb`, a database file), runs the 22 queries on each, checks every
# Basalt answer against DuckDB's, and prints per-query median times, the geometric-mean ratio
# Basalt/DuckDB, Basalt forced onto its row engine as a third column, and the memory of
# lineitem in the column engine against its raw Arrow size and DuckDB's file for it.
#
#   bash bench/tpch.sh                 # SF1, 3 runs per query (1 on the row engine)
#   SF=0.1 RUNS=5 bash bench/tpch.sh
#
# Settings (environment): SF (1), RUNS (3), ROW_RUNS (1), QUERIES (q01,…,q22),
# BASALT_BIN (default: the release build, built if missing), TPCH_DATA (default
# ~/.cache/basalt-tpch/sf$SF; generated if missing).
# This is a benchmark, not a test: it is not run by tests/run_all.sh (the 22 queries' answers
# are, in tests/columnar/test_tpch.py).
set -uo pipefail
cd "$(dirname "$0")/.."

SF="${SF:-1}"
RUNS="${RUNS:-3}"
ROW_RUNS="${ROW_RUNS:-1}"
QUERIES="${QUERIES:-$(printf 'q%02d,' $(seq 1 22) | sed 's/,$//')}"
TPCH_DATA="${TPCH_DATA:-$HOME/.cache/basalt-tpch/sf$SF}"

python3 -c "import duckdb, psycopg" 2>/dev/null && command -v tpchgen-cli >/dev/null ||
  python3 -m pip install --quiet duckdb tpchgen-cli "psycopg[binary]>=3.1" || exit 1
source bench/common.sh
python3 -c "import sys; sys.path.insert(0, 'bench/tpch'); import tpch; tpch.generate('$SF', '$TPCH_DATA')" || exit 1

B_PG=$(free_port); B_MY=$(free_port); B_HTTP=$(free_port)
B_DATA=$(mktemp -d)
"$BASALT_BIN" serve --data-dir "$B_DATA" --pg-port "$B_PG" --mysql-port "$B_MY" --http-port "$B_HTTP" >"$B_DATA.log" 2>&1 &
BASALT_PID=$!
cleanup() { kill "$BASALT_PID" 2>/dev/null; wait "$BASALT_PID" 2>/dev/null; rm -rf "$B_DATA" "$B_DATA.log"; }
trap cleanup EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$B_HTTP/health" >/dev/null && break; sleep 0.1; done

echo "TPC-H SF$SF, $(nproc) cores; Basalt $("$BASALT_BIN" --version 2>/dev/null), DuckDB $(python3 -c 'import duckdb; print(duckdb.__version__)')"
python3 bench/tpch/run.py --pg-port "$B_PG" --data "$TPCH_DATA" --runs "$RUNS" --row-runs "$ROW_RUNS" --queries "$QUERIES"
status=$?
echo "Basalt peak resident memory: $(grep VmHWM /proc/$BASALT_PID/status | awk '{print $2/1024 " MiB"}')"
exit $status
