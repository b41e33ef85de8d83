"""Rule 10: every interaction is judged by the CRM as it was at its time (docs/crm-history.md)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from .conftest import ALICE, OWNER, REP
from .seed import T0, Seed

EMMA = "emma@corp.example"
D = T0 + timedelta(days=3)  # Thursday of the reported week: Acme passes from Olga to Emma


@pytest.fixture
def handover(world: Seed) -> Seed:
    """Olga owned Acme from the first snapshot (a month before T0); Emma owns it from D."""
    world.rep(EMMA, "Emma New")
    world.snapshot(T0 - timedelta(days=30))
    world.set_owner("acme", EMMA)
    world.snapshot(D)
    return world


def _events(seed: Seed) -> list[tuple[Any, ...]]:
    return [(e["occurred_at"], e["rep_email"], e["owner_email"], e["category"],
             e["former_owner"]) for e in seed.events()]


def test_reassignment_mid_window_judges_each_interaction_by_its_owner(handover: Seed) -> None:
    before, after = D - timedelta(days=1), D + timedelta(days=1)
    handover.email(REP, frm=REP, to=[ALICE], at=before)
    handover.email(REP, frm=REP, to=[ALICE], at=after)
    handover.build()
    assert _events(handover) == [
        (before, REP, OWNER, "backdoor", False),  # Olga's, who mailed Alice 10 days before T0
        (after, REP, EMMA, "coverage_gap", False),  # Emma's, who never met Acme yet
    ]
    # the week's score row names the owner at its last event
    [weekly] = handover.rows("select owner_email, score from overlap_weekly")
    assert weekly["owner_email"] == EMMA


def test_the_former_owner_inside_the_grace_is_a_handoff(handover: Seed) -> None:
    at = D + timedelta(days=29)
    handover.email(OWNER, frm=OWNER, to=[ALICE], at=at)
    handover.build()
    assert _events(handover) == [(at, OWNER, EMMA, "handoff", True)]
    # not risk: no weekly score row
    assert handover.rows("select * from overlap_weekly") == []


def test_the_former_owner_after_the_grace_is_a_rep_like_any_other(handover: Seed) -> None:
    at = D + timedelta(days=30)
    handover.email(OWNER, frm=OWNER, to=[ALICE], at=at)
    handover.build()
    assert _events(handover) == [(at, OWNER, EMMA, "coverage_gap", True)]
    handover.build(handoff_days=31)  # the grace is a rule setting
    assert _events(handover) == [(at, OWNER, EMMA, "handoff", True)]


def test_a_colleague_brought_by_the_former_owner_is_no_event(handover: Seed) -> None:
    at = D + timedelta(days=2)
    handover.meeting(OWNER, uid="intro", organizer=OWNER,
                     attendees={ALICE: "accepted", REP: "accepted"}, start=at)
    handover.build()
    assert _events(handover) == [(at, OWNER, EMMA, "handoff", True)]


def test_with_the_new_owner_there_is_no_event(handover: Seed) -> None:
    at = D + timedelta(days=2)
    handover.email(OWNER, frm=OWNER, to=[ALICE], cc=[EMMA, REP], at=at)
    handover.email(EMMA, frm=EMMA, to=[ALICE], at=at + timedelta(hours=1))
    handover.build()
    assert _events(handover) == []


def test_the_new_owner_alone_before_the_change_was_a_rep_then(handover: Seed) -> None:
    """Before D, Emma mailing Acme is overlap on Olga's account; after D the same mail is the
    owner's, and her earlier touch keeps Acme from looking dormant (rule 6 looks at the
    current owner's interactions, whoever owned the account then)."""
    early, later = D - timedelta(days=2), D + timedelta(days=2)
    handover.email(EMMA, frm=EMMA, to=[ALICE], at=early)
    handover.email(EMMA, frm=EMMA, to=[ALICE], at=later)
    handover.email(REP, frm=REP, to=[ALICE], at=later + timedelta(hours=1))
    handover.build()
    assert _events(handover) == [
        (early, EMMA, OWNER, "backdoor", False),
        (later + timedelta(hours=1), REP, EMMA, "backdoor", False),
    ]


def test_a_rep_deactivated_later_was_active_before(handover: Seed) -> None:
    handover.set_rep(EMMA, active=False)
    handover.snapshot(D + timedelta(days=7))
    handover.email(EMMA, frm=EMMA, to=[ALICE], at=D + timedelta(days=1))
    for days in (5, 9):
        handover.email(REP, frm=REP, to=[ALICE], at=D + timedelta(days=days))
    handover.build()
    assert [(e["category"], e["owner_email"]) for e in handover.events()] == [
        ("backdoor", EMMA), ("coverage_gap", EMMA)]
    reasons = handover.rows("select reasons from overlap_weekly order by week_start")
    assert "owner inactive" in reasons[-1]["reasons"]


