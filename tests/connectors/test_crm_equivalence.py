"""The planted company's CRM read through the Salesforce and HubSpot sandboxes gives the same
overlap_events and account_owners as its CSV files + ownership.csv (issue 17).

Real parts only: the generator's organisation, the CRM sandboxes over HTTP, the connectors,
the whole pipeline into DuckDB. An ownership.csv is added to the planted export (owner changes
inside and before the reported weeks, one backdated to before the accounts existed), so the
owner history the API serves matters to the events.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from overlap.config import load_config
from overlap.pipeline import run
from sandbox.generator import GeneratedOrg, generate
from sandbox.serve import file_sources, start_crm_sandbox, write_sandbox_config

EVENT_COLUMNS = ("interaction_id, kind, occurred_at, week_start, account_id, owner_email, "
                 "rep_email, initiated_by, category, former_owner, heads_up")
OWNER_COLUMNS = "account_id, owner_email, valid_from, valid_until, previous_owner_email"


def _add_ownership(org: GeneratedOrg) -> None:
    """Owner changes for three planted accounts: one in the middle of the reported weeks (a
    handoff window), one before them, one back to an earlier owner."""
    config = org.config_path
    first = min(org.weeks)
    with (config.parent / "crm" / "accounts.csv").open(encoding="utf-8", newline="") as fh:
        rows = {r["account_id"]: r["owner_email"] for r in csv.DictReader(fh)}
    with (config.parent / "crm" / "reps.csv").open(encoding="utf-8", newline="") as fh:
        sellers = [r["email"] for r in csv.DictReader(fh)][-4:]
    planted = [a for a in rows if a.startswith("P-") and a != "P-ORPHAN"][:3]
    # the generator's own ownership.csv (the planted handoff, sandbox/plant_crm_time.py) stays
    ownership = config.parent / "crm" / "ownership.csv"
    lines = (ownership.read_text(encoding="utf-8").splitlines() if ownership.exists()
             else ["account_id,owner_email,valid_from"])
    lines.append(f"{planted[0]},{sellers[0]},{first - timedelta(days=40)}")
    lines.append(f"{planted[0]},{rows[planted[0]]},{first + timedelta(days=9)}")
    lines.append(f"{planted[1]},{sellers[1]},{first + timedelta(days=3)}T10:30:00+01:00")
    lines.append(f"{planted[2]},{sellers[2]},{first - timedelta(days=400)}")
    ownership.write_text("\n".join(lines) + "\n", encoding="utf-8")
    text = config.read_text(encoding="utf-8")
    if 'ownership = "crm/ownership.csv"' not in text:
        text = text.replace('contacts = "crm/contacts.csv"', 'contacts = "crm/contacts.csv"\n'
                            'ownership = "crm/ownership.csv"')
    config.write_text(text, encoding="utf-8")


def _facts(db: Path) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]], set[str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        query = (f"select {EVENT_COLUMNS}, list_sort(contact_emails)::varchar"  # noqa: S608
                 " from overlap_events")
        events = set(con.execute(query).fetchall())
        owners = set(con.execute(f"select {OWNER_COLUMNS} from account_owners")  # noqa: S608
                     .fetchall())
        sources = {r[0] for r in con.execute("select distinct source from account_owners")
                   .fetchall()}
    finally:
        con.close()
    return events, owners, sources


def _as_of(org: GeneratedOrg) -> datetime:
    """One snapshot stamp for both runs (the snapshot facts are dated by it)."""
    return datetime.combine(max(org.weeks) + timedelta(days=8), time(6), UTC)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GeneratedOrg, Path]]:
    org = generate(tmp_path_factory.mktemp("org") / "acme", seed=11)
    _add_ownership(org)
    config = load_config(org.config_path)
    result = run(config, list(org.weeks), workers=1, crm_as_of=_as_of(org))
    assert not result.failed
    yield org, config.snapshot


@pytest.mark.parametrize("kind", ["salesforce", "hubspot"])
def test_crm_api_equivalent_to_csv(planted: tuple[GeneratedOrg, Path], kind: str,
                                   tmp_path: Path) -> None:
    org, csv_snapshot = planted
    config = load_config(org.config_path)
    server = start_crm_sandbox(config, kind, secrets_dir=tmp_path / "secrets")
    try:
        path = write_sandbox_config(config, file_sources(config), tmp_path / f"{kind}.toml",
                                    crm=server.crm_config())
        api_config = load_config(path)
        assert api_config.crm_kind == kind and api_config.accounts_csv is None
        result = run(api_config, list(org.weeks), workers=1, crm_as_of=_as_of(org))
        assert not result.failed
    finally:
        server.stop()
    csv_events, csv_owners, csv_sources = _facts(csv_snapshot)
    api_events, api_owners, api_sources = _facts(api_config.snapshot)
    assert len(csv_events) > 20
    owners: dict[str, set[str]] = {}
    for event in csv_events:
        owners.setdefault(event[4], set()).add(event[5])
    assert any(len(o) > 1 for o in owners.values())  # the owner history shaped the events
    assert api_events == csv_events
    assert api_owners == csv_owners
    assert "ownership_csv" in csv_sources and "crm_api" not in csv_sources
    assert "crm_api" in api_sources and "ownership_csv" not in api_sources
