"""Isolation-anomaly tests for snapshot isolation.

Every transaction runs as PostgreSQL REPEATABLE READ (psycopg sends
`BEGIN ISOLATION LEVEL REPEATABLE READ`), which is what Basalt provides for
every transaction. Write-write conflicts must raise SQLSTATE 40001, either at
the conflicting write or at COMMIT; PostgreSQL blocks the second writer until
the first one finishes, so second writers run in a helper thread with a
timeout.

Target: BASALT_PG_HOST / BASALT_PG_PORT / BASALT_PG_DB (see tests/conftest.py).
"""
from __future__ import annotations

import threading

import psycopg
import pytest
from psycopg import IsolationLevel

from conftest import unique_name

SERIALIZATION_FAILURE = "40001"
FK_VIOLATION = "23503"
# how long a second writer may stay blocked before we resolve the first writer
# (Basalt answers at once; PostgreSQL blocks until the first writer ends)
BLOCK_GRACE_S = 0.5
JOIN_TIMEOUT_S = 15.0


# ---------------------------------------------------------------- helpers
@pytest.fixture
def rr_conn(connect):
    """Factory of autocommit=False connections whose transactions are REPEATABLE READ."""

    def _make():
        c = connect(autocommit=False)
        c.isolation_level = IsolationLevel.REPEATABLE_READ
        return c

    return _make


@pytest.fixture
def table(connect, table_name):
    """Creates `name (id INTEGER PRIMARY KEY, v INTEGER)` filled with `rows`."""

    def _make(prefix, rows, ddl="(id INTEGER PRIMARY KEY, v INTEGER NOT NULL)"):
        t = table_name(prefix)
        c = connect()
        c.execute(f"CREATE TABLE {t} {ddl}")
        with c.cursor() as cur:
            cur.executemany(f"INSERT INTO {t} VALUES (%s, %s)", rows)
        return t

    return _make


class Background:
    """Runs fn() in a daemon thread; records its result or exception."""

    def __init__(self, fn):
        self.result = None
        self.error: BaseException | None = None
        self._t = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._t.start()

    def _run(self, fn):
        try:
            self.result = fn()
        except BaseException as e:  # noqa: BLE001
            self.error = e

    def join(self, timeout):
        self._t.join(timeout)
        return not self._t.is_alive()


def sqlstate(exc) -> str | None:
    return getattr(exc, "sqlstate", None)


def read_v(conn, t, id_):
    row = conn.execute(f"SELECT v FROM {t} WHERE id = %s", (id_,)).fetchone()
    return None if row is None else row[0]


def committed_v(connect, t, id_):
    c = connect()
    try:
        return read_v(c, t, id_)
    finally:
        c.close()


def second_writer_conflict(first, second, second_write, *, first_finish="commit",
                           allowed=(SERIALIZATION_FAILURE,)):
    """Runs `second_write(second)` while `first` holds an uncommitted write to
    the same row, then finishes `first` and `second`.

    Returns where the second transaction failed: "write" or "commit", or None
    if it succeeded entirely."""
    bg = Background(lambda: second_write(second))
    bg.join(BLOCK_GRACE_S)  # returns early when the server answers without blocking
    if first_finish == "commit":
        first.commit()
    else:
        first.rollback()
    assert bg.join(JOIN_TIMEOUT_S), "second writer still blocked after the first transaction ended"
    if bg.error is not None:
        if not isinstance(bg.error, psycopg.Error):
            raise bg.error
        assert sqlstate(bg.error) in allowed, f"expected {allowed}, got {bg.error!r}"
        second.rollback()
        return "write"
    try:
        second.commit()
    except psycopg.Error as e:
        assert sqlstate(e) in allowed, f"expected {allowed} at COMMIT, got {e!r}"
        return "commit"
    return None


# ---------------------------------------------------------------- anomalies
def test_dirty_write(connect, rr_conn, table):
    """T1 writes x; T2 writes x before T1 commits. T2 must not overwrite:
    it fails with 40001 (at its write or its COMMIT) and T1's value stays."""
    t = table("iso_dw", [(1, 0), (2, 0)])
    t1, t2 = rr_conn(), rr_conn()
    assert read_v(t1, t, 1) == 0  # both snapshots taken before T1 commits
    assert read_v(t2, t, 1) == 0
    t1.execute(f"UPDATE {t} SET v = 1 WHERE id = 1")

    failed_at = second_writer_conflict(
        t1, t2, lambda c: c.execute(f"UPDATE {t} SET v = 2 WHERE id = 1"))
    assert failed_at in ("write", "commit"), "T2 overwrote T1's write (dirty write / lost update)"
    assert committed_v(connect, t, 1) == 1
    assert committed_v(connect, t, 2) == 0


