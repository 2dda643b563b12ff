"""TPC-H's 22 queries both ways (invariant 2): forced row engine and forced column engine give
identical answers, on committed data and inside an open transaction with uncommitted inserts,
updates and deletes; and both match DuckDB's answers on the same data.

Data: tpchgen-cli (PyPI `tpchgen-cli`) at scale TPCH_TEST_SCALE (default 0.01), cached under
~/.cache/basalt-tpch. The test starts its own server (BASALT_BIN), so the TPC-H table names
cannot collide with other suites' tables.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from basalt_server import BASALT_BIN, Server

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "tpch"))
import tpch  # noqa: E402

SCALE = os.environ.get("TPCH_TEST_SCALE", "0.01")

pytestmark = pytest.mark.skipif(not BASALT_BIN, reason="needs BASALT_BIN (the server binary)")

# Uncommitted writes of the in-transaction run: new orders with their lines, deleted lines
# and customers, changed quantities, discounts and ship dates.
TXN_WRITES = [
    "INSERT INTO orders SELECT o_orderkey + 100000000, o_custkey, o_orderstatus, o_totalprice, "
    "o_orderdate, o_orderpriority, o_clerk, o_shippriority, o_comment FROM orders WHERE o_orderkey % 13 = 0",
    "INSERT INTO lineitem SELECT l_orderkey + 100000000, l_partkey, l_suppkey, l_linenumber, l_quantity + 30, "
    "l_extendedprice, l_discount, l_tax, l_returnflag, l_linestatus, l_shipdate, l_commitdate, "
    "l_receiptdate, l_shipinstruct, l_shipmode, l_comment FROM lineitem WHERE l_orderkey % 13 = 0",
    "DELETE FROM lineitem WHERE l_orderkey % 7 = 0",
    "UPDATE lineitem SET l_quantity = l_quantity + 1, l_discount = 0.06, "
    "l_shipdate = l_shipdate - 30 WHERE l_orderkey % 11 = 0",
    "DELETE FROM customer WHERE c_custkey % 17 = 0",
    "UPDATE part SET p_size = 15, p_type = 'LARGE PLATED BRASS' WHERE p_partkey % 19 = 0",
]


@pytest.fixture(scope="module")
def tpch_server():
    data = tpch.generate(SCALE, Path.home() / ".cache" / "basalt-tpch" / f"sf{SCALE}")
    work = tempfile.mkdtemp(prefix="basalt-tpch-")
    os.makedirs(os.path.join(work, "logs"))
    server = Server(os.path.join(work, "data"), os.path.join(work, "logs")).start()
    try:
        with server.connect(autocommit=True) as c:
            tpch.load_basalt(c, data)
            tpch.load_columnar(c, timeout=300)
        yield server, data
    finally:
        server.kill()
        shutil.rmtree(work, ignore_errors=True)


def column_scans(conn) -> int:
    return int(tpch.run_pg(conn, "SHOW basalt.column_scans")[0][0])


def both_ways(conn, query):
    """(row-engine answer, column-engine answer, column scans the second one made)."""
    conn.execute("SET basalt.engine = 'row'")
    row = tpch.normalize(tpch.run_pg(conn, tpch.query_text(query)))
    conn.execute("SET basalt.engine = 'column'")
    before = column_scans(conn)
    col = tpch.normalize(tpch.run_pg(conn, tpch.query_text(query)))
    scans = column_scans(conn) - before
    conn.execute("SET basalt.engine = 'auto'")
    return row, col, scans


@pytest.mark.parametrize("query", tpch.QUERIES)
def test_row_and_column_agree_and_match_duckdb(tpch_server, duckdb_answers, query):
    server, _ = tpch_server
    with server.connect(autocommit=True) as c:
        row, col, scans = both_ways(c, query)
    assert scans > 0, f"{query} did not read through the column engine"
    assert row == col, f"{query}: row engine {row[:3]} … column engine {col[:3]} …"
    ok, why = tpch.same_answer(col, duckdb_answers[query])
    assert ok, f"{query} differs from DuckDB: {why}"


def test_inside_a_transaction_with_uncommitted_writes(tpch_server):
    server, _ = tpch_server
    with server.connect() as c:  # not autocommit: one open transaction for the whole test
        committed = {q: both_ways(c, q)[0] for q in ("q01", "q03", "q06", "q13")}
        for stmt in TXN_WRITES:
            c.execute(stmt)
        differ = []
        for q in tpch.QUERIES:
            row, col, scans = both_ways(c, q)
            assert scans > 0, f"{q} did not read through the column engine"
            assert row == col, f"{q} in the transaction: row engine {row[:3]} … column engine {col[:3]} …"
            if q in committed and committed[q] != row:
                differ.append(q)
        # The writes must be seen, or this test would prove nothing.
        assert set(differ) == set(committed), f"uncommitted writes not visible in {set(committed) - set(differ)}"
        c.rollback()
        c.autocommit = True
        assert both_ways(c, "q01")[1] == committed["q01"], "rolled-back writes still visible"


@pytest.fixture(scope="module")
def duckdb_answers(tpch_server):
    import duckdb  # installed by scripts/install-test-deps.sh
    _, data = tpch_server
    con = duckdb.connect()
    tpch.load_duckdb(con, data)
    answers = {q: tpch.normalize(con.execute(tpch.query_text(q)).fetchall()) for q in tpch.QUERIES}
    con.close()
    return answers
