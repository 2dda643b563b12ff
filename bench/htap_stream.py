"""The analytical stream of bench/htap.sh: TPC-H-style aggregates over sysbench's tables, one
after another on one connection, for --seconds. Prints one line: the number of queries,
their median and 95th-percentile latency in ms, and how many of them read through the
column engine (from SHOW basalt.column_scans)."""

import argparse
import time

import psycopg

# Q1-like grouped aggregate, Q6-like filtered sum, a join with grouping, and a string group-by.
QUERIES = [
    "SELECT k % 10 AS bucket, count(*) AS n, sum(k) AS sum_k, avg(length(c)) AS avg_c "
    "FROM sbtest1 GROUP BY k % 10 ORDER BY bucket",
    "SELECT count(*) AS n, sum(k) AS sum_k FROM sbtest2 "
    "WHERE k BETWEEN {lo} AND {hi} AND pad LIKE '%1%'",
    "SELECT a.k % 100 AS g, count(*) AS n, max(b.k) AS max_k FROM sbtest3 a JOIN sbtest4 b "
    "ON a.id = b.id WHERE a.k < b.k GROUP BY a.k % 100 ORDER BY n DESC, g LIMIT 10",
    "SELECT substr(c, 1, 3) AS prefix, count(*) AS n FROM sbtest1 "
    "GROUP BY substr(c, 1, 3) ORDER BY n DESC, prefix LIMIT 5",
]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--table-size", type=int, required=True)
    args = ap.parse_args()
    conn = psycopg.connect(host="127.0.0.1", port=args.port, dbname="basalt", user="postgres",
                           autocommit=True)
    scans0 = int(conn.execute("SHOW basalt.column_scans").fetchone()[0])
    latencies = []
    deadline = time.monotonic() + args.seconds
    i = 0
    while time.monotonic() < deadline:
        lo = (i * 7919) % max(args.table_size - args.table_size // 5, 1)
        sql = QUERIES[i % len(QUERIES)].format(lo=lo, hi=lo + args.table_size // 5)
        start = time.perf_counter()
        conn.execute(sql).fetchall()
        latencies.append((time.perf_counter() - start) * 1000)
        i += 1
    scans = int(conn.execute("SHOW basalt.column_scans").fetchone()[0]) - scans0
    latencies.sort()
    med = latencies[len(latencies) // 2] if latencies else float("nan")
    p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))] if latencies else float("nan")
    print(f"{len(latencies)} {med:.1f} {p95:.1f} {scans}")


if __name__ == "__main__":
    main()
