"""Fixtures for the MySQL-protocol suites (tests/mysql).

Target server: Basalt's MySQL protocol (user root, empty password, loopback).
    BASALT_MYSQL_HOST  (default 127.0.0.1)
    BASALT_MYSQL_PORT  (default 3307)
The cross-protocol tests also use the PostgreSQL side of the same server, through the
fixtures of tests/conftest.py (BASALT_PG_HOST/PORT/DB, defaults 127.0.0.1/5433/basalt).

A MySQL database is a schema of the PostgreSQL database: MySQL `t_x.t` is PostgreSQL
`t_x.t`. Every test gets its own database `t_<uuid>` (`mysql_db`), dropped afterwards.

Drivers (`driver` fixture, one shared test body per driver):
    pymysql, mysql-connector (pure python), mysql-connector (C extension, skipped when
    the installed connector has none), mysqlclient (MySQLdb).
Every driver is connected with its own defaults unless a test says otherwise: all three
default to autocommit OFF, as real applications use them.
"""
from __future__ import annotations

import os
import uuid

import pytest

MYSQL_HOST = os.environ.get("BASALT_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("BASALT_MYSQL_PORT", "3307"))
MYSQL_USER = "root"
MYSQL_PASSWORD = ""
PG_PORT = int(os.environ.get("BASALT_PG_PORT", "5433"))
PG_DB = os.environ.get("BASALT_PG_DB", "basalt")
CONNECT_TIMEOUT = 10


# ---------------------------------------------------------------- drivers
class Driver:
    """What differs between the DB-API drivers; everything else is shared test code."""

    name = "?"
    server_side_prepare = False  # cursor(prepared=True) -> COM_STMT_PREPARE/EXECUTE

    def available(self) -> str | None:
        """None when usable, else the reason to skip."""
        return None

    def connect(self, database=None, autocommit=None, **kw):
        raise NotImplementedError

    def set_autocommit(self, conn, on: bool):
        conn.autocommit(on)

    def get_autocommit(self, conn) -> bool:
        return bool(conn.get_autocommit())

    @staticmethod
    def errcode(exc) -> int:
        errno = getattr(exc, "errno", None)
        if isinstance(errno, int) and errno > 0:
            return errno
        return exc.args[0] if exc.args and isinstance(exc.args[0], int) else -1

    @staticmethod
    def errmsg(exc) -> str:
        msg = getattr(exc, "msg", None)
        if isinstance(msg, str):
            return msg
        return str(exc.args[1]) if len(exc.args) > 1 else str(exc)

    def error_class(self):
        raise NotImplementedError

    def cursor(self, conn, prepared=False):
        if prepared:
            raise NotImplementedError(f"{self.name} has no server-side prepared cursor")
        return conn.cursor()


class PyMySQLDriver(Driver):
    name = "pymysql"

    def connect(self, database=None, autocommit=None, **kw):
        import pymysql

        args = dict(host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, password=MYSQL_PASSWORD,
                    connect_timeout=CONNECT_TIMEOUT, charset="utf8mb4")
        if database is not None:
            args["database"] = database
        if autocommit is not None:
            args["autocommit"] = autocommit
        args.update(kw)
        return pymysql.connect(**args)

    def error_class(self):
        import pymysql

        return pymysql.MySQLError


class MySQLdbDriver(Driver):
    name = "mysqlclient"

    def available(self):
        try:
            import MySQLdb  # noqa: F401
        except ImportError as e:
            return f"mysqlclient not installed: {e}"
        return None

    def connect(self, database=None, autocommit=None, **kw):
        import MySQLdb

        args = dict(host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, passwd=MYSQL_PASSWORD,
                    connect_timeout=CONNECT_TIMEOUT, charset="utf8mb4")
        if database is not None:
            args["db"] = database
        if autocommit is not None:
            args["autocommit"] = autocommit
        args.update(kw)
        return MySQLdb.connect(**args)

    def error_class(self):
        import MySQLdb

        return MySQLdb.MySQLError


class ConnectorDriver(Driver):
    server_side_prepare = True

    def __init__(self, use_pure: bool):
        self.use_pure = use_pure
        self.name = "mysql-connector-pure" if use_pure else "mysql-connector-cext"

    def available(self):
        try:
            import mysql.connector
        except ImportError as e:
            return f"mysql-connector-python not installed: {e}"
        if not self.use_pure and not getattr(mysql.connector, "HAVE_CEXT", False):
            return "mysql-connector-python C extension not available"
        return None

    def connect(self, database=None, autocommit=None, **kw):
        import mysql.connector

        args = dict(host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, password=MYSQL_PASSWORD,
                    connection_timeout=CONNECT_TIMEOUT, use_pure=self.use_pure,
                    charset="utf8mb4")
        if database is not None:
            args["database"] = database
        if autocommit is not None:
            args["autocommit"] = autocommit
        args.update(kw)
        return mysql.connector.connect(**args)

    def set_autocommit(self, conn, on: bool):
        conn.autocommit = on

    def get_autocommit(self, conn) -> bool:
        return bool(conn.autocommit)

    def error_class(self):
        import mysql.connector

        return mysql.connector.Error

    def cursor(self, conn, prepared=False):
        # buffered: a statement's rows are read at execute(), so a test that does not
        # fetch every row never trips the driver's "unread result" guard
        if prepared:
            return conn.cursor(prepared=True)
        return conn.cursor(buffered=True)


ALL_DRIVERS = [PyMySQLDriver(), ConnectorDriver(use_pure=True), ConnectorDriver(use_pure=False),
               MySQLdbDriver()]
CONNECTOR_DRIVERS = [d for d in ALL_DRIVERS if d.server_side_prepare]


def _driver_param(d):
    return pytest.param(d, id=d.name)


def _use_driver(d):
    reason = d.available()
    if reason:
        pytest.skip(reason)
    return d


@pytest.fixture(params=[_driver_param(d) for d in ALL_DRIVERS])
def driver(request) -> Driver:
    """Every MySQL DB-API driver in turn (the shared test body runs once per driver)."""
    return _use_driver(request.param)


@pytest.fixture(params=[_driver_param(d) for d in CONNECTOR_DRIVERS])
def connector_driver(request) -> Driver:
    """mysql-connector-python, pure python and C extension (server-side prepared cursors)."""
    return _use_driver(request.param)


# ---------------------------------------------------------------- server, databases
def unique_db_name() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


def _admin_connect(database=None):
    import pymysql

    return pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER,
                           password=MYSQL_PASSWORD, database=database, autocommit=True,
                           connect_timeout=CONNECT_TIMEOUT, charset="utf8mb4")


