"""Bad input must produce the right SQLSTATE and never take the server down.

Target: BASALT_PG_HOST / BASALT_PG_PORT / BASALT_PG_DB (see tests/conftest.py).
Raw-socket tests speak the PostgreSQL v3 protocol directly (trust auth).
"""
from __future__ import annotations

import os
import random
import socket
import struct
import time

import psycopg
import pytest
from psycopg import errors as pg_errors
from psycopg import pq

from conftest import PG_DB, PG_HOST, PG_PORT, PG_USER, conninfo_kwargs

SOCK_TIMEOUT_S = 10.0


# ---------------------------------------------------------------- helpers
def assert_server_alive(timeout_s: float = 15.0):
    """A brand-new connection can run SELECT 1 (retries briefly)."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(**conninfo_kwargs(connect_timeout=5), autocommit=True) as c:
                assert c.execute("SELECT 1").fetchone() == (1,)
                return
        except psycopg.OperationalError as e:
            last = e
            time.sleep(0.2)
    pytest.fail(f"server no longer accepts connections: {last}")


def startup_packet(user=PG_USER, database=PG_DB) -> bytes:
    body = struct.pack("!I", 196608)  # protocol 3.0
    for k, v in (("user", user), ("database", database), ("client_encoding", "UTF8")):
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def query_msg(sql: bytes) -> bytes:
    return b"Q" + struct.pack("!I", len(sql) + 5) + sql + b"\0"


class RawConn:
    def __init__(self):
        self.sock = socket.create_connection((PG_HOST, PG_PORT), timeout=SOCK_TIMEOUT_S)
        self.buf = b""

    def _fill(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk

    def read_msg(self):
        self._fill(5)
        typ = self.buf[0:1]
        (length,) = struct.unpack("!I", self.buf[1:5])
        self._fill(1 + length)
        body = self.buf[5:1 + length]
        self.buf = self.buf[1 + length:]
        return typ, body

    def handshake(self):
        self.sock.sendall(startup_packet())
        while True:
            typ, body = self.read_msg()
            if typ == b"R":
                (code,) = struct.unpack("!I", body[:4])
                assert code == 0, f"server asked for authentication method {code}; tests expect trust"
            elif typ == b"E":
                raise AssertionError(f"startup failed: {parse_error(body)}")
            elif typ == b"Z":
                return

    def send(self, data: bytes):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def parse_error(body: bytes) -> dict:
    fields = {}
    for part in body.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode("utf-8", "replace")
    return fields


def drain_until_closed_or_quiet(sock: socket.socket, max_s: float = 5.0) -> bytes:
    """Read what the server sends back until it closes or goes quiet (bounded)."""
    got = b""
    deadline = time.monotonic() + max_s
    sock.settimeout(0.5)
    while time.monotonic() < deadline and len(got) < 1 << 20:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except OSError:
            break
        if not chunk:
            break
        got += chunk
    return got


@pytest.fixture
def conn(connect):
    return connect()


# ---------------------------------------------------------------- SQL errors
ON_BASALT = os.environ.get("BASALT_TARGET") == "basalt"


@pytest.mark.parametrize("sql,pos_token", [
    ("SELECT * FROM WHERE x = 1", "WHERE"),
    ("SELEC 1", "SELEC"),
    ("SELECT 1 +", None),
    ("CREATE TABLE (id INT)", "("),
    ("INSERT INTO x VALUES (1,", None),
    ("SELECT (1 + 2", None),
])
def test_syntax_error_has_position(conn, sql, pos_token):
    with pytest.raises(pg_errors.SyntaxError) as ei:
        conn.execute(sql)
    e = ei.value
    assert e.sqlstate == "42601"
    pos = e.diag.statement_position
    assert pos is not None, "syntax error without a position"
    pos = int(pos)
    assert 1 <= pos <= len(sql) + 1
    if pos_token is not None:
        # position is 1-based, in characters, pointing at the offending token
        assert sql[pos - 1:].startswith(pos_token), (sql, pos)
    assert conn.execute("SELECT 1").fetchone() == (1,)


def test_wrong_parameter_count(conn):
    pg = conn.pgconn
    # more placeholders than values
    res = pg.exec_params(b"SELECT $1::int + $2::int", [b"1"])
    assert res.status == pq.ExecStatus.FATAL_ERROR
    state = (res.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()
    assert state, "error without SQLSTATE"
    # more values than placeholders
    res = pg.exec_params(b"SELECT $1::int", [b"1", b"2"])
    assert res.status == pq.ExecStatus.FATAL_ERROR
    # the same connection (if the server kept it) and the server still work
    if pg.status == pq.ConnStatus.OK:
        res = pg.exec_(b"SELECT 1")
        assert res.status == pq.ExecStatus.TUPLES_OK and res.get_value(0, 0) == b"1"
    assert_server_alive()


def test_wrong_parameter_type_text_for_int(conn, table_name):
    t = table_name("bad_ptype")
    conn.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, n SMALLINT)")
    # server infers $1 as integer from the column; the text value is not an integer
    with pytest.raises(pg_errors.InvalidTextRepresentation) as ei:
        conn.execute(f"SELECT * FROM {t} WHERE id = %s", ("abc",))
    assert ei.value.sqlstate == "22P02"
    with pytest.raises(pg_errors.InvalidTextRepresentation) as ei:
        conn.execute(f"INSERT INTO {t} (id) VALUES (%s)", ("12x",))
    assert ei.value.sqlstate == "22P02"
    with pytest.raises(pg_errors.InvalidTextRepresentation):
        conn.execute("SELECT %s::int", ("not a number",))
    # low level: explicit int4 parameter type with a non-integer text value
    res = conn.pgconn.exec_params(b"SELECT $1", [b"xyz"], [23])
    assert res.error_field(pq.DiagnosticField.SQLSTATE) == b"22P02"
    assert conn.execute("SELECT 1").fetchone() == (1,)


def test_unknown_table_and_column(conn, table_name):
    with pytest.raises(pg_errors.UndefinedTable) as ei:
        conn.execute("SELECT * FROM bad_no_such_table_q")
    assert ei.value.sqlstate == "42P01"
    with pytest.raises(pg_errors.UndefinedTable):
        conn.execute("INSERT INTO bad_no_such_table_q VALUES (1)")
    t = table_name("bad_cols")
    conn.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY)")
    with pytest.raises(pg_errors.UndefinedColumn) as ei:
        conn.execute(f"SELECT nope FROM {t}")
    assert ei.value.sqlstate == "42703"
    with pytest.raises(pg_errors.UndefinedColumn):
        conn.execute(f"INSERT INTO {t} (id, nope) VALUES (1, 2)")
    with pytest.raises(pg_errors.UndefinedColumn):
        conn.execute(f"UPDATE {t} SET nope = 1")
    with pytest.raises(pg_errors.UndefinedColumn):
        conn.execute(f"SELECT id FROM {t} WHERE nope = 1")


def test_constraint_violations(conn, table_name):
    t = table_name("bad_cons")
    conn.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, email TEXT UNIQUE, n INTEGER NOT NULL, p INTEGER CHECK (p > 0))")
    conn.execute(f"INSERT INTO {t} VALUES (1, 'a', 1, 1)")
    for sql, exc, state in [
        (f"INSERT INTO {t} VALUES (1, 'b', 1, 1)", pg_errors.UniqueViolation, "23505"),
        (f"INSERT INTO {t} VALUES (2, 'a', 1, 1)", pg_errors.UniqueViolation, "23505"),
        (f"INSERT INTO {t} VALUES (2, 'b', NULL, 1)", pg_errors.NotNullViolation, "23502"),
        (f"INSERT INTO {t} VALUES (2, 'b', 1, 0)", pg_errors.CheckViolation, "23514"),
        (f"UPDATE {t} SET p = -1", pg_errors.CheckViolation, "23514"),
    ]:
        with pytest.raises(exc) as ei:
            conn.execute(sql)
        assert ei.value.sqlstate == state, sql
    # parameterised versions
    with pytest.raises(pg_errors.UniqueViolation):
        conn.execute(f"INSERT INTO {t} VALUES (%s, %s, %s, %s)", (1, "z", 1, 1))
    with pytest.raises(pg_errors.NotNullViolation):
        conn.execute(f"INSERT INTO {t} VALUES (%s, %s, %s, %s)", (3, "z", None, 1))
    assert conn.execute(f"SELECT count(*) FROM {t}").fetchone() == (1,)


def test_out_of_range(conn, table_name):
    t = table_name("bad_range")
    conn.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, s SMALLINT, i INTEGER)")
    for sql, params in [
        (f"INSERT INTO {t} (id, s) VALUES (1, 40000)", None),
        (f"INSERT INTO {t} (id, s) VALUES (1, %s)", (40000,)),
        (f"INSERT INTO {t} (id, i) VALUES (1, 2147483648)", None),
        ("SELECT 2147483647::integer + 1::integer", None),
        # Integer literals are bigint in Basalt, so this one does not overflow there
        # (docs/compatibility.md).
        *([] if ON_BASALT else [("SELECT 2147483647 + 1", None)]),
        ("SELECT (-9223372036854775807 - 1)::bigint * -1", None),
        ("SELECT 123456.789::numeric(5,2)", None),
    ]:
        with pytest.raises(pg_errors.NumericValueOutOfRange) as ei:
            conn.execute(sql, params)
        assert ei.value.sqlstate == "22003", sql
    assert conn.execute(f"SELECT count(*) FROM {t}").fetchone() == (0,)


def test_error_inside_transaction_then_recovery(connect, table_name):
    t = table_name("bad_tx")
    connect().execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY)")
    c = connect(autocommit=False)
    c.execute(f"INSERT INTO {t} VALUES (1)")
    with pytest.raises(pg_errors.SyntaxError):
        c.execute("SELEKT")
    with pytest.raises(pg_errors.InFailedSqlTransaction) as ei:
        c.execute("SELECT 1")
    assert ei.value.sqlstate == "25P02"
    c.rollback()
    assert c.execute(f"SELECT count(*) FROM {t}").fetchone() == (0,)
    c.rollback()


# ---------------------------------------------------------------- protocol abuse
GARBAGE_CASES = {
    "random_bytes": lambda rnd: bytes(rnd.getrandbits(8) for _ in range(4096)),
    "huge_startup_length": lambda rnd: struct.pack("!I", 0x7FFFFFF0) + b"\x00\x03\x00\x00" + b"user\0x\0\0",
    "tiny_startup_length": lambda rnd: struct.pack("!I", 2) + b"\x00\x00",
    "bad_protocol_version": lambda rnd: struct.pack("!II", 16, 0x00090009) + b"user\0x\0\0",
    "http_request": lambda rnd: b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "ssl_request_then_garbage": lambda rnd: struct.pack("!II", 8, 80877103) + bytes(rnd.getrandbits(8) for _ in range(512)),
    "zeros": lambda rnd: b"\0" * 8192,
}


@pytest.mark.parametrize("case", sorted(GARBAGE_CASES))
def test_garbage_bytes_on_raw_port(pg_server, case):
    rnd = random.Random(f"basalt-{case}")
    payload = GARBAGE_CASES[case](rnd)
    s = socket.create_connection((PG_HOST, PG_PORT), timeout=SOCK_TIMEOUT_S)
    try:
        try:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may already have closed the socket: fine
        drain_until_closed_or_quiet(s)
    finally:
        s.close()
    assert_server_alive()


def test_garbage_after_valid_startup(pg_server):
    rnd = random.Random(1234)
    rc = RawConn()
    try:
        rc.handshake()
        # unknown message type, then a message with an absurd length
        try:
            rc.send(b"\xfe" + struct.pack("!I", 8) + b"abcd")
            rc.send(b"Q" + struct.pack("!I", 0x7FFFFFFF) + bytes(rnd.getrandbits(8) for _ in range(256)))
        except OSError:
            pass
        drain_until_closed_or_quiet(rc.sock)
    finally:
        rc.close()
    assert_server_alive()


def test_invalid_utf8_query_gets_error(pg_server):
    rc = RawConn()
    try:
        rc.handshake()
        rc.send(query_msg(b"SELECT '\xff\xfe\xc3'"))
        typ, body = rc.read_msg()
        while typ in (b"N", b"S"):  # notices / parameter status
            typ, body = rc.read_msg()
        assert typ == b"E", f"expected ErrorResponse, got {typ!r}"
        fields = parse_error(body)
        assert fields.get("C"), fields
        # the connection is still usable after ReadyForQuery
        while typ != b"Z":
            typ, body = rc.read_msg()
        rc.send(query_msg(b"SELECT 42"))
        rows = []
        while True:
            typ, body = rc.read_msg()
            if typ == b"D":
                (ncol,) = struct.unpack("!H", body[:2])
                (ln,) = struct.unpack("!i", body[2:6])
                rows.append(body[6:6 + ln])
            elif typ == b"Z":
                break
            elif typ == b"E":
                pytest.fail(f"SELECT 42 failed: {parse_error(body)}")
        assert rows == [b"42"]
    finally:
        rc.close()
    assert_server_alive()


def test_client_disconnects_mid_large_query_raw_socket(pg_server):
    rc = RawConn()
    try:
        rc.handshake()
        rc.send(query_msg(b"SELECT * FROM generate_series(1, 5000000)"))
        # read some rows, then vanish without Terminate
        got_rows = 0
        while got_rows < 1000:
            typ, _ = rc.read_msg()
            if typ == b"D":
                got_rows += 1
            elif typ == b"E":
                pytest.fail("large query failed")
    finally:
        # abortive close (RST) to make it as rude as possible
        rc.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        rc.close()
    t0 = time.monotonic()
    assert_server_alive()
    assert time.monotonic() - t0 < 15


def test_client_closes_mid_fetch_psycopg(connect):
    c = connect()
    cur = c.cursor()
    gen = cur.stream("SELECT g, repeat('x', 100) FROM generate_series(1, 5000000) AS g")
    n = 0
    for _ in gen:
        n += 1
        if n >= 5000:
            break
    c.close()  # close while the server is still streaming
    # others are served promptly while (or after) the server cleans up
    other = connect()
    t0 = time.monotonic()
    assert other.execute("SELECT count(*) FROM generate_series(1, 1000)").fetchone() == (1000,)
    assert time.monotonic() - t0 < 15
    assert_server_alive()


def test_many_connections_opened_and_dropped(pg_server):
    """20 sockets that connect and drop at various protocol stages."""
    for i in range(20):
        s = socket.create_connection((PG_HOST, PG_PORT), timeout=SOCK_TIMEOUT_S)
        try:
            if i % 3 == 1:
                s.sendall(startup_packet()[:7])  # truncated startup packet
            elif i % 3 == 2:
                s.sendall(startup_packet())
        finally:
            s.close()
    assert_server_alive()


def test_cancel_request_stops_a_running_query(connect):
    """A CancelRequest from another socket ends the running statement with 57014, and the
    connection goes on serving queries."""
    import threading

    c = connect(autocommit=True)
    timer = threading.Timer(0.5, c.cancel)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(pg_errors.QueryCanceled):
            c.execute("SELECT count(*) FROM generate_series(1, 2000000000) AS g WHERE g % 7 = 3").fetchall()
    finally:
        timer.cancel()
    assert time.monotonic() - started < 30
    assert c.execute("SELECT 1").fetchone() == (1,)


def test_absurd_parameter_numbers_are_refused(connect):
    """$n far beyond the protocol's 65535 parameters must not size anything by n."""
    c = connect(autocommit=True)
    res = c.pgconn.prepare(b"absurd", b"SELECT $1000000000000")
    assert res.status != pq.ExecStatus.COMMAND_OK
    assert c.execute("SELECT 1").fetchone() == (1,)


