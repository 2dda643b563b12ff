"""TPC-H timings: Basalt (router on, column engine loaded), Basalt forced onto the row engine,
and DuckDB, in one run on the same data. Run through bench/tpch.sh, which starts the server.

Prints per-query median times, each Basalt answer's check against DuckDB's, the geometric
mean of the ratios Basalt/DuckDB, load times, and the column engine's memory for lineitem
against its raw Arrow size and against a DuckDB database file holding only lineitem.
"""

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import psycopg

import tpch


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pg-port", type=int, required=True)
    ap.add_argument("--data", required=True, help="directory of tpchgen-cli CSV files")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per query (median)")
    ap.add_argument("--row-runs", type=int, default=1, help="timed runs per query, row engine")
    ap.add_argument("--queries", default=",".join(tpch.QUERIES))
    args = ap.parse_args()
    queries = args.queries.split(",")
    work = Path(tempfile.mkdtemp(prefix="tpch-duckdb-"))

    print("# loading DuckDB", flush=True)
    dcon = duckdb.connect(str(work / "tpch.duckdb"))
    dload = tpch.load_duckdb(dcon, args.data)
    print(f"DuckDB load: {sum(dload.values()):.1f} s", flush=True)

    print("# loading Basalt (COPY, then the column engine)", flush=True)
    conn = psycopg.connect(host="127.0.0.1", port=args.pg_port, dbname="basalt", user="postgres",
                           autocommit=True)
    bload = tpch.load_basalt(conn, args.data)
    print(f"Basalt COPY: {sum(bload.values()):.1f} s (lineitem {bload['lineitem']:.1f} s)", flush=True)
    start = time.perf_counter()
    tpch.load_columnar(conn)
    print(f"Basalt column engine load: {time.perf_counter() - start:.1f} s", flush=True)
    conn.execute("VACUUM")  # fold what is left in the deltas into segments

    print()
    print(f"{'query':6} {'duckdb_s':>9} {'basalt_s':>9} {'ratio':>7} {'row_s':>9} {'row_ratio':>9}  answers")
    ratios, row_ratios, wrong = [], [], []
    for q in queries:
        sql = tpch.query_text(q)
        d_t, d_rows = tpch.timed(lambda: dcon.execute(sql).fetchall(), args.runs)
        conn.execute("SET basalt.engine = 'auto'")
        b_t, b_rows = tpch.timed(lambda: tpch.run_pg(conn, sql), args.runs)
        conn.execute("SET basalt.engine = 'row'")
        r_t, r_rows = tpch.timed(lambda: tpch.run_pg(conn, sql), args.row_runs)
        conn.execute("SET basalt.engine = 'auto'")
        expect = tpch.normalize(d_rows)
        ok_b, why_b = tpch.same_answer(tpch.normalize(b_rows), expect)
        ok_r, why_r = tpch.same_answer(tpch.normalize(r_rows), expect)
        verdict = "same" if ok_b and ok_r else f"DIFFERENT: {why_b or why_r}"
        if not (ok_b and ok_r):
            wrong.append(q)
        ratios.append(b_t / d_t)
        row_ratios.append(r_t / d_t)
        print(f"{q:6} {d_t:9.3f} {b_t:9.3f} {b_t / d_t:7.2f} {r_t:9.3f} {r_t / d_t:9.2f}  {verdict}",
              flush=True)

    def geomean(xs):
        return math.exp(sum(math.log(x) for x in xs) / len(xs))

    print(f"geometric mean ratio Basalt/DuckDB: {geomean(ratios):.2f}  "
          f"(row engine only: {geomean(row_ratios):.2f})")

    print()
    print("# memory: lineitem")
    (state, mem, raw, rows), = tpch.run_pg(conn, "SELECT state, memory_bytes, raw_bytes, rows_total "
                                                "FROM pg_catalog.basalt_columnar WHERE table_name = 'lineitem'")
    lcon = duckdb.connect(str(work / "lineitem.duckdb"))
    tpch.load_duckdb(lcon, args.data, tables=["lineitem"])
    lcon.close()
    dsize = tpch.file_size(work / "lineitem.duckdb")
    mib = 1 << 20
    print(f"rows: {rows}")
    print(f"Basalt column engine: {mem / mib:8.1f} MiB")
    print(f"raw Arrow size:       {raw / mib:8.1f} MiB  (column engine = {mem / raw:.2f} x raw, "
          f"compression {raw / mem:.2f})")
    print(f"DuckDB file:          {dsize / mib:8.1f} MiB  (column engine = {mem / dsize:.2f} x DuckDB)")
    if wrong:
        print(f"answers differ from DuckDB's in: {' '.join(wrong)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