@pytest.fixture(scope="session")
def mysql_server():
    """Checks once that the MySQL protocol answers; fails the dependent tests clearly otherwise."""
    try:
        c = _admin_connect()
        try:
            with c.cursor() as cur:
                cur.execute("SELECT 1")
                cur.fetchall()
        finally:
            c.close()
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"no MySQL-protocol server at {MYSQL_HOST}:{MYSQL_PORT} "
                    f"(set BASALT_MYSQL_HOST/PORT): {e}", pytrace=False)
    return dict(host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER)


@pytest.fixture
def mysql_admin(mysql_server):
    """An autocommit PyMySQL connection without a default database."""
    c = _admin_connect()
    yield c
    try:
        c.close()
    except Exception:  # noqa: BLE001
        pass


@pytest.fixture
def mysql_db(mysql_server):
    """A fresh database (= PostgreSQL schema) `t_<uuid>` for this test, dropped at teardown."""
    name = unique_db_name()
    c = _admin_connect()
    try:
        with c.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    finally:
        c.close()
    yield name
    c = _admin_connect()
    try:
        with c.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
    except Exception as e:  # noqa: BLE001
        print(f"warning: could not drop database {name}: {e}")
    finally:
        c.close()


class _MySQLConnectionFactory:
    def __init__(self, drv: Driver, database: str):
        self.driver = drv
        self.database = database
        self.opened = []

    def __call__(self, database: str | None = "", **kw):
        """connect(**kw) -> a connection of the test's driver to the test's database
        (database=None: no default database)."""
        db = self.database if database == "" else database
        c = self.driver.connect(database=db, **kw)
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
def mysql_connect(mysql_db, driver):
    """Factory of connections of the current `driver` to `mysql_db`, closed before the DROP."""
    f = _MySQLConnectionFactory(driver, mysql_db)
    yield f
    f.close_all()


@pytest.fixture
def connector_connect(mysql_db, connector_driver):
    """Like mysql_connect, for the mysql-connector variants only."""
    f = _MySQLConnectionFactory(connector_driver, mysql_db)
    yield f
    f.close_all()


@pytest.fixture
def pymysql_connect(mysql_db):
    """Factory of PyMySQL connections to `mysql_db` (cross-protocol tests)."""
    f = _MySQLConnectionFactory(PyMySQLDriver(), mysql_db)
    yield f
    f.close_all()


@pytest.fixture
def pg_connect(mysql_db, connect):
    """psycopg factory of tests/conftest.py, set up after (so torn down before) `mysql_db`:
    no open PostgreSQL transaction is left when the database is dropped."""
    return connect


# ---------------------------------------------------------------- shared names
# Test modules elsewhere do `from conftest import …` for tests/conftest.py's helpers; with two
# conftest.py files, whichever pytest imported last is the module named `conftest`. This one
# therefore re-exports those helpers so either order works.
def _load_root_conftest():
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parent.parent / "conftest.py"
    spec = importlib.util.spec_from_file_location("basalt_tests_root_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_root = _load_root_conftest()
PG_HOST = _root.PG_HOST
PG_USER = _root.PG_USER
conninfo_kwargs = _root.conninfo_kwargs
sqlalchemy_url = _root.sqlalchemy_url
unique_name = _root.unique_name
