"""Client-driver compatibility: psycopg 3 (text + binary), asyncpg, SQLAlchemy 2
(Core + ORM) and pandas against a PostgreSQL-wire server.

Target: BASALT_PG_HOST (127.0.0.1) / BASALT_PG_PORT (5433) / BASALT_PG_DB (basalt).
Every test creates uniquely named tables and drops them.
"""
from __future__ import annotations


import asyncio
import datetime as dt
import io
import time
import warnings
from decimal import Decimal

import pytest

from conftest import conninfo_kwargs, sqlalchemy_url, unique_name

psycopg = pytest.importorskip("psycopg")
from psycopg import errors as pg_errors  # noqa: E402

UTC = dt.timezone.utc

# (sql type, python value, expected value read back). `None` rows are added per type.
TYPE_CASES = [
    ("BOOLEAN", True, True),
    ("BOOLEAN", False, False),
    ("SMALLINT", -32768, -32768),
    ("SMALLINT", 32767, 32767),
    ("INTEGER", -2147483648, -2147483648),
    ("INTEGER", 2147483647, 2147483647),
    ("BIGINT", -9223372036854775808, -9223372036854775808),
    ("BIGINT", 9223372036854775807, 9223372036854775807),
    ("REAL", 1.5, 1.5),
    ("REAL", -0.25, -0.25),
    ("DOUBLE PRECISION", 2.25, 2.25),
    ("DOUBLE PRECISION", 1e300, 1e300),
    ("DOUBLE PRECISION", -1.0000000000000002, -1.0000000000000002),
    ("NUMERIC(12,3)", Decimal("123456789.125"), Decimal("123456789.125")),
    ("NUMERIC(12,3)", Decimal("-0.5"), Decimal("-0.500")),
    ("NUMERIC", Decimal("12345678901234567890.0123456789"), Decimal("12345678901234567890.0123456789")),
    ("CHAR(5)", "ab", "ab   "),
    ("VARCHAR(10)", "hello", "hello"),
    ("VARCHAR(10)", "", ""),
    ("TEXT", "snowman \u2603 and 'quotes' \"dq\" \\ back\tslash\nnewline", "snowman \u2603 and 'quotes' \"dq\" \\ back\tslash\nnewline"),
    ("BYTEA", b"\x00\x01\xfe\xff binary", b"\x00\x01\xfe\xff binary"),
    ("BYTEA", b"", b""),
    ("DATE", dt.date(2024, 2, 29), dt.date(2024, 2, 29)),
    ("DATE", dt.date(1970, 1, 1), dt.date(1970, 1, 1)),
    ("TIME", dt.time(13, 45, 30, 123456), dt.time(13, 45, 30, 123456)),
    ("TIMESTAMP", dt.datetime(2024, 2, 29, 13, 45, 30, 500000), dt.datetime(2024, 2, 29, 13, 45, 30, 500000)),
    ("TIMESTAMP", dt.datetime(1999, 12, 31, 23, 59, 59), dt.datetime(1999, 12, 31, 23, 59, 59)),
    ("TIMESTAMPTZ", dt.datetime(2024, 2, 29, 13, 45, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))),
     dt.datetime(2024, 2, 29, 11, 45, 30, tzinfo=UTC)),
    ("INTERVAL", dt.timedelta(days=1, hours=2, minutes=3, seconds=4), dt.timedelta(days=1, hours=2, minutes=3, seconds=4)),
    ("INTERVAL", dt.timedelta(seconds=-90), dt.timedelta(seconds=-90)),
    ("INTEGER[]", [1, None, -3], [1, None, -3]),
    ("TEXT[]", ["a b", None, 'q"uote', "", "NULL"], ["a b", None, 'q"uote', "", "NULL"]),
    ("NUMERIC(6,2)[]", [Decimal("1.5"), Decimal("-2.25")], [Decimal("1.50"), Decimal("-2.25")]),
    ("INTEGER[][]", [[1, 2], [3, 4]], [[1, 2], [3, 4]]),
    ("DATE[]", [dt.date(2024, 2, 29)], [dt.date(2024, 2, 29)]),
]
SQL_TYPES = sorted({t for t, _, _ in TYPE_CASES})


def _case_id(case):
    t, v, _ = case
    return f"{t}-{v!r}"[:40]


def _same(a, b):
    """Value and Python type match (aware datetimes compare as instants)."""
    if isinstance(b, (bytes, bytearray, memoryview)):
        return isinstance(a, (bytes, bytearray, memoryview)) and bytes(a) == bytes(b)
    if isinstance(b, dt.datetime) and b.tzinfo is not None:
        return isinstance(a, dt.datetime) and a.tzinfo is not None and a == b
    return type(a) is type(b) and a == b


# ============================================================== psycopg 3
@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
@pytest.mark.parametrize("case", TYPE_CASES, ids=[_case_id(c) for c in TYPE_CASES])
def test_psycopg_type_roundtrip(connect, table_name, case, binary):
    sql_type, value, expected = case
    t = table_name("drv_rt")
    conn = connect()
    conn.execute("SET TIME ZONE 'UTC'")
    conn.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, v {sql_type})")
    ph = "%b" if binary else "%t"
    with conn.cursor(binary=binary) as cur:
        cur.execute(f"INSERT INTO {t} (id, v) VALUES ({ph}, {ph})", (1, value))
        cur.execute(f"INSERT INTO {t} (id, v) VALUES ({ph}, {ph})", (2, None))
        cur.execute(f"SELECT id, v FROM {t} ORDER BY id")
        rows = cur.fetchall()
    assert rows[0][0] == 1 and _same(rows[0][1], expected), rows
    assert rows[1] == (2, None)
    # parameter in a WHERE clause finds the row again (typed comparison on the server)
    if sql_type not in ("REAL",):  # float4 vs float8 parameter comparison is lossy by design
        with conn.cursor(binary=binary) as cur:
            cur.execute(f"SELECT id FROM {t} WHERE v = {ph}", (value,))
            assert cur.fetchall() == [(1,)]
    # a bare parameter with an explicit cast round-trips too
    with conn.cursor(binary=binary) as cur:
        cur.execute(f"SELECT ({ph})::{sql_type}", (value,))
        (back,) = cur.fetchone()
        assert _same(back, expected), back


