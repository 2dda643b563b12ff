#!/usr/bin/env bash
# HTAP benchmark: does analytics on live data slow the transactions down?
# sysbench oltp_read_write runs against Basalt (PostgreSQL protocol) while a stream of
# TPC-H-style aggregates (bench/htap_stream.py: grouped aggregates, a filtered sum, a join)
# runs on the same sysbench tables, loaded into the column engine. Each run measures three
# phases of TIME seconds: OLTP alone and both at once (in alternating order), then
# analytics alone. Prints medians over
# RUNS: OLTP transactions/s with and without the analytical stream, the change (the median
# of each run's own change, which is robust to the machine's speed drifting between runs,
# and the change of the medians), and the analytical queries' latency with and without the
# write load.
#
#   bash bench/htap.sh
#   THREADS=8 TIME=60 bash bench/htap.sh
#
# Settings (environment): TABLES (4), TABLE_SIZE (200000), THREADS (4, sysbench threads),
# TIME (20), RUNS (5), ENGINE (auto: the router picks; row: analytics forced onto the row
# engine, for comparison), BASALT_BIN (default: the release build, built if missing); the
# server's own variables too, e.g. BASALT_ANALYTICS_CPU=100 (no CPU quota for analytics) or
# BASALT_ANALYTICS_NICE=10.
# This is a benchmark, not a test: it is not run by tests/run_all.sh.
set -uo pipefail
cd "$(dirname "$0")/.."

TABLES="${TABLES:-4}"
TABLE_SIZE="${TABLE_SIZE:-200000}"
THREADS="${THREADS:-4}"
TIME="${TIME:-20}"
RUNS="${RUNS:-5}"
ENGINE="${ENGINE:-auto}"

command -v sysbench >/dev/null || apt-get install -y sysbench >/dev/null
python3 -c "import psycopg" 2>/dev/null || python3 -m pip install --quiet "psycopg[binary]>=3.1"
source bench/common.sh

B_PG=$(free_port); B_MY=$(free_port); B_HTTP=$(free_port)
B_DATA=$(mktemp -d)
"$BASALT_BIN" serve --data-dir "$B_DATA" --pg-port "$B_PG" --mysql-port "$B_MY" --http-port "$B_HTTP" \
  --engine "$ENGINE" >"$B_DATA.log" 2>&1 &
BASALT_PID=$!
cleanup() { kill "$BASALT_PID" 2>/dev/null; wait "$BASALT_PID" 2>/dev/null; rm -rf "$B_DATA" "$B_DATA.log"; }
trap cleanup EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$B_HTTP/health" >/dev/null && break; sleep 0.1; done

SB="--db-driver=pgsql --pgsql-host=127.0.0.1 --pgsql-port=$B_PG --pgsql-user=postgres --pgsql-password= --pgsql-db=basalt --tables=$TABLES --table-size=$TABLE_SIZE"
# shellcheck disable=SC2086
sysbench oltp_common $SB prepare >/dev/null 2>&1 || { echo "sysbench prepare failed" >&2; exit 1; }
for i in $(seq 1 "$TABLES"); do
  psql -h 127.0.0.1 -p "$B_PG" -U postgres -d basalt -qc "ALTER TABLE sbtest$i SET (columnar = on)" || exit 1
done
until [ "$(psql -h 127.0.0.1 -p "$B_PG" -U postgres -d basalt -Atc \
  "SELECT count(*) FROM pg_catalog.basalt_columnar WHERE state = 'loaded'")" -ge "$TABLES" ]; do sleep 0.5; done

oltp() { # -> tps
  # shellcheck disable=SC2086
  sysbench oltp_read_write $SB --threads="$THREADS" --time="$TIME" --report-interval=0 --db-ps-mode=auto run 2>&1 |
    awk '/transactions:/ {gsub(/[()]/,"",$3); print $3}'
}
stream() { # -> "queries median_ms p95_ms column_scans"
  python3 bench/htap_stream.py --port "$B_PG" --seconds "$TIME" --table-size "$TABLE_SIZE"
}
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

changes=(); alone_tps=(); mixed_tps=(); alone_ms=(); mixed_ms=(); alone_p95=(); mixed_p95=(); mixed_n=(); scans=()
mixed() { # both at once -> mixed_tps, the stream's figures in $B_DATA.stream
  stream > "$B_DATA.stream" &
  local spid=$!
  mixed_tps+=("$(oltp)")
  wait "$spid"
}
# A first OLTP phase is not counted: a freshly loaded database is faster than one sysbench
# has written to for a while. Then the order alternates (alone first in odd runs, mixed first
# in even runs), so that the database's slow drift does not favour either phase.
oltp >/dev/null
for run in $(seq 1 "$RUNS"); do
  if [ $((run % 2)) -eq 1 ]; then
    alone_tps+=("$(oltp)")
    mixed
  else
    mixed
    alone_tps+=("$(oltp)")
  fi
  read -r n ms p95 sc < <(stream); alone_ms+=("$ms"); alone_p95+=("$p95")
  changes+=("$(awk -v a="${alone_tps[-1]}" -v m="${mixed_tps[-1]}" 'BEGIN { if (a > 0) printf "%.1f", (m - a) * 100 / a; else print 0 }')")
  read -r n ms p95 sc < "$B_DATA.stream"; mixed_ms+=("$ms"); mixed_p95+=("$p95"); mixed_n+=("$n"); scans+=("$sc")
  echo "run $run: oltp tps alone ${alone_tps[-1]}, with analytics ${mixed_tps[-1]}; analytics median ms alone ${alone_ms[-1]}, under writes $ms ($n queries, $sc column scans)" >&2
done
at=$(printf '%s\n' "${alone_tps[@]}" | median); mt=$(printf '%s\n' "${mixed_tps[@]}" | median)
echo
echo "HTAP: sysbench oltp_read_write, $THREADS threads, $TABLES x $TABLE_SIZE rows, ${TIME}s phases, $RUNS runs (medians), $(nproc) cores, engine=$ENGINE, analytics cpu ${BASALT_ANALYTICS_CPU:-10}% nice ${BASALT_ANALYTICS_NICE:-19}"
printf '%-44s %10s %10s\n' "" alone mixed
printf '%-44s %10s %10s\n' "OLTP transactions/s" "$at" "$mt"
printf '%-44s %10s %10s\n' "analytical query latency, median ms" "$(printf '%s\n' "${alone_ms[@]}" | median)" "$(printf '%s\n' "${mixed_ms[@]}" | median)"
printf '%-44s %10s %10s\n' "analytical query latency, p95 ms" "$(printf '%s\n' "${alone_p95[@]}" | median)" "$(printf '%s\n' "${mixed_p95[@]}" | median)"
printf '%-44s %10s %10s\n' "analytical queries per phase / column scans" "" "$(printf '%s\n' "${mixed_n[@]}" | median) / $(printf '%s\n' "${scans[@]}" | median)"
echo "OLTP throughput change with analytics running, per run: ${changes[*]} (%)"
echo "OLTP throughput change with analytics running, median of the runs: $(printf '%s\n' "${changes[@]}" | median)%"
awk -v a="$at" -v m="$mt" 'BEGIN { if (a > 0) printf "OLTP throughput change with analytics running, of the medians: %+.1f%%\n", (m - a) * 100 / a }'
