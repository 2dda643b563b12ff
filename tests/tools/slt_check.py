#!/usr/bin/env python3
"""Minimal stand-in for the `sqllogictest` CLI (sqllogictest-rs) using psycopg 3.

Runs tests/slt/*.slt against a PostgreSQL-wire server the way
`sqllogictest --engine postgres` / `--engine postgres-extended` would, so the
files can be validated before the Rust runner is installed.

    python3 tests/tools/slt_check.py [--engine postgres|postgres-extended|both]
        [--host 127.0.0.1] [--port 55432] [--db basalt] [--user postgres] FILES...

What it emulates (from sqllogictest-rs / sqllogictest-engines):
  * records: statement ok | statement error <regex> | statement count N |
    query <types> [nosort|rowsort] | query error <regex>, skipif/onlyif <label>
    (the engine name is a label), connection <name> (applies to the next
    record only), comments (#), halt, hash-threshold (ignored), control sortmode.
  * one connection per file per connection name, autocommit (no implicit txn).
  * values: NULL -> "NULL", "" -> "(empty)"; rows compared after trimming and
    collapsing whitespace, cells joined by a single space; rowsort sorts the
    rows as lists of strings before comparison.
  * error regexes are searched in "db error: ERROR: <message>" (+ DETAIL line).
  * simple engine: simple query protocol, values exactly as the server's text.
  * extended engine: extended protocol; values are re-rendered like the Rust
    engine does (floats without exponent, chrono fraction style for
    time/timestamp); result types the Rust engine cannot decode (bpchar,
    bytea, name, oid, json, uuid, ...) are reported as errors, since the real
    runner panics on them (`todo!`).
Exit status 0 iff every record of every file passed.
"""
from __future__ import annotations

import argparse
import decimal
import glob
import re
import sys
from dataclasses import dataclass, field

import psycopg
from psycopg import pq

# Result type OIDs the sqllogictest-rs postgres-extended engine can decode.
EXT_SUPPORTED = {
    21, 23, 20, 1700, 1082, 1083, 1114, 16, 1043, 25, 700, 701, 1186, 1184,
    1005, 1007, 1016, 1000, 1021, 1022, 1231, 1182, 1183, 1115, 1015, 1009,
    1187, 1185,
}
FLOAT_OIDS = {700, 701}
TIME_OIDS = {1083, 1114}
NUMERIC_OID = 1700


@dataclass
class Record:
    kind: str  # statement | query
    line: int
    sql: str
    conditions: list = field(default_factory=list)
    connection: str = "default"
    expect_error: str | None = None  # regex ('' = any error)
    is_error: bool = False
    count: int | None = None
    types: str = ""
    sort: str | None = None
    results: list = field(default_factory=list)