def test_untyped_null_is_null_in_text_and_binary(connect):
    conn = connect()
    assert conn.execute("SELECT NULL, CASE WHEN false THEN NULL END").fetchone() == (None, None)
    with conn.cursor(binary=True) as cur:
        assert cur.execute("SELECT NULL").fetchone() == (None,)


def test_psycopg_auto_params_and_types(connect):
    conn = connect()
    row = conn.execute(
        "SELECT %s::int + 1, %s || 'x', %s::numeric * 2, %s, %s, %s::text IS NULL",
        (41, "abc", Decimal("1.25"), True, dt.date(2020, 1, 2), None),
    ).fetchone()
    assert row == (42, "abcx", Decimal("2.50"), True, dt.date(2020, 1, 2), True)
    # column metadata
    cur = conn.execute("SELECT 1::int AS a, 'x'::text AS b, 2::bigint AS c")
    assert [d.name for d in cur.description] == ["a", "b", "c"]
    assert [d.type_code for d in cur.description] == [23, 25, 20]


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_numeric_special_values_and_overflow_detail(connect, table_name, binary):
    table_name = table_name()
    """NaN and the infinities travel both ways in both formats (PostgreSQL's binary numeric
    has sign codes for them), and an overflow carries PostgreSQL's DETAIL."""
    conn = connect()
    conn.execute(f"CREATE TABLE {table_name} (id int, v numeric, w numeric(6,2))")
    values = [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"), Decimal("-12.5")]
    with conn.cursor(binary=binary) as cur:
        for i, v in enumerate(values):
            w = v if v.is_nan() or v.is_finite() else None
            cur.execute(f"INSERT INTO {table_name} VALUES (%s, %s, %s)", (i, v, w))
        # A statement off the fast path substitutes the parameter as numeric text.
        back = cur.execute(f"UPDATE {table_name} SET v = %s WHERE id = 0 RETURNING v",
                           (Decimal("NaN"),)).fetchone()[0]
        assert back.is_nan(), back
        rows = cur.execute(f"SELECT v, w FROM {table_name} ORDER BY v").fetchall()
    got = [(str(v), str(w)) for v, w in rows]
    assert got == [("-Infinity", "None"), ("-12.5", "-12.50"), ("Infinity", "None"),
                   ("NaN", "NaN")], got
    with pytest.raises(pg_errors.NumericValueOutOfRange) as e:
        conn.execute(f"INSERT INTO {table_name} VALUES (9, 0, 12345.5)")
    assert e.value.diag.message_primary == "numeric field overflow"
    assert e.value.diag.message_detail == (
        "A field with precision 6, scale 2 must round to an absolute value less than 10^4.")


# Unaliased output columns and the names PostgreSQL 15 gives them (checked on the reference).
COLUMN_NAME_CASES = [
    ("1", "?column?"),
    ("true", "?column?"),
    ("date '1999-01-08'", "date"),
    ("'1'::bigint", "int8"),
    ("'1'::double precision", "float8"),
    ("'1'::real", "float4"),
    ("'a'::varchar(3)", "varchar"),
    ("1.5::numeric(3,1)", "numeric"),
    ("interval '1 day'", "interval"),
    ("CASE WHEN true THEN 1 END", "case"),
    ("CASE WHEN true THEN 1 ELSE 2::int2 END", "case"),
    ("CASE WHEN true THEN 1 ELSE abs(2) END", "abs"),
    ("EXTRACT(year FROM date '2000-01-01')", "extract"),
    ("substring('abc' from 2)", "substring"),
    ("trim(leading 'a' from 'aab')", "ltrim"),
    ("trim('a')", "btrim"),
    ("(SELECT max(1))", "max"),
    ("EXISTS (SELECT 1)", "exists"),
    ("coalesce(1, 2)", "coalesce"),
    ("(1, 2)", "row"),
    ("(SELECT ARRAY[1,2,3])[1]", "array"),
    ("((SELECT ARRAY[1,2,3]))[2]", "array"),
    ("(SELECT 5 AS five UNION SELECT 5)", "five"),
    ("(WITH w(x) AS (SELECT 1) VALUES ((SELECT x FROM w)))", "column1"),
]


@pytest.mark.parametrize("prepare", [False, True])
def test_output_column_names_follow_postgresql(connect, prepare):
    conn = connect()
    sql = "SELECT " + ", ".join(expr for expr, _ in COLUMN_NAME_CASES)
    cur = conn.execute(sql, prepare=prepare)
    assert [d.name for d in cur.description] == [name for _, name in COLUMN_NAME_CASES]
    # Repeated names stay repeated, as in PostgreSQL (DataFusion needs them unique inside).
    cur = conn.execute("SELECT sum(x), sum(y) FROM (VALUES (1, 2)) v(x, y)", prepare=prepare)
    assert [d.name for d in cur.description] == ["sum", "sum"]
    assert cur.fetchone() == (1, 2)
    cur = conn.execute(
        "SELECT 1 AS a, 2 AS a, * FROM (SELECT 1 AS x, 2 AS y, 3 AS x) s", prepare=prepare
    )
    assert [d.name for d in cur.description] == ["a", "a", "x", "y", "x"]
    assert cur.fetchone() == (1, 2, 1, 2, 3)


def test_repeated_column_names_refused_for_tables_and_views(connect, table_name):
    conn = connect()
    conn.autocommit = True
    table_name = table_name()
    for ddl in (f"CREATE TABLE {table_name} AS SELECT 1 AS a, 2 AS a",
                f"CREATE VIEW {table_name} AS SELECT 1 AS a, 2 AS a"):
        with pytest.raises(pg_errors.DuplicateColumn, match='column "a" specified more than once'):
            conn.execute(ddl)
    conn.execute(f"CREATE VIEW {table_name} (b, c) AS SELECT 1 AS a, 2 AS a")
    cur = conn.execute(f"SELECT * FROM {table_name}")
    assert [d.name for d in cur.description] == ["b", "c"]
    conn.execute(f"DROP VIEW {table_name}")


def test_psycopg_prepared_statement_reuse(connect, table_name):
    t = table_name("drv_prep")
    conn = connect()
    conn.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, v TEXT)")
    for i in range(20):  # psycopg prepares server-side after prepare_threshold uses
        conn.execute(f"INSERT INTO {t} (id, v) VALUES (%s, %s)", (i, f"v{i}"), prepare=True)
    for i in range(20):
        assert conn.execute(f"SELECT v FROM {t} WHERE id = %s", (i,), prepare=True).fetchone() == (f"v{i}",)


