"""Issue 14's reproduction: a CRM change never rewrites the weeks before it (rule 10).

The planted company is run for weeks 1-3; then two accounts change owner and one rep leaves
in the CRM files, and weeks 4-6 are run with the export stamped at the start of week 4.
Every row of weeks 1-3 in every analyst view must be what it is in the same company run the
same way without the CRM change; weeks 4-6 use the new owners. (The control is needed: weeks
4-6 bring new evidence for weeks 1-3 that rule 6 uses on purpose — a later message of the
thread with the owner makes a week-3 event `looped_in` — so "unchanged since the first run"
holds only for the rows no new mail touches.) Plus the CLI side: ``--crm-as-of`` and ownership.csv errors are exit 2 and change
nothing.
"""

from __future__ import annotations

import csv
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from overlap.config import load_config
from overlap.pipeline import run
from sandbox.generator import generate
from tests.e2e.test_cli import assert_one_line_error, run_cli
from tests.e2e.tinyorg import write_org

# analyst views with their weeks: (view, the SQL selecting its rows of the given weeks)
WEEKLY_VIEWS = {
    "interactions": "select * from interactions where week_start in ({})",
    "interaction_participants": "select p.* from interaction_participants as p join"
                                " interactions as i using (interaction_id)"
                                " where i.week_start in ({})",
    "overlap_events": "select * from overlap_events where week_start in ({})",
    "overlap_weekly": "select * from overlap_weekly where week_start in ({})",
    "collaboration_weekly": "select * from collaboration_weekly where week_start in ({})",
}


def _rows(db: Path, weeks: list[date]) -> dict[str, list[tuple[Any, ...]]]:
    marks = ", ".join(f"date '{w.isoformat()}'" for w in weeks)
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {view: sorted(map(repr, con.execute(sql.format(marks)).fetchall()))
                for view, sql in WEEKLY_VIEWS.items()}
    finally:
        con.close()


def _rewrite(path: Path, change: dict[str, dict[str, str]], key: str) -> None:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fields, rows = list(reader.fieldnames or []), list(reader)
    for row in rows:
        row.update(change.get(row[key], {}))
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def _company(root: Path) -> tuple[Any, Any]:
    org = generate(root / "acme", seed=11, weeks=6)
    config = load_config(org.config_path)
    run(config, org.weeks[:3], workers=2,
        crm_as_of=datetime.combine(org.weeks[0], time(), config.tz))
    return org, config


def test_a_crm_change_keeps_past_weeks_and_applies_from_its_stamp(
        tmp_path: Path) -> None:
    control_org, control = _company(tmp_path / "control")
    run(control, control_org.weeks[3:], workers=2,
        crm_as_of=datetime.combine(control_org.weeks[3], time(), control.tz))
    org, config = _company(tmp_path / "changed")
    first, second = org.weeks[:3], org.weeks[3:]
    before = _rows(config.snapshot, first)
    assert before["overlap_events"], "the planted weeks have events"

    # the two accounts with the most events in weeks 4-6 change owner; one other rep leaves
    con = duckdb.connect(str(control.snapshot), read_only=True)
    try:
        accounts = con.execute(
            "select account_id, any_value(owner_email) from overlap_events"
            " where week_start >= ? group by account_id order by count(*) desc, account_id"
            " limit 2", [second[0]]).fetchall()
        reps = [r[0] for r in con.execute("select email from crm_reps order by email")
                .fetchall()]
    finally:
        con.close()
    old_owners = {a: o for a, o in accounts}
    new_owner = {a: next(r for r in reps if r != o and r not in old_owners.values())
                 for a, o in accounts}
    leaver = next(r for r in reps
                  if r not in old_owners.values() and r not in new_owner.values())
    crm = org.config_path.parent / "crm"
    _rewrite(crm / "accounts.csv", {a: {"owner_email": o} for a, o in new_owner.items()},
             "account_id")
    _rewrite(crm / "reps.csv", {leaver: {"active": "false"}}, "email")
    change = datetime.combine(second[0], time(), config.tz)
    run(config, second, workers=2, crm_as_of=change)

    after = _rows(config.snapshot, first)
    assert after == _rows(control.snapshot, first)
    con = duckdb.connect(str(config.snapshot), read_only=True)
    try:
        later = con.execute(
            "select account_id, owner_email, occurred_at from overlap_events"
            " where list_contains(?, account_id) and week_start >= ?",
            [list(new_owner), second[0]]).fetchall()
        owners = con.execute(
            "select account_id, owner_email, valid_from, valid_until, source"
            " from account_owners where list_contains(?, account_id)"
            " order by account_id, valid_from nulls first", [list(new_owner)]).fetchall()
        weeks = {r[0] for r in con.execute(
            "select distinct week_start from overlap_events").fetchall()}
    finally:
        con.close()
    assert later and all(owner == new_owner[a] for a, owner, _ in later)
    assert owners == [row for a in sorted(new_owner) for row in (
        (a, old_owners[a], None, change, "snapshot"), (a, new_owner[a], change, None, "snapshot"))]
    # only reported weeks: none of the look-back weeks the runs extracted as evidence
    assert weeks <= set(org.weeks)


