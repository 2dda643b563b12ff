"""TPC-H on Basalt and DuckDB: data generation, loading, the 22 queries and answer checks.

Used by bench/tpch.sh (SF1 timings against DuckDB) and by tests/columnar/test_tpch.py (the
22 queries on the row and the column engine, in and out of an open transaction). Data comes
from `tpchgen-cli` (the tpchgen-rs generator, PyPI package `tpchgen-cli`), as CSV.
"""

import decimal
import math
import os
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TABLES = ["region", "nation", "part", "supplier", "partsupp", "customer", "orders", "lineitem"]
QUERIES = [f"q{n:02d}" for n in range(1, 23)]


def schema_statements():
    """The CREATE TABLE statements of schema.sql, one string each."""
    text = "\n".join(
        line for line in (HERE / "schema.sql").read_text().splitlines() if not line.startswith("--")
    )
    return [s.strip() for s in text.split(";") if s.strip()]


def query_text(name):
    return (HERE / "queries" / f"{name}.sql").read_text().strip().rstrip(";")


def generate(scale, out_dir):
    """Writes <table>.csv for every table at `scale` into out_dir (skipped when present)."""
    out = Path(out_dir)
    if all((out / f"{t}.csv").exists() for t in TABLES):
        return out
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tpchgen-cli", "csv", "-s", str(scale), "-o", str(out)], check=True)
    return out


def load_basalt(conn, data_dir, chunk=1 << 20):
    """Creates the schema and COPYs every table in (psycopg 3 connection, autocommit).
    Returns {table: seconds}."""
    times = {}
    with conn.cursor() as cur:
        for t in reversed(TABLES):
            cur.execute(f"DROP TABLE IF EXISTS {t}")
        for stmt in schema_statements():
            cur.execute(stmt)
        for t in TABLES:
            start = time.perf_counter()
            with open(Path(data_dir) / f"{t}.csv", "rb") as f:
                with cur.copy(f"COPY {t} FROM STDIN (FORMAT csv, HEADER true)") as copy:
                    while block := f.read(chunk):
                        copy.write(block)
            times[t] = time.perf_counter() - start
    return times


def load_columnar(conn, timeout=3600):
    """Loads every table into Basalt's column engine and waits until all are loaded."""
    with conn.cursor() as cur:
        for t in TABLES:
            cur.execute(f"ALTER TABLE {t} SET (columnar = on)")
        deadline = time.monotonic() + timeout
        while True:
            cur.execute("SELECT table_name, state FROM pg_catalog.basalt_columnar")
            states = dict(cur.fetchall())
            if all(states.get(t) == "loaded" for t in TABLES):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"column engine not loaded after {timeout}s: {states}")
            time.sleep(0.2)


def load_duckdb(con, data_dir, tables=TABLES):
    """Creates the schema and loads the CSV files into a DuckDB connection."""
    stmts = dict(zip(TABLES, schema_statements()))
    times = {}
    for t in tables:
        con.execute(stmts[t])
        start = time.perf_counter()
        path = str(Path(data_dir) / f"{t}.csv")
        con.execute(f"COPY {t} FROM '{path}' (FORMAT csv, HEADER true)")
        times[t] = time.perf_counter() - start
    con.execute("CHECKPOINT")
    return times


def normalize(rows):
    """Rows as tuples of comparable values: numbers as float, dates and strings as text."""
    out = []
    for row in rows:
        vals = []
        for v in row:
            if isinstance(v, (decimal.Decimal, int, float)) and not isinstance(v, bool):
                vals.append(float(v))
            elif v is None:
                vals.append(None)
            else:
                vals.append(str(v))
        out.append(tuple(vals))
    return out


def same_answer(a, b, rel=1e-9, abs_tol=1e-4):
    """Whether two normalized results agree: same rows in the same order, numbers equal to
    the precision of the engines' decimal arithmetic (DuckDB's AVG over DECIMAL is a DOUBLE,
    DataFusion's a DECIMAL with 4 more digits). Returns (ok, message)."""
    if len(a) != len(b):
        return False, f"{len(a)} rows against {len(b)}"
    for i, (ra, rb) in enumerate(zip(a, b)):
        if len(ra) != len(rb):
            return False, f"row {i}: {len(ra)} columns against {len(rb)}"
        for j, (x, y) in enumerate(zip(ra, rb)):
            if isinstance(x, float) and isinstance(y, float):
                if not math.isclose(x, y, rel_tol=rel, abs_tol=abs_tol):
                    return False, f"row {i} column {j}: {x!r} against {y!r}"
            elif x != y:
                return False, f"row {i} column {j}: {x!r} against {y!r}"
    return True, ""


def run_pg(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def timed(fn, runs):
    """Runs fn() `runs` times; returns (median seconds, last result)."""
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2], result


def file_size(path):
    p = Path(path)
    wal = Path(str(p) + ".wal")
    return os.path.getsize(p) + (os.path.getsize(wal) if wal.exists() else 0)