def parse(path: str) -> list[Record]:
    lines = open(path, encoding="utf-8").read().split("\n")
    recs: list[Record] = []
    conditions: list = []
    connection = "default"
    i = 0
    n = len(lines)

    def take_sql(i):
        out = []
        has_delim = False
        while i < n:
            ln = lines[i]
            if ln == "":
                break
            if ln == "----":
                has_delim = True
                i += 1
                break
            out.append(ln)
            i += 1
        return "\n".join(out), has_delim, i

    while i < n:
        line = lines[i]
        lineno = i + 1
        if line.startswith("#") or line == "":
            i += 1
            continue
        toks = line.split()
        if not toks:
            raise SystemExit(f"{path}:{lineno}: whitespace-only line (parser treats it as a record start)")
        if toks[0] in ("skipif", "onlyif") and len(toks) == 2:
            conditions.append((toks[0], toks[1]))
            i += 1
            continue
        if toks[0] == "connection" and len(toks) == 2:
            connection = toks[1]
            i += 1
            continue
        if toks[0] == "halt":
            break
        if toks[0] in ("hash-threshold", "control", "sleep", "subtest"):
            i += 1
            continue
        if toks[0] == "statement":
            rec = Record("statement", lineno, "", conditions, connection)
            if toks[1:] == ["ok"]:
                pass
            elif len(toks) >= 2 and toks[1] == "error":
                rec.is_error = True
                rec.expect_error = " ".join(toks[2:])
                re.compile(rec.expect_error)
            elif len(toks) == 3 and toks[1] == "count":
                rec.count = int(toks[2])
            else:
                raise SystemExit(f"{path}:{lineno}: invalid line {line!r}")
            rec.sql, has_delim, i = take_sql(i + 1)
            if has_delim:
                raise SystemExit(f"{path}:{lineno}: statement has results (use query)")
        elif toks[0] == "query":
            rec = Record("query", lineno, "", conditions, connection)
            if len(toks) >= 2 and toks[1] == "error":
                rec.is_error = True
                rec.expect_error = " ".join(toks[2:])
                re.compile(rec.expect_error)
            elif len(toks) >= 2:
                rec.types = toks[1]
                if any(c not in "ITR?" for c in rec.types):
                    raise SystemExit(f"{path}:{lineno}: invalid type chars {rec.types!r}")
                if len(toks) >= 3:
                    rec.sort = toks[2]
                    if rec.sort not in ("nosort", "rowsort"):
                        raise SystemExit(f"{path}:{lineno}: sort mode {rec.sort!r} unsupported "
                                         "(valuesort is todo!() in sqllogictest-rs)")
            rec.sql, has_delim, i = take_sql(i + 1)
            if has_delim:
                if rec.is_error:
                    raise SystemExit(f"{path}:{lineno}: multiline errors not supported by this checker")
                while i < n and lines[i] != "":
                    rec.results.append(lines[i])
                    i += 1
            elif not rec.is_error and rec.types:
                raise SystemExit(f"{path}:{lineno}: query without ---- results")
        else:
            raise SystemExit(f"{path}:{lineno}: invalid line {line!r}")
        if ";" in _strip_literals(rec.sql).rstrip().rstrip(";"):
            raise SystemExit(f"{path}:{lineno}: multiple statements in one record")
        recs.append(rec)
        conditions = []
        connection = "default"
    return recs


def _strip_literals(sql: str) -> str:
    return re.sub(r"'(?:[^']|'')*'", "''", sql)


def normalize(s: str) -> str:
    return " ".join(s.strip().split())


def rust_float(txt: str) -> str:
    if txt in ("NaN", "Infinity", "-Infinity"):
        return txt
    d = decimal.Decimal(txt)
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    if s in ("-0",):
        return "-0"
    return s


def chrono_frac(txt: str) -> str:
    # PG prints fractional seconds trimmed ("12:00:00.5"); chrono prints groups of 3 digits.
    m = re.search(r"\.(\d+)", txt)
    if not m:
        return txt
    frac = m.group(1).ljust(9, "0")
    nanos = int(frac)
    if nanos == 0:
        new = ""
    elif nanos % 1_000_000 == 0:
        new = "." + frac[:3]
    elif nanos % 1000 == 0:
        new = "." + frac[:6]
    else:
        new = "." + frac
    return txt[: m.start()] + new + txt[m.end():]


class Conns:
    def __init__(self, args):
        self.args = args
        self.conns = {}

    def get(self, name):
        if name not in self.conns:
            c = psycopg.connect(host=self.args.host, port=self.args.port, dbname=self.args.db,
                                user=self.args.user, autocommit=True, connect_timeout=10)
            self.conns[name] = c
        return self.conns[name]

    def close(self):
        for c in self.conns.values():
            c.close()
        self.conns = {}


