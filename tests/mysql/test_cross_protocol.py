"""One catalog, two protocols: MySQL database `d` is PostgreSQL schema `d` of database
basalt. Data written through one protocol is read through the other, and transaction
isolation holds across them (an open transaction's writes are invisible to the other
protocol until COMMIT; of two concurrent writers of one row the second committer fails
with MySQL 1213 / PostgreSQL 40001).

MySQL side: PyMySQL. PostgreSQL side: psycopg 3 (fixtures of tests/conftest.py).
"""
from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest


def my(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return [tuple(r) for r in cur.fetchall()] if cur.description else cur.rowcount


def pg(conn, sql, params=None):
    cur = conn.execute(sql, params)
    return [tuple(r) for r in cur.fetchall()] if cur.description else cur.rowcount


ITEMS_DDL = """CREATE TABLE items (
    id INT AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(20) NOT NULL,
    price DECIMAL(10,2),
    at DATETIME,
    data VARBINARY(16),
    big BIGINT,
    UNIQUE KEY u_name (name)
) ENGINE=InnoDB"""


def test_mysql_writes_postgresql_reads_and_back(pymysql_connect, pg_connect, mysql_db):
    m = pymysql_connect(autocommit=True)
    p = pg_connect(autocommit=True)
    my(m, ITEMS_DDL)
    my(m, "INSERT INTO items (name, price, at, data, big) VALUES (%s, %s, %s, %s, %s)",
       ("widget", Decimal("9.99"), dt.datetime(2024, 3, 1, 12, 30, 0), b"\x00\xff\x01",
        -9223372036854775808))
    assert pg(p, f"SELECT id, name, price, at, data, big FROM {mysql_db}.items") == [
        (1, "widget", Decimal("9.99"), dt.datetime(2024, 3, 1, 12, 30, 0), b"\x00\xff\x01",
         -9223372036854775808)]

    # PostgreSQL inserts without an id: the AUTO_INCREMENT counter is shared
    pg(p, f"INSERT INTO {mysql_db}.items (name, price, at, data, big) VALUES (%s, %s, %s, %s, %s)",
       ("gadget", Decimal("-1.50"), dt.datetime(1999, 12, 31, 23, 59, 59), b"\xfe", 42))
    my(m, "INSERT INTO items (name) VALUES ('gizmo')")
    assert my(m, "SELECT id, name, price, at, data, big FROM items ORDER BY id") == [
        (1, "widget", Decimal("9.99"), dt.datetime(2024, 3, 1, 12, 30, 0), b"\x00\xff\x01",
         -9223372036854775808),
        (2, "gadget", Decimal("-1.50"), dt.datetime(1999, 12, 31, 23, 59, 59), b"\xfe", 42),
        (3, "gizmo", None, None, None, None),
    ]

    # updates and deletes cross too; the unique key is enforced for both protocols
    assert pg(p, f"UPDATE {mysql_db}.items SET price = price * 2 WHERE name = 'widget'") == 1
    assert my(m, "SELECT price FROM items WHERE name = 'widget'") == [(Decimal("19.98"),)]
    assert my(m, "DELETE FROM items WHERE id = 2") == 1
    assert pg(p, f"SELECT id FROM {mysql_db}.items ORDER BY id") == [(1,), (3,)]
    import psycopg

    with pytest.raises(psycopg.errors.UniqueViolation):
        pg(p, f"INSERT INTO {mysql_db}.items (name) VALUES ('gizmo')")
    import pymysql

    pg(p, f"INSERT INTO {mysql_db}.items (id, name) VALUES (10, 'pg-ten')")
    with pytest.raises(pymysql.err.IntegrityError) as ei:
        my(m, "INSERT INTO items (id, name) VALUES (10, 'dup')")
    assert ei.value.args[0] == 1062


def test_databases_are_schemas(pymysql_connect, pg_connect, mysql_db):
    m = pymysql_connect(autocommit=True)
    p = pg_connect(autocommit=True)
    assert pg(p, "SELECT schema_name FROM information_schema.schemata WHERE schema_name = %s",
              (mysql_db,)) == [(mysql_db,)]
    # a table PostgreSQL creates in the schema is a table of the MySQL database
    pg(p, f"CREATE TABLE {mysql_db}.pgt (id integer PRIMARY KEY, s text, n numeric(8,3))")
    pg(p, f"INSERT INTO {mysql_db}.pgt VALUES (1, 'from pg', 1.250)")
    assert ("pgt",) in my(m, "SHOW TABLES")
    my(m, "INSERT INTO pgt VALUES (2, 'from mysql', 2.5)")
    assert my(m, "SELECT id, s, n FROM pgt ORDER BY id") == [
        (1, "from pg", Decimal("1.250")), (2, "from mysql", Decimal("2.500"))]
    # a schema PostgreSQL creates is a MySQL database
    other = mysql_db + "_pg"
    pg(p, f"CREATE SCHEMA {other}")
    try:
        assert (other,) in my(m, "SHOW DATABASES")
        my(m, f"CREATE TABLE {other}.x (id INT PRIMARY KEY)")
        my(m, f"INSERT INTO {other}.x VALUES (7)")
        assert pg(p, f"SELECT id FROM {other}.x") == [(7,)]
    finally:
        my(m, f"DROP DATABASE IF EXISTS {other}")
    assert pg(p, "SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s",
              (other,)) == [(0,)]


def _counter_table(m):
    my(m, "CREATE TABLE acct (id INT PRIMARY KEY, bal INT NOT NULL)")
    my(m, "INSERT INTO acct VALUES (1, 100), (2, 200)")


def test_uncommitted_mysql_write_invisible_to_postgresql(pymysql_connect, pg_connect, mysql_db):
    setup = pymysql_connect(autocommit=True)
    _counter_table(setup)
    m = pymysql_connect(autocommit=False)
    p = pg_connect(autocommit=True)
    my(m, "INSERT INTO acct VALUES (3, 300)")
    my(m, "UPDATE acct SET bal = 0 WHERE id = 1")
    q = f"SELECT id, bal FROM {mysql_db}.acct ORDER BY id"
    assert pg(p, q) == [(1, 100), (2, 200)]
    m.commit()
    assert pg(p, q) == [(1, 0), (2, 200), (3, 300)]
    my(m, "DELETE FROM acct WHERE id = 2")
    assert pg(p, q) == [(1, 0), (2, 200), (3, 300)]
    m.rollback()
    assert pg(p, q) == [(1, 0), (2, 200), (3, 300)]


def test_uncommitted_postgresql_write_invisible_to_mysql(pymysql_connect, pg_connect, mysql_db):
    m = pymysql_connect(autocommit=True)
    _counter_table(m)
    p = pg_connect(autocommit=False)
    pg(p, f"INSERT INTO {mysql_db}.acct VALUES (3, 300)")
    pg(p, f"UPDATE {mysql_db}.acct SET bal = 0 WHERE id = 1")
    q = "SELECT id, bal FROM acct ORDER BY id"
    assert my(m, q) == [(1, 100), (2, 200)]
    p.commit()
    assert my(m, q) == [(1, 0), (2, 200), (3, 300)]
    pg(p, f"DELETE FROM {mysql_db}.acct WHERE id = 2")
    assert my(m, q) == [(1, 0), (2, 200), (3, 300)]
    p.rollback()
    assert my(m, q) == [(1, 0), (2, 200), (3, 300)]


def test_snapshots_hold_across_protocols(pymysql_connect, pg_connect, mysql_db):
    """An open transaction keeps its snapshot while the other protocol commits."""
    m_auto = pymysql_connect(autocommit=True)
    _counter_table(m_auto)
    p_auto = pg_connect(autocommit=True)

    p_txn = pg_connect(autocommit=False)
    assert pg(p_txn, f"SELECT sum(bal) FROM {mysql_db}.acct") == [(300,)]
    my(m_auto, "UPDATE acct SET bal = bal + 1")
    assert pg(p_txn, f"SELECT sum(bal) FROM {mysql_db}.acct") == [(300,)]
    p_txn.commit()
    assert pg(p_txn, f"SELECT sum(bal) FROM {mysql_db}.acct") == [(302,)]
    p_txn.commit()

    m_txn = pymysql_connect(autocommit=False)
    assert my(m_txn, "SELECT SUM(bal) FROM acct") == [(Decimal(302),)]
    pg(p_auto, f"UPDATE {mysql_db}.acct SET bal = bal + 1")
    assert my(m_txn, "SELECT SUM(bal) FROM acct") == [(Decimal(302),)]  # REPEATABLE READ
    m_txn.commit()
    assert my(m_txn, "SELECT SUM(bal) FROM acct") == [(Decimal(304),)]


class _Second:
    """Runs the second writer's UPDATE in a thread, so a server that makes it wait for
    the first writer's row lock cannot hang the test."""

    def __init__(self, fn):
        self.error = None
        self.done = threading.Event()

        def body():
            try:
                fn()
            except Exception as e:  # noqa: BLE001
                self.error = e
            finally:
                self.done.set()

        self.thread = threading.Thread(target=body, daemon=True)
        self.thread.start()


def _conflict(first_update, first_commit, second_update, second_commit):
    """first writer updates, second updates the same row, first commits, second commits;
    returns the second writer's error (from its UPDATE or its COMMIT), or None."""
    first_update()
    second = _Second(second_update)
    second.done.wait(3)  # not done: it waits for the first writer's lock
    first_commit()
    assert second.done.wait(30), "second writer still blocked after the first committed"
    if second.error is not None:
        return second.error
    try:
        second_commit()
    except Exception as e:  # noqa: BLE001
        return e
    return None


def test_write_write_conflict_mysql_first(pymysql_connect, pg_connect, mysql_db):
    setup = pymysql_connect(autocommit=True)
    _counter_table(setup)
    m = pymysql_connect(autocommit=False)
    p = pg_connect(autocommit=False)
    # both transactions have their snapshot before either writes
    assert my(m, "SELECT bal FROM acct WHERE id = 1") == [(100,)]
    assert pg(p, f"SELECT bal FROM {mysql_db}.acct WHERE id = 1") == [(100,)]
    err = _conflict(lambda: my(m, "UPDATE acct SET bal = bal + 10 WHERE id = 1"), m.commit,
                    lambda: pg(p, f"UPDATE {mysql_db}.acct SET bal = bal + 1 WHERE id = 1"), p.commit)
    assert err is not None, "PostgreSQL's conflicting write committed (lost update)"
    assert getattr(err, "sqlstate", None) == "40001", repr(err)
    p.rollback()
    assert my(setup, "SELECT bal FROM acct WHERE id = 1") == [(110,)]
    # both connections stay usable
    assert pg(p, f"SELECT bal FROM {mysql_db}.acct WHERE id = 1") == [(110,)]
    p.commit()
    assert my(m, "SELECT bal FROM acct WHERE id = 1") == [(110,)]
    m.commit()


def test_write_write_conflict_postgresql_first(pymysql_connect, pg_connect, mysql_db):
    setup = pymysql_connect(autocommit=True)
    _counter_table(setup)
    m = pymysql_connect(autocommit=False)
    p = pg_connect(autocommit=False)
    assert my(m, "SELECT bal FROM acct WHERE id = 2") == [(200,)]
    assert pg(p, f"SELECT bal FROM {mysql_db}.acct WHERE id = 2") == [(200,)]
    err = _conflict(lambda: pg(p, f"UPDATE {mysql_db}.acct SET bal = bal + 10 WHERE id = 2"), p.commit,
                    lambda: my(m, "UPDATE acct SET bal = bal + 1 WHERE id = 2"), m.commit)
    assert err is not None, "MySQL's conflicting write committed (lost update)"
    import pymysql

    assert isinstance(err, pymysql.MySQLError), repr(err)
    assert err.args[0] == 1213, repr(err)
    assert "Deadlock found when trying to get lock" in str(err.args[1]), repr(err)
    m.rollback()
    assert my(setup, "SELECT bal FROM acct WHERE id = 2") == [(210,)]
    assert my(m, "SELECT bal FROM acct WHERE id = 2") == [(210,)]
    m.commit()
    assert pg(p, f"SELECT bal FROM {mysql_db}.acct WHERE id = 2") == [(210,)]
    p.commit()


def test_write_write_conflict_both_insert_same_key(pymysql_connect, pg_connect, mysql_db):
    """Two open transactions insert the same primary key through different protocols:
    one of them wins, the other fails, and exactly one row exists."""
    setup = pymysql_connect(autocommit=True)
    _counter_table(setup)
    m = pymysql_connect(autocommit=False)
    p = pg_connect(autocommit=False)
    err = _conflict(lambda: my(m, "INSERT INTO acct VALUES (5, 1)"), m.commit,
                    lambda: pg(p, f"INSERT INTO {mysql_db}.acct VALUES (5, 2)"), p.commit)
    assert err is not None, "both inserts of id 5 committed"
    assert getattr(err, "sqlstate", None) in ("40001", "23505"), repr(err)
    p.rollback()
    assert my(setup, "SELECT id, bal FROM acct WHERE id = 5") == [(5, 1)]