def test_a_bad_crm_as_of_is_exit_2_and_changes_nothing(tmp_path: Path) -> None:
    cfg = write_org(tmp_path)
    proc = run_cli("run", "--config", str(cfg), "--week", "2026-W47", "--crm-as-of",
                   "last tuesday", "-q")
    assert_one_line_error(proc, "--crm-as-of", "last tuesday")
    assert not (tmp_path / "data" / "overlap.duckdb").exists()


@pytest.mark.parametrize(("rows", "where"), [
    ("A9,owner@corp.example,2026-01-05\n", "ownership.csv:2: column 'account_id'"),
    ("A1,owner@corp.example,2026-13-05\n", "ownership.csv:2: column 'valid_from'"),
    ("A1,owner@corp.example,2026-01-05T10:00:00\n", "ownership.csv:2: column 'valid_from'"),
    ("A1,owner@corp.example,2026-01-05\nA1,other@corp.example,2026-01-05\n",
     "ownership.csv:3: column 'valid_from'"),
    ("A1,not an address,2026-01-05\n", "ownership.csv:2: column 'owner_email'"),
])
def test_a_bad_ownership_csv_is_exit_2_and_changes_nothing(tmp_path: Path, rows: str,
                                                           where: str) -> None:
    cfg = write_org(tmp_path)
    ok = run_cli("run", "--config", str(cfg), "--week", "2026-W47", "-q")
    assert ok.returncode == 0, ok.stderr
    warehouse = tmp_path / "data" / "overlap.duckdb"
    before = warehouse.read_bytes()
    (tmp_path / "crm" / "ownership.csv").write_text(
        "account_id,owner_email,valid_from\n" + rows, encoding="utf-8")
    cfg.write_text(cfg.read_text().replace(
        'reps = "crm/reps.csv"', 'reps = "crm/reps.csv"\nownership = "crm/ownership.csv"'))
    proc = run_cli("run", "--config", str(cfg), "--week", "2026-W47", "-q")
    assert_one_line_error(proc, where)
    assert warehouse.read_bytes() == before


def test_an_ownership_owner_missing_from_reps_is_a_finding(tmp_path: Path) -> None:
    cfg = write_org(tmp_path)
    (tmp_path / "crm" / "ownership.csv").write_text(
        "account_id,owner_email,valid_from\nA1,ghost@corp.example,2026-01-05\n",
        encoding="utf-8")
    cfg.write_text(cfg.read_text().replace(
        'reps = "crm/reps.csv"', 'reps = "crm/reps.csv"\nownership = "crm/ownership.csv"'))
    proc = run_cli("run", "--config", str(cfg), "--week", "2026-W47", "-q",
                   "--crm-as-of", "2026-11-30T09:00:00+01:00")
    assert proc.returncode == 0, proc.stderr
    con = duckdb.connect(str(tmp_path / "data" / "overlap-snapshot.duckdb"), read_only=True)
    try:
        found = con.execute("select item, detail from data_quality"
                            " where kind = 'owner_not_rep'").fetchall()
        stamps = con.execute("select as_of from crm_snapshots").fetchall()
    finally:
        con.close()
    assert found == [("ghost@corp.example", "A1")]
    assert [s[0].isoformat() for s in stamps] == ["2026-11-30T08:00:00+00:00"]
