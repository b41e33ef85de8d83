"""The planted organisation end to end: every overlap event the rules imply, and nothing else.

The generator writes raw mail, calendars and a CRM export plus the ground truth it derived
from its own in-memory model of the organisation (tests/sandbox re-derives it independently
from the files). Here the real pipeline — file connectors, staging, load, SQL model — must
reproduce it exactly: precision and recall 1.0 for every category.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import pytest

from overlap.config import load_config
from overlap.pipeline import run
from sandbox.generator import GeneratedOrg, generate
from sandbox.plant_crm_later import (
    BACKDATE,
    COLLABORATION_LATER,
    GROUND_TRUTH_LATER,
    GROUND_TRUTH_LOOKBACK,
    LATE,
    LATER_CRM,
    LOOKBACK,
    correction_from,
)
from sandbox.seed import seed_from_config
from sandbox.serve import start_sandboxes, write_sandbox_config

CATEGORIES = ("backdoor", "coverage_gap", "looped_in", "handoff")


class PlantedRuns(NamedTuple):
    """One parametrisation: the organisation, the analysts' snapshot after the first run (the
    first CRM, crm/) and after the later CRM (crm-later/ copied over crm/, last week re-run)."""

    org: GeneratedOrg
    first: Path
    later: Path


@pytest.fixture(scope="module", params=["files", "mixed-apis"])
def planted_runs(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlantedRuns]:
    """The organisation read from its files, and read through a mixed company's APIs (half
    the mailboxes in the Google sandbox, half in the Microsoft one) — as `overlap demo` does.
    Every reported week is run with crm/; then, as a user applies the next CRM export, the
    files of crm-later/ replace those of crm/ and the last week runs again (its CRM stamped
    with the wall-clock time, as `overlap run` does)."""
    org = generate(tmp_path_factory.mktemp("org") / "acme", seed=11)
    config = load_config(org.config_path)
    servers = []
    if request.param == "mixed-apis":
        servers = start_sandboxes(seed_from_config(config), "mixed",
                                  secrets_dir=org.out_dir / "secrets")
    try:
        if servers:
            sources = [src for server, boxes in servers for src in server.sources(boxes)]
            config = load_config(write_sandbox_config(config, sources,
                                                      org.out_dir / "sandbox.toml"))
            assert {s.kind for s in config.sources} == {"gmail", "google_calendar", "msgraph"}
        result = run(config, list(org.weeks), workers=2)
        assert not result.failed
        first = org.out_dir / "first-snapshot.duckdb"
        shutil.copyfile(config.snapshot, first)
        for export in sorted((org.out_dir / LATER_CRM).glob("*.csv")):
            shutil.copyfile(export, org.out_dir / "crm" / export.name)
        result = run(config, [org.weeks[-1]], workers=2)
        assert not result.failed
    finally:
        for server, _ in servers:
            server.stop()
    yield PlantedRuns(org, first, config.snapshot)


@pytest.fixture(scope="module")
def planted(planted_runs: PlantedRuns) -> tuple[GeneratedOrg, Path]:
    """The organisation and its snapshot with the first CRM (the ground truth's state)."""
    return planted_runs.org, planted_runs.first


def _key_id(key: str) -> str:
    return hashlib.md5(key.encode("utf-8")).hexdigest()  # noqa: S324 - an identity, not security


def expected_events(org: GeneratedOrg) -> set[tuple[str, ...]]:
    with org.ground_truth_path.open(encoding="utf-8", newline="") as fh:
        return {
            (_key_id(r["interaction_key"]), r["account_id"], r["rep_email"], r["category"],
             r["initiated_by"], r["week_start"])
            for r in csv.DictReader(fh)
        }


def actual_events(db: Path, org: GeneratedOrg) -> set[tuple[str, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "select interaction_id, account_id, rep_email, category, initiated_by,"
            " strftime(week_start, '%Y-%m-%d') from overlap_events"
            " where week_start in (select unnest(?::date[]))",
            [[w.isoformat() for w in org.weeks]],
        ).fetchall()
    finally:
        con.close()
    return {tuple(r) for r in rows}


def test_precision_and_recall_are_one_per_category(planted: tuple[GeneratedOrg, Path]) -> None:
    org, db = planted
    expected, actual = expected_events(org), actual_events(db, org)
    assert len(expected) > 100, "the generator must plant a meaningful number of events"
    for category in CATEGORIES:
        exp = {e for e in expected if e[3] == category}
        act = {a for a in actual if a[3] == category}
        assert exp, f"no {category} events planted"
        true_positive = len(exp & act)
        precision = true_positive / len(act) if act else 0.0
        recall = true_positive / len(exp)
        assert (precision, recall) == (1.0, 1.0), (
            category, sorted(act - exp)[:5], sorted(exp - act)[:5])


def test_every_planted_case_is_found(planted: tuple[GeneratedOrg, Path]) -> None:
    org, db = planted
    actual = actual_events(db, org)
    by_case: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    with org.ground_truth_path.open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            by_case[r["case"]].add((_key_id(r["interaction_key"]), r["account_id"],
                                    r["rep_email"], r["category"], r["initiated_by"],
                                    r["week_start"]))
    planted_cases = [c for c in by_case if c != "background"]
    assert len(planted_cases) >= 30
    missing = {c: sorted(ev - actual)[:2] for c, ev in by_case.items() if not ev <= actual}
    assert missing == {}


def test_collaboration_matches_ground_truth(planted: tuple[GeneratedOrg, Path]) -> None:
    org, db = planted
    with org.collaboration_path.open(encoding="utf-8", newline="") as fh:
        expected = {(r["week_start"], r["account_id"], _key_id(r["interaction_key"]))
                    for r in csv.DictReader(fh)}
    con = duckdb.connect(str(db), read_only=True)
    try:
        weekly = con.execute(
            "select strftime(week_start, '%Y-%m-%d'), account_id, interactions"
            " from collaboration_weekly where week_start in (select unnest(?::date[]))",
            [[w.isoformat() for w in org.weeks]],
        ).fetchall()
    finally:
        con.close()
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for week, account, _ in expected:
        counts[(week, account)] += 1
    assert {(w, a): n for w, a, n in weekly} == dict(counts)


def test_report_shows_the_planted_cases(planted: tuple[GeneratedOrg, Path]) -> None:
    org, db = planted
    latest = max(org.weeks)
    html = next(org.out_dir.glob(f"out*/*/overlap-*{latest.isocalendar()[1]:02d}.html"))
    text = html.read_text(encoding="utf-8")
    with org.ground_truth_path.open(encoding="utf-8", newline="") as fh:
        accounts = {r["account_id"] for r in csv.DictReader(fh)
                    if r["week_start"] == latest.isoformat() and r["case"] != "background"}
    con = duckdb.connect(str(db), read_only=True)
    names = dict(con.execute("select account_id, account_name from crm_accounts").fetchall())
    con.close()
    assert accounts
    for account in accounts:
        assert names[account] in text or names[account].replace("&", "&amp;") in text, account


def test_heads_ups_approvals_and_broadcasts_match_ground_truth(
        planted: tuple[GeneratedOrg, Path]) -> None:
    """Issue 16 through the file path and the API sandboxes: every event's heads_up equals
    the ground truth's (planted and background alike), the approved events carry the reason
    of approvals.csv, and the third-party broadcast is counted under data quality."""
    from sandbox.plant_signals import APPROVAL_REASON, HEADS_UP

    org, db = planted
    with org.ground_truth_path.open(encoding="utf-8", newline="") as fh:
        truth = list(csv.DictReader(fh))
    con = duckdb.connect(str(db), read_only=True)
    try:
        actual = {(iid, acc, rep): (heads_up, reason) for iid, acc, rep, heads_up, reason
                  in con.execute("select interaction_id, account_id, rep_email, heads_up,"
                                 " approval_reason from overlap_events").fetchall()}
        broadcasts = con.execute("select item, sum(volume) from data_quality"
                                 " where kind = 'broadcast_ignored' group by item").fetchall()
    finally:
        con.close()
    got = {}
    for r in truth:
        heads_up, reason = actual[(_key_id(r["interaction_key"]), r["account_id"],
                                   r["rep_email"])]
        assert heads_up == (r["heads_up"] == "true"), r
        assert reason == (APPROVAL_REASON if r["category"] == "approved" else None), r
        got[r["case"]] = heads_up
    assert {c: got[c] for c in HEADS_UP} == HEADS_UP
    assert sum(r["heads_up"] == "true" for r in truth) > len(HEADS_UP)  # background ones too
    assert broadcasts == [("newsletter@consultancy.example", 1)]


def test_owner_then_category_and_former_owner_match_ground_truth(
        planted: tuple[GeneratedOrg, Path]) -> None:
    """Issue 14 (rule 10) through the file path and the API sandboxes: every event names the
    owner at its time and has the ground truth's category and former_owner — the planted
    owner change of ownership.csv (sandbox/plant_crm_time.py) and the background alike."""
    from sandbox.plant_crm_time import ACCOUNT, CRM_TIME_CASES

    org, db = planted
    with org.ground_truth_path.open(encoding="utf-8", newline="") as fh:
        truth = list(csv.DictReader(fh))
    con = duckdb.connect(str(db), read_only=True)
    try:
        actual = {(iid, acc, rep): (owner, category, former) for iid, acc, rep, owner, category,
                  former in con.execute("select interaction_id, account_id, rep_email,"
                                        " owner_email, category, former_owner"
                                        " from overlap_events").fetchall()}
        owners = con.execute("select owner_email, valid_from is null, valid_until is null,"
                             " source from account_owners where account_id = ?"
                             " order by valid_from nulls first", [ACCOUNT]).fetchall()
    finally:
        con.close()
    expected = {(_key_id(r["interaction_key"]), r["account_id"], r["rep_email"]):
                (r["owner_email"], r["category"], r["former_owner"] == "true") for r in truth}
    assert {k: actual.get(k) for k in expected} == expected
    planted = {r["case"] for r in truth if r["account_id"] == ACCOUNT}
    assert planted == set(CRM_TIME_CASES) - {"owner_change_old_owner_activity",
                                             "handoff_with_new_owner"}
    assert sum(r["former_owner"] == "true" for r in truth) >= 3
    assert [(o, first, last) for o, first, last, _ in owners] == [
        (truth_owner, first, last) for truth_owner, first, last in (
            (next(r["owner_email"] for r in truth if r["case"] == "owner_change_rep_before"),
             True, False),
            (next(r["owner_email"] for r in truth if r["case"] == "owner_change_rep_after"),
             False, True))]


# --- issue 14: the look-back, an account added later, a backdated correction -------------

ANALYST_VIEWS = ("overlap_events", "overlap_weekly", "collaboration_weekly")


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _query(db: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_look_back_weeks_are_evidence_and_in_no_view(planted_runs: PlantedRuns) -> None:
    """The look-back a run extracts (dormant_days before its first week) is loaded and used
    as evidence — Lookback Logistics' owner touched it only there, so the rep's week-1 mail
    is backdoor — but no view shows an event, weekly row or collaboration of it: the planted
    would-be event and every other would-be event of the look-back (ground_truth_lookback.csv)
    are absent, before and after the later CRM."""
    org, first, later = planted_runs
    weeks = {w.isoformat() for w in org.weeks}
    lookback = _read(org.out_dir / GROUND_TRUTH_LOOKBACK)
    assert len(lookback) > 50  # the background's would-be events of the look-back too
    ids = [_key_id(r["interaction_key"]) for r in lookback]
    planted_id, = (_key_id(r["interaction_key"]) for r in lookback
                   if r["case"] == "lookback_would_be_event")
    for db in (first, later):
        for view in ANALYST_VIEWS:
            sql = f"select distinct strftime(week_start, '%Y-%m-%d') from {view}"  # noqa: S608
            shown = {w for w, in _query(db, sql)}
            assert shown and shown <= weeks, (view, sorted(shown - weeks))
        assert _query(db, "select interaction_id from overlap_events"
                          " where list_contains(?, interaction_id)", [ids]) == []
        loaded = {i for i, in _query(db, "select interaction_id from interactions"
                                         " where list_contains(?, interaction_id)", [ids])}
        assert planted_id in loaded  # extracted and loaded: only the views leave it out
        assert _query(db, "select category, strftime(week_start, '%Y-%m-%d') from"
                          " overlap_events where account_id = ?", [LOOKBACK]) == [
            ("backdoor", org.weeks[0].isoformat())]


def _event_map(rows: list[dict[str, str]]) -> dict[tuple[str, ...], tuple[Any, ...]]:
    return {(_key_id(r["interaction_key"]), r["account_id"], r["rep_email"]):
            (r["category"], r["initiated_by"], r["week_start"], r["owner_email"],
             r["former_owner"] == "true", r["heads_up"] == "true") for r in rows}


def test_the_later_crm_gives_the_later_ground_truth(planted_runs: PlantedRuns) -> None:
    """After crm-later/ (a new snapshot) and a re-run of the last week, every event of every
    reported week equals ground_truth_later.csv: Late Lighthouse, unknown to crm/, has its
    events in all weeks (identity applies to all time), Backdated Bakery is O2's from the
    correction's valid_from; collaboration_weekly equals its later truth too."""
    org, first, later = planted_runs
    truth = _read(org.out_dir / GROUND_TRUTH_LATER)
    actual = {(i, a, r): (c, init, w, o, f, h) for i, a, r, c, init, w, o, f, h in _query(
        later, "select interaction_id, account_id, rep_email, category, initiated_by,"
               " strftime(week_start, '%Y-%m-%d'), owner_email, former_owner, heads_up"
               " from overlap_events")}
    expected = _event_map(truth)
    assert {k: actual.get(k) for k in expected} == expected
    assert set(actual) == set(expected), sorted(set(actual) - set(expected))[:5]
    late_weeks = {v[2] for k, v in actual.items() if k[1] == LATE}
    assert late_weeks == {w.isoformat() for w in org.weeks}
    assert _query(first, "select count(*) from overlap_events where account_id = ?",
                  [LATE]) == [(0,)]
    collab: dict[tuple[str, str], int] = defaultdict(int)
    for r in _read(org.out_dir / COLLABORATION_LATER):
        collab[(r["week_start"], r["account_id"])] += 1
    weekly = _query(later, "select strftime(week_start, '%Y-%m-%d'), account_id, interactions"
                           " from collaboration_weekly")
    assert {(w, a): n for w, a, n in weekly} == dict(collab)


def _rows_before(db: Path, view: str, until: str) -> list[str]:
    """The rows of ``view`` in the weeks before ``until``, Late Lighthouse's left out (an
    identity change: it applies to all time)."""
    sql = f"select * from {view} where week_start < ?::date and account_id <> ?"  # noqa: S608
    return sorted(map(repr, _query(db, sql, [until, LATE])))


def test_a_backdated_correction_changes_exactly_the_weeks_it_touches(
        planted_runs: PlantedRuns) -> None:
    """crm-later/ownership.csv moves Backdated Bakery to O2 from a Monday in the middle of the
    reported weeks: every row of the weeks before it in every analyst view is what the first
    run reported; from it on overlap_weekly is the later truth's (rows of the risk events,
    each naming the owner at its last event), and Backdated Bakery's rows name O2."""
    org, first, later = planted_runs
    vf = correction_from(org.weeks).isoformat()
    for view in ANALYST_VIEWS:
        kept = _rows_before(first, view, vf)
        assert kept, view
        assert _rows_before(later, view, vf) == kept, view
    groups: dict[tuple[str, str, str], tuple[str, str]] = {}
    for r in _read(org.out_dir / GROUND_TRUTH_LATER):
        if r["category"] in ("handoff", "approved"):
            continue  # not risk: no overlap_weekly row
        key = (r["week_start"], r["account_id"], r["rep_email"])
        groups[key] = max(groups.get(key, ("", "")), (r["occurred_at"], r["owner_email"]))
    weekly = _query(later, "select strftime(week_start, '%Y-%m-%d'), account_id, rep_email,"
                           " owner_email from overlap_weekly")
    assert {(w, a, r): o for w, a, r, o in weekly} == {k: o for k, (_, o) in groups.items()}
    owners = [sorted({(w >= vf, o) for w, a, _, o in _query(db, "select strftime(week_start,"
                      " '%Y-%m-%d'), account_id, rep_email, owner_email from overlap_weekly"
                      " where account_id = ?", [BACKDATE])}) for db in (first, later)]
    o1, o2 = (r["owner_email"] for r in _read(org.out_dir / LATER_CRM / "ownership.csv")[-2:])
    assert owners == [[(False, o1), (True, o1)], [(False, o1), (True, o2)]]
