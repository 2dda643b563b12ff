"""Crash-recovery tests for the Basalt server binary.

Only runs against Basalt: set BASALT_BIN to the server binary. Each test
starts its own server (`$BASALT_BIN serve --data-dir DIR --listen 127.0.0.1
--pg-port P --http-port H --mysql-port M`) on free ports with a temporary data directory,
waits for GET /health == 200, and kills it with SIGKILL.

Environment:
  BASALT_BIN              server binary (tests skip without it)
  CRASH_CYCLES            kill/restart cycles of test_sigkill_cycles (default 20)
  CRASH_SEED              RNG seed (default: random, printed on failure)
  BASALT_STARTUP_TIMEOUT  seconds to wait for /health (default 60)
  BASALT_WAL_GLOB         overrides WAL_GLOB below
"""
from __future__ import annotations

import glob
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import psycopg
import pytest

from basalt_server import Server

# WAL files, relative to the data directory. Single constant so the layout can be adjusted.
WAL_GLOB = os.environ.get("BASALT_WAL_GLOB", "wal/*.wal")

BASALT_BIN = os.environ.get("BASALT_BIN")
CRASH_CYCLES = int(os.environ.get("CRASH_CYCLES", "20"))
N_WRITERS = 8
KILL_AFTER_S = (0.3, 2.0)
WRITER_JOIN_TIMEOUT_S = 30.0
FAILED_START_TIMEOUT_S = 60.0

