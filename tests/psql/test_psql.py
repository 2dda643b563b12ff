"""The psql command-line client against the server: DDL, a 1,000,000-row \\copy, queries,
and the catalog commands \\d, \\dt, \\dn and \\l."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import PG_DB, PG_HOST, PG_PORT, PG_USER, unique_name

PSQL = shutil.which("psql")
pytestmark = pytest.mark.skipif(PSQL is None, reason="psql is not installed")


def psql(*commands: str, stdin: str | None = None, timeout: float = 300) -> str:
    args = [PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", PG_HOST, "-p", str(PG_PORT),
            "-U", PG_USER, "-d", PG_DB]
    for c in commands:
        args += ["-c", c]
    out = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"psql failed ({out.returncode}): {out.stderr}"
    return out.stdout


def test_psql_create_copy_million_rows_query_and_describe(tmp_path):
    t = unique_name("psql_big")
    n = 1_000_000
    data = tmp_path / "rows.csv"
    with data.open("w") as f:
        for i in range(1, n + 1):
            f.write(f"{i},name-{i % 1000},{i % 7}.5\n")
    try:
        psql(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, name VARCHAR(20) NOT NULL, score NUMERIC(6,1))")
        out = psql(f"\\copy {t} FROM '{data}' WITH (FORMAT csv)")
        assert out.strip() == "" or "COPY" in out
        out = psql(f"SELECT count(*), sum(id), min(name), max(score) FROM {t}")
        assert "1000000" in out and str(n * (n + 1) // 2) in out and "name-0" in out and "6.5" in out, out
        out = psql(f"SELECT name, score FROM {t} WHERE id = 424242")
        assert "name-242" in out and f"{424242 % 7}.5" in out, out
        psql(f"CREATE INDEX {t}_name_idx ON {t} (name)")
        described = psql(f"\\d {t}")
        for text in ("id", "integer", "character varying(20)", "numeric(6,1)", "not null",
                     "Indexes:", f'"{t}_pkey" PRIMARY KEY, btree (id)', f'"{t}_name_idx" btree (name)'):
            assert text in described, described
        assert t in psql("\\dt")
        assert "public" in psql("\\dn")
        assert "basalt" in psql("\\l")
    finally:
        psql(f"DROP TABLE IF EXISTS {t}")


def test_psql_reports_errors_with_sqlstate_and_keeps_going():
    args = [PSQL, "-X", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, "-d", PG_DB,
            "-v", "VERBOSITY=verbose", "-c", "SELECT * FROM psql_no_such_table", "-c", "SELECT 41 + 1"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert "42P01" in out.stderr, out.stderr
    assert "42" in out.stdout


def test_psql_datestyle_from_the_environment_positions_and_hints():
    """libpq sends PGDATESTYLE in the startup packet; psql prints dates in that style, and an
    out-of-range date is reported with its position and the datestyle hint, as PostgreSQL
    does."""
    env = dict(os.environ, PGDATESTYLE="Postgres, DMY")
    args = [PSQL, "-X", "-q", "-A", "-t", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER,
            "-d", PG_DB, "-c", "SHOW datestyle",
            "-c", "SELECT date '1/8/1999', timestamp '1999-01-08 04:05:06.5'",
            "-c", "SELECT date '1/18/1999'",
            "-c", "SET datestyle TO iso", "-c", "RESET datestyle", "-c", "SHOW datestyle"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    # RESET goes back to the value of the startup packet, not the server default.
    assert out.stdout.splitlines() == [
        "Postgres, DMY", "01-08-1999|Fri 08 Jan 04:05:06.5 1999", "Postgres, DMY"], out
    assert 'ERROR:  date/time field value out of range: "1/18/1999"' in out.stderr, out.stderr
    assert "LINE 1: SELECT date '1/18/1999'" in out.stderr, out.stderr
    assert 'HINT:  Perhaps you need a different "datestyle" setting.' in out.stderr, out.stderr


def test_psql_pgoptions_settings_and_interval_styles():
    """libpq sends PGOPTIONS (`-c name=value`) in the startup packet: it sets IntervalStyle,
    which RESET returns to; each style prints intervals as PostgreSQL does."""
    env = dict(os.environ, PGOPTIONS="-c intervalstyle=postgres_verbose")
    value = "interval '-3 days', interval '1 year 2 mons 3 days 04:05:06.5'"
    args = [PSQL, "-X", "-q", "-A", "-t", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER,
            "-d", PG_DB, "-c", "SHOW intervalstyle", "-c", f"SELECT {value}",
            "-c", "SET intervalstyle = sql_standard", "-c", f"SELECT {value}",
            "-c", "SET intervalstyle = iso_8601", "-c", f"SELECT {value}",
            "-c", "SET intervalstyle = postgres", "-c", f"SELECT {value}",
            "-c", "RESET intervalstyle", "-c", "SHOW intervalstyle"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert out.stdout.splitlines() == [
        "postgres_verbose",
        "@ 3 days ago|@ 1 year 2 mons 3 days 4 hours 5 mins 6.5 secs",
        "-3 0:00:00|+1-2 +3 +4:05:06.5",
        "P-3D|P1Y2M3DT4H5M6.5S",
        "-3 days|1 year 2 mons 3 days 04:05:06.5",
        "postgres_verbose",
    ], out
    bad = subprocess.run(args[:13] + ["-c", "SELECT 1"], capture_output=True, text=True,
                         timeout=60, env=dict(os.environ, PGOPTIONS="-c intervalstyle=bogus"))
    assert bad.returncode != 0
    assert 'invalid value for parameter "intervalstyle": "bogus"' in bad.stderr, bad.stderr


def test_psql_shows_notices_and_chained_transactions():
    """WARNINGs for COMMIT/ROLLBACK outside a block and BEGIN inside one, NOTICEs for DROP …
    IF EXISTS of a missing object, and COMMIT/ROLLBACK AND CHAIN, as PostgreSQL sends them."""
    script = "\n".join([
        "COMMIT;", "ROLLBACK;", "BEGIN;", "BEGIN;", "COMMIT AND CHAIN;",
        "SELECT 1 AS still_in_a_block;", "ROLLBACK;", "COMMIT AND CHAIN;",
        "DROP TABLE IF EXISTS psql_no_such_table;", "DROP VIEW IF EXISTS psql_no_such_view;",
    ]) + "\n"
    args = [PSQL, "-X", "-q", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, "-d", PG_DB]
    out = subprocess.run(args, input=script, capture_output=True, text=True, timeout=60)
    messages = [line.strip() for line in out.stderr.splitlines()]
    assert messages == [
        "WARNING:  there is no transaction in progress",
        "WARNING:  there is no transaction in progress",
        "WARNING:  there is already a transaction in progress",
        "ERROR:  COMMIT AND CHAIN can only be used in transaction blocks",
        'NOTICE:  table "psql_no_such_table" does not exist, skipping',
        'NOTICE:  view "psql_no_such_view" does not exist, skipping',
    ], out.stderr
    assert "still_in_a_block" in out.stdout


def test_psql_describes_views():
    t, v = unique_name("psql_vt"), unique_name("psql_v")
    try:
        psql(f"CREATE TABLE {t} (id integer, name text)",
             f"CREATE VIEW {v} AS SELECT id, upper(name) AS shout FROM {t} WHERE id > 1")
        listed = psql("\\dv")
        assert v in listed and "view" in listed, listed
        assert t not in listed, listed
        assert v in psql("\\d")
        described = psql(f"\\d {v}")
        for text in (f'View "public.{v}"', "id", "integer", "shout", "text"):
            assert text in described, described
        verbose = psql(f"\\d+ {v}")
        assert "View definition:" in verbose and t in verbose and "upper" in verbose, verbose
        assert v in psql(f"\\sv {v}")
    finally:
        psql(f"DROP VIEW IF EXISTS {v}", f"DROP TABLE IF EXISTS {t}")


def test_psql_lists_and_shows_functions():
    f = unique_name("psql_fn")
    try:
        psql(f"CREATE FUNCTION {f}(x integer, y integer DEFAULT 1) RETURNS integer "
             f"LANGUAGE sql IMMUTABLE AS 'SELECT x + y'")
        listed = psql("\\df")
        assert f in listed and "x integer, y integer DEFAULT 1" in listed, listed
        verbose = psql(f"\\df+ {f}")
        assert "immutable" in verbose and "sql" in verbose, verbose
        shown = psql(f"\\sf {f}")
        assert f"CREATE OR REPLACE FUNCTION public.{f}(x integer, y integer DEFAULT 1)" in shown, shown
        assert "RETURNS integer" in shown and "x + y" in shown, shown
    finally:
        psql(f"DROP FUNCTION IF EXISTS {f}")