def test_window_frame_offset_as_parameter(connect, table_name):
    """ROWS BETWEEN $1 PRECEDING: the bound value is the offset (prepared and not); an
    offset read by a subquery is read again at each execution of a prepared statement."""
    conn = connect()
    t = table_name("drv_offset")
    conn.execute(f"CREATE TABLE {t} (n INTEGER)")
    conn.execute(f"INSERT INTO {t} VALUES (1)")
    conn.commit()
    read = (
        f"SELECT i, sum(i) OVER (ORDER BY i ROWS BETWEEN (SELECT max(n) FROM {t}) PRECEDING "
        "AND CURRENT ROW) FROM generate_series(1, 3) i ORDER BY i"
    )
    for _ in range(3):
        assert conn.execute(read, prepare=True).fetchall() == [(1, 1), (2, 3), (3, 5)]
    conn.execute(f"UPDATE {t} SET n = 0")
    conn.commit()
    assert conn.execute(read, prepare=True).fetchall() == [(1, 1), (2, 2), (3, 3)]
    sql = (
        "SELECT i, sum(i) OVER (ORDER BY i ROWS BETWEEN %s PRECEDING AND %s FOLLOWING) "
        "FROM generate_series(1, 4) i ORDER BY i"
    )
    for prepare in (False, True):
        assert conn.execute(sql, (1, 0), prepare=prepare).fetchall() == [(1, 1), (2, 3), (3, 5), (4, 7)]
        assert conn.execute(sql, (0, 1), prepare=prepare).fetchall() == [(1, 3), (2, 5), (3, 7), (4, 4)]
    with pytest.raises(pg_errors.NullValueNotAllowed):
        conn.execute(sql, (None, 0))
    conn.rollback()
    ranged = (
        "SELECT d::date, count(*) OVER (ORDER BY d RANGE BETWEEN %s::interval PRECEDING AND CURRENT ROW) "
        "FROM generate_series(timestamp '2020-01-01', timestamp '2020-01-04', interval '1 day') d ORDER BY d"
    )
    days = [dt.date(2020, 1, d) for d in range(1, 5)]
    assert conn.execute(ranged, ("1 day",)).fetchall() == list(zip(days, [1, 2, 2, 2]))
    assert conn.execute(ranged, ("2 days",)).fetchall() == list(zip(days, [1, 2, 3, 3]))
    with pytest.raises(pg_errors.InvalidPrecedingOrFollowingSize):
        conn.execute(
            "SELECT sum(i) OVER (ORDER BY i RANGE BETWEEN %s PRECEDING AND CURRENT ROW) FROM generate_series(1, 3) i",
            (-1,),
        )
    conn.rollback()


def test_session_time_zone_from_startup_and_set(connect):
    """TimeZone sent at connection (libpq's options) and changed by SET: the client is
    told (ParameterStatus), timestamptz values come back in that zone in text and binary,
    and timestamp text bound as a parameter is read in it."""
    conn = connect(options="-c TimeZone=America/New_York")
    assert conn.info.parameter_status("TimeZone") == "America/New_York"
    instant = dt.datetime(2020, 7, 1, 12, 0, tzinfo=UTC)
    for binary in (False, True):
        (got,) = conn.execute(
            "SELECT '2020-07-01 12:00+00'::timestamptz", binary=binary
        ).fetchone()
        assert got == instant and got.utcoffset() == dt.timedelta(hours=-4)
    (text,) = conn.execute("SELECT '2020-07-01 12:00+00'::timestamptz::text").fetchone()
    assert text == "2020-07-01 08:00:00-04"
    for prepare in (False, True):
        (got,) = conn.execute(
            "SELECT %s::timestamptz", ("2020-01-01 12:00",), prepare=prepare
        ).fetchone()
        assert got == dt.datetime(2020, 1, 1, 17, 0, tzinfo=UTC)
    conn.execute("SET TIME ZONE 'Asia/Tokyo'")
    assert conn.info.parameter_status("TimeZone") == "Asia/Tokyo"
    (text,) = conn.execute("SELECT '2020-07-01 12:00+00'::timestamptz::text").fetchone()
    assert text == "2020-07-01 21:00:00+09"
    with pytest.raises(pg_errors.InvalidParameterValue):
        conn.execute("SET TIME ZONE 'Nowhere/Special'")
    # Through the extended protocol (a prepared statement) the client is told as well.
    conn.execute("SET TIME ZONE 'Europe/Paris'", prepare=True)
    assert conn.info.parameter_status("TimeZone") == "Europe/Paris"
    conn.execute("RESET timezone")
    assert conn.info.parameter_status("TimeZone") == "America/New_York"


def test_psycopg_executemany(connect, table_name):
    t = table_name("drv_many")
    conn = connect()
    conn.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, amount NUMERIC(10,2))")
    rows = [(i, f"name-{i}", Decimal(i) / 4) for i in range(1, 1001)]
    with conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {t} (id, name, amount) VALUES (%s, %s, %s)", rows)
        assert cur.rowcount == 1000
    assert conn.execute(f"SELECT count(*), sum(id), sum(amount) FROM {t}").fetchone() == (
        1000, 500500, Decimal("125125.00"))
    with conn.cursor(binary=True) as cur:
        cur.executemany(f"UPDATE {t} SET name = %s WHERE id = %s", [("upd", i) for i in range(1, 11)])
    assert conn.execute(f"SELECT count(*) FROM {t} WHERE name = 'upd'").fetchone() == (10,)
    # executemany with RETURNING
    with conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {t} (id, name) VALUES (%s, %s) RETURNING id * 2",
                        [(2001, "a"), (2002, "b")], returning=True)
        got = []
        while True:
            got.append(cur.fetchone()[0])
            if not cur.nextset():
                break
        assert got == [4002, 4004]


