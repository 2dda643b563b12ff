"""The fast path and the DataFusion path give the same results and the same errors.

Every script below runs twice on fresh tables, once with `SET basalt.fast_path = off`
(every statement planned by DataFusion) and once with it on, through the simple protocol
(values inlined), the extended protocol (values bound as parameters) and named prepared
statements. Each statement's rows, column names and types, command status, SQLSTATE and
message, and the tables' final contents must be identical. The runs with the fast path on
must actually use it (`SHOW basalt.fast_path_statements`).
"""
from __future__ import annotations

import psycopg
import pytest

from conftest import unique_name

# {t}: int key; {u}: text key; {q}: serial key; {m}: composite key; {h}: no key (pgbench_history).
SETUP = [
    "CREATE TABLE {t} (id int PRIMARY KEY, k int NOT NULL DEFAULT 0, c char(12) NOT NULL "
    "DEFAULT '', pad varchar(10), s smallint, b bigint, CHECK (k > -1000000))",
    "CREATE TABLE {u} (name text PRIMARY KEY, v int)",
    "CREATE TABLE {q} (id serial PRIMARY KEY, v text)",
    "CREATE TABLE {m} (a int, b varchar(5), v int, PRIMARY KEY (a, b))",
    "CREATE TABLE {h} (n int, mtime timestamp, ts timestamptz)",
    "INSERT INTO {t} SELECT g, g % 7, 'c' || (g % 5), NULL, g, g * 1000 FROM generate_series(1, 40) g",
    "INSERT INTO {u} VALUES ('a', 1), ('b', NULL)",
    "INSERT INTO {m} VALUES (1, 'x', 10), (1, 'y', 11)",
]

