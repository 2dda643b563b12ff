"""pgbench against the server: `pgbench -i` (its schema, COPY … WITH (FREEZE on), VACUUM,
ALTER TABLE … ADD PRIMARY KEY), the TPC-B-like script and `-S`, then the TPC-B invariant:
every committed transaction moved the same delta through an account, a teller, a branch
and one history row, so the four sums agree and history has one row per commit."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from conftest import PG_DB, PG_HOST, PG_PORT, PG_USER
from test_psql import psql

PGBENCH = shutil.which("pgbench")
pytestmark = pytest.mark.skipif(PGBENCH is None, reason="pgbench is not installed")
TRANSACTIONS_PER_CLIENT = 150


def pgbench(*args: str, timeout: float = 300) -> str:
    cmd = [PGBENCH, "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, *args, PG_DB]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"pgbench {' '.join(args)} failed: {out.stdout}{out.stderr}"
    return out.stdout + out.stderr


def scalar(sql: str) -> int:
    return int(psql(f"\\pset tuples_only on", sql).strip())


def test_pgbench_initializes_runs_tpcb_and_keeps_the_balances_consistent():
    try:
        pgbench("-i", "-s", "1")
        assert scalar("SELECT count(*) FROM pgbench_accounts") == 100_000
        assert scalar("SELECT count(*) FROM pgbench_branches") == 1
        assert scalar("SELECT count(*) FROM pgbench_tellers") == 10
        described = psql("\\d pgbench_accounts")
        assert "pgbench_accounts_pkey" in described and "PRIMARY KEY" in described, described

        # Two clients on one branch row conflict constantly; pgbench retries serialization
        # failures (40001) as an application would.
        out = pgbench("-n", "-c", "2", "-j", "2", "-t", str(TRANSACTIONS_PER_CLIENT),
                      "--max-tries=1000")
        done = int(re.search(r"number of transactions actually processed: (\d+)", out).group(1))
        assert done == 2 * TRANSACTIONS_PER_CLIENT, out
        assert re.search(r"number of failed transactions: 0 ", out), out

        history = scalar("SELECT count(*) FROM pgbench_history")
        assert history == done, "one history row per committed transaction"
        delta = scalar("SELECT coalesce(sum(delta), 0) FROM pgbench_history")
        for table, column in [("pgbench_accounts", "abalance"), ("pgbench_tellers", "tbalance"),
                              ("pgbench_branches", "bbalance")]:
            assert scalar(f"SELECT sum({column}) FROM {table}") == delta, table

        out = pgbench("-n", "-S", "-c", "2", "-j", "2", "-t", "500")
        assert re.search(r"number of failed transactions: 0 ", out), out
    finally:
        pgbench("-i", "-I", "d")