def test_psycopg_binary_copy_of_array_columns(connect, table_name):
    """COPY FROM STDIN in binary format reads PostgreSQL's binary arrays (dimensions,
    NULL elements) into array columns, and COPY TO gives them back in text."""
    t = table_name("drv_copy_arr")
    conn = connect()
    conn.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, a INTEGER[], m INTEGER[][], s TEXT[])")
    with conn.cursor() as cur:
        with cur.copy(f"COPY {t} (id, a, m, s) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "int4[]", "int4[]", "text[]"])
            copy.write_row((1, [1, None, 3], [[1, 2], [3, 4]], ["x y", None]))
            copy.write_row((2, [], None, ["z"]))
    rows = conn.execute(f"SELECT id, a, m, s FROM {t} ORDER BY id").fetchall()
    assert rows == [(1, [1, None, 3], [[1, 2], [3, 4]], ["x y", None]), (2, [], None, ["z"])]
    with conn.cursor() as cur:
        with cur.copy(f"COPY {t} TO STDOUT") as copy:
            text = b"".join(bytes(b) for b in copy).decode()
    assert text == '1\t{1,NULL,3}\t{{1,2},{3,4}}\t{"x y",NULL}\n2\t{}\t\\N\t{z}\n'
    # A two-dimensional array does not fit a one-dimensional column.
    with pytest.raises(pg_errors.InvalidTextRepresentation):
        with conn.cursor() as cur:
            with cur.copy(f"COPY {t} (id, a) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int4", "int4[]"])
                copy.write_row((3, [[1], [2]]))


def test_psycopg_transactions(connect, table_name):
    t = table_name("drv_tx")
    ac = connect()
    ac.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY)")
    conn = connect(autocommit=False)
    conn.execute(f"INSERT INTO {t} VALUES (1)")
    conn.rollback()
    with conn.transaction():
        conn.execute(f"INSERT INTO {t} VALUES (2)")
    conn.commit()
    assert ac.execute(f"SELECT id FROM {t} ORDER BY id").fetchall() == [(2,)]


def test_several_statements_in_one_query_are_one_transaction(connect, table_name):
    """A query string of several statements runs as one implicit transaction, as in
    PostgreSQL: a failure undoes the statements before it, COMMIT inside ends it (with
    PostgreSQL's warning), BEGIN makes it an explicit block that outlives the string."""
    t = table_name("drv_implicit")
    ac = connect()
    ac.execute(f"CREATE TABLE {t} (id INTEGER)")
    ac.execute(f"INSERT INTO {t} VALUES (1); SELECT 1")
    with pytest.raises(pg_errors.DivisionByZero):
        ac.execute(f"INSERT INTO {t} VALUES (2); SELECT 1/0")
    with pytest.raises(pg_errors.DivisionByZero):
        ac.execute(f"INSERT INTO {t} VALUES (3); COMMIT; INSERT INTO {t} VALUES (4); SELECT 1/0")
    with pytest.raises(pg_errors.ActiveSqlTransaction):
        ac.execute(f"INSERT INTO {t} VALUES (5); VACUUM")
    with pytest.raises(pg_errors.NoActiveSqlTransaction):
        ac.execute(f"INSERT INTO {t} VALUES (6); SAVEPOINT sp")
    ac.execute(f"SELECT 1; BEGIN; INSERT INTO {t} VALUES (7)")
    assert ac.info.transaction_status == 2  # INTRANS: the block goes on
    ac.execute("ROLLBACK")
    assert ac.execute(f"SELECT id FROM {t} ORDER BY id").fetchall() == [(1,), (3,)]


N_COPY = 1_000_000


def test_psycopg_copy_from_stdin_1m_rows_and_copy_to_stdout(connect, table_name):
    t = table_name("drv_copy")
    conn = connect()
    conn.execute(f"CREATE TABLE {t} (id BIGINT NOT NULL, grp INTEGER NOT NULL, label TEXT, amount NUMERIC(12,2))")
    with conn.cursor() as cur:
        with cur.copy(f"COPY {t} (id, grp, label, amount) FROM STDIN") as copy:
            # a few rows through write_row (NULL and escaping handled by the driver)
            copy.write_row((0, 0, None, None))
            copy.write_row((-1, 0, "tab\there\nnewline\\backslash", Decimal("-1.50")))
            # the bulk as pre-formatted text chunks
            chunk = 50_000
            for start in range(1, N_COPY - 1, chunk):
                end = min(start + chunk, N_COPY - 1)
                buf = io.StringIO()
                for i in range(start, end):
                    buf.write(f"{i}\t{i % 100}\tlabel-{i}\t{i % 1000}.25\n")
                copy.write(buf.getvalue())
        assert cur.rowcount == N_COPY
    n = N_COPY - 2  # ids 1 .. N_COPY-2
    count, sum_id, max_id, n_null, sum_amount = conn.execute(
        f"SELECT count(*), sum(id), max(id), count(*) - count(label), sum(amount) FROM {t}").fetchone()
    assert count == N_COPY
    assert sum_id == n * (n + 1) // 2 - 1
    assert max_id == n
    assert n_null == 1
    expected_amount = sum(Decimal(i % 1000) + Decimal("0.25") for i in range(1, n + 1)) - Decimal("1.50")
    assert sum_amount == expected_amount
    assert conn.execute(f"SELECT label, amount FROM {t} WHERE id = -1").fetchone() == (
        "tab\there\nnewline\\backslash", Decimal("-1.50"))
    assert conn.execute(f"SELECT count(*) FROM {t} WHERE grp = 7").fetchone() == (10000,)

    # COPY TO STDOUT: query form, parsed rows
    with conn.cursor() as cur:
        with cur.copy(f"COPY (SELECT id, label, amount FROM {t} WHERE id BETWEEN -1 AND 3 ORDER BY id) TO STDOUT") as copy:
            rows = list(copy.rows())
    assert rows == [("-1", "tab\there\nnewline\\backslash", "-1.50"), ("0", None, None),
                    ("1", "label-1", "1.25"), ("2", "label-2", "2.25"), ("3", "label-3", "3.25")]
    # COPY table TO STDOUT: raw text data, all rows
    total_lines = 0
    with conn.cursor() as cur:
        with cur.copy(f"COPY {t} (id) TO STDOUT") as copy:
            for data in copy:
                total_lines += bytes(data).count(b"\n")
    assert total_lines == N_COPY


