"""The planted organisation end to end: every overlap event the rules imply, and nothing else.

The generator writes raw mail, calendars and a CRM export plus the ground truth it derived
from its own in-memory model of the organisation (tests/sandbox re-derives it independently
from the files). Here the real pipeline — file connectors, staging, load, SQL model — must
reproduce it exactly: precision and recall 1.0 for every category.
"""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from overlap.config import load_config
from overlap.pipeline import run
from sandbox.generator import GeneratedOrg, generate
from sandbox.seed import seed_from_config
from sandbox.serve import start_sandboxes, write_sandbox_config

CATEGORIES = ("backdoor", "coverage_gap", "looped_in", "handoff")


@pytest.fixture(scope="module", params=["files", "mixed-apis"])
def planted(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GeneratedOrg, Path]]:
    """The organisation read from its files, and read through a mixed company's APIs (half
    the mailboxes in the Google sandbox, half in the Microsoft one) — as `overlap demo` does."""
    org = generate(tmp_path_factory.mktemp("org") / "acme", seed=11)
    config = load_config(org.config_path)
    if request.param == "files":
        result = run(config, list(org.weeks), workers=2)
        assert not result.failed
        yield org, config.snapshot
        return
    servers = start_sandboxes(seed_from_config(config), "mixed",
                              secrets_dir=org.out_dir / "secrets")
    try:
        sources = [src for server, boxes in servers for src in server.sources(boxes)]
        api_config = load_config(write_sandbox_config(config, sources,
                                                      org.out_dir / "sandbox.toml"))
        assert {s.kind for s in api_config.sources} == {"gmail", "google_calendar", "msgraph"}
        result = run(api_config, list(org.weeks), workers=2)
        assert not result.failed
    finally:
        for server, _ in servers:
            server.stop()
    yield org, api_config.snapshot


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
