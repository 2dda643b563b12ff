"""The column engine's system view is read when a query runs: a prepared statement polling
it (as psycopg prepares after five executions) sees load progress and new commits."""
from __future__ import annotations

import os

import psycopg
import pytest

from conftest import conninfo_kwargs, unique_name


@pytest.mark.skipif(os.environ.get("BASALT_TARGET", "basalt") != "basalt",
                    reason="the column engine is Basalt's")
def test_prepared_query_of_the_status_view_is_not_frozen(pg_server):
    table = unique_name("status")
    with psycopg.connect(**conninfo_kwargs(), autocommit=True) as c:
        c.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY)")
        c.execute(f"ALTER TABLE {table} SET (columnar = on)")
        sql = "SELECT state, delta_rows FROM pg_catalog.basalt_columnar WHERE table_name = %s"
        seen = []
        for i in range(8):
            c.execute(f"INSERT INTO {table} VALUES (%s)", (i,))
            seen.append(c.execute(sql, (table,), prepare=True).fetchone())
        c.execute(f"DROP TABLE {table}")
    assert [s for s, _ in seen] == ["loaded"] * 8
    # The merge folds deltas of 16,384 rows or more only, so every insert stays in the delta.
    assert [n for _, n in seen] == list(range(1, 9)), seen
