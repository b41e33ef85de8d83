"""CRM connectors under faults, through the CRM sandboxes over real HTTP (issue 17): an expired
token mid-run, 429/503 bursts and an expired Salesforce query cursor are retried or restarted
and give exactly the CRM of a clean read; a CRM that fails imports nothing, the previous
snapshot stays in force and the run says so."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from overlap import warehouse
from overlap.crm import CrmSnapshot, crm_warnings, load_crm
from overlap.errors import InputError
from overlap.pipeline import model
from tests.connectors.crm_org import served, write_org

KINDS = ("salesforce", "hubspot")


def _rows(crm: CrmSnapshot) -> dict[str, list[str]]:
    """The snapshot's tables as sorted rows, without the API's record positions."""
    out = {}
    for name, table in crm.tables.items():
        keep = [c for c in table.column_names if c not in ("line", "source")]
        out[name] = sorted(str({k: v.astimezone(UTC).isoformat() if isinstance(v, datetime)
                                else v for k, v in row.items()})
                           for row in table.select(keep).to_pylist())
    return out


@pytest.fixture()
def org(tmp_path: Path):  # type: ignore[no-untyped-def]
    return write_org(tmp_path / "org")


@pytest.mark.parametrize("kind", KINDS)
def test_api_crm_equals_csv_crm(org, kind: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with served(org, kind, tmp_path) as (_, config):
        api = load_crm(config)
    expected = _rows(load_crm(org))
    if kind == "hubspot":  # HubSpot's history also holds the owner set when a company was made
        expected["crm_ownership"] = sorted(expected["crm_ownership"] + [
            str({"account_id": a, "owner_email": o, "valid_from": "2020-01-01T00:00:00+00:00"})
            for a, o in (("A2", "tom@corp.example"), ("A3", "olga@corp.example"))])
    assert _rows(api) == expected
    sources = api.tables["crm_ownership"].column("source").to_pylist()
    assert sources == ["crm_api"] * len(sources) and len(sources) >= 3
    assert not api.notes


def test_salesforce_expired_token_mid_run_is_renewed(org, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with served(org, "salesforce", tmp_path, page_size=2) as (server, config):
        server.inject("token", after=3)
        crm = load_crm(config)
        assert server.counts["token"] == 2  # the first login and one renewal
        assert server.faults.injected["token"] == 1
    assert _rows(crm) == _rows(load_crm(org))


@pytest.mark.parametrize("kind,fault", [("salesforce", "503"), ("salesforce", "429"),
                                        ("hubspot", "429"), ("hubspot", "503")])
def test_bursts_are_retried(org, kind: str, fault: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with served(org, kind, tmp_path) as (server, config):
        clean = load_crm(config)
        server.inject(fault, count=3, after=1)
        crm = load_crm(config)
        assert server.faults.injected[fault] == 3
    assert crm.counts["retries"] == 3
    assert _rows(crm) == _rows(clean)


def test_salesforce_expired_query_locator_restarts_the_query(org, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with served(org, "salesforce", tmp_path, page_size=2) as (server, config):
        server.inject("locator", after=1)  # the 2nd request: the User query's 2nd page
        crm = load_crm(config)
        assert server.faults.injected["locator"] == 1
        assert server.counts["query"] == 6  # five objects, User twice
    assert _rows(crm) == _rows(load_crm(org))  # no page twice, none missing


def test_hubspot_rate_limit_headers_pace_the_client(org, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with served(org, "hubspot", tmp_path / "unlimited") as (_, config):
        clean = load_crm(config)
    with served(org, "hubspot", tmp_path, max_requests=2, interval_ms=400) as (server, config):
        crm = load_crm(config)
        assert sum(server.counts.values()) == 4  # owners ×2, companies, contacts
        assert server.throttled == 0  # waited for the window when Remaining said 0
    assert _rows(crm) == _rows(clean) and crm.tables["crm_accounts"].num_rows == 4


def _store(config, crm: CrmSnapshot) -> None:  # type: ignore[no-untyped-def]
    con = warehouse.connect(config.warehouse)
    try:
        con.execute("begin transaction")
        warehouse.load_crm_snapshot(con, crm, "r1", datetime.now(UTC))
        con.execute("commit")
    finally:
        con.close()


def _warehouse_crm(config) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    con = duckdb.connect(str(config.warehouse), read_only=True)
    try:
        return {t: sorted(map(str, con.execute(f"select * exclude (line) from {t}")  # noqa: S608
                              .fetchall()))
                for t in ("crm_accounts", "crm_reps", "crm_contacts", "crm_ownership")}
    finally:
        con.close()


@pytest.mark.parametrize("kind,fault", [("salesforce", "503"), ("hubspot", "token")])
def test_failed_crm_keeps_the_previous_snapshot(org, kind: str, fault: str,  # type: ignore[no-untyped-def]
                                                tmp_path: Path) -> None:
    with served(org, kind, tmp_path) as (server, config):
        first = load_crm(config, datetime(2026, 3, 1, tzinfo=UTC))
        _store(config, first)
        before = _warehouse_crm(config)
        server.inject(fault, count=100, after=2)  # fails after part of the CRM was read
        again = load_crm(config)
    assert again.as_of == first.as_of  # the previous snapshot, not a new one
    assert _rows(again) == _rows(first)
    assert len(again.notes) == 1 and "stays in force" in again.notes[0]
    assert "nothing was imported" in again.notes[0]
    assert again.notes[0] in crm_warnings(again, config)  # the run prints it
    _store(config, again)  # what the run's load does with it: nothing changes
    assert _warehouse_crm(config) == before


def test_failed_crm_without_a_previous_snapshot_is_an_error(org, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with served(org, "salesforce", tmp_path) as (server, config):
        server.inject("503", count=100)
        with pytest.raises(InputError, match="no earlier CRM snapshot") as info:
            load_crm(config)
    assert not config.warehouse.exists()
    assert "503" in str(info.value)


def test_history_tracking_off_is_said_once_in_data_quality(tmp_path: Path) -> None:
    config = write_org(tmp_path / "org", ownership=None)
    with served(config, "salesforce", tmp_path) as (_, api_config):
        crm = load_crm(api_config)
    assert crm.tables["crm_ownership"].num_rows == 0
    assert len(crm.notes) == 1 and "history tracking is off" in crm.notes[0]
    _store(api_config, crm)
    model(api_config)
    con = duckdb.connect(str(api_config.warehouse), read_only=True)
    try:
        found = con.execute("select item from data_quality where kind = 'crm_note'").fetchall()
        sources = con.execute("select distinct source from account_owners").fetchall()
    finally:
        con.close()
    assert found == [(crm.notes[0],)]
    assert sources == [("snapshot",)]  # the snapshots are the only owner history


def test_salesforce_reps_where_chooses_the_reps(org, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with served(org, "salesforce", tmp_path) as (_, config):
        where = "Department IN ('East', 'Leadership')"
        crm = load_crm(replace(config, crm_options={**config.crm_options, "reps_where": where}))
    assert sorted(crm.tables["crm_reps"].column("email").to_pylist()) == [
        "olga@corp.example", "vera@corp.example"]
    owners = dict(zip(crm.tables["crm_accounts"].column("account_id").to_pylist(),
                      crm.tables["crm_accounts"].column("owner_email").to_pylist(), strict=True))
    assert owners["A2"] == "tom@corp.example"  # still resolved: an owner who is not a rep
    assert any("tom@corp.example of account A2 is not in reps.csv" in w
               for w in crm_warnings(crm, config))