def test_dirty_write_first_writer_rolls_back(connect, rr_conn, table):
    """If the first writer aborts, the second writer's update may succeed
    (PostgreSQL: it proceeds) or fail with 40001 (an implementation that
    detects the conflict eagerly); it must never leave T1's value."""
    t = table("iso_dwrb", [(1, 0)])
    t1, t2 = rr_conn(), rr_conn()
    assert read_v(t1, t, 1) == 0
    assert read_v(t2, t, 1) == 0
    t1.execute(f"UPDATE {t} SET v = 1 WHERE id = 1")
    failed_at = second_writer_conflict(
        t1, t2, lambda c: c.execute(f"UPDATE {t} SET v = 2 WHERE id = 1"), first_finish="rollback")
    final = committed_v(connect, t, 1)
    if failed_at is None:
        assert final == 2
    else:
        assert final == 0


def test_dirty_read(connect, rr_conn, table):
    """T2 never sees T1's uncommitted writes (update, insert, delete)."""
    t = table("iso_dr", [(1, 10), (2, 20)])
    t1 = rr_conn()
    t1.execute(f"UPDATE {t} SET v = 100 WHERE id = 1")
    t1.execute(f"INSERT INTO {t} VALUES (3, 30)")
    t1.execute(f"DELETE FROM {t} WHERE id = 2")
    # T1 sees its own writes
    assert t1.execute(f"SELECT id, v FROM {t} ORDER BY id").fetchall() == [(1, 100), (3, 30)]

    # a transaction started after T1's uncommitted writes
    t2 = rr_conn()
    assert t2.execute(f"SELECT id, v FROM {t} ORDER BY id").fetchall() == [(1, 10), (2, 20)]
    # an autocommit reader
    ac = connect()
    assert ac.execute(f"SELECT id, v FROM {t} ORDER BY id").fetchall() == [(1, 10), (2, 20)]
    assert ac.execute(f"SELECT count(*) FROM {t} WHERE v >= 30").fetchone() == (0,)

    t1.rollback()
    assert t2.execute(f"SELECT id, v FROM {t} ORDER BY id").fetchall() == [(1, 10), (2, 20)]
    t2.commit()
    assert ac.execute(f"SELECT id, v FROM {t} ORDER BY id").fetchall() == [(1, 10), (2, 20)]


def test_lost_update(connect, rr_conn, table):
    """Two read-modify-write increments of the same counter: one fails with
    40001; after retrying it, the final count is right (2)."""
    t = table("iso_lu", [(1, 0)])
    t1, t2 = rr_conn(), rr_conn()
    r1 = read_v(t1, t, 1)
    r2 = read_v(t2, t, 1)
    assert r1 == r2 == 0
    t1.execute(f"UPDATE {t} SET v = %s WHERE id = 1", (r1 + 1,))

    failed_at = second_writer_conflict(
        t1, t2, lambda c: c.execute(f"UPDATE {t} SET v = %s WHERE id = 1", (r2 + 1,)))
    assert failed_at in ("write", "commit"), "second increment overwrote the first one (lost update)"
    assert committed_v(connect, t, 1) == 1

    # retry the failed transaction from scratch: it now sees the committed value
    for _ in range(5):
        try:
            r = read_v(t2, t, 1)
            t2.execute(f"UPDATE {t} SET v = %s WHERE id = 1", (r + 1,))
            t2.commit()
            break
        except psycopg.Error as e:
            assert sqlstate(e) == SERIALIZATION_FAILURE
            t2.rollback()
    assert committed_v(connect, t, 1) == 2


def test_lost_update_concurrent_increments(connect, rr_conn, table):
    """4 threads x 15 read-modify-write increments, retrying on 40001:
    no increment is lost."""
    t = table("iso_luc", [(1, 0)])
    n_threads, per_thread, max_attempts = 4, 15, 200
    conns = [rr_conn() for _ in range(n_threads)]
    failures = []
    retries = [0] * n_threads

    def worker(i):
        c = conns[i]
        for _ in range(per_thread):
            for attempt in range(max_attempts):
                try:
                    r = read_v(c, t, 1)
                    c.execute(f"UPDATE {t} SET v = %s WHERE id = 1", (r + 1,))
                    c.commit()
                    break
                except psycopg.Error as e:
                    c.rollback()
                    if sqlstate(e) != SERIALIZATION_FAILURE:
                        failures.append(repr(e))
                        return
                    retries[i] += 1
            else:
                failures.append(f"thread {i}: gave up after {max_attempts} attempts")
                return

    bgs = [Background(lambda i=i: worker(i)) for i in range(n_threads)]
    for bg in bgs:
        assert bg.join(120), "increment worker did not finish in time"
        assert bg.error is None, bg.error
    assert not failures, failures
    assert committed_v(connect, t, 1) == n_threads * per_thread