# (sql, params, whether it takes the fast path when the fast path is on)
SCRIPTS = {
    "point_selects": [
        ("SELECT c FROM {t} WHERE id = %s", [1], True),
        ("SELECT id, k, c, pad, s, b FROM {t} WHERE id = %s", [7], True),
        ("SELECT k FROM {t} WHERE id = %s", [999], True),
        ("SELECT k FROM {t} WHERE id = %s", [None], True),
        ("SELECT k FROM {t} WHERE id = 3000000000", None, True),
        ("SELECT k FROM {t} WHERE id = -3", None, True),
        ("SELECT k FROM {t} WHERE 5 = id", None, True),
        ("SELECT v FROM {u} WHERE name = %s", ["a"], True),
        ("SELECT v, name FROM {u} WHERE name = %s", ["b"], True),
        ("SELECT v FROM {m} WHERE a = %s AND b = %s", [1, "y"], True),
        ("SELECT v FROM {m} WHERE b = 'x' AND a = 1", None, True),
        ("SELECT k FROM {t} WHERE id = 5 LIMIT 1", None, False),
        ("SELECT nosuch FROM {t} WHERE id = 1", None, False),
        ("SELECT k FROM {t} WHERE id = 'x'", None, False),
    ],
    "range_selects": [
        ("SELECT c FROM {t} WHERE id BETWEEN %s AND %s", [3, 12], True),
        ("SELECT c FROM {t} WHERE id BETWEEN %s AND %s ORDER BY c", [1, 40], True),
        ("SELECT c FROM {t} WHERE id BETWEEN %s AND %s ORDER BY c DESC", [5, 9], True),
        ("SELECT DISTINCT c FROM {t} WHERE id BETWEEN %s AND %s ORDER BY c", [1, 40], True),
        ("SELECT SUM(k) FROM {t} WHERE id BETWEEN %s AND %s", [1, 20], True),
        ("SELECT SUM(k) FROM {t} WHERE id BETWEEN %s AND %s", [30, 20], True),
        ("SELECT c FROM {t} WHERE id BETWEEN %s AND %s", [10, 2], True),
        ("SELECT c FROM {t} WHERE id BETWEEN %s AND %s", [None, 2], True),
        ("SELECT id FROM {t} WHERE id BETWEEN -5 AND 3", None, True),
    ],
    "updates": [
        ("UPDATE {t} SET k = k + 1 WHERE id = %s", [1], True),
        ("UPDATE {t} SET k = k - 3, c = %s WHERE id = %s", ["zz", 2], True),
        ("UPDATE {t} SET c = %s WHERE id = %s", ["x" * 13, 3], True),
        ("UPDATE {t} SET k = k + 2147483647 WHERE id = 4", None, True),
        ("UPDATE {t} SET s = s + 40000 WHERE id = 4", None, True),
        ("UPDATE {t} SET b = b + 9223372036854775807 WHERE id = 4", None, True),
        ("UPDATE {t} SET k = NULL WHERE id = 5", None, True),
        ("UPDATE {t} SET k = -2000000 WHERE id = 5", None, True),
        ("UPDATE {t} SET k = 'abc' WHERE id = 5", None, True),
        ("UPDATE {t} SET k = '17' WHERE id = 5", None, True),
        ("UPDATE {t} SET pad = %s WHERE id = %s", [None, 6], True),
        ("UPDATE {t} SET k = k + NULL WHERE id = 7", None, True),
        ("UPDATE {t} SET id = 8 WHERE id = 9", None, True),
        ("UPDATE {t} SET id = 100 WHERE id = 9", None, True),
        ("UPDATE {t} SET k = 1 WHERE id = 12345", None, True),
        ("UPDATE {u} SET v = v + 1 WHERE name = %s", ["a"], True),
        ("UPDATE {m} SET v = %s WHERE a = 1 AND b = 'x'", [99], True),
        ("UPDATE {t} SET k = k * 2 WHERE id = 10", None, False),
    ],
    "deletes_and_inserts": [
        ("DELETE FROM {t} WHERE id = %s", [11], True),
        ("DELETE FROM {t} WHERE id = %s", [11], True),
        ("INSERT INTO {t} (id, k, c, pad) VALUES (%s, %s, %s, %s)", [11, 5, "new", "p"], True),
        ("INSERT INTO {t} (id, k, c) VALUES (%s, %s, %s)", [11, 5, "dup"], True),
        ("INSERT INTO {t} (id, k, c) VALUES (%s, %s, %s)", [50, None, "nn"], True),
        ("INSERT INTO {t} (id, c) VALUES (%s, %s)", [51, "y" * 13], True),
        ("INSERT INTO {t} (id) VALUES (52), (53)", None, True),
        ("INSERT INTO {t} (id, k) VALUES (54, 1), (55, NULL)", None, True),
        ("INSERT INTO {t} VALUES (56, 1, 'all', 'p', 2, 3)", None, True),
        ("INSERT INTO {t} (id) VALUES ('57')", None, True),
        ("INSERT INTO {t} (id) VALUES (3000000000)", None, True),
        ("INSERT INTO {t} (id, k) VALUES (58, -5000000)", None, True),
        ("INSERT INTO {q} (v) VALUES (%s)", ["first"], True),
        ("INSERT INTO {q} (v) VALUES (%s)", ["second"], True),
        ("INSERT INTO {q} (id, v) VALUES (%s, %s)", [1, "clash"], True),
        ("INSERT INTO {u} VALUES ('c', 3)", None, True),
        ("INSERT INTO {m} (a, b, v) VALUES (%s, %s, %s)", [2, "toolong", 1], True),
        # The time differs between runs: the rows are compared by what holds of any time.
        ("INSERT INTO {h} (n, mtime, ts) VALUES (%s, CURRENT_TIMESTAMP, now())", [1], True),
        ("INSERT INTO {h} VALUES (2, now(), CURRENT_TIMESTAMP), (3, NULL, now())", None, True),
        ("SELECT n, mtime IS NULL, mtime > '2020-01-01', ts > '2020-01-01', mtime = ts, "
         "ts <= now() FROM {h} ORDER BY n", None, False),
        ("SELECT count(DISTINCT ts) FROM {h} WHERE n >= 2", None, False),
        ("INSERT INTO {t} (id, k) VALUES (70, CURRENT_TIMESTAMP)", None, True),
        ("INSERT INTO {t} (id, k) VALUES (71, now(1))", None, False),
        ("INSERT INTO {h} (n, mtime) VALUES (4, CURRENT_TIMESTAMP(0))", None, False),
    ],
    "transactions": [
        ("BEGIN", None, False),
        ("INSERT INTO {t} (id, k, c) VALUES (%s, %s, %s)", [60, 1, "own"], True),
        ("SELECT k, c FROM {t} WHERE id = %s", [60], True),
        ("UPDATE {t} SET k = k + 10 WHERE id = %s", [60], True),
        ("SELECT SUM(k) FROM {t} WHERE id BETWEEN %s AND %s", [55, 65], True),
        ("SELECT id, k FROM {t} WHERE id BETWEEN %s AND %s", [55, 65], True),
        ("DELETE FROM {t} WHERE id = %s", [1], True),
        ("SELECT k FROM {t} WHERE id = %s", [1], True),
        ("COMMIT", None, False),
        ("BEGIN", None, False),
        ("UPDATE {t} SET k = 7 WHERE id = %s", [2], True),
        ("INSERT INTO {t} (id) VALUES (%s)", [2], True),
        ("SELECT k FROM {t} WHERE id = %s", [2], False),
        ("ROLLBACK", None, False),
        ("SELECT k FROM {t} WHERE id = %s", [2], True),
        ("BEGIN", None, False),
        ("UPDATE {t} SET k = 70 WHERE id = %s", [3], True),
        ("SAVEPOINT a", None, False),
        ("UPDATE {t} SET k = 71 WHERE id = %s", [3], True),
        ("ROLLBACK TO SAVEPOINT a", None, False),
        ("SELECT k FROM {t} WHERE id = %s", [3], True),
        ("COMMIT", None, False),
    ],
}