pytestmark = pytest.mark.skipif(
    not BASALT_BIN, reason="crash tests only run against Basalt: set BASALT_BIN to the server binary")


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="basalt-crash-")
    os.makedirs(os.path.join(d, "logs"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def server_factory(workdir):
    servers = []

    def _make(env_extra=None):
        s = Server(os.path.join(workdir, "data"), os.path.join(workdir, "logs"), env_extra)
        servers.append(s)
        return s

    yield _make
    for s in servers:
        s.kill()


# ---------------------------------------------------------------- workload model
def payload_for(writer: int, seq: int, part: int) -> str:
    return f"w{writer}s{seq}p{part}:" + "x" * ((writer * 31 + seq * 7 + part * 13) % 150)


@dataclass
class Txn:
    writer: int
    seq: int
    nrows: int
    state: str = "started"  # started -> committing -> acked | absent_ok; resolved later


@dataclass
class Ledger:
    txns: dict = field(default_factory=dict)  # (writer, seq) -> Txn
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_seq: list = field(default_factory=lambda: [0] * N_WRITERS)
    unexpected: list = field(default_factory=list)


def writer_loop(server: Server, ledger: Ledger, writer: int, table: str, stop: threading.Event, rnd_seed: int):
    rnd = random.Random(rnd_seed)
    try:
        conn = server.connect(autocommit=True)
    except psycopg.Error:
        return  # server already gone
    try:
        while not stop.is_set():
            with ledger.lock:
                ledger.next_seq[writer] += 1
                seq = ledger.next_seq[writer]
                txn = Txn(writer, seq, rnd.randint(1, 3))
                ledger.txns[(writer, seq)] = txn
            try:
                conn.execute("BEGIN")
                for part in range(txn.nrows):
                    conn.execute(f"INSERT INTO {table} (writer, seq, part, payload) VALUES (%s, %s, %s, %s)",
                                 (writer, seq, part, payload_for(writer, seq, part)))
                txn.state = "committing"  # from here on the outcome is unknown until COMMIT returns
                conn.execute("COMMIT")
                txn.state = "acked"
            except psycopg.OperationalError:
                return  # connection lost: the server was killed
            except psycopg.Error as e:
                if conn.closed or conn.broken:
                    return
                ledger.unexpected.append(f"writer {writer} seq {seq}: {e!r}")
                txn.state = "aborted"
                try:
                    conn.execute("ROLLBACK")
                except psycopg.Error:
                    return
    finally:
        try:
            conn.close()
        except Exception:  # noqa: BLE001
            pass


def verify(server: Server, ledger: Ledger, table: str, cycle: int):
    """Checks durability/atomicity and resolves in-flight transactions."""
    with server.connect(autocommit=True) as c:
        rows = c.execute(f"SELECT writer, seq, part, payload FROM {table}").fetchall()
    present: dict = {}
    problems = []
    for writer, seq, part, payload in rows:
        present.setdefault((writer, seq), set()).add(part)
        if (writer, seq) not in ledger.txns:
            problems.append(f"row ({writer},{seq},{part}) was never attempted")
            continue
        if payload != payload_for(writer, seq, part):
            problems.append(f"row ({writer},{seq},{part}) has a corrupted payload {payload[:40]!r}")
    for key, txn in ledger.txns.items():
        parts = present.get(key, set())
        full = parts == set(range(txn.nrows))
        if parts and not full:
            problems.append(f"txn {key} is partially present: parts {sorted(parts)} of {txn.nrows}")
        if txn.state == "acked" and not full:
            problems.append(f"acknowledged txn {key} ({txn.nrows} rows) is missing after restart")
        elif txn.state in ("started", "aborted", "absent") and parts:
            problems.append(f"txn {key} never sent COMMIT (state {txn.state}) but is present")
        elif txn.state == "committing":
            # resolve: from now on it must stay as it is
            txn.state = "acked" if full else "absent"
        elif txn.state == "started":
            txn.state = "absent"
    if problems:
        shown = "\n  ".join(problems[:30])
        pytest.fail(f"crash cycle {cycle}: {len(problems)} problem(s)\n  {shown}\n{server.log_tail()}")
    return len(rows)


# ---------------------------------------------------------------- tests
def test_sigkill_cycles(server_factory):
    seed = int(os.environ.get("CRASH_SEED", random.randrange(1 << 30)))
    rnd = random.Random(seed)
    print(f"CRASH_SEED={seed} CRASH_CYCLES={CRASH_CYCLES}")
    table = "crash_t"
    server = server_factory().start()
    with server.connect(autocommit=True) as c:
        c.execute(f"CREATE TABLE {table} (writer INTEGER NOT NULL, seq INTEGER NOT NULL, part INTEGER NOT NULL, "
                  f"payload TEXT NOT NULL, PRIMARY KEY (writer, seq, part))")
    ledger = Ledger()
    for cycle in range(1, CRASH_CYCLES + 1):
        stop = threading.Event()
        threads = [threading.Thread(target=writer_loop, daemon=True,
                                    args=(server, ledger, w, table, stop, rnd.randrange(1 << 30)))
                   for w in range(N_WRITERS)]
        for t in threads:
            t.start()
        time.sleep(rnd.uniform(*KILL_AFTER_S))  # the random crash moment
        server.kill()
        stop.set()
        for t in threads:
            t.join(WRITER_JOIN_TIMEOUT_S)
            assert not t.is_alive(), "a writer thread hung after the server was killed"
        assert not ledger.unexpected, f"unexpected SQL errors (seed {seed}): {ledger.unexpected[:5]}"
        server.start()
        n = verify(server, ledger, table, cycle)
        acked = sum(1 for t in ledger.txns.values() if t.state == "acked")
        print(f"cycle {cycle}: {n} rows, {acked} committed txns, {len(ledger.txns)} attempted")
    acked = sum(1 for t in ledger.txns.values() if t.state == "acked")
    assert acked > 0, "no transaction was ever acknowledged: the workload did not run"
    server.kill()


NO_CHECKPOINT_ENV = {"BASALT_CHECKPOINT_WAL_BYTES": "0"}
N_WAL_TXNS = 60


def _fill_sequential(server: Server, table: str, n: int):
    with server.connect(autocommit=True) as c:
        c.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
        for i in range(1, n + 1):
            c.execute("BEGIN")
            c.execute(f"INSERT INTO {table} VALUES (%s, %s)", (i, _wal_payload(i)))
            c.execute("COMMIT")


def _wal_payload(i: int) -> str:
    return f"row-{i}-" + "y" * (i % 50)


def _used_len(path: str) -> int:
    """Length of the file without trailing zero bytes (preallocated WAL space)."""
    with open(path, "rb") as f:
        return len(f.read().rstrip(b"\0"))


def _wal_files(data_dir: str) -> list[str]:
    files = [f for f in glob.glob(os.path.join(data_dir, WAL_GLOB)) if os.path.isfile(f)]
    assert files, f"no WAL files matching {WAL_GLOB!r} under {data_dir}: adjust WAL_GLOB"
    return files


def _newest(files):
    return max(files, key=lambda f: (os.path.getmtime(f), os.path.basename(f)))


def test_wal_torn_tail_is_tolerated(server_factory):
    """Truncating the last bytes of the newest WAL file (a torn final write)
    must not prevent start-up; everything but possibly the last transaction
    survives."""
    table = "crash_wal_tail"
    server = server_factory(NO_CHECKPOINT_ENV).start()
    _fill_sequential(server, table, N_WAL_TXNS)
    server.kill()
    newest = _newest(_wal_files(server.data_dir))
    used = _used_len(newest)
    cut = min(7, used - 1)
    assert cut > 0, f"newest WAL file {newest} is empty"
    with open(newest, "r+b") as f:
        f.truncate(used - cut)
    server.start()
    with server.connect(autocommit=True) as c:
        rows = c.execute(f"SELECT id, payload FROM {table} ORDER BY id").fetchall()
    ids = [r[0] for r in rows]
    expected_all = list(range(1, N_WAL_TXNS + 1))
    assert ids in (expected_all, expected_all[:-1]), (
        f"after truncating {cut} bytes of {os.path.basename(newest)}: got ids "
        f"{ids[:5]}...{ids[-5:]} ({len(ids)} rows)\n{server.log_tail()}")
    assert all(p == _wal_payload(i) for i, p in rows), "recovered rows have wrong payloads"
    # the server is writable after recovering from a torn tail
    with server.connect(autocommit=True) as c:
        c.execute(f"INSERT INTO {table} VALUES (%s, %s)", (N_WAL_TXNS + 1, "after"))
    server.kill()
    server.start()
    with server.connect(autocommit=True) as c:
        assert c.execute(f"SELECT count(*) FROM {table} WHERE id = %s", (N_WAL_TXNS + 1,)).fetchone() == (1,)
    server.kill()


def test_wal_corruption_in_the_middle_fails_startup(server_factory):
    """Flipping a byte in the middle of the WAL (not the tail) must make
    start-up fail: nonzero exit, message naming the file and the offset."""
    table = "crash_wal_mid"
    server = server_factory(NO_CHECKPOINT_ENV).start()
    _fill_sequential(server, table, N_WAL_TXNS)
    server.kill()
    files = _wal_files(server.data_dir)
    target = max(files, key=_used_len)
    used = _used_len(target)
    assert used >= 1024, f"WAL file {target} unexpectedly small ({used} bytes used)"
    offset = used // 2  # middle of the written part: records follow it, so it is not a torn tail
    with open(target, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))

    server.spawn()
    try:
        code = server.proc.wait(timeout=FAILED_START_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        healthy = False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}/health", timeout=2) as r:
                healthy = r.status == 200
        except (urllib.error.URLError, OSError):
            pass
        server.kill()
        pytest.fail(f"server with a corrupted WAL ({os.path.basename(target)} @ {offset}) did not exit "
                    f"(healthy={healthy})\n{server.log_tail()}")
    log = open(server.log_path, "rb").read().decode("utf-8", "replace")
    assert code != 0, f"start-up with a corrupted WAL exited 0\n{server.log_tail()}"
    assert os.path.basename(target) in log, f"error does not name the WAL file\n{server.log_tail()}"
    assert "offset" in log.lower(), f"error does not mention the offset\n{server.log_tail()}"
    server.proc = None


def test_column_engine_is_rebuilt_after_sigkill(server_factory):
    """The column engine is derived state: after kill -9 it is loaded again from the
    recovered rows, and forced column scans answer exactly like the row engine."""
    server = server_factory().start()
    with server.connect(autocommit=True) as c:
        c.execute("CREATE TABLE colcrash (id INTEGER PRIMARY KEY, grp INTEGER, v TEXT)")
        c.execute("INSERT INTO colcrash SELECT x, x % 11, 'v' || x FROM generate_series(1, 30000) AS s(x)")
        c.execute("ALTER TABLE colcrash SET (columnar = on)")
        c.execute("SET basalt.engine = 'column'")
        c.execute("UPDATE colcrash SET grp = 99 WHERE id % 7 = 0")
        c.execute("DELETE FROM colcrash WHERE id > 29000")
        before = c.execute("SELECT grp, count(*), sum(id) FROM colcrash GROUP BY grp ORDER BY grp").fetchall()
    server.kill()
    server.start()
    with server.connect(autocommit=True) as c:
        c.execute("SET basalt.engine = 'column'")
        after = c.execute("SELECT grp, count(*), sum(id) FROM colcrash GROUP BY grp ORDER BY grp").fetchall()
        plan = "\n".join(r[0] for r in c.execute("EXPLAIN SELECT count(*) FROM colcrash").fetchall())
        state = c.execute(
            "SELECT state, rows_loaded FROM pg_catalog.basalt_columnar WHERE table_name = 'colcrash'").fetchall()
        c.execute("SET basalt.engine = 'row'")
        rows = c.execute("SELECT grp, count(*), sum(id) FROM colcrash GROUP BY grp ORDER BY grp").fetchall()
    assert after == before == rows
    assert "BasaltColumnScan" in plan, plan
    assert state == [("loaded", 29000)]


def test_views_survive_sigkill(server_factory):
    """A view is catalog state: after kill -9 (WAL replay) it is still there and still reads
    its table, and a dropped one stays dropped."""
    server = server_factory().start()
    with server.connect(autocommit=True) as c:
        c.execute("CREATE TABLE viewcrash (id INTEGER PRIMARY KEY, v TEXT)")
        c.execute("INSERT INTO viewcrash SELECT x, 'v' || x FROM generate_series(1, 100) AS s(x)")
        c.execute("CREATE VIEW viewcrash_even (n, label) AS SELECT id, v FROM viewcrash WHERE id % 2 = 0")
        c.execute("CREATE VIEW viewcrash_gone AS SELECT 1 AS one")
        c.execute("DROP VIEW viewcrash_gone")
    server.kill()
    server.start()
    with server.connect(autocommit=True) as c:
        assert c.execute("SELECT count(*), max(n), min(label) FROM viewcrash_even").fetchone() == (50, 100, "v10")
        kinds = c.execute("SELECT table_name, table_type FROM information_schema.tables "
                          "WHERE table_name LIKE 'viewcrash%' ORDER BY 1").fetchall()
    assert kinds == [("viewcrash", "BASE TABLE"), ("viewcrash_even", "VIEW")]


def test_table_dropped_in_rolled_back_block_survives_sigkill(server_factory):
    """A DROP TABLE rolled back (whole block, or to a savepoint) puts the table back with its
    rows, its serial sequence and the foreign keys a CASCADE removed, and a rolled-back
    TRUNCATE puts the rows back; after kill -9 the log replays the drop (or TRUNCATE) and the
    restore, and the rows are there."""
    server = server_factory().start()
    with server.connect(autocommit=True) as c:
        c.execute("CREATE TABLE dropback (id SERIAL PRIMARY KEY, v TEXT)")
        c.execute("INSERT INTO dropback (v) SELECT 'v' || x FROM generate_series(1, 3000) AS s(x)")
        c.execute("CREATE TABLE dropback_child (k INTEGER REFERENCES dropback (id))")
        c.execute("BEGIN")
        c.execute("DROP TABLE dropback CASCADE")
        c.execute("ROLLBACK")
        c.execute("BEGIN")
        c.execute("INSERT INTO dropback (v) VALUES ('kept')")
        c.execute("SAVEPOINT s")
        c.execute("INSERT INTO dropback (v) VALUES ('undone')")
        c.execute("DROP TABLE dropback CASCADE")
        c.execute("ROLLBACK TO s")
        c.execute("COMMIT")
        c.execute("BEGIN")
        c.execute("TRUNCATE dropback_child, dropback")
        c.execute("ROLLBACK")
    server.kill()
    server.start()
    with server.connect(autocommit=True) as c:
        assert c.execute("SELECT count(*), count(*) FILTER (WHERE v = 'kept'), "
                         "count(*) FILTER (WHERE v = 'undone') FROM dropback").fetchone() == (3001, 1, 0)
        assert c.execute("INSERT INTO dropback (v) VALUES ('next') RETURNING id").fetchone()[0] > 3001
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            c.execute("INSERT INTO dropback_child VALUES (999999)")


def test_sequences_and_foreign_keys_survive_sigkill(server_factory):
    """A sequence no column owns never hands out a value again after kill -9 (values a
    committed transaction used, and values only returned by nextval), and FOREIGN KEY
    constraints are catalog state that recovery keeps."""
    server = server_factory().start()
    with server.connect(autocommit=True) as c:
        c.execute("CREATE SEQUENCE crash_seq INCREMENT BY 5 START 100")
        c.execute("CREATE TABLE crash_parent (id INTEGER PRIMARY KEY)")
        c.execute("CREATE TABLE crash_child (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES crash_parent)")
        c.execute("INSERT INTO crash_parent SELECT nextval('crash_seq') FROM generate_series(1, 40)")
        seen = [r[0] for r in c.execute("SELECT id FROM crash_parent").fetchall()]
        seen += [c.execute("SELECT nextval('crash_seq')").fetchone()[0] for _ in range(3)]
    server.kill()
    server.start()
    with server.connect(autocommit=True) as c:
        after = c.execute("SELECT nextval('crash_seq')").fetchone()[0]
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            c.execute("INSERT INTO crash_child VALUES (1, 7)")
        c.execute("INSERT INTO crash_child VALUES (1, 100)")
    assert after > max(seen), (after, max(seen))
    assert (after - 100) % 5 == 0


def test_partitions_survive_sigkill(server_factory):
    """Partition keys and bounds are catalog state: after kill -9 rows written through the
    partitioned table are still in their partitions, and routing still follows the bounds
    (including a partition attached with ALTER TABLE and one detached)."""
    server = server_factory().start()
    with server.connect(autocommit=True) as c:
        c.execute("CREATE TABLE pcrash (k INTEGER, v TEXT) PARTITION BY RANGE (k)")
        c.execute("CREATE TABLE pcrash_lo PARTITION OF pcrash FOR VALUES FROM (MINVALUE) TO (100)")
        c.execute("CREATE TABLE pcrash_hi (v TEXT, k INTEGER)")
        c.execute("ALTER TABLE pcrash ATTACH PARTITION pcrash_hi FOR VALUES FROM (100) TO (200)")
        c.execute("CREATE TABLE pcrash_gone PARTITION OF pcrash FOR VALUES FROM (200) TO (300)")
        c.execute("ALTER TABLE pcrash DETACH PARTITION pcrash_gone")
        c.execute("INSERT INTO pcrash SELECT x, 'v' || x FROM generate_series(1, 199) AS s(x)")
    server.kill()
    server.start()
    with server.connect(autocommit=True) as c:
        counts = c.execute("SELECT tableoid::regclass::text, count(*) FROM pcrash "
                           "GROUP BY 1 ORDER BY 1").fetchall()
        c.execute("INSERT INTO pcrash VALUES (150, 'again')")
        with pytest.raises(psycopg.errors.CheckViolation):
            c.execute("INSERT INTO pcrash VALUES (250, 'nowhere')")
        hi = c.execute("SELECT count(*) FROM pcrash_hi").fetchone()[0]
    assert counts == [("pcrash_hi", 100), ("pcrash_lo", 99)], counts
    assert hi == 101


def test_triggers_survive_sigkill(server_factory):
    """Triggers and their PL/pgSQL functions are catalog state: after kill -9 a BEFORE ROW
    trigger still changes the rows written, and a dropped trigger stays dropped."""
    server = server_factory().start()
    with server.connect(autocommit=True) as c:
        c.execute("CREATE TABLE tcrash (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        c.execute("CREATE FUNCTION tcrash_fill() RETURNS trigger AS $$ BEGIN "
                  "new.v := 'filled ' || tg_op; RETURN new; END $$ LANGUAGE plpgsql")
        c.execute("CREATE TRIGGER tcrash_b BEFORE INSERT OR UPDATE ON tcrash "
                  "FOR EACH ROW EXECUTE FUNCTION tcrash_fill()")
        c.execute("CREATE FUNCTION tcrash_no() RETURNS trigger AS $$ BEGIN "
                  "RAISE EXCEPTION 'no'; END $$ LANGUAGE plpgsql")
        c.execute("CREATE TRIGGER tcrash_gone AFTER INSERT ON tcrash "
                  "FOR EACH STATEMENT EXECUTE FUNCTION tcrash_no()")
        c.execute("DROP TRIGGER tcrash_gone ON tcrash")
        c.execute("INSERT INTO tcrash (id) VALUES (1)")
    server.kill()
    server.start()
    with server.connect(autocommit=True) as c:
        c.execute("INSERT INTO tcrash (id) VALUES (2)")
        c.execute("UPDATE tcrash SET v = 'x' WHERE id = 1")
        rows = c.execute("SELECT id, v FROM tcrash ORDER BY id").fetchall()
    assert rows == [(1, "filled UPDATE"), (2, "filled INSERT")], rows


def test_second_server_on_the_same_data_directory_is_refused(server_factory, workdir):
    """A second server on a data directory in use exits with an error naming the holder,
    and the first one goes on serving its data (two would replay and checkpoint over each
    other's files)."""
    first = server_factory().start()
    with first.connect(autocommit=True) as c:
        c.execute("CREATE TABLE lock_probe(id int PRIMARY KEY)")
        c.execute("INSERT INTO lock_probe VALUES (1), (2)")
    os.makedirs(os.path.join(workdir, "logs-second"))
    second = Server(first.data_dir, os.path.join(workdir, "logs-second"))
    second.spawn()
    try:
        code = second.proc.wait(timeout=FAILED_START_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        second.kill()
        pytest.fail(f"a second server on the same data directory did not exit\n{second.log_tail()}")
    log = open(second.log_path, "rb").read().decode("utf-8", "replace")
    assert code != 0, f"second server exited 0\n{log}"
    assert "in use by another Basalt server" in log and str(first.proc.pid) in log, log
    with first.connect(autocommit=True) as c:
        assert c.execute("SELECT count(*) FROM lock_probe").fetchone()[0] == 2
    # The lock goes with the process, however it ends: after a kill -9 a new server starts.
    first.kill()
    third = server_factory().start()
    with third.connect(autocommit=True) as c:
        assert c.execute("SELECT count(*) FROM lock_probe").fetchone()[0] == 2
