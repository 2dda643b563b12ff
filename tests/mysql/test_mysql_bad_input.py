"""Protocol abuse on the MySQL port: bad input ends THAT connection (or is answered with
an ERR packet) and the server keeps serving everyone else.

Raw sockets speak the MySQL client/server protocol directly: packet framing (3-byte
little-endian length, 1-byte sequence id) and a minimal HandshakeResponse41
(CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH, user root, empty
auth response, plugin mysql_native_password). After every test a brand-new connection
must still run `SELECT 1` (autouse fixture), and sessions of dropped connections must
leave SHOW PROCESSLIST.

Target: BASALT_MYSQL_HOST (default 127.0.0.1), BASALT_MYSQL_PORT (default 3307).
"""
from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import time
import uuid

import pytest

HOST = os.environ.get("BASALT_MYSQL_HOST", "127.0.0.1")
PORT = int(os.environ.get("BASALT_MYSQL_PORT", "3307"))
MARIADB = os.environ.get("MARIADB_CLIENT") or shutil.which("mariadb") or "/usr/bin/mariadb"
SOCK_TIMEOUT_S = 20.0

# capability flags
CLIENT_LONG_PASSWORD = 1
CLIENT_CONNECT_WITH_DB = 8
CLIENT_PROTOCOL_41 = 512
CLIENT_SECURE_CONNECTION = 32768
CLIENT_PLUGIN_AUTH = 1 << 19
CLIENT_PLUGIN_AUTH_LENENC = 1 << 21
BASE_CAPS = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH

COM_QUIT = 0x01
COM_INIT_DB = 0x02
COM_QUERY = 0x03
COM_FIELD_LIST = 0x04
COM_STMT_PREPARE = 0x16
COM_STMT_EXECUTE = 0x17
COM_STMT_SEND_LONG_DATA = 0x18
COM_STMT_CLOSE = 0x19

MAX_CHUNK = 0xFFFFFF
MAX_ALLOWED_PACKET = 64 << 20


class ServerClosed(Exception):
    """The server closed the connection (EOF or reset)."""


class ErrPacket(Exception):
    def __init__(self, code: int, sqlstate: str, message: str):
        super().__init__(f"ERROR {code} ({sqlstate}): {message}")
        self.code, self.sqlstate, self.message = code, sqlstate, message


def parse_err(payload: bytes) -> ErrPacket:
    assert payload[0] == 0xFF, payload[:16]
    code = struct.unpack_from("<H", payload, 1)[0]
    if payload[3:4] == b"#":
        return ErrPacket(code, payload[4:9].decode(), payload[9:].decode("utf-8", "replace"))
    return ErrPacket(code, "", payload[3:].decode("utf-8", "replace"))


def lenenc_int(buf: bytes, pos: int) -> tuple[int | None, int]:
    b = buf[pos]
    if b < 0xFB:
        return b, pos + 1
    if b == 0xFB:
        return None, pos + 1
    if b == 0xFC:
        return struct.unpack_from("<H", buf, pos + 1)[0], pos + 3
    if b == 0xFD:
        return int.from_bytes(buf[pos + 1:pos + 4], "little"), pos + 4
    return struct.unpack_from("<Q", buf, pos + 1)[0], pos + 9


def packet(payload: bytes, seq: int) -> bytes:
    assert len(payload) < MAX_CHUNK
    return struct.pack("<I", len(payload))[:3] + bytes([seq & 0xFF]) + payload


def handshake_response(user: str = "root", auth: bytes = b"", caps: int = BASE_CAPS,
                       plugin: str = "mysql_native_password", db: str | None = None) -> bytes:
    if db is not None:
        caps |= CLIENT_CONNECT_WITH_DB
    p = struct.pack("<IIB", caps, 16 << 20, 45) + b"\0" * 23
    p += user.encode() + b"\0"
    p += bytes([len(auth)]) + auth
    if db is not None:
        p += db.encode() + b"\0"
    p += plugin.encode() + b"\0"
    return p