MODES = ["simple", "extended", "prepared"]


def _run(conn, sql, params, mode):
    """One statement: ('ok', status, description, rows) or ('error', sqlstate, message)."""
    try:
        if mode == "simple":
            cur = psycopg.ClientCursor(conn)
            cur.execute(sql, params)
        else:
            cur = conn.cursor()
            cur.execute(sql, params, prepare=(mode == "prepared"))
        desc = [(d.name, d.type_code) for d in cur.description] if cur.description else None
        rows = cur.fetchall() if cur.description else None
        return ("ok", cur.statusmessage, desc, rows)
    except psycopg.Error as e:
        return ("error", e.sqlstate, str(e.diag.message_primary))


def _fast_count(conn):
    """Statements run on the fast path so far (None inside a failed block)."""
    try:
        return int(conn.execute("SHOW basalt.fast_path_statements").fetchone()[0])
    except psycopg.errors.InFailedSqlTransaction:
        return None


def _script(connect, names, script, mode, fast):
    conn = connect(autocommit=True)
    conn.execute(f"SET basalt.fast_path = {'on' if fast else 'off'}")
    for stmt in SETUP:
        conn.execute(stmt.format(**names))
    results = []
    for sql, params, expect_fast in script:
        before = _fast_count(conn)
        outcome = _run(conn, sql.format(**names), params, mode)
        if outcome[0] == "error":  # messages name the table: write it as {t}, {u} …
            message = outcome[2]
            for key, name in names.items():
                message = message.replace(name, "{" + key + "}")
            outcome = (outcome[0], outcome[1], message)
        after = _fast_count(conn)
        results.append((sql, params, outcome))
        if before is None or after is None:
            continue
        used = after > before
        expected = fast and expect_fast
        assert used == expected, f"{mode}: fast path {'not ' if expected else ''}used for {sql}"
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.execute("ROLLBACK")
    tables = {}
    for key in ("t", "u", "q", "m"):
        tables[key] = conn.execute(f"SELECT * FROM {names[key]} ORDER BY 1, 2").fetchall()
    return results, tables


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("script", list(SCRIPTS))
def test_fast_path_matches_general_path(connect, table_name, mode, script):
    runs = []
    for fast in (False, True):
        names = {k: table_name(f"fp{k}") for k in ("t", "u", "q", "m", "h")}
        runs.append(_script(connect, names, SCRIPTS[script], mode, fast))
    (slow, slow_tables), (quick, quick_tables) = runs
    for (sql, params, a), (_, _, b) in zip(slow, quick):
        assert a == b, f"{mode}: {sql} {params}: general path {a!r}, fast path {b!r}"
    assert slow_tables == quick_tables


def test_fast_path_is_on_by_default_and_can_be_switched(connect):
    conn = connect()
    assert conn.execute("SHOW basalt.fast_path").fetchone()[0] == "on"
    conn.execute("SET basalt.fast_path = off")
    assert conn.execute("SHOW basalt.fast_path").fetchone()[0] == "off"


def test_prepared_fast_statement_follows_ddl(connect, table_name):
    """A prepared statement bound to a table falls back when the table changes."""
    t = table_name("fpddl")
    conn = connect()
    conn.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, v int)")
    conn.execute(f"INSERT INTO {t} VALUES (1, 10)")
    q = f"SELECT v FROM {t} WHERE id = %s"
    assert conn.execute(q, [1], prepare=True).fetchall() == [(10,)]
    conn.execute(f"ALTER TABLE {t} ADD COLUMN w int")
    conn.execute(f"UPDATE {t} SET v = 11 WHERE id = 1")
    assert conn.execute(q, [1], prepare=True).fetchall() == [(11,)]
