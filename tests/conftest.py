"""Shared pytest fixtures for the Basalt wire-protocol test suites.

Target server (any PostgreSQL-wire server: Basalt or the PostgreSQL 15
reference started by tests/pg_reference.sh):
    BASALT_PG_HOST  (default 127.0.0.1)
    BASALT_PG_PORT  (default 5433)
    BASALT_PG_DB    (default basalt)
    BASALT_PG_USER  (default postgres; Basalt accepts any user name)

Tests that need this server use the `pg_server` / `connect` fixtures; tests
that start their own server (tests/crash) do not touch it.
"""
from __future__ import annotations

import faulthandler
import os
import uuid

import pytest

PG_HOST = os.environ.get("BASALT_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BASALT_PG_PORT", "5433"))
PG_DB = os.environ.get("BASALT_PG_DB", "basalt")
PG_USER = os.environ.get("BASALT_PG_USER", "postgres")
CONNECT_TIMEOUT = 10  # seconds
# hard per-test limit: a hung server must not hang the whole run (0 disables)
TEST_TIMEOUT_S = float(os.environ.get("BASALT_TEST_TIMEOUT", "600"))


def conninfo_kwargs(**overrides):
    kw = dict(host=PG_HOST, port=PG_PORT, dbname=PG_DB, user=PG_USER,
              connect_timeout=CONNECT_TIMEOUT)
    kw.update(overrides)
    return kw


def sqlalchemy_url(driver: str = "psycopg") -> str:
    return f"postgresql+{driver}://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_DB}"


def unique_name(prefix: str) -> str:
    """Unique, lower-case SQL identifier, so concurrent/repeated runs never collide."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def _per_test_watchdog():
    """Dumps all thread stacks and exits the run if one test exceeds TEST_TIMEOUT_S."""
    if TEST_TIMEOUT_S > 0:
        faulthandler.dump_traceback_later(TEST_TIMEOUT_S, exit=True)
    yield
    if TEST_TIMEOUT_S > 0:
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="session")
def pg_server():
    """Checks once that the target server answers; fails the dependent tests clearly otherwise."""
    import psycopg

    try:
        with psycopg.connect(**conninfo_kwargs(), autocommit=True) as c:
            c.execute("SELECT 1").fetchone()
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"no PostgreSQL-wire server at {PG_HOST}:{PG_PORT}/{PG_DB} "
                    f"(set BASALT_PG_HOST/PORT/DB): {e}", pytrace=False)
    return dict(host=PG_HOST, port=PG_PORT, dbname=PG_DB, user=PG_USER)


class _ConnectionFactory:
    def __init__(self):
        self.opened = []

    def __call__(self, autocommit: bool = True, **kw):
        import psycopg

        c = psycopg.connect(**conninfo_kwargs(**kw), autocommit=autocommit)
        self.opened.append(c)
        return c

    def close_all(self):
        for c in self.opened:
            try:
                c.close()
            except Exception:  # noqa: BLE001
                pass
        self.opened = []


@pytest.fixture
def connect(pg_server):
    """Factory: connect(autocommit=True, **kw) -> psycopg.Connection, closed at teardown."""
    f = _ConnectionFactory()
    yield f
    f.close_all()


@pytest.fixture
def table_name(connect):
    """Factory of unique table names; those tables are dropped at teardown
    (after the test's own psycopg connections are closed, so no open
    transaction can block the DROP)."""
    names = []

    def _make(prefix: str = "t") -> str:
        n = unique_name(prefix)
        names.append(n)
        return n

    yield _make
    connect.close_all()
    if names:
        import psycopg

        with psycopg.connect(**conninfo_kwargs(), autocommit=True) as c:
            for n in names:
                try:
                    c.execute(f"DROP TABLE IF EXISTS {n} CASCADE")
                except Exception:  # noqa: BLE001
                    pass