def test_psycopg_copy_errors_leave_table_unchanged(connect, table_name):
    t = table_name("drv_copyerr")
    conn = connect()
    conn.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
    with pytest.raises(psycopg.Error) as ei:
        with conn.cursor() as cur:
            with cur.copy(f"COPY {t} (id, v) FROM STDIN") as copy:
                copy.write("1\t1\n2\t2\n3\tnot_a_number\n")
    assert ei.value.sqlstate == "22P02"
    assert conn.execute(f"SELECT count(*) FROM {t}").fetchone() == (0,)
    with pytest.raises(psycopg.Error) as ei:
        with conn.cursor() as cur:
            with cur.copy(f"COPY {t} (id, v) FROM STDIN") as copy:
                copy.write("1\t1\n1\t2\n")
    assert ei.value.sqlstate == "23505"
    assert conn.execute(f"SELECT count(*) FROM {t}").fetchone() == (0,)


def test_psycopg_server_errors_carry_sqlstate(connect, table_name):
    t = table_name("drv_err")
    conn = connect()
    conn.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, v INTEGER NOT NULL CHECK (v >= 0))")
    conn.execute(f"INSERT INTO {t} VALUES (1, 1)")
    cases = [
        (f"INSERT INTO {t} VALUES (1, 1)", pg_errors.UniqueViolation, "23505"),
        (f"INSERT INTO {t} VALUES (2, NULL)", pg_errors.NotNullViolation, "23502"),
        (f"INSERT INTO {t} VALUES (2, -1)", pg_errors.CheckViolation, "23514"),
        ("SELECT * FROM drv_no_such_table_xyz", pg_errors.UndefinedTable, "42P01"),
        (f"SELECT no_such_column FROM {t}", pg_errors.UndefinedColumn, "42703"),
        ("SELEC 1", pg_errors.SyntaxError, "42601"),
        ("SELECT 1 / 0", pg_errors.DivisionByZero, "22012"),
        ("SELECT 40000::smallint", pg_errors.NumericValueOutOfRange, "22003"),
    ]
    for sql, exc, state in cases:
        with pytest.raises(exc) as ei:
            conn.execute(sql)
        assert ei.value.sqlstate == state, sql
        assert ei.value.diag.sqlstate == state
        assert ei.value.diag.message_primary
        assert ei.value.diag.severity in ("ERROR", "FATAL")
    # parameters: a bad value for an int parameter
    with pytest.raises(pg_errors.InvalidTextRepresentation) as ei:
        conn.execute(f"SELECT * FROM {t} WHERE id = %s::int", ("abc",))
    assert ei.value.sqlstate == "22P02"
    # the connection still works
    assert conn.execute("SELECT 1").fetchone() == (1,)
    # in a transaction: 25P02 after an error until rollback
    tx = connect(autocommit=False)
    with pytest.raises(pg_errors.UniqueViolation):
        tx.execute(f"INSERT INTO {t} VALUES (1, 1)")
    with pytest.raises(pg_errors.InFailedSqlTransaction) as ei:
        tx.execute("SELECT 1")
    assert ei.value.sqlstate == "25P02"
    tx.rollback()
    assert tx.execute("SELECT 2").fetchone() == (2,)
    tx.rollback()


def test_psycopg_large_result_streaming(connect):
    conn = connect()
    with conn.cursor() as cur:
        cur.execute("SELECT g, 'row-' || g FROM generate_series(1, 200000) AS g")
        n = 0
        for row in cur:
            n += 1
        assert n == 200000
    # server-side cursor (DECLARE/FETCH) is not required: stream via cursor.stream()
    total = 0
    with conn.cursor() as cur:
        for (g,) in cur.stream("SELECT g FROM generate_series(1, 50000) AS g"):
            total += g
    assert total == 50000 * 50001 // 2


# ============================================================== asyncpg
asyncpg = pytest.importorskip("asyncpg")


def _run(coro, timeout=120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def _aconnect():
    kw = conninfo_kwargs()
    return await asyncpg.connect(host=kw["host"], port=kw["port"], database=kw["dbname"],
                                 user=kw["user"], timeout=10, command_timeout=120)


ASYNCPG_TYPES = [
    ("BOOLEAN", True), ("SMALLINT", -32768), ("INTEGER", 2147483647), ("BIGINT", -9223372036854775808),
    ("REAL", 1.5), ("DOUBLE PRECISION", 2.25), ("NUMERIC(12,3)", Decimal("123456789.125")),
    ("NUMERIC", Decimal("-12345678901234567890.0123456789")), ("CHAR(5)", "abcde"),
    ("VARCHAR(10)", "hello"), ("TEXT", "unicode \u2603 text"), ("BYTEA", b"\x00\xff\x10"),
    ("DATE", dt.date(2024, 2, 29)), ("TIME", dt.time(13, 45, 30, 250000)),
    ("TIMESTAMP", dt.datetime(2024, 2, 29, 13, 45, 30)),
    ("TIMESTAMPTZ", dt.datetime(2024, 2, 29, 11, 45, 30, tzinfo=UTC)),
    ("INTERVAL", dt.timedelta(days=3, seconds=7)),
]


def test_asyncpg_fetch_with_params(pg_server):
    async def main():
        conn = await _aconnect()
        try:
            assert await conn.fetchval("SELECT $1::int + $2::int", 40, 2) == 42
            rows = await conn.fetch("SELECT g, g * $1::bigint AS x FROM generate_series(1, $2::int) AS g ORDER BY g", 10, 3)
            assert [(r["g"], r["x"]) for r in rows] == [(1, 10), (2, 20), (3, 30)]
            row = await conn.fetchrow("SELECT $1::text AS a, $2::text IS NULL AS b", "x", None)
            assert row["a"] == "x" and row["b"] is True
            # parameter types inferred by the server (no casts)
            t = unique_name("drv_apg_inf")
            await conn.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, name TEXT, d DATE)")
            try:
                await conn.execute(f"INSERT INTO {t} VALUES ($1, $2, $3)", 1, "one", dt.date(2020, 1, 1))
                assert await conn.fetchval(f"SELECT name FROM {t} WHERE id = $1 AND d = $2", 1, dt.date(2020, 1, 1)) == "one"
                # prepared statement reuse
                st = await conn.prepare(f"SELECT name FROM {t} WHERE id = $1")
                assert await st.fetchval(1) == "one"
                assert await st.fetchval(2) is None
            finally:
                await conn.execute(f"DROP TABLE IF EXISTS {t}")
        finally:
            await conn.close()

    _run(main())


