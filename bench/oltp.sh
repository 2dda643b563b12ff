#!/usr/bin/env bash
# OLTP benchmark: sysbench against Basalt and a reference server started by this script,
# on the same machine, in the same run. Prints transactions/s, p95 latency and the
# Basalt/reference ratio per workload and thread count (medians of RUNS runs).
#
#   bash bench/oltp.sh                      # PostgreSQL protocol vs PostgreSQL 15, then MySQL protocol vs MariaDB
#   DRIVERS=mysql bash bench/oltp.sh        # only --db-driver=mysql (Basalt vs MariaDB)
#   DRIVERS=pgsql bash bench/oltp.sh        # only --db-driver=pgsql (Basalt vs PostgreSQL 15)
#
# Settings (environment): TABLES (4), TABLE_SIZE (100000), THREADS ("1 2 8"), RUNS (3),
# TIME (seconds per run, 20), WORKLOADS ("oltp_point_select oltp_read_only oltp_read_write
# oltp_insert"), PGBENCH ("select tpcb": pgbench -S and the default TPC-B-like script, run
# with the pgsql driver; empty to skip), PGBENCH_SCALE (10), BASALT_BIN (default: the release
# build, built if missing).
# With the pgsql driver it also reports memory per row: the growth of Basalt's resident
# memory while sysbench loads its tables, per row, next to PostgreSQL's on-disk size of the
# same tables (pg_total_relation_size, heap and primary key).
# Both sides commit durably: Basalt fsyncs its WAL before acknowledging, MariaDB runs with
# innodb_flush_log_at_trx_commit=1, PostgreSQL with synchronous_commit=on (the default).
# This is a benchmark, not a test: it is not run by tests/run_all.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

DRIVERS="${DRIVERS:-pgsql mysql}"
TABLES="${TABLES:-4}"
TABLE_SIZE="${TABLE_SIZE:-100000}"
THREADS="${THREADS:-1 2 8}"
RUNS="${RUNS:-3}"
TIME="${TIME:-20}"
WORKLOADS="${WORKLOADS:-oltp_point_select oltp_read_only oltp_read_write oltp_insert}"
PGBENCH="${PGBENCH-select tpcb}"
PGBENCH_SCALE="${PGBENCH_SCALE:-10}"

command -v sysbench >/dev/null || apt-get install -y sysbench >/dev/null
source bench/common.sh

