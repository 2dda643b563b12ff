#!/usr/bin/env python3
"""Conformance runner: third-party sqllogictest corpora against Basalt, every record counted.

    python3 tests/conformance/run.py --basalt-pg PORT --pg-ref PORT \\
        --basalt-mysql PORT --mariadb-ref PORT [--ratchet tests/conformance/ratchet.json]

Corpora (../shared/conformance, read-only):
- sqlite-slt through the PostgreSQL protocol, simple and extended query. Each record runs first
  on a real PostgreSQL 15 (label `postgresql`); PostgreSQL's answer is the baseline, and where
  PostgreSQL refuses a statement, SQLite's answer in the file is. The records PostgreSQL itself
  passes (its answer equals the file's) are counted apart: Basalt must pass all of them.
- mysql8-slt through the MySQL protocol (label `mysql`), against the MySQL 8 answers in the
  files. Each record also runs on MariaDB; the records where MariaDB and MySQL 8 agree are
  counted apart.

A failing record never stops its file. The summary table goes to stdout and to `--summary`;
each failure (file, line, SQL, expected, got) to `--failures`. With `--ratchet FILE` the run
fails if any pass count is below the one recorded there; `--record` raises the recorded counts
to this run's (they never go down).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engines  # noqa: E402
import slt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))



def find_corpora() -> str:
    """../shared/conformance beside the checkout, as the project keeps it; a clone elsewhere
    (CI's fresh clone) finds it through BASALT_CONFORMANCE_DIR or the workplace's /work/shared."""
    candidates = [os.environ.get("BASALT_CONFORMANCE_DIR", ""),
                  os.path.join(ROOT, "..", "shared", "conformance"),
                  "/work/shared/conformance"]
    for c in candidates:
        if c and os.path.isdir(os.path.join(c, "sqlite-slt")):
            return os.path.normpath(c)
    sys.exit("conformance corpora not found: set BASALT_CONFORMANCE_DIR to the directory that "
             "holds sqlite-slt/ and mysql8-slt/ (../shared/conformance of the project)")


CORPORA = find_corpora()


@dataclass
class Tally:
    run: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    ref_pass: int = 0  # records the reference itself passes
    passed_of_ref_pass: int = 0  # ... that Basalt passes too
    causes: Counter = field(default_factory=Counter)

    def add(self, other: "Tally"):
        self.run += other.run
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped
        self.ref_pass += other.ref_pass
        self.passed_of_ref_pass += other.passed_of_ref_pass
        self.causes.update(other.causes)


def corpus_files(corpus: str) -> list[str]:
    base = os.path.join(CORPORA, corpus)
    names = sorted(f for f in os.listdir(base) if f.endswith(".test"))
    ev = sorted(f for f in os.listdir(os.path.join(base, "evidence")) if f.endswith(".test"))
    return [os.path.join(base, f) for f in names] + [os.path.join(base, "evidence", f) for f in ev]


_NOISE = [
    (re.compile(r"'[^']*'"), "'…'"),
    (re.compile(r'"[^"]*"'), '"…"'),
    (re.compile(r"\b\d+(\.\d+)?\b"), "N"),
    (re.compile(r"\s+"), " "),
]


def cause_of(message: str) -> str:
    """An error message with its literals blanked, so that like failures group together."""
    for pattern, repl in _NOISE:
        message = pattern.sub(repl, message)
    return message[:160]


def values_of(rec: slt.Record, out: engines.Outcome) -> list[str]:
    return slt.format_rows(out.rows or [], rec.types, rec.sort)


def file_verdict(rec: slt.Record, out: engines.Outcome) -> bool:
    """Does an outcome equal the file's expected result?"""
    if rec.expect_error:
        return out.error is not None
    if out.error is not None:
        return False
    if rec.kind == "statement":
        return True
    return slt.matches_file(rec, values_of(rec, out))


def failure_cause(rec: slt.Record, out: engines.Outcome, want_error: bool) -> str:
    if out.error is not None and not want_error:
        return cause_of(out.error)
    if out.error is None and want_error:
        return "succeeded where an error was expected"
    return "wrong result"


class Log:
    def __init__(self, path: str | None):
        self.f = open(path, "w") if path else None

    def failure(self, where: str, rec: slt.Record, expected: str, got: engines.Outcome,
                ref_passes: bool):
        if not self.f:
            return
        got_text = f"error: {got.error}" if got.error is not None else (
            "ok" if rec.kind == "statement" else "\n".join(values_of(rec, got)[:40]))
        tag = " [the reference passes this record]" if ref_passes else ""
        self.f.write(f"--- {where}:{rec.line}{tag}\n{rec.sql}\nexpected: {expected}\ngot: {got_text}\n\n")


def describe_expected(rec: slt.Record, base: engines.Outcome | None) -> str:
    if base is None:
        if rec.expect_error:
            return "error (file)"
        if rec.kind == "statement":
            return "ok (file)"
        if rec.hashed:
            return f"{rec.hashed[0]} values hashing to {rec.hashed[1]} (file)"
        return "\n".join(rec.values or []) + " (file)"
    if base.error is not None:
        return f"error: {base.error}"
    if rec.kind == "statement":
        return "ok"
    return "\n".join(values_of(rec, base)[:40])


def run_corpus(corpus: str, label: str, reference, subjects: dict, log: Log,
               reference_is_baseline: bool, only: list[str] | None):
    """Runs every file of `corpus`; returns {subject: {file: Tally}}."""
    tallies: dict[str, dict[str, Tally]] = {name: {} for name in subjects}
    for path in corpus_files(corpus):
        short = os.path.relpath(path, CORPORA)
        if only and not any(o in short for o in only):
            continue
        records = slt.parse(open(path, encoding="utf-8").read())
        started = time.monotonic()
        # The records this engine runs (label, halt), then the reference's answers to them.
        active: list[slt.Record] = []
        skipped = 0
        halted = False
        for rec in records:
            if rec.kind == "halt":
                halted = halted or rec.applies_to(label)
            elif rec.kind in ("statement", "query"):
                if halted or not rec.applies_to(label):
                    skipped += 1
                else:
                    active.append(rec)
        ref_outs: list[engines.Outcome | None] = [None] * len(active)
        if reference is not None:
            reference.reset()
            ref_outs = [reference.run(rec.sql, rec.kind == "query") for rec in active]
        per = {name: Tally(skipped=skipped) for name in subjects}
        # Each subject runs the whole file on its own, in an empty database.
        for name, eng in subjects.items():
            eng.reset()
            t = per[name]
            for rec, ref_out in zip(active, ref_outs):
                is_query = rec.kind == "query"
                ref_passes = ref_out is not None and file_verdict(rec, ref_out)
                # The expected answer: the reference's when it is the baseline and
                # answered, otherwise the file's.
                base = ref_out if (reference_is_baseline and ref_out is not None
                                   and ref_out.error is None) else None
                out = eng.run(rec.sql, is_query)
                if base is None:
                    ok = file_verdict(rec, out)
                    want_error = rec.expect_error
                else:
                    want_error = False
                    ok = out.error is None and (
                        not is_query or values_of(rec, out) == values_of(rec, base))
                t.run += 1
                if ref_passes:
                    t.ref_pass += 1
                if ok:
                    t.passed += 1
                    if ref_passes:
                        t.passed_of_ref_pass += 1
                else:
                    t.failed += 1
                    t.causes[failure_cause(rec, out, want_error)] += 1
                    log.failure(f"{name} {short}", rec, describe_expected(rec, base), out,
                                ref_passes)
        for name, t in per.items():
            tallies[name][short] = t
        secs = time.monotonic() - started
        summary = ", ".join(f"{n} {t.passed}/{t.run}" for n, t in per.items())
        print(f"  {short}: {summary} ({secs:.1f} s)", flush=True)
    return tallies


def total(files: dict[str, Tally]) -> Tally:
    t = Tally()
    for v in files.values():
        t.add(v)
    return t


def pct(a: int, b: int) -> str:
    return f"{100.0 * a / b:.2f}%" if b else "n/a"


def markdown(results: dict[str, tuple[str, dict[str, Tally]]]) -> str:
    out = ["| Corpus | Protocol | Records run | Passed | Failed | Skipped | Pass rate | "
           "Reference passes | Basalt passes of those |",
           "|---|---|---|---|---|---|---|---|---|"]
    for key, (ref_name, files) in results.items():
        corpus, proto = key.split("/", 1)
        t = total(files)
        out.append(f"| {corpus} | {proto} | {t.run} | {t.passed} | {t.failed} | {t.skipped} | "
                   f"{pct(t.passed, t.run)} | {ref_name}: {t.ref_pass} | "
                   f"{t.passed_of_ref_pass} ({pct(t.passed_of_ref_pass, t.ref_pass)}) |")
    out.append("")
    for key, (_, files) in results.items():
        t = total(files)
        out.append(f"**{key}**, per file (passed/run):")
        out.append("")
        out.append(", ".join(f"`{f}` {v.passed}/{v.run}" for f, v in files.items()))
        out.append("")
        if t.causes:
            out.append("Top failure causes:")
            out.append("")
            for cause, n in t.causes.most_common(12):
                out.append(f"- {n} × {cause.replace('|', '/')}")
            out.append("")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--basalt-pg", type=int, help="Basalt's PostgreSQL port")
    ap.add_argument("--basalt-db", default="basalt")
    ap.add_argument("--pg-ref", type=int, help="reference PostgreSQL 15 port")
    ap.add_argument("--basalt-mysql", type=int, help="Basalt's MySQL port")
    ap.add_argument("--mariadb-ref", type=int, help="reference MariaDB port")
    ap.add_argument("--only", nargs="*", help="run only files whose path contains one of these")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per statement")
    ap.add_argument("--summary", help="write the markdown summary here")
    ap.add_argument("--failures", help="write every failure here")
    ap.add_argument("--json", help="write the counts here")
    ap.add_argument("--ratchet", help="JSON of recorded pass counts; fail if below")
    ap.add_argument("--record", action="store_true", help="raise the ratchet to this run")
    args = ap.parse_args()

    log = Log(args.failures)
    results: dict[str, tuple[str, dict[str, Tally]]] = {}
    if args.basalt_pg:
        if not args.pg_ref:
            ap.error("--basalt-pg needs --pg-ref (the PostgreSQL baseline)")
        print("sqlite-slt through the PostgreSQL protocol (baseline: PostgreSQL 15)", flush=True)
        ref = engines.Postgres(args.host, args.pg_ref, "postgres", "postgres", extended=False,
                               fresh_database=True, timeout=args.timeout)
        subjects = {
            "simple": engines.Postgres(args.host, args.basalt_pg, "postgres", args.basalt_db,
                                       extended=False, fresh_database=False, timeout=args.timeout),
            "extended": engines.Postgres(args.host, args.basalt_pg, "postgres", args.basalt_db,
                                         extended=True, fresh_database=False, timeout=args.timeout),
        }
        tallies = run_corpus("sqlite-slt", "postgresql", ref, subjects, log, True, args.only)
        for name, files in tallies.items():
            results[f"sqlite-slt/postgres-{name}"] = ("PostgreSQL 15", files)
        for e in [ref, *subjects.values()]:
            e.close()
    if args.basalt_mysql:
        print("mysql8-slt through the MySQL protocol (expected: MySQL 8 answers in the files)",
              flush=True)
        ref = engines.MySQL(args.host, args.mariadb_ref, "root", timeout=args.timeout) \
            if args.mariadb_ref else None
        subjects = {"mysql": engines.MySQL(args.host, args.basalt_mysql, "root",
                                           timeout=args.timeout)}
        tallies = run_corpus("mysql8-slt", "mysql", ref, subjects, log, False, args.only)
        results["mysql8-slt/mysql"] = ("MariaDB", tallies["mysql"])
        for e in [ref, *subjects.values()]:
            if e is not None:
                e.close()

    text = markdown(results)
    print()
    print(text)
    if args.summary:
        with open(args.summary, "w") as f:
            f.write(text + "\n")
    counts = {k: {"run": total(v).run, "passed": total(v).passed,
                  "passed_of_reference_passes": total(v).passed_of_ref_pass,
                  "reference_passes": total(v).ref_pass}
              for k, (_, v) in results.items()}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(counts, f, indent=2)
    status = 0
    if args.ratchet:
        recorded = json.load(open(args.ratchet)) if os.path.exists(args.ratchet) else {}
        for key, c in counts.items():
            floor = recorded.get(key, {}).get("passed", 0)
            if c["passed"] < floor:
                print(f"RATCHET: {key} passed {c['passed']} records, below the recorded {floor}")
                status = 1
            elif args.record and c["passed"] > floor:
                recorded[key] = {"passed": c["passed"], "run": c["run"]}
        if args.record:
            with open(args.ratchet, "w") as f:
                json.dump(recorded, f, indent=2, sort_keys=True)
                f.write("\n")
        if status == 0:
            print("conformance: every pass count at or above the recorded one")
    return status


if __name__ == "__main__":
    sys.exit(main())