def test_read_skew(connect, rr_conn, table):
    """T1 reads x; T2 changes x and y (keeping x + y = 100) and commits;
    T1 then reads y and sees the old y, consistent with the x it read."""
    t = table("iso_rs", [(1, 50), (2, 50)])  # x = id 1, y = id 2
    t1, t2 = rr_conn(), rr_conn()
    x = read_v(t1, t, 1)
    assert x == 50
    t2.execute(f"UPDATE {t} SET v = 25 WHERE id = 1")
    t2.execute(f"UPDATE {t} SET v = 75 WHERE id = 2")
    t2.commit()
    assert committed_v(connect, t, 2) == 75
    y = read_v(t1, t, 2)
    assert y == 50, "T1 saw T2's committed y after reading the old x (read skew)"
    assert x + y == 100
    assert read_v(t1, t, 1) == 50
    assert t1.execute(f"SELECT sum(v) FROM {t}").fetchone() == (100,)
    t1.commit()
    assert read_v(t1, t, 1) == 25  # a new transaction sees the new state
    t1.commit()


def test_write_skew(connect, rr_conn, table):
    """Two doctors on call; each transaction checks that another doctor is on
    call and takes itself off call. Snapshot isolation allows both commits
    (disjoint write sets), leaving nobody on call: assert that it happens."""
    t = table("iso_ws", [(1, 1), (2, 1)])  # id = doctor, v = on_call (1/0)
    t1, t2 = rr_conn(), rr_conn()
    assert t1.execute(f"SELECT count(*) FROM {t} WHERE v = 1").fetchone() == (2,)
    assert t2.execute(f"SELECT count(*) FROM {t} WHERE v = 1").fetchone() == (2,)
    t1.execute(f"UPDATE {t} SET v = 0 WHERE id = 1")
    bg = Background(lambda: t2.execute(f"UPDATE {t} SET v = 0 WHERE id = 2"))
    assert bg.join(JOIN_TIMEOUT_S), "update of a different row blocked"
    assert bg.error is None, bg.error
    t1.commit()
    t2.commit()
    c = connect()
    assert c.execute(f"SELECT count(*) FROM {t} WHERE v = 1").fetchone() == (0,)


def test_non_repeatable_read_and_phantom(connect, rr_conn, table):
    """A second read in the same transaction returns the same rows after
    another transaction committed an update, a delete and a matching insert."""
    t = table("iso_nrr", [(1, 5), (2, 15), (3, 25)])
    t1 = rr_conn()
    q = f"SELECT id, v FROM {t} WHERE v > 10 ORDER BY id"
    first = t1.execute(q).fetchall()
    assert first == [(2, 15), (3, 25)]
    first_count = t1.execute(f"SELECT count(*), sum(v) FROM {t}").fetchone()

    other = connect()  # autocommit: each statement commits
    other.execute(f"UPDATE {t} SET v = 99 WHERE id = 2")
    other.execute(f"DELETE FROM {t} WHERE id = 3")
    other.execute(f"INSERT INTO {t} VALUES (4, 40)")
    other.execute(f"UPDATE {t} SET v = 11 WHERE id = 1")
    assert other.execute(q).fetchall() == [(1, 11), (2, 99), (4, 40)]

    assert t1.execute(q).fetchall() == first, "non-repeatable read / phantom"
    assert t1.execute(f"SELECT count(*), sum(v) FROM {t}").fetchone() == first_count
    assert t1.execute(f"SELECT v FROM {t} WHERE id = 4").fetchall() == []
    t1.commit()
    assert t1.execute(q).fetchall() == [(1, 11), (2, 99), (4, 40)]
    t1.commit()


def test_snapshot_sees_own_writes_only(connect, rr_conn, table):
    """Inside a snapshot, the transaction's own writes are visible on top of
    the snapshot while other sessions' later commits are not."""
    t = table("iso_own", [(1, 1)])
    t1 = rr_conn()
    assert read_v(t1, t, 1) == 1
    other = connect()
    other.execute(f"INSERT INTO {t} VALUES (2, 2)")
    t1.execute(f"INSERT INTO {t} VALUES (3, 3)")
    assert t1.execute(f"SELECT id FROM {t} ORDER BY id").fetchall() == [(1,), (3,)]
    t1.commit()
    assert other.execute(f"SELECT id FROM {t} ORDER BY id").fetchall() == [(1,), (2,), (3,)]


def test_conflicting_delete_and_update(connect, rr_conn, table):
    """T1 deletes a row; T2 (concurrent snapshot) updates it: T2 gets 40001."""
    t = table("iso_del", [(1, 1)])
    t1, t2 = rr_conn(), rr_conn()
    assert read_v(t1, t, 1) == 1
    assert read_v(t2, t, 1) == 1
    t1.execute(f"DELETE FROM {t} WHERE id = 1")
    failed_at = second_writer_conflict(
        t1, t2, lambda c: c.execute(f"UPDATE {t} SET v = 2 WHERE id = 1"))
    assert failed_at in ("write", "commit")
    c = connect()
    assert c.execute(f"SELECT count(*) FROM {t}").fetchone() == (0,)