@pytest.mark.parametrize("sql_type,value", ASYNCPG_TYPES, ids=[t for t, _ in ASYNCPG_TYPES])
def test_asyncpg_types_roundtrip(pg_server, sql_type, value):
    async def main():
        conn = await _aconnect()
        t = unique_name("drv_apg_rt")
        try:
            await conn.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, v {sql_type})")
            await conn.execute(f"INSERT INTO {t} VALUES ($1, $2)", 1, value)
            await conn.execute(f"INSERT INTO {t} VALUES ($1, $2)", 2, None)
            rows = await conn.fetch(f"SELECT id, v FROM {t} ORDER BY id")
            assert rows[0]["v"] == value
            assert type(rows[0]["v"]) is type(value)
            assert rows[1]["v"] is None
            assert await conn.fetchval(f"SELECT $1::{sql_type}", value) == value
        finally:
            await conn.execute(f"DROP TABLE IF EXISTS {t}")
            await conn.close()

    _run(main())


def test_asyncpg_executemany_and_copy_records(pg_server):
    async def main():
        conn = await _aconnect()
        t = unique_name("drv_apg_many")
        try:
            await conn.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, name TEXT, amount NUMERIC(10,2), ts TIMESTAMP)")
            await conn.executemany(f"INSERT INTO {t} (id, name, amount, ts) VALUES ($1, $2, $3, $4)",
                                   [(i, f"n{i}", Decimal(i) / 2, dt.datetime(2024, 1, 1) + dt.timedelta(minutes=i))
                                    for i in range(1, 501)])
            assert await conn.fetchval(f"SELECT count(*) FROM {t}") == 500
            records = [(i, None if i % 10 == 0 else f"c{i}", Decimal("0.01") * i, dt.datetime(2024, 6, 1, 12, 0, i % 60))
                       for i in range(1001, 21001)]
            res = await conn.copy_records_to_table(t, records=records, columns=["id", "name", "amount", "ts"])
            assert res == "COPY 20000"
            row = await conn.fetchrow(f"SELECT count(*) AS n, count(name) AS nn, sum(id) AS s, sum(amount) AS a FROM {t}")
            assert row["n"] == 20500
            assert row["nn"] == 20500 - 2000
            assert row["s"] == sum(range(1, 501)) + sum(range(1001, 21001))
            assert row["a"] == sum(Decimal(i) / 2 for i in range(1, 501)) + sum(Decimal("0.01") * i for i in range(1001, 21001))
            assert await conn.fetchval(f"SELECT ts FROM {t} WHERE id = 1059") == dt.datetime(2024, 6, 1, 12, 0, 39)
        finally:
            await conn.execute(f"DROP TABLE IF EXISTS {t}")
            await conn.close()

    _run(main())


def test_asyncpg_errors_sqlstate(pg_server):
    async def main():
        conn = await _aconnect()
        t = unique_name("drv_apg_err")
        try:
            await conn.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
            await conn.execute(f"INSERT INTO {t} VALUES (1, 1)")
            with pytest.raises(asyncpg.UniqueViolationError) as ei:
                await conn.execute(f"INSERT INTO {t} VALUES ($1, $2)", 1, 1)
            assert ei.value.sqlstate == "23505"
            with pytest.raises(asyncpg.NotNullViolationError) as ei:
                await conn.execute(f"INSERT INTO {t} VALUES ($1, $2)", 2, None)
            assert ei.value.sqlstate == "23502"
            with pytest.raises(asyncpg.UndefinedTableError) as ei:
                await conn.fetch("SELECT * FROM drv_apg_missing_table")
            assert ei.value.sqlstate == "42P01"
            with pytest.raises(asyncpg.PostgresSyntaxError) as ei:
                await conn.fetch("SELEC 1")
            assert ei.value.sqlstate == "42601"
            with pytest.raises(asyncpg.DivisionByZeroError):
                await conn.fetchval("SELECT 1 / $1::int", 0)
            # transaction block
            with pytest.raises(asyncpg.UniqueViolationError):
                async with conn.transaction():
                    await conn.execute(f"INSERT INTO {t} VALUES (2, 2)")
                    await conn.execute(f"INSERT INTO {t} VALUES (1, 1)")
            assert await conn.fetchval(f"SELECT count(*) FROM {t}") == 1
            assert await conn.fetchval("SELECT 1") == 1
        finally:
            await conn.execute(f"DROP TABLE IF EXISTS {t}")
            await conn.close()

    _run(main())


