#!/usr/bin/env python3
"""PostgreSQL 15's own regression files, run with psql on PostgreSQL and on Basalt, compared
statement by statement.

    python3 tests/conformance/pg_regress.py --regress DIR --pg-ref PORT --basalt-pg PORT \\
        [--files select insert ...] [--summary OUT.md] [--json OUT.json] [--diffs DIR]

DIR is `src/test/regress` of Debian's postgresql-15 source package (scripts/fetch-pg-regress.sh).
Each server first runs `test_setup.sql` (the shared tables: onek, tenk1, int4_tbl, …), then
the listed files in order, each with `psql -X -a -q` and pg_regress's environment
(PGDATESTYLE "Postgres, MDY", PGTZ PST8PDT). To count per statement, the runner splits a
file into statements and psql meta-commands and writes it back with an `\\echo` marker
before each; psql's output (stdout and stderr together) is cut at the markers, and a
statement matches when its output on Basalt is byte-for-byte PostgreSQL's.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter

AREAS = ["select", "insert", "update", "delete", "join", "aggregates", "subselect", "union",
         "case", "strings", "numeric", "int4", "int8", "float8", "text", "varchar", "date",
         "timestamp", "window", "with", "transactions", "constraints"]

MARK = "@@@@ statement "
# Statements whose match may flip between runs (row order of unordered queries).
MARGIN = 20


def split_statements(text: str) -> list[str]:
    """A psql script cut into its SQL statements (with the comments before them) and its
    backslash meta-commands, in order. Understands quotes, dollar quotes, comments, and
    COPY … FROM stdin data."""
    out: list[str] = []
    buf: list[str] = []
    i, n = 0, len(text)
    depth = 0  # /* */ nesting
    in_sql = False  # buf holds SQL text beyond comments and blanks

    def flush():
        nonlocal in_sql
        chunk = "".join(buf).strip("\n")
        if chunk.strip() and (in_sql or chunk.lstrip().startswith("\\")):
            out.append(chunk)
        buf.clear()
        in_sql = False

    while i < n:
        c = text[i]
        if depth == 0 and c == "\\":
            # A meta-command: a line of its own, or (\g, \gset, …) the end of a statement.
            end = text.find("\n", i)
            end = n if end < 0 else end
            buf.append(text[i:end])
            in_sql = True
            flush()
            i = end + 1
            continue
        if text.startswith("/*", i):
            depth += 1
            buf.append("/*")
            i += 2
            continue
        if depth > 0:
            if text.startswith("*/", i):
                depth -= 1
                buf.append("*/")
                i += 2
            else:
                buf.append(c)
                i += 1
            continue
        if text.startswith("--", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            buf.append(text[i:end])
            i = end
            continue
        if c in "'\"":
            j = i + 1
            escapes = c == "'" and i > 0 and text[i - 1] in "eE"
            while j < n:
                if escapes and text[j] == "\\":
                    j += 2
                    continue
                if text[j] == c:
                    if j + 1 < n and text[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            buf.append(text[i:j + 1])
            in_sql = True
            i = j + 1
            continue
        if c == "$":
            m = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", text[i:])
            if m and not (i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")):
                tag = m.group(0)
                end = text.find(tag, i + len(tag))
                end = n if end < 0 else end + len(tag)
                buf.append(text[i:end])
                in_sql = True
                i = end
                continue
        if c == ";":
            buf.append(c)
            stmt = "".join(buf)
            i += 1
            # The rest of the line (a trailing comment) stays with this statement.
            end = text.find("\n", i)
            end = n if end < 0 else end
            rest = text[i:end]
            if rest.strip().startswith("--") or not rest.strip():
                buf.append(rest)
                i = end
            if re.search(r"\bcopy\b[^;]*\bfrom\s+stdin", stmt, re.I | re.S):
                # The data lines, up to and including "\.".
                stop = text.find("\n\\.", i)
                stop = n if stop < 0 else stop + 3
                buf.append(text[i:stop])
                i = stop
            flush()
            continue
        if not c.isspace():
            in_sql = True
        buf.append(c)
        i += 1
    flush()
    return out


def marked_script(statements: list[str]) -> str:
    lines = []
    for k, s in enumerate(statements):
        lines.append(f"\\echo '{MARK}{k}'")
        lines.append(s)
    return "\n".join(lines) + "\n"


def run_psql(port: int, dbname: str, script_path: str, regress_dir: str, timeout: float) -> str:
    env = dict(os.environ, PGDATESTYLE="Postgres, MDY", PGTZ="PST8PDT", PGTZ_="",
               PG_ABS_SRCDIR=regress_dir, PG_LIBDIR=regress_dir, PG_DLSUFFIX=".so",
               PGOPTIONS="-c intervalstyle=postgres_verbose", PGAPPNAME="pg_regress")
    cmd = ["psql", "-X", "-a", "-q", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
           "-d", dbname, "-v", "HIDE_TABLEAM=on", "-v", "HIDE_TOAST_COMPRESSION=on",
           "-f", script_path]
    try:
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
        return p.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        return (e.stdout or b"").decode("utf-8", "replace") + "\n<timeout>\n"


def cut(output: str, count: int) -> list[str | None]:
    """psql's output per statement, by the markers (None: never reached)."""
    chunks: list[str | None] = [None] * count
    current = None
    acc: list[str] = []
    for line in output.split("\n"):
        if line.startswith(MARK):
            if current is not None:
                chunks[current] = "\n".join(acc)
            current = int(line[len(MARK):])
            acc = []
            continue
        if line.startswith("\\echo '" + MARK):
            continue
        acc.append(line)
    if current is not None and current < count:
        chunks[current] = "\n".join(acc)
    return chunks