def test_malformed_binary_numeric_parameter(connect):
    """A binary NUMERIC with a negative display scale is refused, not expanded forever."""
    c = connect(autocommit=True)
    res = c.pgconn.exec_params(b"SELECT $1::numeric", [b"\x00\x00\x00\x00\x00\x00\xff\xff"],
                               [1700], [1])
    assert res.status == pq.ExecStatus.FATAL_ERROR
    assert c.execute("SELECT 1").fetchone() == (1,)


def test_unknown_function_hint_says_where_order_by_belongs(conn):
    """A call to a function that does not exist names the argument types; with an ORDER BY
    of several keys inside the call, PostgreSQL's hint says the ORDER BY may be misplaced."""
    with pytest.raises(pg_errors.UndefinedFunction) as ei:
        conn.execute("SELECT no_such_agg(a, 'x' ORDER BY a, b) FROM (VALUES (1, 2)) v(a, b)")
    assert ei.value.diag.message_primary == "function no_such_agg(integer, text) does not exist"
    assert ei.value.diag.message_hint.startswith("No aggregate function matches")
    with pytest.raises(pg_errors.UndefinedFunction) as ei:
        conn.execute("SELECT no_such_fn(a) FROM (VALUES (1)) v(a)")
    assert ei.value.diag.message_hint.startswith("No function matches")
