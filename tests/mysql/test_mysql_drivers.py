"""MySQL-protocol driver tests: one shared test body per feature, run with every DB-API
driver (PyMySQL, mysql-connector-python pure python and C extension, mysqlclient).

Expected results are MySQL 8.0's (default sql_mode, so strict; REPEATABLE READ; utf8mb4;
no CLIENT_FOUND_ROWS, so UPDATE reports changed rows, not matched rows).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

# MySQL protocol column types (include/field_types.h) as the drivers' description[1]
T_TINY, T_SHORT, T_LONG, T_FLOAT, T_DOUBLE = 1, 2, 3, 4, 5
T_TIMESTAMP, T_LONGLONG, T_INT24, T_DATE, T_TIME, T_DATETIME, T_YEAR = 7, 8, 9, 10, 11, 12, 13
T_NEWDECIMAL, T_BLOB, T_VAR_STRING, T_STRING = 246, 252, 253, 254

BINARY = (bytes, bytearray)  # mysql-connector has used bytearray for binary strings


# ---------------------------------------------------------------- helpers
def run(driver, conn, sql, params=None, prepared=False):
    """Executes one statement; returns (rows or None, cursor) with every row read."""
    cur = driver.cursor(conn, prepared=prepared)
    if params is None:
        cur.execute(sql)
    else:
        cur.execute(sql, params)
    rows = cur.fetchall() if cur.description else None
    return rows, cur


def rows_of(driver, conn, sql, params=None, prepared=False):
    return [tuple(r) for r in run(driver, conn, sql, params, prepared)[0]]


def scalar(driver, conn, sql, params=None, prepared=False):
    rows = rows_of(driver, conn, sql, params, prepared)
    assert len(rows) == 1 and len(rows[0]) == 1, f"{sql!r} returned {rows!r}"
    return rows[0][0]


def text(v):
    """Server strings for SHOW output: some drivers hand back binary-flagged text as bytes."""
    return v.decode() if isinstance(v, BINARY) else v


def expect_error(driver, conn, sql, code, params=None, sqlstate=None, prepared=False):
    with pytest.raises(driver.error_class()) as ei:
        rows, cur = run(driver, conn, sql, params, prepared)
    exc = ei.value
    got = driver.errcode(exc)
    assert got == code, f"{sql!r}: expected MySQL error {code}, got {got}: {exc!r}"
    if sqlstate is not None and getattr(exc, "sqlstate", None) is not None:
        assert exc.sqlstate == sqlstate, f"{sql!r}: SQLSTATE {exc.sqlstate!r} != {sqlstate!r}"
    return driver.errmsg(exc)


def still_usable(driver, conn):
    assert scalar(driver, conn, "SELECT 1") == 1


PEOPLE_DDL = """CREATE TABLE people (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(20),
    email VARCHAR(50),
    qty INT NOT NULL DEFAULT 0,
    KEY idx_name (name),
    UNIQUE KEY u_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"""


# ---------------------------------------------------------------- DDL, CRUD, ids, rowcount
def test_ddl_crud_lastrowid_rowcount(driver, mysql_connect):
    c = mysql_connect(autocommit=True)
    run(driver, c, PEOPLE_DDL)

    _, cur = run(driver, c, "INSERT INTO people (name, email) VALUES (%s, %s)", ("ann", "a@x"))
    assert cur.rowcount == 1
    assert cur.lastrowid == 1
    assert scalar(driver, c, "SELECT LAST_INSERT_ID()") == 1

    # multi-row insert: lastrowid / LAST_INSERT_ID() are the FIRST generated id
    _, cur = run(driver, c, "INSERT INTO people (name, email) VALUES ('bob', 'b@x'), "
                            "('cid', 'c@x'), ('dan', 'd@x')")
    assert cur.rowcount == 3
    assert cur.lastrowid == 2
    assert scalar(driver, c, "SELECT LAST_INSERT_ID()") == 2

    assert rows_of(driver, c, "SELECT `id`, `name`, email, qty FROM `people` ORDER BY id") == [
        (1, "ann", "a@x", 0), (2, "bob", "b@x", 0), (3, "cid", "c@x", 0), (4, "dan", "d@x", 0)]
    assert rows_of(driver, c, "SELECT id FROM people WHERE name = %s", ("cid",)) == [(3,)]

    _, cur = run(driver, c, "UPDATE people SET qty = qty + 5 WHERE id >= 3")
    assert cur.rowcount == 2
    _, cur = run(driver, c, "UPDATE people SET qty = 7 WHERE id = 999")
    assert cur.rowcount == 0
    _, cur = run(driver, c, "DELETE FROM people WHERE id IN (1, 2)")
    assert cur.rowcount == 2
    assert rows_of(driver, c, "SELECT id, qty FROM people ORDER BY id") == [(3, 5), (4, 5)]
    _, cur = run(driver, c, "DELETE FROM people")
    assert cur.rowcount == 2
    assert scalar(driver, c, "SELECT COUNT(*) FROM people") == 0


def test_update_rowcount_counts_changed_rows_not_matched(driver, mysql_connect):
    """Without CLIENT_FOUND_ROWS (no driver sets it by default) MySQL reports rows
    actually changed: setting a column to its current value affects 0 rows."""
    c = mysql_connect(autocommit=True)
    run(driver, c, PEOPLE_DDL)
    run(driver, c, "INSERT INTO people (name, qty) VALUES ('a', 1), ('b', 2)")
    _, cur = run(driver, c, "UPDATE people SET qty = 1")
    assert cur.rowcount == 1  # matched 2, changed 1
    _, cur = run(driver, c, "UPDATE people SET qty = 1 WHERE name = 'a'")
    assert cur.rowcount == 0


def test_auto_increment_after_explicit_id_and_per_connection_last_insert_id(driver, mysql_connect):
    c1 = mysql_connect(autocommit=True)
    c2 = mysql_connect(autocommit=True)
    run(driver, c1, PEOPLE_DDL)
    _, cur = run(driver, c1, "INSERT INTO people (name) VALUES ('a')")
    assert cur.lastrowid == 1
    run(driver, c1, "INSERT INTO people (id, name) VALUES (100, 'explicit')")
    # an explicit id does not change LAST_INSERT_ID(), and the counter moves past it
    assert scalar(driver, c1, "SELECT LAST_INSERT_ID()") == 1
    _, cur = run(driver, c1, "INSERT INTO people (name) VALUES ('b')")
    assert cur.lastrowid == 101
    # LAST_INSERT_ID() is per connection
    _, cur = run(driver, c2, "INSERT INTO people (name) VALUES ('c')")
    assert cur.lastrowid == 102
    assert scalar(driver, c1, "SELECT LAST_INSERT_ID()") == 101
    assert scalar(driver, c2, "SELECT LAST_INSERT_ID()") == 102
    # inserting NULL or 0 into the AUTO_INCREMENT column generates an id
    _, cur = run(driver, c1, "INSERT INTO people (id, name) VALUES (NULL, 'd')")
    assert cur.lastrowid == 103


# ---------------------------------------------------------------- transactions
def test_driver_default_autocommit_off_just_works(driver, mysql_connect):
    """Every driver's default is autocommit OFF: statements run inside implicit
    transactions that COMMIT/ROLLBACK end; nothing errors."""
    c = mysql_connect()  # the driver's own default
    other = mysql_connect(autocommit=True)
    assert driver.get_autocommit(c) is False
    assert scalar(driver, c, "SELECT @@autocommit") == 0

    run(driver, c, PEOPLE_DDL)
    run(driver, c, "INSERT INTO people (name) VALUES (%s)", ("a",))
    assert scalar(driver, c, "SELECT COUNT(*) FROM people") == 1  # own write visible
    assert scalar(driver, other, "SELECT COUNT(*) FROM people") == 0
    c.commit()
    assert scalar(driver, other, "SELECT COUNT(*) FROM people") == 1

    run(driver, c, "INSERT INTO people (name) VALUES ('b')")
    c.rollback()
    assert scalar(driver, c, "SELECT COUNT(*) FROM people") == 1
    c.commit()  # commit of an empty/read-only transaction is fine
    c.rollback()
    c.close()
    # closing with an open transaction rolls it back
    c2 = mysql_connect()
    run(driver, c2, "INSERT INTO people (name) VALUES ('lost')")
    c2.close()
    assert rows_of(driver, other, "SELECT name FROM people ORDER BY id") == [("a",)]


def test_repeatable_read_snapshot_with_autocommit_off(driver, mysql_connect):
    c = mysql_connect(autocommit=False)
    other = mysql_connect(autocommit=True)
    run(driver, other, PEOPLE_DDL)
    run(driver, other, "INSERT INTO people (name) VALUES ('a')")
    assert scalar(driver, c, "SELECT COUNT(*) FROM people") == 1  # snapshot taken here
    run(driver, other, "INSERT INTO people (name) VALUES ('b')")
    assert scalar(driver, c, "SELECT COUNT(*) FROM people") == 1  # REPEATABLE READ
    c.commit()
    assert scalar(driver, c, "SELECT COUNT(*) FROM people") == 2


def test_commit_rollback_and_autocommit_switching(driver, mysql_connect):
    w = mysql_connect(autocommit=False)
    r = mysql_connect(autocommit=True)
    run(driver, r, PEOPLE_DDL)

    def names():
        return [x[0] for x in rows_of(driver, r, "SELECT name FROM people ORDER BY id")]

    run(driver, w, "INSERT INTO people (name) VALUES ('c1')")
    assert names() == []
    w.commit()
    assert names() == ["c1"]

    run(driver, w, "INSERT INTO people (name) VALUES ('r1')")
    run(driver, w, "UPDATE people SET qty = 9 WHERE name = 'c1'")
    assert rows_of(driver, w, "SELECT name, qty FROM people ORDER BY id") == [("c1", 9), ("r1", 0)]
    w.rollback()
    assert rows_of(driver, w, "SELECT name, qty FROM people ORDER BY id") == [("c1", 0)]
    assert names() == ["c1"]

    driver.set_autocommit(w, True)
    assert driver.get_autocommit(w) is True
    assert scalar(driver, w, "SELECT @@autocommit") == 1
    run(driver, w, "INSERT INTO people (name) VALUES ('a1')")
    assert names() == ["c1", "a1"]  # no commit needed

    # explicit transaction in autocommit mode
    run(driver, w, "START TRANSACTION")
    run(driver, w, "INSERT INTO people (name) VALUES ('t1')")
    assert names() == ["c1", "a1"]
    run(driver, w, "ROLLBACK")
    run(driver, w, "BEGIN")
    run(driver, w, "INSERT INTO people (name) VALUES ('t2')")
    assert names() == ["c1", "a1"]
    run(driver, w, "COMMIT")
    assert names() == ["c1", "a1", "t2"]

    driver.set_autocommit(w, False)
    assert scalar(driver, w, "SELECT @@autocommit") == 0
    run(driver, w, "INSERT INTO people (name) VALUES ('x')")
    assert names() == ["c1", "a1", "t2"]
    # SET autocommit = 1 commits the open transaction (MySQL)
    run(driver, w, "SET autocommit = 1")
    assert names() == ["c1", "a1", "t2", "x"]


def test_read_only_transaction_refuses_writes_1792(driver, mysql_connect):
    c = mysql_connect(autocommit=True)
    run(driver, c, PEOPLE_DDL)
    run(driver, c, "START TRANSACTION READ ONLY")
    assert rows_of(driver, c, "SELECT count(*) FROM people") == [(0,)]
    msg = expect_error(driver, c, "INSERT INTO people (name) VALUES ('no')", 1792,
                       sqlstate="25006")
    assert "Cannot execute statement in a READ ONLY transaction." in msg, msg
    run(driver, c, "COMMIT")
    run(driver, c, "SET SESSION TRANSACTION READ ONLY")
    expect_error(driver, c, "UPDATE people SET qty = 1", 1792)
    run(driver, c, "SET SESSION TRANSACTION READ WRITE")
    run(driver, c, "INSERT INTO people (name) VALUES ('yes')")
    assert rows_of(driver, c, "SELECT name FROM people") == [("yes",)]


def test_ddl_commits_open_transaction(driver, mysql_connect):
    """MySQL: CREATE TABLE causes an implicit COMMIT of the open transaction."""
    w = mysql_connect(autocommit=False)
    r = mysql_connect(autocommit=True)
    run(driver, w, PEOPLE_DDL)
    run(driver, w, "INSERT INTO people (name) VALUES ('kept')")
    run(driver, w, "CREATE TABLE other (id INT PRIMARY KEY)")
    w.rollback()
    assert rows_of(driver, r, "SELECT name FROM people") == [("kept",)]


def test_failed_statement_does_not_abort_transaction(driver, mysql_connect):
    """MySQL rolls back only the failing statement; the transaction goes on."""
    w = mysql_connect(autocommit=False)
    r = mysql_connect(autocommit=True)
    run(driver, r, PEOPLE_DDL)
    run(driver, w, "INSERT INTO people (id, name) VALUES (1, 'a')")
    expect_error(driver, w, "INSERT INTO people (id, name) VALUES (1, 'dup')", 1062)
    expect_error(driver, w, "SELECT nosuch FROM people", 1054)
    run(driver, w, "INSERT INTO people (id, name) VALUES (2, 'b')")
    w.commit()
    assert rows_of(driver, r, "SELECT id, name FROM people ORDER BY id") == [(1, "a"), (2, "b")]


# ---------------------------------------------------------------- NULLs
def test_nulls(driver, mysql_connect):
    c = mysql_connect(autocommit=True)
    run(driver, c, """CREATE TABLE n (id INT PRIMARY KEY, i INT, b BIGINT UNSIGNED,
        d DECIMAL(10,2), s VARCHAR(10), t TEXT, bl BLOB, da DATE, ts DATETIME, f DOUBLE)""")
    run(driver, c, "INSERT INTO n VALUES (1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)")
    run(driver, c, "INSERT INTO n VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (2, None, None, None, None, None, None, None, None, None))
    run(driver, c, "INSERT INTO n (id) VALUES (3)")
    assert rows_of(driver, c, "SELECT * FROM n ORDER BY id") == [(k,) + (None,) * 9 for k in (1, 2, 3)]
    assert scalar(driver, c, "SELECT COUNT(*) FROM n WHERE i IS NULL AND s IS NULL") == 3
    assert scalar(driver, c, "SELECT COUNT(i) FROM n") == 0
    assert rows_of(driver, c, "SELECT NULL, 1 + NULL, IFNULL(NULL, 'z'), COALESCE(i, -1) FROM n WHERE id = 1") \
        == [(None, None, "z", -1)]


# ---------------------------------------------------------------- types
# (id, column type, values inserted as parameters, expected python type, protocol type)
TYPE_CASES = [
    ("tinyint", "TINYINT", [-128, 0, 127], int, T_TINY),
    ("tinyint_unsigned", "TINYINT UNSIGNED", [0, 255], int, T_TINY),
    ("smallint", "SMALLINT", [-32768, 32767], int, T_SHORT),
    ("mediumint", "MEDIUMINT", [-8388608, 8388607], int, T_INT24),
    ("int", "INT", [-2147483648, 2147483647], int, T_LONG),
    ("int_unsigned", "INT UNSIGNED", [0, 4294967295], int, T_LONG),
    ("bigint", "BIGINT", [-9223372036854775808, 9223372036854775807], int, T_LONGLONG),
    ("bigint_unsigned", "BIGINT UNSIGNED", [0, 9223372036854775808, 18446744073709551615], int,
     T_LONGLONG),
    ("float", "FLOAT", [1.5, -0.25, 0.0], float, T_FLOAT),
    ("double", "DOUBLE", [3.141592653589793, -1e300, 2.5e-300], float, T_DOUBLE),
    ("decimal", "DECIMAL(10,2)", [Decimal("12345678.90"), Decimal("-0.05"), Decimal("0.00")], Decimal,
     T_NEWDECIMAL),
    ("char", "CHAR(5)", ["ab", "abcde", ""], str, T_STRING),
    ("varchar", "VARCHAR(40)", ["héllo wörld ✓", "emoji 😀", "quote ' and \\ backslash", ""], str,
     T_VAR_STRING),
    ("text", "TEXT", ["x" * 5000, "multi\nline\ttext"], str, T_BLOB),
    ("mediumtext", "MEDIUMTEXT", ["y" * 70000], str, T_BLOB),
    ("blob", "BLOB", [b"\x00\xff", b"\x00\xff\x01\x80binary'\\\x00", b""], bytes, T_BLOB),
    ("varbinary", "VARBINARY(16)", [b"\x00\xff", b"\xc3\x28\xfe"], bytes, T_VAR_STRING),
    ("date", "DATE", [dt.date(2024, 2, 29), dt.date(1000, 1, 1), dt.date(9999, 12, 31)], dt.date, T_DATE),
    ("datetime", "DATETIME", [dt.datetime(2024, 2, 29, 13, 45, 30), dt.datetime(1999, 12, 31, 23, 59, 59)],
     dt.datetime, T_DATETIME),
    ("datetime6", "DATETIME(6)", [dt.datetime(2024, 2, 29, 13, 45, 30, 123456)], dt.datetime, T_DATETIME),
    ("timestamp", "TIMESTAMP NULL", [dt.datetime(2024, 1, 2, 3, 4, 5), dt.datetime(2030, 6, 15, 12, 0, 0)],
     dt.datetime, T_TIMESTAMP),
    ("time", "TIME", [dt.timedelta(hours=12, minutes=34, seconds=56), dt.timedelta(0),
                      dt.timedelta(hours=100, minutes=1, seconds=2)], dt.timedelta, T_TIME),
    ("year", "YEAR", [2024, 1901, 2155], int, T_YEAR),
    ("boolean", "BOOLEAN", [True, False], int, T_TINY),
    ("enum", "ENUM('a','b')", ["b", "a"], str, T_STRING),
]
TYPE_IDS = [c[0] for c in TYPE_CASES]


def _expected(coltype, v):
    if coltype == "BOOLEAN":
        return int(v)
    return v


def _check_values(case, got):
    name, coltype, values, pytype, _ = case
    want = [_expected(coltype, v) for v in values] + [None]
    assert len(got) == len(want), f"{name}: rows {got!r}"
    for g, w in zip(got, want):
        if w is None:
            assert g is None, f"{name}: NULL came back as {g!r}"
            continue
        if pytype is bytes:
            assert isinstance(g, BINARY), f"{name}: {g!r} is {type(g).__name__}, not bytes"
            assert bytes(g) == w, f"{name}: {bytes(g)!r} != {w!r}"
            continue
        assert type(g) is pytype, f"{name}: {g!r} is {type(g).__name__}, not {pytype.__name__}"
        assert g == w, f"{name}: {g!r} != {w!r}"
        if pytype is Decimal:
            assert g.as_tuple().exponent == -2, f"{name}: {g!r} lost its scale 2"


def _fill_type_table(driver, c, case, prepared=False):
    name, coltype, values, _, _ = case
    run(driver, c, f"CREATE TABLE tt (id INT AUTO_INCREMENT PRIMARY KEY, v {coltype})")
    for v in values:
        run(driver, c, "INSERT INTO tt (v) VALUES (%s)", (v,), prepared=prepared)
    run(driver, c, "INSERT INTO tt (v) VALUES (%s)", (None,), prepared=prepared)


@pytest.mark.parametrize("case", TYPE_CASES, ids=TYPE_IDS)
def test_type_roundtrip(driver, mysql_connect, case):
    """Parameters in (client-side interpolation), text-protocol rows out."""
    c = mysql_connect(autocommit=True)
    _fill_type_table(driver, c, case)
    got = [r[0] for r in rows_of(driver, c, "SELECT v FROM tt ORDER BY id")]
    _check_values(case, got)


# mysql-connector-python does not decode YEAR in binary rows (it reads the 2-byte integer
# MySQL sends as a length-prefixed string, so it fails against MySQL 8 too); YEAR in the
# binary protocol is checked with node mysql2 execute() instead (node/driver_test.js).
PREPARED_TYPE_CASES = [c for c in TYPE_CASES if c[0] != "year"]


@pytest.mark.parametrize("case", PREPARED_TYPE_CASES, ids=[c[0] for c in PREPARED_TYPE_CASES])
def test_type_roundtrip_prepared(connector_driver, connector_connect, case):
    """Server-side prepared statements: binary-protocol parameters in, binary rows out."""
    driver = connector_driver
    c = connector_connect(autocommit=True)
    _fill_type_table(driver, c, case, prepared=True)
    got = [r[0] for r in rows_of(driver, c, "SELECT v FROM tt WHERE id > %s ORDER BY id", (0,),
                                 prepared=True)]
    _check_values(case, got)


def test_type_column_metadata(driver, mysql_connect):
    """Result-set column types are MySQL's (ORMs and drivers convert by them)."""
    c = mysql_connect(autocommit=True)
    cols = ", ".join(f"c_{name} {coltype}" for name, coltype, *_ in TYPE_CASES)
    run(driver, c, f"CREATE TABLE meta ({cols})")
    _, cur = run(driver, c, "SELECT * FROM meta")
    got = {d[0]: d[1] for d in cur.description}
    want = {f"c_{name}": code for name, _, _, _, code in TYPE_CASES}
    wrong = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
    assert not wrong, f"column type codes (got, MySQL): {wrong}"


def test_out_of_range_tinyint_is_error_1264(driver, mysql_connect):
    c = mysql_connect(autocommit=True)
    run(driver, c, "CREATE TABLE r (id INT PRIMARY KEY, v TINYINT, u TINYINT UNSIGNED)")
    msg = expect_error(driver, c, "INSERT INTO r (id, v) VALUES (1, 128)", 1264, sqlstate="22003")
    assert "Out of range value for column 'v'" in msg, msg
    expect_error(driver, c, "INSERT INTO r (id, v) VALUES (2, %s)", 1264, params=(-129,))
    expect_error(driver, c, "INSERT INTO r (id, u) VALUES (3, -1)", 1264)
    expect_error(driver, c, "INSERT INTO r (id, u) VALUES (4, 256)", 1264)
    run(driver, c, "INSERT INTO r (id, v, u) VALUES (5, 127, 255)")
    expect_error(driver, c, "UPDATE r SET v = v + 1 WHERE id = 5", 1264)
    assert rows_of(driver, c, "SELECT id, v, u FROM r") == [(5, 127, 255)]


def test_decimal_precision_limit_is_65_digits(driver, mysql_connect):
    c = mysql_connect(autocommit=True)
    msg = expect_error(driver, c, "CREATE TABLE dp (id INT, v DECIMAL(70,2))", 1426,
                       sqlstate="42000")
    assert "Too-big precision 70 specified for 'v'. Maximum is 65." in msg, msg
    run(driver, c, "CREATE TABLE dp (id INT PRIMARY KEY, v DECIMAL(50,2))")
    run(driver, c, "INSERT INTO dp VALUES (1, 1.5)")
    assert [str(v) for (v,) in rows_of(driver, c, "SELECT v + 1 FROM dp")] == ["2.50"]


def test_variance_std_and_stddev_are_population_statistics(driver, mysql_connect):
    c = mysql_connect(autocommit=True)
    sql = ("SELECT variance(x) = var_pop(x), std(x) = stddev_pop(x), stddev(x) = stddev_pop(x),"
           " variance(x) < var_samp(x) FROM (SELECT 1.0 AS x UNION ALL SELECT 2.0"
           " UNION ALL SELECT 4.0) t")
    assert [tuple(int(v) for v in r) for r in rows_of(driver, c, sql)] == [(1, 1, 1, 1)]


def test_bad_enum_value_is_error_1265(driver, mysql_connect):
    c = mysql_connect(autocommit=True)
    run(driver, c, "CREATE TABLE e (id INT PRIMARY KEY, v ENUM('a','b'))")
    msg = expect_error(driver, c, "INSERT INTO e VALUES (1, 'c')", 1265, sqlstate="01000")
    assert "Data truncated for column 'v'" in msg, msg
    run(driver, c, "INSERT INTO e VALUES (2, 'a')")
    expect_error(driver, c, "UPDATE e SET v = 'zz' WHERE id = 2", 1265)
    assert rows_of(driver, c, "SELECT id, v FROM e") == [(2, "a")]


# ---------------------------------------------------------------- errors
def test_error_duplicate_key_1062(driver, mysql_connect):
    c = mysql_connect(autocommit=True)
    run(driver, c, PEOPLE_DDL)
    run(driver, c, "INSERT INTO people (id, name, email) VALUES (1, 'a', 'a@x')")
    msg = expect_error(driver, c, "INSERT INTO people (id, name) VALUES (1, 'b')", 1062,
                       sqlstate="23000")
    assert msg.startswith("Duplicate entry '1' for key "), msg
    msg = expect_error(driver, c, "INSERT INTO people (name, email) VALUES ('c', 'a@x')", 1062,
                       sqlstate="23000")
    assert msg.startswith("Duplicate entry 'a@x' for key "), msg
    assert "u_email" in msg, msg
    run(driver, c, "INSERT INTO people (id, name, email) VALUES (2, 'b', 'b@x')")
    expect_error(driver, c, "UPDATE people SET email = 'a@x' WHERE id = 2", 1062)
    assert scalar(driver, c, "SELECT COUNT(*) FROM people") == 2


def test_error_no_such_table_1146(driver, mysql_connect, mysql_db):
    c = mysql_connect(autocommit=True)
    msg = expect_error(driver, c, "SELECT * FROM nosuch", 1146, sqlstate="42S02")
    assert msg == f"Table '{mysql_db}.nosuch' doesn't exist", msg
    expect_error(driver, c, "INSERT INTO nosuch VALUES (1)", 1146)
    still_usable(driver, c)


def test_error_unknown_column_1054(driver, mysql_connect):
    c = mysql_connect(autocommit=True)
    run(driver, c, PEOPLE_DDL)
    msg = expect_error(driver, c, "SELECT nosuch FROM people", 1054, sqlstate="42S22")
    assert msg == "Unknown column 'nosuch' in 'field list'", msg
    expect_error(driver, c, "INSERT INTO people (nosuch) VALUES (1)", 1054)
    expect_error(driver, c, "SELECT id FROM people WHERE nosuch = 1", 1054)
    still_usable(driver, c)


def test_error_syntax_1064(driver, mysql_connect):
    c = mysql_connect(autocommit=True)
    msg = expect_error(driver, c, "SELEC 1", 1064, sqlstate="42000")
    assert "You have an error in your SQL syntax" in msg, msg
    assert "near '" in msg, msg
    msg = expect_error(driver, c, "SELECT * FROM WHERE x = 1", 1064)
    assert "near '" in msg, msg
    still_usable(driver, c)


def test_error_no_database_selected_1046(driver, mysql_connect):
    c = mysql_connect(database=None, autocommit=True)
    assert scalar(driver, c, "SELECT DATABASE()") is None
    msg = expect_error(driver, c, "SELECT * FROM people", 1046, sqlstate="3D000")
    assert msg == "No database selected", msg
    expect_error(driver, c, "CREATE TABLE x (id INT)", 1046)
    still_usable(driver, c)


def test_error_unknown_database_1049(driver, mysql_connect, mysql_db):
    c = mysql_connect(autocommit=True)
    msg = expect_error(driver, c, "USE nosuch_db_xyz", 1049, sqlstate="42000")
    assert msg == "Unknown database 'nosuch_db_xyz'", msg
    assert scalar(driver, c, "SELECT DATABASE()") == mysql_db  # unchanged
    with pytest.raises(driver.error_class()) as ei:
        mysql_connect(database="nosuch_db_xyz", autocommit=True)
    assert driver.errcode(ei.value) == 1049, repr(ei.value)


def test_use_switches_database(driver, mysql_connect, mysql_db):
    c = mysql_connect(database=None, autocommit=True)
    run(driver, c, f"USE {mysql_db}")
    assert scalar(driver, c, "SELECT DATABASE()") == mysql_db
    run(driver, c, "CREATE TABLE u (id INT PRIMARY KEY)")
    run(driver, c, "INSERT INTO u VALUES (1)")
    c2 = mysql_connect(database=None, autocommit=True)
    assert rows_of(driver, c2, f"SELECT id FROM {mysql_db}.u") == [(1,)]
    assert rows_of(driver, c2, f"SELECT id FROM `{mysql_db}`.`u`") == [(1,)]


# ---------------------------------------------------------------- parameters, prepared statements
TRICKY = "O'Reilly \\ \"dq\" %s ; -- 😀"
TRICKY_BYTES = b"\x00\xff'\\\"\x1a"


def _param_table(driver, c):
    run(driver, c, """CREATE TABLE p (id INT AUTO_INCREMENT PRIMARY KEY, i BIGINT, s VARCHAR(100),
        d DECIMAL(10,2), f DOUBLE, ts DATETIME, da DATE, b VARBINARY(20), n INT)""")


PARAM_ROWS = [
    (42, TRICKY, Decimal("-12.34"), 0.5, dt.datetime(2024, 5, 6, 7, 8, 9), dt.date(2024, 5, 6),
     TRICKY_BYTES, None),
    (-9223372036854775808, "", Decimal("0.01"), -2.25, dt.datetime(2000, 1, 1), dt.date(2000, 1, 1),
     b"", 7),
]


def _check_param_rows(got):
    assert len(got) == len(PARAM_ROWS), got
    for g, w in zip(got, PARAM_ROWS):
        g = list(g)
        assert isinstance(g[6], BINARY), g
        g[6] = bytes(g[6])
        assert tuple(g) == w


def test_client_side_parameters(driver, mysql_connect):
    """DB-API %s parameters (PyMySQL and mysqlclient always interpolate client-side;
    mysql-connector's default cursor too)."""
    c = mysql_connect(autocommit=True)
    _param_table(driver, c)
    ins = "INSERT INTO p (i, s, d, f, ts, da, b, n) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    for row in PARAM_ROWS:
        _, cur = run(driver, c, ins, row)
        assert cur.rowcount == 1
    _check_param_rows(rows_of(driver, c, "SELECT i, s, d, f, ts, da, b, n FROM p ORDER BY id"))
    assert rows_of(driver, c, "SELECT id FROM p WHERE s = %s AND b = %s", (TRICKY, TRICKY_BYTES)) == [(1,)]
    assert rows_of(driver, c, "SELECT id FROM p WHERE i = %s OR n = %s ORDER BY id",
                   (-9223372036854775808, 7)) == [(2,)]
    assert scalar(driver, c, "SELECT %s", ("it's",)) == "it's"

    cur = driver.cursor(c)
    cur.executemany("INSERT INTO p (i, s) VALUES (%s, %s)", [(1, "x"), (2, "y"), (3, "z")])
    assert cur.rowcount == 3
    assert rows_of(driver, c, "SELECT i, s FROM p WHERE id > 2 ORDER BY id") == [(1, "x"), (2, "y"), (3, "z")]
    # a bobby-tables value is data, not SQL
    run(driver, c, "INSERT INTO p (s) VALUES (%s)", ("x'); DROP TABLE p; --",))
    assert scalar(driver, c, "SELECT COUNT(*) FROM p") == 6


def test_server_side_prepared_statements(connector_driver, connector_connect):
    """mysql-connector cursor(prepared=True): COM_STMT_PREPARE / EXECUTE / binary rows."""
    driver = connector_driver
    c = connector_connect(autocommit=True)
    _param_table(driver, c)
    cur = c.cursor(prepared=True)
    ins = "INSERT INTO p (i, s, d, f, ts, da, b, n) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    cur.execute(ins, PARAM_ROWS[0])
    assert cur.rowcount == 1
    assert cur.lastrowid == 1
    cur.execute(ins, PARAM_ROWS[1])  # the same statement re-executed with new values
    assert cur.lastrowid == 2
    cur.execute("SELECT i, s, d, f, ts, da, b, n FROM p WHERE id >= %s ORDER BY id", (1,))
    _check_param_rows([tuple(r) for r in cur.fetchall()])
    cur.execute("SELECT id FROM p WHERE s = %s AND b = %s", (TRICKY, TRICKY_BYTES))
    assert cur.fetchall() == [(1,)]
    cur.execute("SELECT id FROM p WHERE d = %s", (Decimal("0.01"),))
    assert cur.fetchall() == [(2,)]
    cur.execute("SELECT id FROM p WHERE ts = %s", (dt.datetime(2024, 5, 6, 7, 8, 9),))
    assert cur.fetchall() == [(1,)]
    cur.execute("SELECT %s + 1, %s, %s", (41, "txt", None))
    assert cur.fetchall() == [(42, "txt", None)]

    cur.execute("UPDATE p SET n = %s WHERE id IN (%s, %s)", (5, 1, 2))
    assert cur.rowcount == 2
    cur.executemany("INSERT INTO p (i, s) VALUES (%s, %s)", [(10, "a"), (11, "b")])
    assert scalar(driver, c, "SELECT COUNT(*) FROM p") == 4
    # errors from prepare and from execute carry their codes
    with pytest.raises(driver.error_class()) as ei:
        cur.execute("SELECT nosuch FROM p WHERE id = %s", (1,))
    assert driver.errcode(ei.value) == 1054
    with pytest.raises(driver.error_class()) as ei:
        cur.execute("INSERT INTO p (id, s) VALUES (%s, %s)", (1, "dup"))
    assert driver.errcode(ei.value) == 1062
    cur.execute("SELECT COUNT(*) FROM p WHERE n = %s", (5,))
    assert cur.fetchall() == [(2,)]


def test_prepared_statements_in_transactions(connector_driver, connector_connect):
    driver = connector_driver
    c = connector_connect()  # default autocommit=False
    r = connector_connect(autocommit=True)
    run(driver, r, "CREATE TABLE k (id INT PRIMARY KEY, v VARCHAR(10))")
    cur = c.cursor(prepared=True)
    cur.execute("INSERT INTO k VALUES (%s, %s)", (1, "a"))
    assert scalar(driver, r, "SELECT COUNT(*) FROM k") == 0
    c.commit()
    assert scalar(driver, r, "SELECT COUNT(*) FROM k") == 1
    cur.execute("INSERT INTO k VALUES (%s, %s)", (2, "b"))
    c.rollback()
    cur.execute("SELECT id FROM k WHERE id > %s", (0,))
    assert cur.fetchall() == [(1,)]


# ---------------------------------------------------------------- MySQL DML dialect
def test_insert_ignore_warnings(driver, mysql_connect):
    c = mysql_connect(autocommit=True)
    run(driver, c, "CREATE TABLE ig (id INT PRIMARY KEY, v VARCHAR(10))")
    run(driver, c, "INSERT INTO ig VALUES (1, 'a')")
    _, cur = run(driver, c, "INSERT IGNORE INTO ig VALUES (1, 'dup'), (2, 'b')")
    assert cur.rowcount == 1
    assert cur.warning_count == 1
    warnings = [tuple(text(x) for x in w) for w in rows_of(driver, c, "SHOW WARNINGS")]
    assert len(warnings) == 1, warnings
    level, code, message = warnings[0]
    assert (level, int(code)) == ("Warning", 1062)
    assert message.startswith("Duplicate entry '1' for key "), message
    assert scalar(driver, c, "SELECT @@warning_count") == 1
    assert rows_of(driver, c, "SELECT id, v FROM ig ORDER BY id") == [(1, "a"), (2, "b")]
    _, cur = run(driver, c, "INSERT IGNORE INTO ig VALUES (1, 'x')")
    assert cur.rowcount == 0
    assert cur.warning_count == 1


def test_replace_into(driver, mysql_connect):
    c = mysql_connect(autocommit=True)
    run(driver, c, "CREATE TABLE rp (id INT PRIMARY KEY, v VARCHAR(10), w INT DEFAULT 7)")
    _, cur = run(driver, c, "REPLACE INTO rp (id, v) VALUES (1, 'a')")
    assert cur.rowcount == 1
    run(driver, c, "UPDATE rp SET w = 9 WHERE id = 1")
    _, cur = run(driver, c, "REPLACE INTO rp (id, v) VALUES (1, 'b')")
    assert cur.rowcount == 2  # delete + insert
    # replaced rows get the defaults again
    assert rows_of(driver, c, "SELECT id, v, w FROM rp") == [(1, "b", 7)]


def test_insert_on_duplicate_key_update(driver, mysql_connect):
    c = mysql_connect(autocommit=True)
    run(driver, c, """CREATE TABLE od (id INT AUTO_INCREMENT PRIMARY KEY, k VARCHAR(10),
                      c INT, UNIQUE KEY uk (k))""")
    sql = "INSERT INTO od (k, c) VALUES (%s, %s) ON DUPLICATE KEY UPDATE c = VALUES(c)"
    _, cur = run(driver, c, sql, ("x", 1))
    assert cur.rowcount == 1  # inserted
    _, cur = run(driver, c, sql, ("x", 2))
    assert cur.rowcount == 2  # updated
    _, cur = run(driver, c, sql, ("x", 2))
    assert cur.rowcount == 0  # set to its current value
    _, cur = run(driver, c, "INSERT INTO od (k, c) VALUES ('x', 5), ('y', 6) "
                            "ON DUPLICATE KEY UPDATE c = c + VALUES(c)")
    assert cur.rowcount == 3  # 2 (update) + 1 (insert)
    assert rows_of(driver, c, "SELECT k, c FROM od ORDER BY k") == [("x", 7), ("y", 6)]


def test_limit_offset_forms(driver, mysql_connect):
    c = mysql_connect(autocommit=True)
    run(driver, c, "CREATE TABLE lim (id INT PRIMARY KEY)")
    run(driver, c, "INSERT INTO lim VALUES " + ", ".join(f"({i})" for i in range(1, 11)))
    ids = lambda sql: [r[0] for r in rows_of(driver, c, sql)]  # noqa: E731
    assert ids("SELECT id FROM lim ORDER BY id LIMIT 2, 3") == [3, 4, 5]
    assert ids("SELECT id FROM lim ORDER BY id LIMIT 3 OFFSET 2") == [3, 4, 5]
    assert ids("SELECT id FROM lim ORDER BY id DESC LIMIT 2") == [10, 9]
    assert ids("SELECT id FROM lim ORDER BY id LIMIT 8, 100") == [9, 10]
    assert ids("SELECT id FROM lim ORDER BY id LIMIT 0") == []


# ---------------------------------------------------------------- SHOW, DESCRIBE, variables
def test_show_databases_and_tables(driver, mysql_connect, mysql_db):
    c = mysql_connect(autocommit=True)
    run(driver, c, "CREATE TABLE b_tab (id INT)")
    run(driver, c, "CREATE TABLE a_tab (id INT)")
    rows, cur = run(driver, c, "SHOW DATABASES")
    assert cur.description[0][0] == "Database"
    dbs = {text(r[0]) for r in rows}
    assert {mysql_db, "information_schema"} <= dbs, dbs
    assert [text(r[0]) for r in rows_of(driver, c, f"SHOW DATABASES LIKE '{mysql_db}'")] == [mysql_db]

    rows, cur = run(driver, c, "SHOW TABLES")
    assert cur.description[0][0] == f"Tables_in_{mysql_db}"
    assert [text(r[0]) for r in rows] == ["a_tab", "b_tab"]
    assert [text(r[0]) for r in rows_of(driver, c, "SHOW TABLES LIKE 'a%'")] == ["a_tab"]
    c2 = mysql_connect(database=None, autocommit=True)
    assert [text(r[0]) for r in rows_of(driver, c2, f"SHOW TABLES FROM {mysql_db}")] == ["a_tab", "b_tab"]


def test_show_columns_and_describe(driver, mysql_connect):
    c = mysql_connect(autocommit=True)
    run(driver, c, PEOPLE_DDL)
    want = [
        ("id", "int", "NO", "PRI", None, "auto_increment"),
        ("name", "varchar(20)", "YES", "MUL", None, ""),
        ("email", "varchar(50)", "YES", "UNI", None, ""),
        ("qty", "int", "NO", "", "0", ""),
    ]
    for sql in ("SHOW COLUMNS FROM people", "DESCRIBE people", "DESC people",
                "SHOW FIELDS FROM people"):
        rows, cur = run(driver, c, sql)
        assert [d[0] for d in cur.description] == ["Field", "Type", "Null", "Key", "Default", "Extra"], sql
        assert [tuple(text(x) for x in r) for r in rows] == want, sql
    rows = rows_of(driver, c, "SHOW COLUMNS FROM people LIKE 'e%'")
    assert [text(r[0]) for r in rows] == ["email"]


def test_show_index(driver, mysql_connect):
    c = mysql_connect(autocommit=True)
    run(driver, c, PEOPLE_DDL)
    run(driver, c, "CREATE TABLE two (a INT, b INT, PRIMARY KEY (a, b))")
    rows, cur = run(driver, c, "SHOW INDEX FROM people")
    names = [d[0] for d in cur.description]
    assert names[:5] == ["Table", "Non_unique", "Key_name", "Seq_in_index", "Column_name"], names
    got = sorted((text(r[2]), int(r[1]), int(r[3]), text(r[4])) for r in rows)
    assert got == [("PRIMARY", 0, 1, "id"), ("idx_name", 1, 1, "name"), ("u_email", 0, 1, "email")]
    assert {text(r[0]) for r in rows} == {"people"}
    rows = rows_of(driver, c, "SHOW KEYS FROM two")
    assert sorted((text(r[2]), int(r[3]), text(r[4])) for r in rows) == [("PRIMARY", 1, "a"), ("PRIMARY", 2, "b")]


def test_show_create_table(driver, mysql_connect):
    c = mysql_connect(autocommit=True)
    run(driver, c, PEOPLE_DDL)
    rows = rows_of(driver, c, "SHOW CREATE TABLE people")
    assert len(rows) == 1 and text(rows[0][0]) == "people"
    ddl = text(rows[0][1])
    assert ddl.startswith("CREATE TABLE `people` ("), ddl
    for part in ("`id` int NOT NULL AUTO_INCREMENT", "`name` varchar(20) DEFAULT NULL",
                 "`qty` int NOT NULL DEFAULT '0'", "PRIMARY KEY (`id`)",
                 "UNIQUE KEY `u_email` (`email`)", "KEY `idx_name` (`name`)"):
        assert part in ddl, f"{part!r} not in {ddl!r}"
    # the output is valid DDL
    run(driver, c, ddl.replace("CREATE TABLE `people`", "CREATE TABLE `people_copy`", 1))
    run(driver, c, "INSERT INTO people_copy (name, email) VALUES ('a', 'a@x')")
    expect_error(driver, c, "INSERT INTO people_copy (name, email) VALUES ('b', 'a@x')", 1062)


def test_show_variables(driver, mysql_connect):
    c = mysql_connect(autocommit=True)
    rows, cur = run(driver, c, "SHOW VARIABLES LIKE 'autocommit'")
    assert [d[0] for d in cur.description] == ["Variable_name", "Value"]
    assert [tuple(text(x) for x in r) for r in rows] == [("autocommit", "ON")]
    driver.set_autocommit(c, False)
    assert [tuple(text(x) for x in r) for r in rows_of(driver, c, "SHOW SESSION VARIABLES LIKE 'autocommit'")] \
        == [("autocommit", "OFF")]
    rows = rows_of(driver, c, "SHOW VARIABLES LIKE 'version'")
    assert len(rows) == 1 and text(rows[0][1]).startswith("8."), rows
    names = [text(r[0]) for r in rows_of(driver, c, "SHOW VARIABLES LIKE 'auto%'")]
    assert "autocommit" in names and "auto_increment_increment" in names, names
    assert all(n.startswith("auto") for n in names), names


def test_user_and_system_variables(driver, mysql_connect, mysql_db):
    c = mysql_connect(autocommit=True)
    run(driver, c, "SET @x = 5")
    assert scalar(driver, c, "SELECT @x + 1") == 6
    run(driver, c, "SET @s = 'abc', @y := 2")
    assert rows_of(driver, c, "SELECT CONCAT(@s, 'd'), @y * 10") == [("abcd", 20)]
    assert scalar(driver, c, "SELECT @never_set") is None
    assert scalar(driver, c, "SELECT @@autocommit") == 1
    assert scalar(driver, c, "SELECT @@session.autocommit") == 1
    version = scalar(driver, c, "SELECT @@version")
    assert isinstance(version, str) and version.startswith("8."), version
    assert scalar(driver, c, "SELECT VERSION()") == version
    assert scalar(driver, c, "SELECT DATABASE()") == mysql_db
    # user variables are per connection
    c2 = mysql_connect(autocommit=True)
    assert scalar(driver, c2, "SELECT @x") is None
    # a variable used in a WHERE clause
    run(driver, c, "CREATE TABLE v (id INT PRIMARY KEY)")
    run(driver, c, "INSERT INTO v VALUES (4), (5), (6)")
    assert [r[0] for r in rows_of(driver, c, "SELECT id FROM v WHERE id >= @x ORDER BY id")] == [5, 6]


# ---------------------------------------------------------------- foreign keys
def test_foreign_keys_errors_and_foreign_key_checks(driver, mysql_connect):
    """InnoDB's FOREIGN KEY behaviour: 1452 for a missing parent, 1451 for a referenced one,
    ON DELETE CASCADE, and `foreign_key_checks = 0` (what dump files set while loading)."""
    c = mysql_connect(autocommit=True)
    run(driver, c, "CREATE TABLE fk_parent (id INT PRIMARY KEY) ENGINE=InnoDB")
    run(driver, c, "CREATE TABLE fk_child (id INT PRIMARY KEY, pid INT, "
                   "FOREIGN KEY (pid) REFERENCES fk_parent (id) ON DELETE CASCADE) ENGINE=InnoDB")
    run(driver, c, "INSERT INTO fk_parent VALUES (1), (2)")
    run(driver, c, "INSERT INTO fk_child VALUES (10, 1), (20, 2)")
    msg = expect_error(driver, c, "INSERT INTO fk_child VALUES (30, 3)", 1452, sqlstate="23000")
    assert "CONSTRAINT `fk_child_ibfk_1` FOREIGN KEY (`pid`) REFERENCES `fk_parent` (`id`)" in msg
    run(driver, c, "DELETE FROM fk_parent WHERE id = 1")
    assert rows_of(driver, c, "SELECT id FROM fk_child ORDER BY id") == [(20,)]
    run(driver, c, "CREATE TABLE fk_grand (x INT, FOREIGN KEY (x) REFERENCES fk_child (id))")
    run(driver, c, "INSERT INTO fk_grand VALUES (20)")
    expect_error(driver, c, "DELETE FROM fk_child", 1451, sqlstate="23000")
    expect_error(driver, c, "DROP TABLE fk_child", 3730)
    run(driver, c, "SET foreign_key_checks = 0")
    run(driver, c, "INSERT INTO fk_grand VALUES (99)")
    run(driver, c, "SET foreign_key_checks = 1")
    expect_error(driver, c, "INSERT INTO fk_grand VALUES (98)", 1452)
    assert rows_of(driver, c, "SELECT x FROM fk_grand ORDER BY x") == [(20,), (99,)]
    still_usable(driver, c)
