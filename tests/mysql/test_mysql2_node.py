"""Runs tests/mysql/node/driver_test.js (node mysql2: query() text protocol and execute()
binary protocol) against the MySQL port; one pytest test per check of the script.

Skipped only when node is missing. mysql2 is installed from package-lock.json (`npm ci`)
when node_modules lacks it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).resolve().parent / "node"
SCRIPT = NODE_DIR / "driver_test.js"
NODE = shutil.which("node")


def _check_names():
    if NODE is None:
        return []
    out = subprocess.run([NODE, str(SCRIPT), "--list"], cwd=NODE_DIR, capture_output=True,
                         text=True, timeout=60)
    names = out.stdout.split()
    assert out.returncode == 0 and names, f"driver_test.js --list failed: {out.stderr}"
    return names


CHECKS = _check_names()


def _ensure_mysql2():
    if (NODE_DIR / "node_modules" / "mysql2" / "package.json").exists():
        return
    npm = shutil.which("npm")
    assert npm, "npm is needed to install mysql2 (tests/mysql/node/package-lock.json)"
    r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"npm ci failed:\n{r.stdout}\n{r.stderr}"


@pytest.fixture(scope="module")
def node_results(mysql_server):
    if NODE is None:
        pytest.skip("node is not installed")
    _ensure_mysql2()
    env = dict(os.environ, BASALT_MYSQL_HOST=mysql_server["host"],
               BASALT_MYSQL_PORT=str(mysql_server["port"]))
    r = subprocess.run([NODE, str(SCRIPT), "--json"], cwd=NODE_DIR, env=env, capture_output=True,
                       text=True, timeout=900)
    lines = r.stdout.strip().splitlines()
    try:
        results = json.loads(lines[-1])
    except (IndexError, ValueError):
        pytest.fail(f"driver_test.js exited {r.returncode} without results:\n{r.stdout}\n{r.stderr}")
    return r.returncode, results, r.stdout + r.stderr


if NODE is None:
    @pytest.mark.skip(reason="node is not installed")
    def test_mysql2_node():
        pass
else:
    @pytest.mark.parametrize("check", CHECKS)
    def test_mysql2_node(node_results, check):
        _, results, _ = node_results
        assert check in results, f"check {check} did not run"
        assert results[check] == "ok", f"mysql2 {check}: {results[check]}"

    def test_mysql2_node_exit_code(node_results):
        """The script's exit code says whether every check passed (CI can run it alone)."""
        code, results, output = node_results
        failing = [k for k, v in results.items() if v != "ok"]
        assert set(results) == set(CHECKS)
        assert (code == 0) == (not failing), f"exit code {code} with failing {failing}:\n{output}"
