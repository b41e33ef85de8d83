"""Rule 10's history at import: snapshots by stamp, unchanged ones add nothing, an older one
slots in without touching the latest identity facts (overlap.warehouse.load_crm_snapshot)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from overlap import sqlrunner, warehouse
from overlap.crm import load_crm, parse_crm_as_of
from overlap.errors import InputError
from tests.unit.test_crm import ACCOUNTS, write_project

T1 = datetime(2025, 3, 1, tzinfo=UTC)
T2 = datetime(2025, 3, 8, tzinfo=UTC)
T3 = datetime(2025, 3, 15, tzinfo=UTC)


def _import(con: duckdb.DuckDBPyConnection, root: Path, as_of: datetime,
            accounts: str = ACCOUNTS) -> bool:
    snap = load_crm(write_project(root, accounts=accounts), as_of)
    con.begin()
    changed = warehouse.load_crm_snapshot(con, snap, None, datetime.now(UTC))
    con.commit()
    return changed


def _owners(con: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    return con.execute("select as_of, account_id, owner_email from crm_account_history"
                       " order by as_of, account_id").fetchall()


def test_snapshots_unchanged_and_older_ones(tmp_path: Path) -> None:
    con = duckdb.connect()
    sqlrunner.migrate(con)
    assert _import(con, tmp_path, T1) is True
    assert _import(con, tmp_path, T2) is False  # unchanged: no history rows
    assert len(_owners(con)) == 2
    renamed = ACCOUNTS.replace("A2,Globex,john@", "A2,Globex Inc,maria@")
    assert _import(con, tmp_path, T3, renamed) is True
    assert con.execute("select account_name from crm_accounts where account_id = 'A2'"
                       ).fetchall() == [("Globex Inc",)]
    # an export of T2 found later, with A1 owned by john then: it slots in by its stamp and
    # leaves the latest snapshot's identity facts (Globex Inc) alone
    older = ACCOUNTS.replace("A1,Acme,jane@", "A1,Acme Old,john@")
    assert _import(con, tmp_path, T2, older) is True
    assert [(r[0], r[1], r[2]) for r in _owners(con) if r[1] == "A1"] == [
        (T1, "A1", "jane@corp.example"), (T2, "A1", "john@corp.example"),
        (T3, "A1", "jane@corp.example")]
    assert con.execute("select account_name from crm_accounts order by account_id"
                       ).fetchall() == [("Acme",), ("Globex Inc",)]
    assert con.execute("select count(*), count(distinct as_of) from crm_snapshots"
                       ).fetchall() == [(3, 3)]


def test_crm_as_of_forms() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    assert parse_crm_as_of("2025-03-10", berlin) == datetime(2025, 3, 9, 23, tzinfo=UTC)
    assert parse_crm_as_of("2025-03-10T09:00:00+01:00", berlin) == datetime(
        2025, 3, 10, 8, tzinfo=UTC)
    assert parse_crm_as_of("2025-03-10T08:00:00Z", berlin) == datetime(
        2025, 3, 10, 8, tzinfo=UTC)
    for bad in ("2025-03-10T09:00:00", "10.03.2025", "", "now"):
        with pytest.raises(InputError):
            parse_crm_as_of(bad, berlin)


def test_an_unchanged_import_keeps_the_build_incremental(tmp_path: Path) -> None:
    con = duckdb.connect()
    sqlrunner.migrate(con)
    params = sqlrunner.default_params()
    _import(con, tmp_path, T1)
    assert sqlrunner.build(con, params, incremental=True).mode == "full"
    _import(con, tmp_path, T2)  # the same files a week later
    assert sqlrunner.build(con, params, incremental=True).mode == "incremental"
    # an owner change (an assignment fact): incremental, scoped to what it touches
    # (tests/sql/test_incremental.py); a renamed account (an identity fact): full
    _import(con, tmp_path, T3, ACCOUNTS.replace("A1,Acme,jane@", "A1,Acme,john@"))
    assert sqlrunner.build(con, params, incremental=True).mode == "incremental"
    _import(con, tmp_path, T3, ACCOUNTS.replace("A1,Acme,jane@", "A1,Acme Inc,john@"))
    assert sqlrunner.build(con, params, incremental=True).mode == "full"