def test_the_management_chain_is_the_one_at_the_time(handover: Seed) -> None:
    mia = handover.rep("mia@corp.example", "Mia")
    handover.snapshot(D + timedelta(days=1))  # Mia joins: a new rep applies to all time
    handover.set_rep(EMMA, manager=mia)
    handover.snapshot(D + timedelta(days=10))  # from then on Mia manages Emma
    for days in (5, 12):
        handover.email(mia, frm=mia, to=[ALICE], at=D + timedelta(days=days))
    handover.build()
    assert [(e["rep_email"], e["occurred_at"]) for e in handover.events()] == [
        (mia, D + timedelta(days=5))]


def test_a_backdated_ownership_row_changes_exactly_the_weeks_it_touches(handover: Seed) -> None:
    weeks = [T0 + timedelta(weeks=w, days=1) for w in range(-3, 3)]
    for at in weeks:
        handover.email(REP, frm=REP, to=[ALICE], at=at)
    handover.build()
    first = handover.events()
    # field history: Carl owned Acme for ten days from two weeks before T0
    carl = handover.rep("carl@corp.example", "Carl")
    handover.snapshot(D + timedelta(days=1))  # (the import that carried Carl and the row)
    handover.ownership("acme", carl, T0 - timedelta(weeks=2))
    handover.ownership("acme", OWNER, T0 - timedelta(weeks=2) + timedelta(days=10))
    handover.build()
    second = handover.events()
    start, end = T0 - timedelta(weeks=2), T0 - timedelta(weeks=2) + timedelta(days=10)
    outside = [e for e in second if not start <= e["occurred_at"] < end]
    assert outside == [e for e in first if not start <= e["occurred_at"] < end]
    assert [(e["occurred_at"], e["rep_email"], e["owner_email"], e["category"])
            for e in second if start <= e["occurred_at"] < end] == [
        (weeks[1], REP, carl, "coverage_gap"),
        # Olga's own mail to Alice 10 days before T0: she had just handed Acme to Carl
        (T0 - timedelta(days=10), OWNER, carl, "handoff"),
        (weeks[2], REP, carl, "coverage_gap")]
    owners = handover.rows("select owner_email, valid_from, valid_until, source"
                           " from account_owners order by valid_from nulls first")
    assert [(o["owner_email"], o["source"]) for o in owners] == [
        (OWNER, "snapshot"), (carl, "ownership_csv"), (OWNER, "ownership_csv"),
        (EMMA, "snapshot")]
    assert owners[0]["valid_from"] is None and owners[-1]["valid_until"] is None
    assert owners[1]["valid_until"] == owners[2]["valid_from"]


def test_an_ownership_row_wins_over_a_snapshot_with_the_same_stamp(handover: Seed) -> None:
    carl = handover.rep("carl@corp.example", "Carl")
    handover.snapshot(D + timedelta(days=1))
    handover.ownership("acme", carl, D)
    handover.email(REP, frm=REP, to=[ALICE], at=D + timedelta(hours=1))
    handover.build()
    assert [e["owner_email"] for e in handover.events()] == [carl]


def test_an_account_added_later_applies_to_all_time(handover: Seed) -> None:
    handover.account("globex", OWNER, domains=["globex.com"], name="Globex")
    handover.snapshot(D + timedelta(days=20))
    at = T0 - timedelta(days=20)  # before any snapshot knew Globex
    handover.email(REP, frm=REP, to=["gail@globex.com"], at=at)
    handover.build()
    assert [(e["account_id"], e["owner_email"]) for e in handover.events()] == [
        ("globex", OWNER)]


def test_an_unchanged_snapshot_adds_nothing(handover: Seed) -> None:
    count = "select count(*) as n from crm_account_history"
    before = handover.rows(count)
    assert handover.snapshot(D + timedelta(days=7)) is False
    assert handover.rows(count) == before


def test_without_history_the_latest_snapshot_applies_to_all_time(world: Seed) -> None:
    world.email(REP, frm=REP, to=[ALICE], at=T0 - timedelta(days=400))
    world.build()
    assert [(e["owner_email"], e["former_owner"]) for e in world.events()] == [(OWNER, False)]
    assert world.rows("select owner_email, valid_from, valid_until, source"
                      " from account_owners") == [
        {"owner_email": OWNER, "valid_from": None, "valid_until": None, "source": "snapshot"}]
