"""The week's overlap_weekly rows as CSV, safe to open in a spreadsheet.

A cell that begins with = + - @ TAB or CR could run as a formula in Excel, LibreOffice or
Google Sheets; every such cell is prefixed with a single quote (OWASP, "CSV Injection"). So is
one where those follow leading blanks or quote marks, or that starts with a full-width sign.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from typing import Any

import duckdb

# overlap_weekly, in the order of docs/architecture.md §5.
COLUMNS = (
    "week_start", "account_id", "owner_email", "rep_email", "emails", "meetings", "contacts",
    "score", "level", "reasons", "account_name", "owner_name", "rep_name", "events", "backdoor",
    "coverage_gap", "looped_in", "rep_initiated", "customer_initiated",
)

_SQL = """
select week_start, account_id, owner_email, rep_email, emails, meetings, contacts,
       score, level, reasons, account_name, owner_name, rep_name, events, backdoor,
       coverage_gap, looped_in, rep_initiated, customer_initiated
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


def to_csv(records: Iterable[tuple[Any, ...]]) -> bytes:
    """UTF-8 (no BOM), a header row, CRLF line ends as RFC 4180 has them."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for record in records:
        writer.writerow([cell(v) for v in record])
    return buf.getvalue().encode("utf-8")
