"""MySQL HeatWave's secondary-engine syntax on Basalt's column engine: SECONDARY_ENGINE =
Rapid, SECONDARY_LOAD / SECONDARY_UNLOAD, SHOW ENGINES, use_secondary_engine, and
EXPLAIN FORMAT=TREE naming the secondary engine."""
from __future__ import annotations

import pymysql
import pytest

from conftest import CONNECT_TIMEOUT, MYSQL_HOST, MYSQL_PORT


@pytest.fixture
def conn(mysql_db):
    c = pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="",
                        database=mysql_db, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
    yield c
    c.close()


def q(c, sql):
    with c.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def error_code(c, sql):
    with pytest.raises(pymysql.MySQLError) as e:
        q(c, sql)
    return e.value.args[0]


def test_secondary_load_explain_and_forced(conn):
    q(conn, "CREATE TABLE orders (id INT PRIMARY KEY, cust VARCHAR(10), total DECIMAL(10,2)) SECONDARY_ENGINE = RAPID")
    q(conn, "INSERT INTO orders VALUES (1, 'a', 10.50), (2, 'b', 3.25), (3, 'a', NULL)")
    assert ("Rapid",) in [(r[0],) for r in q(conn, "SHOW ENGINES")]
    q(conn, "SET use_secondary_engine = FORCED")
    # Not loaded yet: FORCED refuses instead of silently using the row engine.
    assert error_code(conn, "SELECT count(*) FROM orders") == 3877
    q(conn, "ALTER TABLE orders SECONDARY_LOAD")
    assert q(conn, "SELECT cust, sum(total), count(*) FROM orders GROUP BY cust ORDER BY cust") == (
        ("a", pytest.approx(10.5), 2), ("b", pytest.approx(3.25), 1))
    plan = "\n".join(r[0] for r in q(conn, "EXPLAIN FORMAT=TREE SELECT cust, count(*) FROM orders GROUP BY cust"))
    assert "secondary engine Rapid" in plan, plan
    # Inside a transaction, with its own uncommitted rows.
    q(conn, "BEGIN")
    q(conn, "INSERT INTO orders VALUES (4, 'c', 1.00)")
    q(conn, "DELETE FROM orders WHERE id = 1")
    assert q(conn, "SELECT id FROM orders ORDER BY id") == ((2,), (3,), (4,))
    q(conn, "ROLLBACK")
    assert q(conn, "SELECT id FROM orders ORDER BY id") == ((1,), (2,), (3,))
    rows = q(conn, "SELECT table_name, state, rows_loaded FROM information_schema.basalt_columnar WHERE table_name = 'orders'")
    assert rows == (("orders", "loaded", 3),)
    q(conn, "SET use_secondary_engine = OFF")
    plan = "\n".join(r[0] for r in q(conn, "EXPLAIN FORMAT=TREE SELECT count(*) FROM orders"))
    assert "secondary engine" not in plan and "BasaltRowScan" in plan, plan
    q(conn, "ALTER TABLE orders SECONDARY_UNLOAD")
    q(conn, "SET use_secondary_engine = FORCED")
    assert error_code(conn, "SELECT count(*) FROM orders") == 3877
    q(conn, "SET use_secondary_engine = ON")
    assert q(conn, "SELECT count(*) FROM orders") == ((3,),)


def test_secondary_engine_errors(conn):
    assert error_code(conn, "CREATE TABLE bad (id INT) SECONDARY_ENGINE = Nope") == 1286
    q(conn, "CREATE TABLE ok1 (id INT)")
    assert error_code(conn, "ALTER TABLE ok1 SECONDARY_ENGINE = Nope") == 1286
    assert error_code(conn, "ALTER TABLE missing SECONDARY_LOAD") in (1146, 1051)
    assert error_code(conn, "SET use_secondary_engine = SOMETIMES") == 1231
    q(conn, "ALTER TABLE ok1 SECONDARY_ENGINE = Rapid")
    q(conn, "ALTER TABLE ok1 SECONDARY_ENGINE = NULL")
