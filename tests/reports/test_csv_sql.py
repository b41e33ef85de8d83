"""The CSV export is built by DuckDB (it is the full list of the week: hundreds of thousands of
rows at scale). It must be byte for byte what the Python reference (csv_export.cell,
neutralise and csv.writer) writes, for any text a mailbox or the CRM can carry."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reports.csv_export import chunks, rows, to_csv
from tests.reports.fixture import SPEC, WEEK, create_tables

TEXT_COLUMNS = ("account_id", "owner_email", "rep_email", "level", "account_name",
                "owner_name", "rep_name")
INT_COLUMNS = ("emails", "meetings", "contacts", "events", "backdoor", "coverage_gap",
               "looped_in", "rep_initiated", "customer_initiated")

# Text that exercises every rule: formula signs, the blanks and quotes spreadsheets skip,
# full-width signs, the CSV delimiter, quotes and line breaks, and anything else.
TRICKY = st.sampled_from(list("=+-@\t\r\n \u00a0\u3000\"',;\uff1d\uff0b\uff0d\uff20ab1\u00e9"))
TEXT = st.one_of(st.text(TRICKY, max_size=6), st.text(max_size=12))


def warehouse(records: list[dict[str, object]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    create_tables(con)
    names = [c for c, _ in SPEC["overlap_weekly"]]
    con.executemany(
        f"insert into overlap_weekly values ({', '.join('?' * len(names))})",  # noqa: S608
        [[r.get(c) for c in names] for r in records])
    return con


def record(i: int, **values: object) -> dict[str, object]:
    base: dict[str, object] = {"week_start": WEEK, "account_id": f"A-{i:03d}",
                               "owner_email": "o@corp.example", "rep_email": f"r{i}@corp.example",
                               "score": float(i), "level": "low", "reasons": ["r"]}
    return {**base, **values}


def same(con: duckdb.DuckDBPyConnection) -> None:
    assert b"".join(chunks(con, WEEK)) == to_csv(rows(con, WEEK))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries(
    {c: st.one_of(st.none(), TEXT) for c in TEXT_COLUMNS}
    | {c: st.one_of(st.none(), st.integers(-5, 10**6)) for c in INT_COLUMNS}
    | {"score": st.one_of(st.none(), st.floats(-1e6, 1e6), st.integers(-40, 400).map(
        lambda k: k / 128))}
    | {"reasons": st.one_of(st.none(), st.lists(st.one_of(st.none(), TEXT), max_size=3))}),
    min_size=1, max_size=8))
def test_any_values_give_the_same_bytes(values: list[dict[str, object]]) -> None:
    # account_id and rep_email are keys: distinct per row so the order is total
    recs = [record(i) | v | {"account_id": f"{v['account_id']}#{i}"} for i, v in
            enumerate(values)]
    same(warehouse(recs))


@pytest.mark.parametrize("value", [
    "=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", " =1+1", "  +cmd", "\n=1", '"=1+1',
    "'=1+1", " '@x", "\u00a0=1", "\u3000-1", "\uff1dHYPERLINK(\"http://x\")", "\uff0b1",
    " \t", "\t", "a,b", 'say "hi"', "line\nbreak", "cr\rhere", "", " ", "plain",
    "\u0000nul",
])
def test_hostile_cells(value: str) -> None:
    recs = [record(1, **{c: value for c in TEXT_COLUMNS if c not in ("account_id",)},
                   reasons=[value, None, value]),
            record(2, account_name=None, owner_name=None, reasons=None, score=None),
            record(3, score=-0.0078125, emails=-3), record(4, score=0.6953125, reasons=[])]
    same(warehouse(recs))


def test_real_view_types() -> None:
    """Against the migrated views too (sql/views), not only the fixture's tables."""
    from overlap import sqlrunner

    con = duckdb.connect()
    sqlrunner.migrate(con)
    sqlrunner.build(con, sqlrunner.default_params())
    same(con)
    assert b"".join(chunks(con, WEEK + dt.timedelta(weeks=1))).count(b"\r\n") == 1