B_PG=$(free_port); B_MY=$(free_port); B_HTTP=$(free_port)
B_DATA=$(mktemp -d)
"$BASALT_BIN" serve --data-dir "$B_DATA" --pg-port "$B_PG" --mysql-port "$B_MY" --http-port "$B_HTTP" >"$B_DATA.log" 2>&1 &
BASALT_PID=$!
export MARIADB_REF_PORT=$(free_port) PG_REF_PORT=$(free_port) PG_REF_DURABLE=1
cleanup() {
  kill "$BASALT_PID" 2>/dev/null; wait "$BASALT_PID" 2>/dev/null
  rm -rf "$B_DATA" "$B_DATA.log"
  bash tests/mariadb_reference.sh stop >/dev/null 2>&1
  bash tests/pg_reference.sh stop >/dev/null 2>&1
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$B_HTTP/health" >/dev/null && break; sleep 0.1; done

# sb NAME DRIVER HOST PORT ARGS... : runs sysbench, prints "tps p95"
sb_args() { # DRIVER PORT
  if [ "$1" = mysql ]; then
    echo "--db-driver=mysql --mysql-host=127.0.0.1 --mysql-port=$2 --mysql-user=root --mysql-password= --mysql-db=sbtest"
  else
    # Basalt serves one database, "basalt"; the reference gets a database of its own.
    local db=sbtest
    [ "$2" = "$B_PG" ] && db=basalt
    echo "--db-driver=pgsql --pgsql-host=127.0.0.1 --pgsql-port=$2 --pgsql-user=postgres --pgsql-password= --pgsql-db=$db"
  fi
}

prepare() { # DRIVER PORT
  # shellcheck disable=SC2046
  sysbench oltp_common $(sb_args "$1" "$2") --tables="$TABLES" --table-size="$TABLE_SIZE" cleanup >/dev/null 2>&1
  # shellcheck disable=SC2046
  sysbench oltp_common $(sb_args "$1" "$2") --tables="$TABLES" --table-size="$TABLE_SIZE" prepare >/dev/null 2>&1 || {
    echo "sysbench prepare failed against port $2 ($1)" >&2; return 1; }
}

ignore_args() { # DRIVER: conflicts are retried by sysbench, as on MariaDB/PostgreSQL
  # (the pgsql driver retries 40001, 40P01 and 23505 by itself and has no such option)
  if [ "$1" = mysql ]; then echo "--mysql-ignore-errors=1213,1205,1062"; fi
}

run_one() { # DRIVER PORT WORKLOAD THREADS -> "tps p95"
  local out
  # shellcheck disable=SC2046
  out=$(sysbench "$3" $(sb_args "$1" "$2") --tables="$TABLES" --table-size="$TABLE_SIZE" \
        --threads="$4" --time="$TIME" --report-interval=0 --db-ps-mode=auto $(ignore_args "$1") run 2>&1)
  local tps p95
  tps=$(echo "$out" | awk '/transactions:/ {gsub(/[()]/,"",$3); print $3}')
  p95=$(echo "$out" | awk '/95th percentile:/ {print $3}')
  echo "${tps:-0} ${p95:-nan}"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$BASALT_PID/status"; }

# pgbench_one PORT DB MODE THREADS -> "tps average_latency_ms failed_percent"
# Serialization failures (40001) are retried up to 10 times on both sides (--max-tries), as
# an application would; transactions that still fail are counted, not in tps.
pgbench_one() {
  local args=() out
  [ "$3" = select ] && args=(-S)
  out=$(pgbench -h 127.0.0.1 -p "$1" -U postgres -n -T "$TIME" -c "$4" -j "$4" --max-tries=10 "${args[@]}" "$2" 2>&1)
  echo "$(echo "$out" | awk '/^tps = / {print $3; exit}') $(echo "$out" | awk '/latency average/ {print $4}') $(echo "$out" | awk -F'[()%]' '/number of failed transactions/ {print $2}')"
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# table header
printf '\n%-8s %-18s %-7s %12s %12s %8s %10s %10s\n' driver workload threads basalt_tps ref_tps ratio basalt_p95 ref_p95
for driver in $DRIVERS; do
  if [ "$driver" = mysql ]; then
    bash tests/mariadb_reference.sh start >/dev/null || { echo "MariaDB did not start" >&2; continue; }
    REF_PORT=$MARIADB_REF_PORT; B_PORT=$B_MY; REF=mariadb
    mariadb -h 127.0.0.1 -P "$B_MY" -u root -e "CREATE DATABASE IF NOT EXISTS sbtest"
    mariadb -h 127.0.0.1 -P "$REF_PORT" -u root -e "CREATE DATABASE IF NOT EXISTS sbtest"
  else
    bash tests/pg_reference.sh start >/dev/null || { echo "PostgreSQL did not start" >&2; continue; }
    REF_PORT=$PG_REF_PORT; B_PORT=$B_PG; REF=postgresql
    psql -h 127.0.0.1 -p "$REF_PORT" -U postgres -qc "CREATE DATABASE sbtest" >/dev/null 2>&1
  fi
  for workload in $WORKLOADS; do
    rss_before=$(rss_kb)
    prepare "$driver" "$B_PORT" || continue
    rss_after=$(rss_kb)
    prepare "$driver" "$REF_PORT" || continue
    if [ "$driver" = pgsql ] && [ -z "${MEMORY_LINE:-}" ]; then
      rows=$((TABLES * TABLE_SIZE))
      pg_bytes=$(psql -h 127.0.0.1 -p "$REF_PORT" -U postgres -d sbtest -Atc \
        "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c WHERE c.relname ~ '^sbtest[0-9]+$'")
      MEMORY_LINE=$(awk -v b="$(( (rss_after - rss_before) * 1024 ))" -v p="$pg_bytes" -v n="$rows" \
        'BEGIN { printf "memory per sysbench row (%d rows): Basalt %.0f bytes (resident growth while loading), PostgreSQL %.0f bytes (on disk, heap + primary key)", n, b / n, p / n }')
    fi
    for t in $THREADS; do
      b_tps=(); r_tps=(); b_p95=(); r_p95=()
      for _ in $(seq 1 "$RUNS"); do
        read -r tps p95 < <(run_one "$driver" "$B_PORT" "$workload" "$t"); b_tps+=("$tps"); b_p95+=("$p95")
        read -r tps p95 < <(run_one "$driver" "$REF_PORT" "$workload" "$t"); r_tps+=("$tps"); r_p95+=("$p95")
      done
      bt=$(printf '%s\n' "${b_tps[@]}" | median); rt=$(printf '%s\n' "${r_tps[@]}" | median)
      bp=$(printf '%s\n' "${b_p95[@]}" | median); rp=$(printf '%s\n' "${r_p95[@]}" | median)
      ratio=$(awk -v a="$bt" -v b="$rt" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
      printf '%-8s %-18s %-7s %12s %12s %8s %10s %10s\n' "$driver" "$workload" "$t" "$bt" "$rt" "$ratio" "$bp" "$rp"
    done
  done
  if [ "$driver" = pgsql ] && [ -n "$PGBENCH" ]; then
    command -v pgbench >/dev/null || apt-get install -y postgresql-client-15 >/dev/null
    pgbench -h 127.0.0.1 -p "$B_PORT" -U postgres -i -q -s "$PGBENCH_SCALE" basalt >/dev/null 2>&1 ||
      echo "pgbench -i failed against Basalt" >&2
    psql -h 127.0.0.1 -p "$REF_PORT" -U postgres -qc "CREATE DATABASE pgbench" >/dev/null 2>&1
    pgbench -h 127.0.0.1 -p "$REF_PORT" -U postgres -i -q -s "$PGBENCH_SCALE" pgbench >/dev/null 2>&1
    for mode in $PGBENCH; do
      for t in $THREADS; do
        b_tps=(); r_tps=(); b_lat=(); r_lat=(); b_fail=(); r_fail=()
        for _ in $(seq 1 "$RUNS"); do
          read -r tps lat fail < <(pgbench_one "$B_PORT" basalt "$mode" "$t"); b_tps+=("${tps:-0}"); b_lat+=("${lat:-nan}"); b_fail+=("${fail:-nan}")
          read -r tps lat fail < <(pgbench_one "$REF_PORT" pgbench "$mode" "$t"); r_tps+=("${tps:-0}"); r_lat+=("${lat:-nan}"); r_fail+=("${fail:-nan}")
        done
        bt=$(printf '%s\n' "${b_tps[@]}" | median); rt=$(printf '%s\n' "${r_tps[@]}" | median)
        bp=$(printf '%s\n' "${b_lat[@]}" | median); rp=$(printf '%s\n' "${r_lat[@]}" | median)
        ratio=$(awk -v a="$bt" -v b="$rt" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
        printf '%-8s %-18s %-7s %12s %12s %8s %10s %10s\n' pgbench "$mode(avg ms)" "$t" "$bt" "$rt" "$ratio" "$bp" "$rp"
        printf '%-8s %-18s %-7s %12s %12s\n' pgbench "$mode(failed %)" "$t" \
          "$(printf '%s\n' "${b_fail[@]}" | median)" "$(printf '%s\n' "${r_fail[@]}" | median)"
      done
    done
  fi
  if [ "$driver" = mysql ]; then bash tests/mariadb_reference.sh stop >/dev/null; else bash tests/pg_reference.sh stop >/dev/null; fi
done
[ -n "${MEMORY_LINE:-}" ] && echo "$MEMORY_LINE"
echo
echo "reference for mysql: MariaDB $(mariadbd --version 2>/dev/null | awk '{print $3}'); for pgsql: PostgreSQL 15"
echo "tables=$TABLES table_size=$TABLE_SIZE time=${TIME}s runs=$RUNS (medians); basalt=$BASALT_BIN"
