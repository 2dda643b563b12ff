"""Clients that run one sqllogictest record against a server and return what it answered.

Each engine has `reset()` (an empty database for the next file), `run(sql)` returning
`Outcome`, and `close()`. A statement that takes longer than `timeout` seconds is cancelled
and counted as an error, so one runaway query cannot hang the whole run.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import psycopg
import pymysql


@dataclass
class Outcome:
    error: str | None = None  # first line of the error message, None on success
    rows: list[tuple] | None = None  # rows of a query (None for a statement)


def _first_line(msg: str) -> str:
    return (msg.strip().splitlines() or [""])[0][:300]


class _Watchdog:
    """Calls `cancel` if the block runs longer than `timeout` seconds."""

    def __init__(self, timeout: float, cancel):
        self.timeout = timeout
        self.cancel = cancel
        self.fired = False
        self.timer = None

    def _fire(self):
        self.fired = True
        self.cancel()

    def __enter__(self):
        self.timer = threading.Timer(self.timeout, self._fire)
        self.timer.daemon = True
        self.timer.start()
        return self

    def __exit__(self, *exc):
        self.timer.cancel()
        return False


class Postgres:
    """The PostgreSQL protocol. `extended=False` sends each record as a simple Query message
    and reads text values; `extended=True` uses Parse/Bind/Describe/Execute with binary
    results, decoded by psycopg."""

    def __init__(self, host: str, port: int, user: str, dbname: str, extended: bool,
                 fresh_database: bool, timeout: float = 30.0):
        self.params = dict(host=host, port=port, user=user, dbname=dbname, autocommit=True,
                           connect_timeout=10)
        self.extended = extended
        self.fresh_database = fresh_database
        self.timeout = timeout
        self.conn: psycopg.Connection | None = None
        self.files = 0

    def _connect(self, dbname: str):
        if self.conn is not None:
            self.conn.close()
        self.conn = psycopg.connect(**{**self.params, "dbname": dbname})

    def reset(self):
        """An empty database: a new one per file on PostgreSQL; on Basalt, which has one
        database per server, every table of the previous file dropped."""
        self.files += 1
        if self.fresh_database:
            with psycopg.connect(**self.params) as admin:
                admin.execute("DROP DATABASE IF EXISTS slt_conformance WITH (FORCE)")
                admin.execute("CREATE DATABASE slt_conformance")
            self._connect("slt_conformance")
            return
        if self.conn is None or self.conn.closed:
            self._connect(self.params["dbname"])
        self.conn.rollback()
        for kind in ("VIEW", "BASE TABLE"):
            names = self.conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_type = %s", (kind,)).fetchall()
            for (name,) in names:
                word = "VIEW" if kind == "VIEW" else "TABLE"
                try:
                    self.conn.execute(f'DROP {word} IF EXISTS "{name}"')
                except psycopg.Error:
                    pass

    def run(self, sql: str, is_query: bool) -> Outcome:
        if self.conn is None or self.conn.closed:
            self._connect("slt_conformance" if self.fresh_database else self.params["dbname"])
        dog = _Watchdog(self.timeout, self.conn.cancel_safe)
        try:
            with dog:
                if self.extended:
                    with self.conn.cursor(binary=True) as cur:
                        cur.execute(sql)
                        rows = cur.fetchall() if cur.description is not None else None
                else:
                    res = self.conn.pgconn.exec_(sql.encode())
                    status = res.status
                    if status == psycopg.pq.ExecStatus.FATAL_ERROR:
                        msg = (res.error_message or b"").decode("utf-8", "replace")
                        return Outcome(error=_first_line(msg.removeprefix("ERROR:").strip()))
                    rows = None
                    if status == psycopg.pq.ExecStatus.TUPLES_OK:
                        rows = [tuple(None if (v := res.get_value(r, c)) is None
                                      else v.decode("utf-8", "replace")
                                      for c in range(res.nfields)) for r in range(res.ntuples)]
        except psycopg.OperationalError as e:
            if self.conn.closed or self.conn.broken:
                self.conn = None
            return Outcome(error=_first_line(f"connection: {e}"))
        except psycopg.Error as e:
            msg = "timeout: cancelled" if dog.fired else _first_line(str(e))
            return Outcome(error=msg)
        if dog.fired:
            return Outcome(error="timeout: cancelled")
        if is_query and rows is None:
            rows = []
        return Outcome(rows=rows)

    def close(self):
        if self.conn is not None:
            self.conn.close()
        if self.fresh_database:
            with psycopg.connect(**self.params) as admin:
                admin.execute("DROP DATABASE IF EXISTS slt_conformance WITH (FORCE)")


class MySQL:
    """The MySQL text protocol (COM_QUERY), values read as text."""

    def __init__(self, host: str, port: int, user: str, timeout: float = 30.0):
        self.params = dict(host=host, port=port, user=user, password="", conv={},
                           autocommit=True, connect_timeout=10, read_timeout=int(timeout))
        self.conn = None

    def _connect(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except pymysql.Error:
                pass
        self.conn = pymysql.connect(**self.params)

    def reset(self):
        if self.conn is None:
            self._connect()
        with self.conn.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS slt_conformance")
            cur.execute("CREATE DATABASE slt_conformance")
            cur.execute("USE slt_conformance")

    def run(self, sql: str, is_query: bool) -> Outcome:
        if self.conn is None:
            self._connect()
            self.conn.cursor().execute("USE slt_conformance")
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql)
                rows = list(cur.fetchall()) if cur.description is not None else None
        except pymysql.err.OperationalError as e:
            code = e.args[0] if e.args else 0
            if code in (2006, 2013, 2014):  # connection gone or timed out
                self.conn = None
            return Outcome(error=_first_line(f"{code}: {e.args[1] if len(e.args) > 1 else e}"))
        except pymysql.Error as e:
            code = e.args[0] if e.args else 0
            return Outcome(error=_first_line(f"{code}: {e.args[1] if len(e.args) > 1 else e}"))
        if is_query and rows is None:
            rows = []
        return Outcome(rows=rows)

    def close(self):
        if self.conn is not None:
            try:
                with self.conn.cursor() as cur:
                    cur.execute("DROP DATABASE IF EXISTS slt_conformance")
            except pymysql.Error:
                pass
            self.conn.close()