def normalize(chunk: str | None, name: str) -> str | None:
    if chunk is None:
        return None
    # psql names the script it reads in error lines; both sides read a file of the same name.
    return chunk.replace(name, "<file>")


_LITERALS = [(re.compile(r'"[^"]*"'), '"…"'), (re.compile(r"'[^']*'"), "'…'"),
             (re.compile(r"\b\d+\b"), "N")]


def divergence(ref: str | None, got: str | None) -> str:
    """One line saying how Basalt's output for a statement differed."""
    if got is None:
        return "not reached (an earlier statement ended the session)"
    errors = [ln for ln in got.split("\n") if "ERROR:" in ln]
    ref_errors = [ln for ln in (ref or "").split("\n") if "ERROR:" in ln]
    if errors and not ref_errors:
        msg = errors[0].split("ERROR:", 1)[1].strip()
        for pattern, repl in _LITERALS:
            msg = pattern.sub(repl, msg)
        return "error: " + msg[:120]
    if ref_errors and not errors:
        return "succeeded where PostgreSQL raised an error"
    if errors and ref_errors:
        return "error with another message"
    return "different output (values, formatting or notices)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--regress", required=True, help="src/test/regress of postgresql-15")
    ap.add_argument("--pg-ref", type=int, required=True)
    ap.add_argument("--pg-db", default="regression")
    ap.add_argument("--basalt-pg", type=int, required=True)
    ap.add_argument("--basalt-db", default="basalt")
    ap.add_argument("--files", nargs="*", default=AREAS)
    ap.add_argument("--timeout", type=float, default=180, help="seconds per file")
    ap.add_argument("--summary")
    ap.add_argument("--json")
    ap.add_argument("--diffs", help="write per-file divergences here")
    ap.add_argument("--ratchet", help="JSON of recorded counts; fail if below")
    ap.add_argument("--record", action="store_true", help="raise the ratchet to this run")
    args = ap.parse_args()

    regress = os.path.abspath(args.regress)
    subprocess.run(["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(args.pg_ref), "-U", "postgres",
                    "-d", "postgres", "-c", f"DROP DATABASE IF EXISTS {args.pg_db}",
                    "-c", f"CREATE DATABASE {args.pg_db}"], check=True)
    work = tempfile.mkdtemp(prefix="basalt-pgregress-")
    os.chmod(work, 0o755)
    if args.diffs:
        os.makedirs(args.diffs, exist_ok=True)
    results = {}
    causes: dict[str, Counter] = {}
    for name in ["test_setup", *args.files]:
        src = os.path.join(regress, "sql", f"{name}.sql")
        stmts = split_statements(open(src, encoding="utf-8").read())
        script = os.path.join(work, f"{name}.sql")
        with open(script, "w") as f:
            f.write(marked_script(stmts))
        ref = cut(run_psql(args.pg_ref, args.pg_db, script, regress, args.timeout), len(stmts))
        got = cut(run_psql(args.basalt_pg, args.basalt_db, script, regress, args.timeout),
                  len(stmts))
        same = 0
        diffs = []
        file_causes = causes.setdefault(name, Counter())
        for k, (a, b) in enumerate(zip(ref, got)):
            a, b = normalize(a, script), normalize(b, script)
            if a is not None and a == b:
                same += 1
            else:
                diffs.append((k, stmts[k], a, b))
                file_causes[divergence(a, b)] += 1
        if name == "test_setup":
            print(f"  test_setup: {same}/{len(stmts)} statements as on PostgreSQL", flush=True)
        else:
            results[name] = {"statements": len(stmts), "matching": same}
            print(f"  {name}: {same}/{len(stmts)}", flush=True)
        if args.diffs:
            with open(os.path.join(args.diffs, f"{name}.diff"), "w") as f:
                for k, s, a, b in diffs:
                    f.write(f"=== statement {k}\n{s}\n--- postgresql\n{a}\n+++ basalt\n{b}\n\n")
    total = sum(r["statements"] for r in results.values())
    same = sum(r["matching"] for r in results.values())
    lines = ["| File | Statements | Same output as PostgreSQL | Rate |", "|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| `{name}` | {r['statements']} | {r['matching']} | "
                     f"{100.0 * r['matching'] / r['statements']:.1f}% |")
    lines.append(f"| **all** | {total} | {same} | {100.0 * same / max(total, 1):.1f}% |")
    everything = Counter()
    for name, c in causes.items():
        if name != "test_setup":
            everything.update(c)
    lines += ["", "Most frequent divergences (what Basalt printed where PostgreSQL printed "
              "something else):", ""]
    for cause, count in everything.most_common(25):
        lines.append(f"- {count} × {cause}")
    text = "\n".join(lines)
    print()
    print(text)
    if args.summary:
        with open(args.summary, "w") as f:
            f.write(text + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"files": results, "statements": total, "matching": same}, f, indent=2)
    status = 0
    if args.ratchet:
        recorded = json.load(open(args.ratchet)) if os.path.exists(args.ratchet) else {}
        entry = recorded.get("pg-regress", {})
        floor = entry.get("passed", 0)
        # Queries without ORDER BY may list their rows in another order from run to run
        # (parallel hash partitions): a few statements flip, so the floor has a margin.
        margin = entry.get("margin", MARGIN)
        if same < floor - margin:
            print(f"RATCHET: pg-regress matched {same} statements, below the recorded "
                  f"{floor} (margin {margin})")
            status = 1
        elif args.record and same > floor:
            recorded["pg-regress"] = {"passed": same, "run": total, "margin": margin}
            with open(args.ratchet, "w") as f:
                json.dump(recorded, f, indent=2, sort_keys=True)
                f.write("\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