# ---------------------------------------------------------------- foreign keys
def _fk_tables(connect, table_name, on_delete=""):
    p, ch = table_name("iso_fkp"), table_name("iso_fkc")
    c = connect()
    c.execute(f"CREATE TABLE {p} (id INTEGER PRIMARY KEY)")
    c.execute(f"CREATE TABLE {ch} (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES {p} {on_delete})")
    c.execute(f"INSERT INTO {p} VALUES (1), (2)")
    return p, ch


def _orphans(connect, p, ch):
    c = connect()
    try:
        return c.execute(
            f"SELECT count(*) FROM {ch} WHERE pid IS NOT NULL AND pid NOT IN (SELECT id FROM {p})"
        ).fetchone()[0]
    finally:
        c.close()


@pytest.mark.parametrize("on_delete", ["", "ON DELETE CASCADE"])
def test_fk_new_reference_races_parent_delete(connect, rr_conn, table_name, on_delete):
    """T1 adds a row referencing parent 1; T2, whose snapshot sees no reference, deletes
    parent 1. Both cannot commit: a reference to a deleted row would remain."""
    p, ch = _fk_tables(connect, table_name, on_delete)
    t1, t2 = rr_conn(), rr_conn()
    assert t2.execute(f"SELECT count(*) FROM {ch}").fetchone()[0] == 0  # T2's snapshot
    t1.execute(f"INSERT INTO {ch} VALUES (10, 1)")
    # PostgreSQL blocks T2 until T1 commits, then reports the reference (23503); Basalt
    # does not block, and fails T2 at COMMIT (40001).
    failed_at = second_writer_conflict(t1, t2, lambda c: c.execute(f"DELETE FROM {p} WHERE id = 1"),
                                       allowed=(SERIALIZATION_FAILURE, FK_VIOLATION))
    assert failed_at in ("write", "commit"), "both the reference and the delete committed"
    assert _orphans(connect, p, ch) == 0


def test_fk_parent_delete_races_new_reference(connect, rr_conn, table_name):
    """The other order: T1 deletes parent 2 first; T2, whose snapshot still has parent 2,
    adds a row referencing it and commits after T1."""
    p, ch = _fk_tables(connect, table_name)
    t1, t2 = rr_conn(), rr_conn()
    assert t2.execute(f"SELECT count(*) FROM {p}").fetchone()[0] == 2  # T2's snapshot
    t1.execute(f"DELETE FROM {p} WHERE id = 2")
    failed_at = second_writer_conflict(t1, t2, lambda c: c.execute(f"INSERT INTO {ch} VALUES (20, 2)"),
                                       allowed=(SERIALIZATION_FAILURE, FK_VIOLATION))
    assert failed_at in ("write", "commit"), "both the delete and the reference committed"
    assert _orphans(connect, p, ch) == 0


def test_fk_concurrent_references_to_one_parent_both_commit(connect, rr_conn, table_name):
    """Two transactions adding rows that reference the same parent do not conflict."""
    p, ch = _fk_tables(connect, table_name)
    t1, t2 = rr_conn(), rr_conn()
    t1.execute(f"INSERT INTO {ch} VALUES (1, 1)")
    t2.execute(f"INSERT INTO {ch} VALUES (2, 1)")
    t1.commit()
    t2.commit()
    c = connect()
    assert c.execute(f"SELECT count(*) FROM {ch} WHERE pid = 1").fetchone()[0] == 2


def test_rolled_back_truncate_keeps_rows_other_sessions_committed(connect):
    """A TRUNCATE in a block takes effect at once for other sessions (Basalt does not make
    them wait, PostgreSQL does); when the block rolls back, the old rows come back and what
    others committed in between stays, the newer row winning on the same key."""
    t = unique_name("trunc_undo")
    a = connect(autocommit=True)
    a.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, v TEXT)")
    a.execute(f"INSERT INTO {t} SELECT g, 'old' FROM generate_series(1, 100) AS g")
    a.execute("BEGIN")
    a.execute(f"TRUNCATE {t}")
    b = connect(autocommit=True)
    b.execute(f"INSERT INTO {t} VALUES (9999, 'other'), (5, 'other5')")
    a.execute("ROLLBACK")
    assert b.execute(f"SELECT count(*), count(*) FILTER (WHERE v = 'old'), "
                     f"(SELECT v FROM {t} WHERE id = 5) FROM {t}").fetchone() == (101, 99, "other5")
