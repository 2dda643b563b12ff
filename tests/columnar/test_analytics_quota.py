"""The analytics CPU quota (docs/columnar.md, "Where analytical queries run"): queries that
read the column engine pause for the quota while *other* sessions run transactional
statements, and never because of their own session's statements.

Observed through `SHOW basalt.analytics_pauses` (pauses taken since start-up), on the test
server with its default quota (`--analytics-cpu 10`).
"""
from __future__ import annotations

import os
import threading
import time

import psycopg
import pytest

from conftest import conninfo_kwargs, unique_name

AGGREGATE = "SELECT k % 10 AS g, count(*), sum(k), max(pad) FROM {t} GROUP BY k % 10"


def pauses(c) -> int:
    return int(c.execute("SHOW basalt.analytics_pauses").fetchone()[0])


def column_scans(c) -> int:
    return int(c.execute("SHOW basalt.column_scans").fetchone()[0])


@pytest.mark.skipif(os.environ.get("BASALT_TARGET", "basalt") != "basalt",
                    reason="the column engine is Basalt's")
def test_analytics_pause_for_other_sessions_transactions_only(pg_server):
    table = unique_name("quota")
    with psycopg.connect(**conninfo_kwargs(), autocommit=True) as c:
        c.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, k INTEGER, pad TEXT)")
        c.execute(f"INSERT INTO {table} SELECT g, g * 7 % 1000, repeat('x', g % 40) "
                  f"FROM generate_series(1, 50000) AS g")
        c.execute(f"ALTER TABLE {table} SET (columnar = on)")
        deadline = time.monotonic() + 60
        while c.execute("SELECT state FROM pg_catalog.basalt_columnar WHERE table_name = %s",
                        (table,)).fetchone()[0] != "loaded":
            assert time.monotonic() < deadline, "the table did not load"
            time.sleep(0.1)
    try:
        with psycopg.connect(**conninfo_kwargs(), autocommit=True) as a:
            plan = "\n".join(r[0] for r in a.execute("EXPLAIN " + AGGREGATE.format(t=table)))
            assert "BasaltColumnScan" in plan, plan
            # Alone, with the session's own writes in between: never a pause.
            time.sleep(0.3)  # older transactional statements of other tests are past
            before, scans = pauses(a), column_scans(a)
            for i in range(30):
                a.execute(f"UPDATE {table} SET k = k + 1 WHERE id = %s", (i + 1,))
                a.execute(AGGREGATE.format(t=table)).fetchall()
            assert column_scans(a) - scans >= 30
            assert pauses(a) == before, "analytics paused with no other session running"

            # Another session runs transactions: the same queries now pause.
            stop = threading.Event()
            errors: list[str] = []

            def oltp():
                try:
                    with psycopg.connect(**conninfo_kwargs(), autocommit=True) as b:
                        i = 0
                        while not stop.is_set():
                            b.execute(f"UPDATE {table} SET pad = 'y' WHERE id = %s",
                                      (1000 + i % 100,))
                            b.execute(f"SELECT k FROM {table} WHERE id = %s", (i % 50000 + 1,))
                            i += 1
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(repr(e))

            t = threading.Thread(target=oltp)
            t.start()
            try:
                time.sleep(0.2)
                before = pauses(a)
                for _ in range(30):
                    a.execute(AGGREGATE.format(t=table)).fetchall()
                during = pauses(a) - before
            finally:
                stop.set()
                t.join(timeout=30)
            assert not errors, errors
            assert during > 0, "analytics never paused while another session ran transactions"
            # The answers are those of the row engine.
            got = sorted(a.execute(AGGREGATE.format(t=table)).fetchall())
            a.execute("SET basalt.engine = 'row'")
            assert got == sorted(a.execute(AGGREGATE.format(t=table)).fetchall())
    finally:
        with psycopg.connect(**conninfo_kwargs(), autocommit=True) as c:
            c.execute(f"DROP TABLE {table}")
