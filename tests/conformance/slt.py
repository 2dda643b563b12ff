"""SQLite's sqllogictest format, read and judged the way SQLite's own runner does.

The corpora in ../shared/conformance/ were written for SQLite's C runner (sqllogictest.c): a
query's values are formatted by the column-type letter of its `query` line (I: integer, R:
"%.3f", T: text with "(empty)" and non-printable characters as "@"), sorted by its sort mode,
and compared one value per line, or as "N values hashing to <md5>" beyond `hash-threshold`.
This module parses the files into records and applies exactly those rules, so that results
from PostgreSQL, MariaDB and Basalt can be compared with each other and with the files.
"""
from __future__ import annotations

import datetime
import decimal
import hashlib
import math
import re
from dataclasses import dataclass, field


@dataclass
class Record:
    kind: str  # "statement", "query", "halt" or "hash-threshold"
    line: int
    sql: str = ""
    expect_error: bool = False
    types: str = ""
    sort: str = "nosort"
    # Explicit expected values, or (count, md5) when the file gives a hash.
    values: list[str] | None = None
    hashed: tuple[int, str] | None = None
    skipif: list[str] = field(default_factory=list)
    onlyif: list[str] = field(default_factory=list)
    threshold: int = 0

    def applies_to(self, engine: str) -> bool:
        if engine in self.skipif:
            return False
        return not self.onlyif or engine in self.onlyif


def parse(text: str) -> list[Record]:
    """The records of one .test file, in order."""
    lines = text.split("\n")
    records: list[Record] = []
    i = 0
    skipif: list[str] = []
    onlyif: list[str] = []
    while i < len(lines):
        raw = lines[i]
        line = raw.split("#", 1)[0].strip() if not raw.startswith("#") else ""
        i += 1
        if not line:
            continue
        words = line.split()
        head = words[0]
        if head == "skipif":
            skipif.append(words[1])
            continue
        if head == "onlyif":
            onlyif.append(words[1])
            continue
        start = i
        if head == "hash-threshold":
            records.append(Record("hash-threshold", start, threshold=int(words[1])))
        elif head == "halt":
            records.append(Record("halt", start, skipif=skipif, onlyif=onlyif))
        elif head == "statement":
            sql, i = _block(lines, i, stop_at_dashes=False)
            records.append(Record("statement", start, sql=sql, expect_error=words[1] == "error",
                                  skipif=skipif, onlyif=onlyif))
        elif head == "query":
            sql, i = _block(lines, i, stop_at_dashes=True)
            rec = Record("query", start, sql=sql, skipif=skipif, onlyif=onlyif)
            if words[1] == "error":
                rec.expect_error = True
            else:
                rec.types = words[1]
                rec.sort = words[2] if len(words) > 2 else "nosort"
            rec.values = []
            if i < len(lines) and lines[i].strip() == "----":
                i += 1
                while i < len(lines) and lines[i].strip() != "":
                    rec.values.append(lines[i].rstrip("\r"))
                    i += 1
                m = re.fullmatch(r"(\d+) values hashing to ([0-9a-f]{32})", rec.values[0].strip()) \
                    if len(rec.values) == 1 else None
                if m:
                    rec.hashed = (int(m.group(1)), m.group(2))
                    rec.values = None
            records.append(rec)
        else:
            raise ValueError(f"line {start}: unknown directive {raw!r}")
        skipif, onlyif = [], []
    return records


def _block(lines: list[str], i: int, stop_at_dashes: bool) -> tuple[str, int]:
    out = []
    while i < len(lines) and lines[i].strip() != "":
        if stop_at_dashes and lines[i].strip() == "----":
            break
        out.append(lines[i])
        i += 1
    return "\n".join(out), i


_NUM_PREFIX = re.compile(r"\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")


def _number(value) -> float | int:
    """A value read as a number the way SQLite's conversions do: a leading numeric prefix of
    text, else 0; booleans are 1 and 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, decimal.Decimal):
        return value
    s = str(value)
    if s in ("t", "true"):
        return 1
    if s in ("f", "false"):
        return 0
    m = _NUM_PREFIX.match(s)
    if not m:
        return 0
    text = m.group(0).strip()
    try:
        return int(text)
    except ValueError:
        return decimal.Decimal(text)


def _text(value) -> str:
    """Text form of a value that came decoded from a driver (binary results)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        s = repr(value)
        return s[:-2] if s.endswith(".0") else s
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def format_value(value, letter: str) -> str:
    """One value as SQLite's runner prints it for a column of type `letter`."""
    if value is None:
        return "NULL"
    if letter == "I":
        n = _number(value)
        try:
            return str(int(n))
        except (OverflowError, ValueError, decimal.InvalidOperation):
            return "0"
    if letter == "R":
        n = _number(value)
        try:
            return "%.3f" % float(n)
        except (OverflowError, ValueError):
            return str(n)
    s = _text(value)
    if s == "":
        return "(empty)"
    return "".join(c if " " <= c <= "~" else "@" for c in s)


def format_rows(rows: list[tuple], types: str, sort: str) -> list[str]:
    """A result's values, one string per value, in the record's sort order."""
    letters = types
    formatted = [[format_value(v, letters[j] if j < len(letters) else "T") for j, v in enumerate(r)]
                 for r in rows]
    if sort == "rowsort":
        formatted.sort()
    values = [v for r in formatted for v in r]
    if sort == "valuesort":
        values.sort()
    return values


def md5_of(values: list[str]) -> str:
    h = hashlib.md5()
    for v in values:
        h.update(v.encode())
        h.update(b"\n")
    return h.hexdigest()


def matches_file(rec: Record, values: list[str]) -> bool:
    """Do these values equal the file's expected result for `rec`?"""
    if rec.hashed is not None:
        return (len(values), md5_of(values)) == rec.hashed
    expected = rec.values or []
    if values == expected:
        return True
    # Some generators write a row per line, values separated by spaces.
    return " ".join(values).split() == " ".join(expected).split()