# ============================================================== SQLAlchemy 2
sqlalchemy = pytest.importorskip("sqlalchemy")
from sqlalchemy import (  # noqa: E402
    Column, Integer, MetaData, Numeric, String, Table, Text, create_engine, delete, func, insert,
    select, text, update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column  # noqa: E402


@pytest.fixture
def sa_engine(pg_server):
    engine = create_engine(sqlalchemy_url("psycopg"), pool_pre_ping=False,
                           connect_args={"connect_timeout": 10})
    yield engine
    engine.dispose()


def test_sqlalchemy_core(sa_engine):
    md = MetaData()
    name = unique_name("drv_sa_core")
    tbl = Table(
        name, md,
        Column("id", Integer, primary_key=True),
        Column("email", String(100), unique=True, nullable=False),
        Column("score", Integer, nullable=False, server_default=text("10")),
        Column("ratio", Numeric(6, 2), default=1.5),
    )
    md.create_all(sa_engine)
    try:
        md.create_all(sa_engine)  # checkfirst: no-op the second time
        with sa_engine.begin() as conn:
            r = conn.execute(insert(tbl).values(email="a@x"))
            assert r.inserted_primary_key[0] == 1
            conn.execute(insert(tbl), [{"email": "b@x", "score": 20}, {"email": "c@x", "score": 30}])
        with sa_engine.connect() as conn:
            rows = conn.execute(select(tbl.c.email, tbl.c.score, tbl.c.ratio).where(tbl.c.score >= 10)
                                .order_by(tbl.c.id)).all()
            assert [tuple(r) for r in rows] == [("a@x", 10, 1.5), ("b@x", 20, 1.5), ("c@x", 30, 1.5)]
            assert conn.execute(select(func.count()).select_from(tbl).where(tbl.c.email.like("%b%"))).scalar() == 1
        with sa_engine.begin() as conn:
            r = conn.execute(update(tbl).where(tbl.c.email == "b@x").values(score=tbl.c.score + 5))
            assert r.rowcount == 1
            r = conn.execute(delete(tbl).where(tbl.c.score > 25))
            assert r.rowcount == 1
        with sa_engine.connect() as conn:
            got = conn.execute(text(f"SELECT email, score FROM {name} WHERE score > :s ORDER BY email"), {"s": 0}).all()
            assert [tuple(r) for r in got] == [("a@x", 10), ("b@x", 25)]
            with pytest.raises(sqlalchemy.exc.IntegrityError) as ei:
                conn.execute(insert(tbl).values(email="a@x"))
            assert ei.value.orig.sqlstate == "23505"
            conn.rollback()
        # rollback via context manager on error
        with pytest.raises(RuntimeError):
            with sa_engine.begin() as conn:
                conn.execute(insert(tbl).values(email="z@x"))
                raise RuntimeError("boom")
        with sa_engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(tbl)).scalar() == 2
    finally:
        md.drop_all(sa_engine)


def test_sqlalchemy_orm(sa_engine):
    tname = unique_name("drv_sa_orm")

    class Base(DeclarativeBase):
        pass

    class Widget(Base):
        __tablename__ = tname
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(50), unique=True)
        qty: Mapped[int] = mapped_column(default=0)
        note: Mapped[str | None] = mapped_column(Text)

    Base.metadata.create_all(sa_engine)
    try:
        with Session(sa_engine) as s:
            s.add(Widget(name="bolt", qty=5))
            s.add_all([Widget(name="nut", qty=7, note="hex"), Widget(name="gear")])
            s.commit()
        with Session(sa_engine) as s:
            ws = s.scalars(select(Widget).order_by(Widget.name)).all()
            assert [(w.name, w.qty, w.note) for w in ws] == [("bolt", 5, None), ("gear", 0, None), ("nut", 7, "hex")]
            assert all(isinstance(w.id, int) for w in ws)
            w = s.scalars(select(Widget).where(Widget.name == "gear")).one()
            w.qty = 42
            s.commit()
            assert s.get(Widget, w.id).qty == 42
            assert s.query(Widget).filter(Widget.qty > 6).count() == 2
            s.delete(s.scalars(select(Widget).where(Widget.name == "bolt")).one())
            s.commit()
            assert s.scalar(select(func.sum(Widget.qty))) == 49
        with Session(sa_engine) as s:
            s.add(Widget(name="nut"))
            with pytest.raises(sqlalchemy.exc.IntegrityError):
                s.commit()
            s.rollback()
            assert s.scalar(select(func.count()).select_from(Widget)) == 2
    finally:
        Base.metadata.drop_all(sa_engine)


# ============================================================== pandas
pd = pytest.importorskip("pandas")


def test_pandas_read_sql_with_engine_and_psycopg(sa_engine, connect, table_name):
    t = table_name("drv_pd")
    conn = connect()
    conn.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, name TEXT, price NUMERIC(8,2), d DATE, f DOUBLE PRECISION)")
    conn.execute(f"INSERT INTO {t} VALUES (1, 'a', 1.50, '2024-01-01', 0.5), (2, 'b', NULL, '2024-01-02', NULL), (3, NULL, 3.25, NULL, 2.5)")
    df = pd.read_sql(text(f"SELECT id, name, price, d, f FROM {t} ORDER BY id"), sa_engine)
    assert list(df.columns) == ["id", "name", "price", "d", "f"]
    assert df["id"].tolist() == [1, 2, 3]
    assert df["name"].tolist()[:2] == ["a", "b"] and pd.isna(df["name"].tolist()[2])
    assert df["f"].tolist()[0] == 0.5 and pd.isna(df["f"].tolist()[1])
    df2 = pd.read_sql(text(f"SELECT id, name FROM {t} WHERE id > :m ORDER BY id"), sa_engine, params={"m": 1})
    assert df2["id"].tolist() == [2, 3]
    # plain DBAPI (psycopg) connection: pandas warns that only SQLAlchemy/sqlite3 are tested
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        df3 = pd.read_sql(f"SELECT id, f FROM {t} ORDER BY id", conn)
    assert df3["id"].tolist() == [1, 2, 3]
    assert df3["f"].tolist()[2] == 2.5


def test_pandas_to_sql_create_and_append(sa_engine, table_name):
    t = table_name("drv_pd_new")
    df = pd.DataFrame({"id": [1, 2, 3], "name": ["x", "y", None], "val": [1.5, None, -2.25],
                       "day": pd.to_datetime(["2024-01-01", "2024-02-29", "2024-03-01"])})
    df.iloc[:2].to_sql(t, sa_engine, if_exists="fail", index=False)
    df.iloc[2:].to_sql(t, sa_engine, if_exists="append", index=False)
    df_back = pd.read_sql(text(f"SELECT * FROM {t} ORDER BY id"), sa_engine)
    assert df_back["id"].tolist() == [1, 2, 3]
    assert df_back["name"].tolist()[:2] == ["x", "y"]
    assert df_back["val"].tolist()[0] == 1.5 and pd.isna(df_back["val"].tolist()[1])
    assert pd.Timestamp(df_back["day"].tolist()[1]) == pd.Timestamp("2024-02-29")


