"""Fixtures for the report tests: a warehouse shaped like the analyst views, and a renderer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from reports.render import ReportPaths, render_week
from tests.reports.fixture import WEEK, Warehouse, build

GENERATED = dt.datetime(2026, 11, 23, 6, 0, tzinfo=dt.UTC)


@pytest.fixture
def warehouse() -> Warehouse:
    con = duckdb.connect(":memory:")
    try:
        yield build(con)
    finally:
        con.close()


@pytest.fixture
def render(tmp_path: Path) -> Callable[..., ReportPaths]:
    """render(wh, **kwargs) into a fresh folder under tmp_path; defaults to week 2026-W47."""
    counter = iter(range(1000))

    def _render(wh: Warehouse, week: dt.date = WEEK, **kwargs: object) -> ReportPaths:
        kwargs.setdefault("generated_at", GENERATED)
        kwargs.setdefault("title", "Acme Sales")
        return render_week(wh.con, week, tmp_path / f"out{next(counter)}", **kwargs)

    return _render
