"""No global lock: a long-running read of a table does not hold up writers of the same
table, and writers to different rows do not wait for each other."""

from __future__ import annotations

import threading
import time

from conftest import unique_name


def test_long_scan_does_not_block_writers_of_the_same_table(connect):
    t = unique_name("conc_scan")
    setup = connect(autocommit=True)
    setup.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, v INTEGER)")
    setup.execute(f"INSERT INTO {t} SELECT g, g % 1000 FROM generate_series(1, 300000) AS g")
    reader = connect(autocommit=True)
    done = threading.Event()
    result = {}

    def long_read():
        started = time.monotonic()
        result["rows"] = reader.execute(
            f"SELECT sum(a.id + b.id) FROM {t} a JOIN {t} b ON a.v = b.v").fetchone()
        result["seconds"] = time.monotonic() - started
        done.set()

    writer = connect(autocommit=True)
    th = threading.Thread(target=long_read)
    th.start()
    time.sleep(0.2)
    latencies = []
    deadline = time.monotonic() + 120
    # Write for as long as the read runs (bounded): each write must commit promptly.
    while not done.is_set() and time.monotonic() < deadline and len(latencies) < 2000:
        started = time.monotonic()
        writer.execute(f"INSERT INTO {t} VALUES (%s, 1)", (1_000_000 + len(latencies),))
        latencies.append(time.monotonic() - started)
    th.join(timeout=300)
    assert "rows" in result, "the long read did not finish"
    print(f"{len(latencies)} commits during a {result['seconds']:.2f}s read, slowest {max(latencies, default=0):.3f}s")
    assert len(latencies) >= 3, f"only {len(latencies)} writes overlapped the read ({result['seconds']:.2f}s)"
    assert max(latencies) < 2.0, f"a writer waited {max(latencies):.2f}s behind a reader"
    setup.execute(f"DROP TABLE {t}")


def test_writers_of_different_rows_proceed_concurrently(connect):
    t = unique_name("conc_rows")
    setup = connect(autocommit=True)
    setup.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, n INTEGER)")
    setup.execute(f"INSERT INTO {t} VALUES (1, 0), (2, 0)")
    a = connect(autocommit=False)
    b = connect(autocommit=False)
    a.execute(f"UPDATE {t} SET n = n + 1 WHERE id = 1")
    started = time.monotonic()
    b.execute(f"UPDATE {t} SET n = n + 1 WHERE id = 2")  # must not wait for a
    b.commit()
    assert time.monotonic() - started < 2.0
    a.commit()
    assert setup.execute(f"SELECT id, n FROM {t} ORDER BY id").fetchall() == [(1, 1), (2, 1)]
    setup.execute(f"DROP TABLE {t}")