def run_sql(conn: psycopg.Connection, sql: str, engine: str):
    """Return (error_string|None, rows|None, cmd_tuples, problems)."""
    pg = conn.pgconn
    problems = []
    if engine == "postgres":
        res = pg.exec_(sql.encode())
    else:
        res = pg.exec_params(sql.encode(), [], result_format=0)
    st = res.status
    if st == pq.ExecStatus.FATAL_ERROR:
        sev = (res.error_field(pq.DiagnosticField.SEVERITY) or b"ERROR").decode()
        msg = (res.error_field(pq.DiagnosticField.MESSAGE_PRIMARY) or b"").decode()
        detail = res.error_field(pq.DiagnosticField.MESSAGE_DETAIL)
        err = f"db error: {sev}: {msg}"
        if detail:
            err += "\nDETAIL: " + detail.decode()
        return err, None, 0, problems
    if st == pq.ExecStatus.TUPLES_OK and res.ntuples > 0:
        rows = []
        for r in range(res.ntuples):
            row = []
            for c in range(res.nfields):
                v = res.get_value(r, c)
                oid = res.ftype(c)
                if v is None:
                    row.append("NULL")
                    continue
                s = v.decode()
                if engine != "postgres":
                    if oid not in EXT_SUPPORTED:
                        problems.append(f"column {c} has type oid {oid} which the postgres-extended "
                                        "engine cannot decode (cast it to text)")
                    elif oid in FLOAT_OIDS:
                        s = rust_float(s)
                    elif oid in TIME_OIDS:
                        s = chrono_frac(s)
                    elif oid == NUMERIC_OID:
                        digits = len(re.sub(r"[^0-9]", "", s).lstrip("0"))
                        if digits > 28 or s == "NaN":
                            problems.append(f"numeric {s} does not fit rust_decimal")
                row.append("(empty)" if s == "" else s)
            rows.append(row)
        return None, rows, res.ntuples, problems
    ct = res.command_tuples
    return None, None, ct or 0, problems


def skipped(rec: Record, engine: str) -> bool:
    for kind, label in rec.conditions:
        if kind == "onlyif" and label != engine:
            return True
        if kind == "skipif" and label == engine:
            return True
    return False


def run_file(path: str, engine: str, args) -> list[str]:
    failures = []
    conns = Conns(args)
    try:
        for rec in parse(path):
            if skipped(rec, engine):
                continue
            conn = conns.get(rec.connection)
            where = f"{path}:{rec.line} [{engine}]"
            err, rows, count, problems = run_sql(conn, rec.sql, engine)
            for p in problems:
                failures.append(f"{where}: {p}\n  SQL: {rec.sql}")
            if rec.is_error:
                if err is None:
                    failures.append(f"{where}: expected error /{rec.expect_error}/ but succeeded\n  SQL: {rec.sql}")
                elif rec.expect_error and not re.search(rec.expect_error, err):
                    failures.append(f"{where}: error mismatch: expected /{rec.expect_error}/ got {err!r}\n  SQL: {rec.sql}")
                continue
            if err is not None:
                failures.append(f"{where}: unexpected error {err!r}\n  SQL: {rec.sql}")
                continue
            if rec.kind == "statement":
                if rec.count is not None and rec.count != count:
                    failures.append(f"{where}: expected count {rec.count}, got {count}\n  SQL: {rec.sql}")
                continue
            rows = rows or []
            if rows and rec.types and len(rows[0]) != len(rec.types):
                # the Rust runner does not validate this by default, but it's a file bug
                failures.append(f"{where}: type string {rec.types!r} has {len(rec.types)} columns, "
                                f"result has {len(rows[0])}")
            if rec.sort == "rowsort":
                rows = sorted(rows)
            actual = [" ".join(normalize(c) for c in r) for r in rows]
            expected = [normalize(x) for x in rec.results]
            if actual != expected:
                failures.append(f"{where}: result mismatch\n  SQL: {rec.sql}\n  expected:\n    "
                                + "\n    ".join(expected) + "\n  actual:\n    " + "\n    ".join(actual))
    finally:
        conns.close()
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", default="both", choices=["postgres", "postgres-extended", "both"])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=55432)
    ap.add_argument("--db", default="basalt")
    ap.add_argument("--user", default="postgres")
    ap.add_argument("files", nargs="*", default=["tests/slt/*.slt"])
    args = ap.parse_args()
    files = sorted({f for pat in args.files for f in glob.glob(pat)})
    if not files:
        print("no files", file=sys.stderr)
        return 2
    engines = ["postgres", "postgres-extended"] if args.engine == "both" else [args.engine]
    total_fail = 0
    for engine in engines:
        for f in files:
            fails = run_file(f, engine, args)
            status = "ok" if not fails else f"FAILED ({len(fails)})"
            print(f"[{engine}] {f}: {status}")
            for x in fails:
                print("  " + x.replace("\n", "\n  "))
            total_fail += bool(fails)
    ran = len(files) * len(engines)
    print(f"{ran - total_fail} passed, {total_fail} failed")
    return 1 if total_fail else 0


if __name__ == "__main__":
    sys.exit(main())
