"""The week's overlap_weekly rows as CSV, safe to open in a spreadsheet.

A cell that begins with = + - @ TAB or CR could run as a formula in Excel, LibreOffice or
Google Sheets; every such cell is prefixed with a single quote (OWASP, "CSV Injection"). So is
one where those follow leading blanks or quote marks, or that starts with a full-width sign.

The CSV is the complete list of the week (never capped), so at scale it has hundreds of
thousands of rows: ``chunks`` has DuckDB format, neutralise and quote every cell and streams
the lines. ``cell``/``to_csv`` are the same rules in Python, the reference the tests hold the
SQL to, byte for byte.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator
from typing import Any

import duckdb

# overlap_weekly, in the order of docs/architecture.md §5.
COLUMNS = (
    "week_start", "account_id", "owner_email", "rep_email", "emails", "meetings", "contacts",
    "score", "level", "reasons", "account_name", "owner_name", "rep_name", "events", "backdoor",
    "coverage_gap", "looped_in", "rep_initiated", "customer_initiated", "heads_ups",
    "earlier_weeks",
)

_SQL = """
select week_start, account_id, owner_email, rep_email, emails, meetings, contacts,
       score, level, reasons, account_name, owner_name, rep_name, events, backdoor,
       coverage_gap, looped_in, rep_initiated, customer_initiated, heads_ups, earlier_weeks
from overlap_weekly
where week_start = $week
order by score desc, account_id, rep_email, owner_email
"""

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
LIST_SEPARATOR = "; "


# Spreadsheets skip leading blanks and quote marks before looking for "=" (LibreOffice reads
# ' =1+1' as a formula), and some map full-width signs to ASCII ones.
_SKIPPED = " \t\r\n\u00a0\u3000\"'"
_LOOKALIKES = ("\uff1d", "\uff0b", "\uff0d", "\uff20")  # full-width = + - @


def neutralise(text: str) -> str:
    """Prefix a quote to a cell a spreadsheet would read as a formula."""
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    rest = text.lstrip(_SKIPPED)
    if rest != text and rest.startswith(FORMULA_PREFIXES + _LOOKALIKES):
        return "'" + text
    return "'" + text if text.startswith(_LOOKALIKES) else text


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        text = LIST_SEPARATOR.join("" if v is None else str(v) for v in value)
    elif isinstance(value, float):
        text = repr(round(value, 6))  # 12.5, 8.0: exact enough to re-sort, never "1e+06"
    elif isinstance(value, dt.date):
        text = value.isoformat()
    else:
        text = str(value)
    return neutralise(text)


def rows(con: duckdb.DuckDBPyConnection, week_start: dt.date) -> list[tuple[Any, ...]]:
    return con.execute(_SQL, {"week": week_start}).fetchall()


# --------------------------------------------------------------------------- the same in SQL

# How each column becomes text, as ``cell`` does it for the §5 types. Numbers and dates hold no
# delimiter, quote or line break and can only start a formula with a minus sign; the casts make
# a column of another type fail loudly rather than skip the text rules.
_KINDS = {
    "week_start": "date", "score": "float", "reasons": "list",
    **{c: "int" for c in ("emails", "meetings", "contacts", "events", "backdoor",
                          "coverage_gap", "looped_in", "rep_initiated", "customer_initiated")},
}


def _class(chars: Iterable[str]) -> str:
    """A regex character class (RE2) of these characters, each as \\x{...}: nothing to escape."""
    return "[" + "".join(f"\\x{{{ord(c):04x}}}" for c in chars) + "]"


# ``neutralise`` as one regex: a sign after leading blanks or quote marks (none of the signs is
# one of those, so the run of them is the whole lstrip), or TAB/CR as the very first character.
_SIGNS = [c for c in FORMULA_PREFIXES + _LOOKALIKES if c not in _SKIPPED]
_FORMULA_RE = f"^{_class(_SKIPPED)}*{_class(_SIGNS)}|^{_class(c for c in FORMULA_PREFIXES if c in _SKIPPED)}"
_QUOTE_RE = _class(',"\r\n')  # csv.writer's QUOTE_MINIMAL: delimiter, quote, CR, LF


def _text_sql(column: str) -> str:
    """The text of a cell, as ``cell`` makes it (NULL stays NULL)."""
    return {
        "int": f"cast(cast({column} as bigint) as varchar)",
        # repr(round(x, 6)): Python rounds a tie to even (0.0078125 -> 0.007812), so round_even
        "float": f"cast(round_even(cast({column} as double), 6) as varchar)",
        "date": f"cast(cast({column} as date) as varchar)",
        "list": f"array_to_string(list_transform({column}, lambda x: coalesce(x, '')), '; ')",
        "text": f"cast({column} as varchar)",
    }[_KINDS.get(column, "text")]


def _safe_sql(column: str) -> str:
    """``neutralise`` of the text in column ``column``."""
    if _KINDS.get(column, "text") in ("int", "float", "date"):
        test = f"starts_with({column}, '-')"
    else:
        test = f"regexp_matches({column}, '{_FORMULA_RE}')"
    return f"case when {test} then chr(39) || {column} else {column} end"


def _field_sql(column: str) -> str:
    """csv.writer's quoting of the safe text in ``column``; NULL is an empty field."""
    if _KINDS.get(column, "text") in ("int", "float", "date"):
        return f"coalesce({column}, '')"
    return (f"coalesce(case when regexp_matches({column}, '{_QUOTE_RE}') "
            f"then chr(34) || replace({column}, chr(34), chr(34) || chr(34)) || chr(34) "
            f"else {column} end, '')")


# One CSV line per overlap_weekly row of the week, in the report's order: text, then
# neutralised, then quoted and joined (the placeholders are filled from COLUMNS below).
_LINES_TEMPLATE = """
with texts as (
    select {texts},
           score as k_score, account_id as k_account, rep_email as k_rep,
           owner_email as k_owner
    from overlap_weekly
    where week_start = $week
),
safe as (
    select {safe},
           k_score, k_account, k_rep, k_owner
    from texts
),
final as (
    select {line} as line, k_score, k_account, k_rep, k_owner
    from safe
)
select line from final
order by k_score desc, k_account, k_rep, k_owner
"""


def _lines_sql() -> str:
    return _LINES_TEMPLATE.format(
        texts=",\n           ".join(f"{_text_sql(c)} as {c}" for c in COLUMNS),
        safe=",\n           ".join(f"{_safe_sql(c)} as {c}" for c in COLUMNS),
        line=" || ',' || ".join(_field_sql(c) for c in COLUMNS),
    )


_LINES_SQL = _lines_sql()
CHUNK_ROWS = 20_000


def chunks(con: duckdb.DuckDBPyConnection, week_start: dt.date) -> Iterator[bytes]:
    """The week's CSV (header and every row) as UTF-8 byte chunks, built by DuckDB."""
    yield (",".join(COLUMNS) + "\r\n").encode("utf-8")
    cursor = con.execute(_LINES_SQL, {"week": week_start})
    while batch := cursor.fetchmany(CHUNK_ROWS):
        yield "".join(line + "\r\n" for (line,) in batch).encode("utf-8")


def to_csv(records: Iterable[tuple[Any, ...]]) -> bytes:
    """UTF-8 (no BOM), a header row, CRLF line ends as RFC 4180 has them."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for record in records:
        writer.writerow([cell(v) for v in record])
    return buf.getvalue().encode("utf-8")