# if_exists="replace" makes SQLAlchemy reflect the whole table definition from pg_catalog.
def test_pandas_to_sql_replace(sa_engine, table_name):
    t = table_name("drv_pd_to")
    df = pd.DataFrame({"id": [1, 2, 3], "name": ["x", "y", None], "val": [1.5, None, -2.25],
                       "day": pd.to_datetime(["2024-01-01", "2024-02-29", "2024-03-01"])})
    # return value is the driver's rowcount (may be -1 for batched inserts): not checked
    df.to_sql(t, sa_engine, if_exists="replace", index=False)
    df_back = pd.read_sql(text(f"SELECT * FROM {t} ORDER BY id"), sa_engine)
    assert df_back["id"].tolist() == [1, 2, 3]
    assert df_back["name"].tolist()[:2] == ["x", "y"]
    assert df_back["val"].tolist()[0] == 1.5 and pd.isna(df_back["val"].tolist()[1])
    assert pd.Timestamp(df_back["day"].tolist()[1]) == pd.Timestamp("2024-02-29")
    # replace drops and recreates
    df.iloc[:1].to_sql(t, sa_engine, if_exists="replace", index=False)
    assert pd.read_sql(text(f"SELECT count(*) AS n FROM {t}"), sa_engine)["n"].tolist() == [1]
    df.iloc[1:].to_sql(t, sa_engine, if_exists="append", index=False)
    assert pd.read_sql(text(f"SELECT count(*) AS n FROM {t}"), sa_engine)["n"].tolist() == [3]


def test_copy_csv_split_into_one_byte_messages(connect, table_name):
    """Quoted CSV fields with newlines survive any chunking of the COPY data stream."""
    t = table_name("drv_copy_bytes")
    conn = connect(autocommit=True)
    conn.execute(f"CREATE TABLE {t} (id INTEGER, t TEXT)")
    data = b'1,"a\nb"\n2,"x,y"\n3,plain\n4,"say ""hi"""\n'
    with conn.cursor() as cur:
        with cur.copy(f"COPY {t} FROM STDIN (FORMAT csv)") as cp:
            for i in range(len(data)):
                cp.write(data[i:i + 1])
    assert conn.execute(f"SELECT id, t FROM {t} ORDER BY id").fetchall() == [
        (1, "a\nb"), (2, "x,y"), (3, "plain"), (4, 'say "hi"')]


def test_temporary_tables_are_private_shadow_and_end_with_the_session(connect, table_name):
    """CREATE TEMP TABLE as in PostgreSQL: visible only to its session, found before a
    permanent table of the same name, and dropped when the session ends."""
    t = table_name("tmp")
    owner = connect()
    owner.autocommit = True
    owner.execute(f"CREATE TABLE {t} (x int)")
    owner.execute(f"INSERT INTO {t} VALUES (1)")
    session = connect()
    session.autocommit = True
    session.execute(f"CREATE TEMP TABLE {t} (id int PRIMARY KEY, note text)")
    session.execute(f"INSERT INTO {t} VALUES (5, 'temp')")
    assert session.execute(f"SELECT * FROM {t}").fetchall() == [(5, "temp")]
    assert session.execute(f"SELECT x FROM public.{t}").fetchall() == [(1,)]
    # A common table expression of the same name still wins inside its query.
    assert session.execute(f"WITH {t} AS (SELECT 42 AS q) SELECT q FROM {t}").fetchall() == [(42,)]
    # Other sessions see only the permanent table.
    assert owner.execute(f"SELECT * FROM {t}").fetchall() == [(1,)]
    with pytest.raises(pg_errors.InvalidTableDefinition):
        session.execute(f"CREATE TEMP TABLE public.{t}_x (a int)")
    # Another session cannot read it through its schema.
    temp_schema = session.execute(
        "SELECT table_schema FROM information_schema.tables"
        " WHERE table_schema LIKE 'pg_temp%%' AND table_name = %s", (t,)
    ).fetchone()[0]
    with pytest.raises(pg_errors.FeatureNotSupported):
        owner.execute(f"SELECT * FROM {temp_schema}.{t}")
    session.close()
    # The temporary table goes with the session (dropped in the background).
    deadline = time.time() + 10
    while time.time() < deadline:
        left = owner.execute(
            "SELECT count(*) FROM information_schema.tables"
            " WHERE table_schema LIKE 'pg_temp%%' AND table_name = %s", (t,)
        ).fetchone()[0]
        if left == 0:
            break
        time.sleep(0.1)
    assert left == 0
    assert owner.execute(f"SELECT * FROM {t}").fetchall() == [(1,)]


def test_temporary_views_end_with_the_session(connect, table_name):
    """CREATE TEMP VIEW, and a view of a temporary table (which PostgreSQL makes temporary
    with a NOTICE), live in the session's temporary schema and end with it."""
    v = table_name("tv")
    session = connect()
    session.autocommit = True
    notices = []
    session.add_notice_handler(lambda d: notices.append(d.message_primary))
    session.execute(f"CREATE TEMP TABLE {v}_t (a int)")
    session.execute(f"INSERT INTO {v}_t VALUES (1), (2)")
    session.execute(f"CREATE VIEW {v} AS SELECT a * 10 AS b FROM {v}_t")
    assert notices == [f'view "{v}" will be a temporary view'], notices
    session.execute(f"CREATE TEMP VIEW {v}_c AS SELECT count(*) AS n FROM {v}")
    assert session.execute(f"SELECT n FROM {v}_c").fetchall() == [(2,)]
    other = connect()
    other.autocommit = True
    with pytest.raises(pg_errors.UndefinedTable):
        other.execute(f"SELECT * FROM {v}")
    with pytest.raises(pg_errors.InvalidTableDefinition):
        session.execute(f"CREATE TEMP VIEW public.{v}_x AS SELECT 1")
    listed = session.execute(
        "SELECT table_name FROM information_schema.views WHERE table_name LIKE %s"
        " ORDER BY 1", (f"{v}%",)).fetchall()
    assert listed == [(v,), (f"{v}_c",)], listed
    session.close()
    deadline = time.time() + 10
    while time.time() < deadline:
        left = other.execute(
            "SELECT count(*) FROM information_schema.views WHERE table_name LIKE %s",
            (f"{v}%",)).fetchone()[0]
        if left == 0:
            break
        time.sleep(0.1)
    assert left == 0