class MyRaw:
    """One raw MySQL connection; `connect()` reads the server's initial handshake."""

    def __init__(self, timeout: float = SOCK_TIMEOUT_S):
        self.sock = socket.create_connection((HOST, PORT), timeout=timeout)
        self.buf = b""
        self.connection_id = None
        self.server_version = None

    # ---- framing
    def _fill(self, n: int):
        while len(self.buf) < n:
            try:
                chunk = self.sock.recv(1 << 16)
            except (ConnectionResetError, BrokenPipeError) as e:
                raise ServerClosed(str(e)) from e
            if not chunk:
                raise ServerClosed("EOF")
            self.buf += chunk

    def read_physical(self) -> tuple[int, bytes]:
        self._fill(4)
        length = int.from_bytes(self.buf[:3], "little")
        seq = self.buf[3]
        self._fill(4 + length)
        payload = self.buf[4:4 + length]
        self.buf = self.buf[4 + length:]
        return seq, payload

    def read_packet(self) -> tuple[int, bytes]:
        """One logical packet: 16 MiB - 1 byte pieces continue in the next, numbered on."""
        first_seq, payload = self.read_physical()
        seq, piece = first_seq, payload
        while len(piece) == MAX_CHUNK:
            next_seq, piece = self.read_physical()
            assert next_seq == (seq + 1) & 0xFF, f"continuation has sequence id {next_seq}"
            seq = next_seq
            payload += piece
        return first_seq, payload

    def send(self, data: bytes):
        self.sock.sendall(data)

    def send_packet(self, payload: bytes, seq: int):
        self.send(packet(payload, seq))

    def close(self, reset: bool = False):
        if reset:  # RST instead of FIN: the abrupt way
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    # ---- protocol
    def read_greeting(self) -> bytes:
        seq, p = self.read_packet()
        assert seq == 0, seq
        assert p[0] == 10, f"protocol version {p[0]}"
        end = p.index(b"\0", 1)
        self.server_version = p[1:end].decode()
        self.connection_id = struct.unpack_from("<I", p, end + 1)[0]
        return p

    def login(self, **kw) -> bytes:
        """Greeting, HandshakeResponse41; returns the server's answer payload."""
        self.read_greeting()
        self.send_packet(handshake_response(**kw), 1)
        seq, p = self.read_packet()
        assert seq == 2, f"answer to the handshake response has sequence id {seq}"
        return p

    def connect(self, **kw) -> "MyRaw":
        p = self.login(**kw)
        if p[0] == 0xFF:
            raise parse_err(p)
        assert p[0] == 0x00, f"expected OK after the handshake, got {p[:32]!r}"
        return self

    def command(self, cmd: int, body: bytes = b""):
        self.send_packet(bytes([cmd]) + body, 0)

    def read_result(self) -> list[list[bytes | None]] | tuple[str, int]:
        """The answer to COM_QUERY (no CLIENT_DEPRECATE_EOF): rows, or ("ok", affected).
        Raises ErrPacket."""
        _, p = self.read_packet()
        if p[0] == 0xFF:
            raise parse_err(p)
        if p[0] == 0x00:
            affected, _ = lenenc_int(p, 1)
            return ("ok", affected)
        ncols, _ = lenenc_int(p, 0)
        for _ in range(ncols):
            self.read_packet()
        _, p = self.read_packet()
        assert p[0] == 0xFE and len(p) < 9, \
            f"expected EOF after column definitions: {p[:64]!r} ({len(p)} bytes)"
        rows = []
        while True:
            _, p = self.read_packet()
            if p[0] == 0xFE and len(p) < 9:
                return rows
            if p[0] == 0xFF:
                raise parse_err(p)
            row, pos = [], 0
            for _ in range(ncols):
                if p[pos] == 0xFB:
                    row.append(None)
                    pos += 1
                else:
                    n, pos = lenenc_int(p, pos)
                    row.append(p[pos:pos + n])
                    pos += n
            rows.append(row)

    def query(self, sql: str):
        self.command(COM_QUERY, sql.encode())
        return self.read_result()

    def expect_closed(self, timeout: float = 10.0, allow_err: bool = True) -> ErrPacket | None:
        """The server ends the connection within `timeout`; it may send one ERR first.
        Returns that ERR, if any. Anything else (OK, a result set) fails the test."""
        self.sock.settimeout(timeout)
        err = None
        try:
            while True:
                _, p = self.read_packet()
                assert allow_err and p[:1] == b"\xff" and err is None, \
                    f"expected the connection to be closed, got a packet {p[:64]!r}"
                err = parse_err(p)
        except ServerClosed:
            return err
        except socket.timeout:
            pytest.fail(f"the server did not close the connection within {timeout} s")


