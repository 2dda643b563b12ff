"""Invariant 3, synchronous freshness: while writers commit, readers forced onto the column
engine see every commit that was acknowledged before their query began.

Writers insert rows (writer, seq) with seq rising and update one counter row per writer;
after each acknowledged commit they publish seq. A reader copies the published values, then
queries through the column engine and checks it sees at least those (zero staleness), with
no gaps. Runs for COLUMNAR_FRESHNESS_SECONDS (default 60).
"""
from __future__ import annotations

import os
import threading
import time

import psycopg
import pytest

from conftest import conninfo_kwargs, unique_name

DURATION = float(os.environ.get("COLUMNAR_FRESHNESS_SECONDS", "60"))
WRITERS = 3
READERS = 2


@pytest.mark.skipif(os.environ.get("BASALT_TARGET", "basalt") != "basalt",
                    reason="the column engine is Basalt's")
def test_column_reads_are_never_stale(pg_server):
    table = unique_name("fresh")
    counters = unique_name("fresh_ctr")
    with psycopg.connect(**conninfo_kwargs(), autocommit=True) as c:
        c.execute(f"CREATE TABLE {table} (w INTEGER, seq INTEGER, pad TEXT, PRIMARY KEY (w, seq))")
        c.execute(f"CREATE TABLE {counters} (w INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        for w in range(WRITERS):
            c.execute(f"INSERT INTO {counters} VALUES (%s, 0)", (w,))
        c.execute(f"ALTER TABLE {table} SET (columnar = on)")
        c.execute(f"ALTER TABLE {counters} SET (columnar = on)")
    acked = [-1] * WRITERS
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[str] = []
    checks = [0]

    def writer(w: int):
        try:
            with psycopg.connect(**conninfo_kwargs(), autocommit=True) as c:
                seq = 0
                while not stop.is_set():
                    with c.transaction():
                        c.execute(f"INSERT INTO {table} VALUES (%s, %s, %s)", (w, seq, "x" * (seq % 50)))
                        c.execute(f"UPDATE {counters} SET n = %s WHERE w = %s", (seq + 1, w))
                    with lock:  # the commit is acknowledged: it must be visible from now on
                        acked[w] = seq
                    seq += 1
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"writer {w}: {e!r}")
            stop.set()

    def reader(r: int):
        try:
            with psycopg.connect(**conninfo_kwargs(), autocommit=True) as c:
                c.execute("SET basalt.engine = 'column'")
                plan = "\n".join(x[0] for x in c.execute(
                    f"EXPLAIN SELECT w, count(*), max(seq) FROM {table} GROUP BY w").fetchall())
                assert "BasaltColumnScan" in plan, plan
                while not stop.is_set():
                    with lock:
                        seen_before = list(acked)
                    rows = c.execute(f"SELECT w, count(*), max(seq) FROM {table} GROUP BY w").fetchall()
                    got = {w: (n, mx) for w, n, mx in rows}
                    ctr = dict(c.execute(f"SELECT w, n FROM {counters}").fetchall())
                    for w, last in enumerate(seen_before):
                        n, mx = got.get(w, (0, -1))
                        if mx < last:
                            errors.append(f"reader {r}: writer {w} acknowledged seq {last}, column engine shows {mx}")
                        if n != mx + 1:
                            errors.append(f"reader {r}: writer {w} has {n} rows up to seq {mx} (a gap)")
                        if ctr[w] < last + 1:
                            errors.append(f"reader {r}: counter {w} is {ctr[w]}, acknowledged {last + 1}")
                    if errors:
                        stop.set()
                    checks[0] += 1
        except Exception as e:  # noqa: BLE001
            errors.append(f"reader {r}: {e!r}")
            stop.set()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    threads += [threading.Thread(target=reader, args=(r,)) for r in range(READERS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + DURATION
    while time.monotonic() < deadline and not stop.is_set():
        time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    with psycopg.connect(**conninfo_kwargs(), autocommit=True) as c:
        stats = c.execute(
            "SELECT segments, delta_rows FROM pg_catalog.basalt_columnar WHERE table_name = %s",
            (table,)).fetchone()
        total = c.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        c.execute(f"DROP TABLE {table}")
        c.execute(f"DROP TABLE {counters}")
    assert not errors, errors[:5]
    assert checks[0] > 10, f"only {checks[0]} reader checks ran"
    print(f"freshness: {total} commits, {checks[0]} reader checks, segments/delta at end: {stats}")
