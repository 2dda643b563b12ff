"""Golden transcripts of the `mariadb` command-line client against Basalt's MySQL port.

Each `cli/<name>.sql` is fed on stdin to

    mariadb -h HOST -P PORT -u root --force --unbuffered -D cligold_<name> <args>

run with its working directory in `cli/` (so `SOURCE x.inc` is relative to it), in a
fresh database `cligold_<name>` (dropped and created before, dropped after). <args>
default to `--batch --table`; a script can give its own in a first-lines comment
`-- args: ...`, and name further databases it creates in `-- databases: a b` (dropped
before and after the run, so a failed run cannot break the next one).

stdout and stderr go to one pipe (the client flushes after every statement with
--unbuffered, so errors land where they occur), followed by a line
`[exit status N]`; timings "(0.001 sec)" become "(N.NNN sec)". The result must equal
`cli/<name>.expected` exactly; a mismatch shows a unified diff.

The expected files were generated from Basalt and then checked value by value against
MySQL 8.0 (whose version Basalt reports) and a MariaDB 10.11 server
(tests/mariadb_reference.sh); where Basalt was wrong, the expected text holds what MySQL
prints. Where MySQL 8 and MariaDB legitimately differ (`int` vs `int(11)`, key names
`t.PRIMARY` vs `PRIMARY`, ...) the expected text follows MySQL 8.

Regenerate (then review the diff line by line!):  BASALT_UPDATE_GOLDEN=1 pytest ...
Client: Debian's mariadb 10.11 (`/usr/bin/mariadb`, or $MARIADB_CLIENT).

Target: BASALT_MYSQL_HOST (default 127.0.0.1), BASALT_MYSQL_PORT (default 3307).
"""
from __future__ import annotations

import difflib
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

HOST = os.environ.get("BASALT_MYSQL_HOST", "127.0.0.1")
PORT = int(os.environ.get("BASALT_MYSQL_PORT", "3307"))
CLIENT = os.environ.get("MARIADB_CLIENT") or shutil.which("mariadb") or "/usr/bin/mariadb"
UPDATE = os.environ.get("BASALT_UPDATE_GOLDEN") == "1"
CLI_DIR = Path(__file__).resolve().parent / "cli"
DEFAULT_ARGS = ["--batch", "--table"]
TIMEOUT_S = 120

SCRIPTS = sorted(CLI_DIR.glob("*.sql"))


def _directives(script: Path) -> dict[str, str]:
    """`-- key: value` lines at the top of the script (before the first statement)."""
    out = {}
    for line in script.read_text().splitlines():
        m = re.match(r"--\s*(args|databases):\s*(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
        elif line.strip() and not line.startswith("--"):
            break
    return out


def _base_cmd() -> list[str]:
    return [CLIENT, "--no-defaults", "-h", HOST, "-P", str(PORT), "-u", "root",
            "--connect-timeout=10"]


def _admin(sql: str) -> None:
    r = subprocess.run(_base_cmd() + ["--batch", "-e", sql], capture_output=True, text=True,
                       timeout=TIMEOUT_S)
    if r.returncode != 0:
        pytest.fail(f"setup statement failed: {sql}\n{r.stdout}{r.stderr}", pytrace=False)


def normalize(text: str) -> str:
    return re.sub(r"\(\d+(\.\d+)? sec\)", "(N.NNN sec)", text)


def run_script(script: Path) -> str:
    """The normalized transcript of one script, run in its own fresh database."""
    d = _directives(script)
    args = shlex.split(d["args"]) if "args" in d else DEFAULT_ARGS
    db = f"cligold_{script.stem}"
    extra = d.get("databases", "").split()
    drops = "; ".join(f"DROP DATABASE IF EXISTS {x}" for x in [db, *extra])
    _admin(f"{drops}; CREATE DATABASE {db}")
    try:
        with script.open("rb") as stdin:
            r = subprocess.run(
                _base_cmd() + ["--force", "--unbuffered", "-D", db, *args],
                stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                cwd=CLI_DIR, timeout=TIMEOUT_S)
    finally:
        _admin(drops)
    text = r.stdout.decode("utf-8", errors="backslashreplace")
    return normalize(text) + f"[exit status {r.returncode}]\n"


@pytest.fixture(scope="module")
def client():
    if not Path(CLIENT).exists():
        pytest.skip(f"mariadb client not found ({CLIENT})")
    try:
        _admin("SELECT 1")
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.fail(f"no MySQL-protocol server at {HOST}:{PORT}: {e}", pytrace=False)
    return CLIENT


def test_scripts_exist():
    names = {p.stem for p in SCRIPTS}
    # The features this suite promises to cover, one script each.
    assert {"basics", "delimiter", "source", "errors", "transactions", "databases",
            "multistatement", "verbose", "batch_tabs", "warnings"} <= names, names
    for p in SCRIPTS:
        assert p.with_suffix(".expected").exists() or UPDATE, f"{p.name} has no .expected file"


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_cli_transcript(client, script: Path):
    actual = run_script(script)
    expected_path = script.with_suffix(".expected")
    if UPDATE:
        expected_path.write_text(actual)
        return
    expected = expected_path.read_text()
    if actual != expected:
        diff = "".join(difflib.unified_diff(
            expected.splitlines(keepends=True), actual.splitlines(keepends=True),
            fromfile=f"cli/{expected_path.name} (expected)",
            tofile=f"mariadb {script.name} against {HOST}:{PORT} (actual)"))
        pytest.fail(f"transcript of cli/{script.name} differs:\n{diff}", pytrace=False)