def raw_select_1(timeout: float = SOCK_TIMEOUT_S):
    c = MyRaw(timeout=timeout).connect()
    try:
        assert c.query("SELECT 1") == [[b"1"]]
    finally:
        c.close()


def assert_server_alive(timeout_s: float = 20.0):
    """A brand-new connection completes the handshake and runs SELECT 1 (brief retries)."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            raw_select_1(timeout=10)
            return
        except (OSError, ServerClosed, ErrPacket, AssertionError) as e:
            last = e
            time.sleep(0.2)
    pytest.fail(f"the server no longer serves new MySQL connections: {last!r}")


def cli_select_1():
    r = subprocess.run([MARIADB, "--no-defaults", "-h", HOST, "-P", str(PORT), "-u", "root",
                        "--connect-timeout=10", "--batch", "--skip-column-names",
                        "-e", "SELECT 1"], capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout, r.stderr) == (0, "1\n", "")


def process_ids() -> set[int]:
    c = MyRaw().connect()
    try:
        rows = c.query("SHOW PROCESSLIST")
        return {int(r[0]) for r in rows}
    finally:
        c.close()


def wait_sessions_gone(ids: set[int], timeout_s: float = 30.0):
    """The sessions of the given connection ids leave SHOW PROCESSLIST."""
    deadline = time.monotonic() + timeout_s
    left = ids & process_ids()
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = ids & process_ids()
    assert not left, f"sessions of closed connections are still listed: {sorted(left)}"


@pytest.fixture(scope="module")
def server():
    try:
        raw_select_1(timeout=10)
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"no MySQL-protocol server at {HOST}:{PORT} (set BASALT_MYSQL_HOST/PORT): "
                    f"{e!r}", pytrace=False)


@pytest.fixture(autouse=True)
def _still_serving(server):
    yield
    assert_server_alive()


@pytest.fixture
def database(server):
    name = f"bad_{uuid.uuid4().hex[:10]}"
    c = MyRaw().connect()
    c.query(f"CREATE DATABASE {name}")
    c.close()
    yield name
    c = MyRaw().connect()
    try:
        c.query(f"DROP DATABASE IF EXISTS {name}")
    finally:
        c.close()


# ======================================================================= sanity
def test_helper_handshake_and_query_work():
    c = MyRaw().connect()
    assert c.server_version and c.connection_id
    assert c.query("SELECT 1, NULL, 'x'") == [[b"1", None, b"x"]]
    assert c.connection_id in process_ids()
    c.command(COM_QUIT)
    c.expect_closed(allow_err=False)
    cli_select_1()


# ======================================================================= handshake
def test_garbage_instead_of_handshake_response():
    c = MyRaw()
    c.read_greeting()
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(range(256)) * 4)
    c.expect_closed()


def test_framed_garbage_handshake_response_is_bad_handshake():
    c = MyRaw()
    c.read_greeting()
    c.send_packet(b"\x01\x02\x03", 1)
    err = c.expect_closed()
    assert err is not None and (err.code, err.sqlstate) == (1043, "08S01"), err


def test_handshake_without_protocol_41_is_refused():
    c = MyRaw()
    c.read_greeting()
    c.send_packet(handshake_response(caps=CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH), 1)
    err = c.expect_closed()
    assert err is not None and err.code == 1043, err


@pytest.mark.parametrize("tail", [
    pytest.param(bytes([200]) + b"abc", id="auth-length-200-but-3-bytes"),
    pytest.param(bytes([255]), id="auth-length-255-nothing-follows"),
    pytest.param(b"", id="auth-length-missing"),
])
def test_handshake_with_truncated_auth_length(tail):
    c = MyRaw()
    c.read_greeting()
    p = struct.pack("<IIB", BASE_CAPS, 16 << 20, 45) + b"\0" * 23 + b"root\0" + tail
    c.send_packet(p, 1)
    err = c.expect_closed()
    assert err is not None and (err.code, err.sqlstate) == (1043, "08S01"), err


@pytest.mark.parametrize("lenenc", [
    pytest.param(b"\xfc\xff\xff", id="2-byte-length-65535"),
    pytest.param(b"\xfe" + b"\xff" * 8, id="8-byte-length-2^64-1"),
    pytest.param(b"\xfd\x00\x00", id="3-byte-length-truncated"),
    pytest.param(b"\xfb", id="null-marker"),
])
def test_handshake_with_invalid_lenenc_auth_length(lenenc):
    c = MyRaw()
    c.read_greeting()
    caps = BASE_CAPS | CLIENT_PLUGIN_AUTH_LENENC
    p = struct.pack("<IIB", caps, 16 << 20, 45) + b"\0" * 23 + b"root\0" + lenenc
    c.send_packet(p, 1)
    err = c.expect_closed()
    assert err is not None and (err.code, err.sqlstate) == (1043, "08S01"), err


def test_handshake_response_with_wrong_sequence_id():
    c = MyRaw()
    c.read_greeting()
    c.send_packet(handshake_response(), 0)  # must be 1
    c.expect_closed()


def test_handshake_response_header_then_close():
    """A header announcing 16 MiB - 1 bytes, a few bytes, then the client goes away."""
    c = MyRaw()
    c.read_greeting()
    c.send(b"\xff\xff\xff\x01" + b"x" * 10)
    c.close()
    c = MyRaw()
    c.read_greeting()
    c.send(b"\x10\x00")  # half a header
    c.close(reset=True)


def test_wrong_user_is_refused_with_1045():
    c = MyRaw()
    p = c.login(user="bob")
    assert p[0] == 0xFF, p
    err = parse_err(p)
    assert (err.code, err.sqlstate) == (1045, "28000"), err
    assert err.message.startswith("Access denied for user 'bob'@"), err.message
    assert "(using password: NO)" in err.message, err.message
    c.expect_closed(allow_err=False)


def test_non_empty_password_is_refused_with_1045():
    c = MyRaw()
    p = c.login(user="root", auth=bytes(range(1, 21)))  # a 20-byte native-password token
    assert p[0] == 0xFF, p
    err = parse_err(p)
    assert (err.code, err.sqlstate) == (1045, "28000"), err
    assert err.message.startswith("Access denied for user 'root'@"), err.message
    assert "(using password: YES)" in err.message, err.message
    c.expect_closed(allow_err=False)


def test_cli_wrong_user_and_password_are_refused():
    base = [MARIADB, "--no-defaults", "-h", HOST, "-P", str(PORT), "--connect-timeout=10",
            "--batch", "-e", "SELECT 1"]
    r = subprocess.run(base + ["-u", "bob"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and r.stdout == "", r
    assert r.stderr.startswith("ERROR 1045 (28000): Access denied for user 'bob'@"), r.stderr
    r = subprocess.run(base + ["-u", "root", "-psecret"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1 and r.stdout == "", r
    assert r.stderr.startswith("ERROR 1045 (28000): Access denied for user 'root'@"), r.stderr
    assert "(using password: YES)" in r.stderr, r.stderr


# ======================================================================= commands
def test_command_with_wrong_sequence_id_closes_connection():
    c = MyRaw().connect()
    cid = c.connection_id
    c.send_packet(bytes([COM_QUERY]) + b"SELECT 1", 5)
    err = c.expect_closed()
    # MySQL answers 1156 "Got packets out of order" before closing; closing alone is fine
    assert err is None or err.code == 1156, err
    wait_sessions_gone({cid})


def test_oversize_packet_is_refused_without_reading_it_all():
    """Four full 16 MiB - 1 chunks (64 MiB - 4 bytes, just under max_allowed_packet) and
    the header of a fifth: the server must refuse at that header (1153 or close) without
    waiting for - or allocating - the announced rest."""
    c = MyRaw(timeout=60).connect()
    cid = c.connection_id
    chunk = bytes([COM_QUERY]) + b"x" * (MAX_CHUNK - 1)
    try:
        c.send(b"\xff\xff\xff\x00" + chunk)
        body = b"x" * MAX_CHUNK
        for seq in (1, 2, 3):
            c.send(b"\xff\xff\xff" + bytes([seq]) + body)
        c.send(b"\xff\xff\xff\x04")  # announces another 16 MiB - 1: over 64 MiB in all
    except (BrokenPipeError, ConnectionResetError):
        pass  # closed even earlier: acceptable
    err = c.expect_closed(timeout=30)
    assert err is None or (err.code, err.sqlstate) == (1153, "08S01"), err
    wait_sessions_gone({cid})


def test_packets_just_over_16mib_are_still_accepted():
    """The other side of the limit: a 16 MiB + 100 byte COM_QUERY (two physical packets)
    is a valid command and must run."""
    c = MyRaw(timeout=120).connect()
    n = MAX_CHUNK + 100
    letters = n - 1 - len("SELECT LENGTH('') AS n")
    payload = bytes([COM_QUERY]) + b"SELECT LENGTH('" + b"a" * letters + b"') AS n"
    assert len(payload) == n
    c.send(b"\xff\xff\xff\x00" + payload[:MAX_CHUNK])
    rest = payload[MAX_CHUNK:]
    c.send(struct.pack("<I", len(rest))[:3] + b"\x01" + rest)
    assert c.read_result() == [[str(letters).encode()]]
    c.close()


def test_unknown_command_gets_1047_and_connection_stays_usable():
    c = MyRaw().connect()
    for cmd in (0x7F, 0x20, 0xFF):
        c.command(cmd, b"junk")
        seq, p = c.read_packet()
        assert seq == 1 and p[0] == 0xFF, (cmd, p)
        err = parse_err(p)
        assert (err.code, err.sqlstate) == (1047, "08S01"), (cmd, err)
    assert c.query("SELECT 1") == [[b"1"]]
    c.close()


def test_stmt_execute_unknown_statement_gets_1243():
    c = MyRaw().connect()
    c.command(COM_STMT_EXECUTE, struct.pack("<IBI", 12345, 0, 1))
    seq, p = c.read_packet()
    assert seq == 1 and p[0] == 0xFF, p
    err = parse_err(p)
    assert (err.code, err.sqlstate) == (1243, "HY000"), err
    assert "12345" in err.message and "mysqld_stmt_execute" in err.message, err.message
    assert c.query("SELECT 1") == [[b"1"]]
    c.close()


def test_stmt_commands_with_truncated_bodies():
    c = MyRaw().connect()
    # COM_STMT_EXECUTE shorter than its fixed 9-byte header: an ERR, not a hang or a close
    c.command(COM_STMT_EXECUTE, b"\x01\x00")
    _, p = c.read_packet()
    assert p[0] == 0xFF, p
    # a prepared statement with one parameter, executed with parameter data cut short
    c.command(COM_STMT_PREPARE, b"SELECT ? + 1")
    _, p = c.read_packet()
    assert p[0] == 0x00, p
    stmt_id, ncols, nparams = struct.unpack_from("<IHH", p, 1)
    assert nparams == 1
    for _ in range(nparams + 1 + (ncols + 1 if ncols else 0)):
        c.read_packet()
    # null bitmap, new-params-bound = 1, type LONGLONG, then 3 of its 8 bytes
    c.command(COM_STMT_EXECUTE, struct.pack("<IBI", stmt_id, 0, 1) + b"\x00\x01\x08\x00abc")
    _, p = c.read_packet()
    assert p[0] == 0xFF, p
    assert parse_err(p).code == 1210, parse_err(p)
    # COM_STMT_SEND_LONG_DATA / COM_STMT_CLOSE for unknown ids have no answer at all
    c.command(COM_STMT_SEND_LONG_DATA, struct.pack("<IH", 999, 0) + b"data")
    c.command(COM_STMT_CLOSE, struct.pack("<I", 999))
    c.command(COM_STMT_CLOSE, b"")
    assert c.query("SELECT 2") == [[b"2"]]
    c.close()


def test_bad_init_db_field_list_invalid_utf8_and_empty_query():
    c = MyRaw().connect()
    c.command(COM_INIT_DB, b"no_such_db_" + uuid.uuid4().hex[:8].encode())
    _, p = c.read_packet()
    assert parse_err(p).code == 1049, p
    # not UTF-8: an ERR (Basalt: 1366) or a result; either way the connection goes on
    c.command(COM_QUERY, b"SELECT '\xff\xfe'")
    try:
        c.read_result()
    except ErrPacket:
        pass
    c.command(COM_FIELD_LIST, b"no_such_table\0")  # and no database selected
    _, p = c.read_packet()
    assert parse_err(p).code == 1046, p
    c.command(COM_QUERY, b"")
    _, p = c.read_packet()
    assert parse_err(p).code == 1065, p
    assert c.query("SELECT 3") == [[b"3"]]
    c.close()


def test_empty_command_packet():
    """A zero-length command: MySQL answers an ERR; closing the connection is acceptable."""
    c = MyRaw().connect()
    c.send(b"\x00\x00\x00\x00")
    c.sock.settimeout(10)
    try:
        _, p = c.read_packet()
    except ServerClosed:
        return
    assert p[0] == 0xFF, p
    assert c.query("SELECT 1") == [[b"1"]]
    c.close()


# ======================================================================= clients going away
def test_client_connects_sends_nothing_and_closes():
    for reset in (False, True):
        s = socket.create_connection((HOST, PORT), timeout=10)  # not even the greeting read
        if reset:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        c = MyRaw()
        c.read_greeting()
        c.close(reset=reset)


def test_idle_unauthenticated_connection_is_dropped_after_connect_timeout():
    """MySQL closes a connection that has not completed the handshake after
    connect_timeout (10 s by default): idle half-open connections must not pile up."""
    c = MyRaw()
    c.read_greeting()
    c.expect_closed(timeout=15)


@pytest.fixture(scope="module")
def big_table():
    """~262k rows built by repeated doubling (INSERT ... SELECT)."""
    name = f"bad_big_{uuid.uuid4().hex[:8]}"
    c = MyRaw(timeout=300).connect()
    c.query(f"CREATE DATABASE {name}")
    c.query(f"USE {name}")
    c.query("CREATE TABLE big (id INT NOT NULL, pad VARCHAR(64) NOT NULL)")
    c.query("INSERT INTO big VALUES (1, 'padding-padding-padding-padding-padding-padding')")
    n = 1
    while n < 200_000:
        assert c.query(f"INSERT INTO big SELECT id + {n}, pad FROM big") == ("ok", n)
        n *= 2
    assert c.query("SELECT COUNT(*), MAX(id) FROM big") == [[str(n).encode()] * 2]
    c.close()
    yield f"{name}.big", n
    c = MyRaw(timeout=120).connect()
    try:
        c.query(f"DROP DATABASE IF EXISTS {name}")
    finally:
        c.close()


@pytest.mark.parametrize("read_first", [0, 64 << 10], ids=["reads-nothing", "reads-64KiB"])
@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_client_closes_before_reading_a_big_result(big_table, read_first, reset):
    table, _ = big_table
    c = MyRaw(timeout=60).connect()
    cid = c.connection_id
    c.command(COM_QUERY, f"SELECT * FROM {table}".encode())
    got = b""
    while len(got) < read_first:
        chunk = c.sock.recv(read_first - len(got))
        assert chunk, "the server closed the connection mid-result"
        got += chunk
    c.close(reset=reset)
    assert_server_alive()
    wait_sessions_gone({cid}, timeout_s=60)


def test_big_result_is_complete_for_a_reading_client(big_table):
    """Control: the same result read to the end by a well-behaved client."""
    table, n = big_table
    c = MyRaw(timeout=120).connect()
    rows = c.query(f"SELECT id FROM {table}")
    assert len(rows) == n
    assert sorted(int(r[0]) for r in rows) == list(range(1, n + 1))
    c.close()


def test_fifty_connections_dropped_abruptly():
    conns = []
    try:
        for i in range(50):
            c = MyRaw()
            if i % 5 == 0:
                pass  # connected, greeting not even read
            elif i % 5 == 1:
                c.read_greeting()
            elif i % 5 == 2:
                c.read_greeting()
                c.send(b"\x50\x00\x00\x01" + b"\x00" * 10)  # half a handshake response
            else:
                c.connect()
                if i % 5 == 4:
                    c.command(COM_QUERY, b"SELECT 1")  # answer never read
            conns.append(c)
        authenticated = {c.connection_id for c in conns[3::5]} | {c.connection_id
                                                                  for c in conns[4::5]}
        assert authenticated <= process_ids()
    finally:
        for c in conns:
            c.close(reset=True)
    wait_sessions_gone(authenticated)
    cli_select_1()
    raw_select_1()
