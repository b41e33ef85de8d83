"""Rule 8 (time and weeks), rule 9 (score, level, reasons) and collaboration_weekly."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from .conftest import ALICE, OWNER, REP
from .seed import T0, Seed


def test_week_start_in_a_non_utc_timezone(world: Seed) -> None:
    sunday_late = datetime(2024, 3, 3, 23, 30, tzinfo=UTC)  # Monday 00:30 in Berlin
    world.email(REP, frm=REP, to=[ALICE], at=sunday_late)
    world.build(timezone="Europe/Berlin")
    [event] = world.events()
    assert event["week_start"] == date(2024, 3, 4)
    world.build(timezone="UTC")
    [event] = world.events()
    assert event["week_start"] == date(2024, 2, 26)


def test_week_start_west_of_utc(world: Seed) -> None:
    monday_early = datetime(2024, 3, 4, 3, 0, tzinfo=UTC)  # Sunday 22:00 in New York
    world.email(REP, frm=REP, to=[ALICE], at=monday_early)
    world.build(timezone="America/New_York")
    assert world.events()[0]["week_start"] == date(2024, 2, 26)


def _weekly(seed: Seed) -> list[dict]:
    return seed.rows("select * from overlap_weekly order by week_start, account_id, rep_email")


def test_score_level_and_reasons(world: Seed) -> None:
    # this week: 2 meetings (1 rep-started) and 3 emails (2 rep-started) with 3 Acme people
    world.meeting(REP, uid="m1", organizer=REP, attendees={ALICE: "accepted"})
    world.meeting(REP, uid="m2", organizer=ALICE, attendees={REP: "accepted", "dora@acme.com": None},
                  start=T0 + timedelta(days=1))
    world.email(REP, frm=REP, to=[ALICE], at=T0 + timedelta(hours=1))
    world.email(REP, frm=REP, to=["ed@acme.com"], at=T0 + timedelta(hours=2))
    world.email(REP, frm=ALICE, to=[REP], at=T0 + timedelta(hours=3))
    # two of the four previous weeks had events too
    world.email(REP, frm=REP, to=[ALICE], at=T0 - timedelta(weeks=1))
    world.email(REP, frm=REP, to=[ALICE], at=T0 - timedelta(weeks=3))
    world.email(REP, frm=REP, to=[ALICE], at=T0 - timedelta(weeks=5))  # outside the 4 weeks
    world.build()
    week = [w for w in _weekly(world) if w["week_start"] == T0.date()]
    [w] = week
    assert (w["emails"], w["meetings"], w["contacts"], w["events"]) == (3, 2, 3, 5)
    assert (w["backdoor"], w["coverage_gap"], w["looped_in"]) == (5, 0, 0)
    assert (w["rep_initiated"], w["customer_initiated"]) == (3, 2)
    # meetings 3 × (1.5 + 1) + emails 1 × (1.5 + 1.5 + 1) + contacts 0.5 × 2 + persistence 1 × 2
    assert w["score"] == pytest.approx(7.5 + 4.0 + 1.0 + 2.0)
    assert w["level"] == "high"
    assert w["owner_name"] == "Olga Owner"
    assert w["rep_name"] == "Bob Rep"
    assert w["reasons"] == [
        "2 meetings and 3 emails with 3 Acme Corp people without owner Olga Owner",
        "3 of 5 started by the rep",
        "also active in 2 of the previous 4 weeks",
    ]


def test_single_email_is_low_and_singular(world: Seed) -> None:
    world.email(REP, frm=ALICE, to=[REP])
    world.build()
    [w] = _weekly(world)
    assert w["score"] == pytest.approx(1.0)
    assert w["level"] == "low"
    assert w["reasons"] == ["1 email with 1 Acme Corp person without owner Olga Owner"]


def test_medium_level_and_custom_weights(world: Seed) -> None:
    world.meeting(REP, uid="m1", organizer=REP, attendees={ALICE: "accepted"})
    world.build()
    [w] = _weekly(world)
    assert w["score"] == pytest.approx(4.5)
    assert w["level"] == "medium"
    assert w["reasons"][0] == "1 meeting with 1 Acme Corp person without owner Olga Owner"
    world.build(weights={"meeting": 10.0, "rep_initiated": 1.0})
    [w] = _weekly(world)
    assert w["score"] == pytest.approx(10.0)
    assert w["level"] == "high"


def test_coverage_gap_and_looped_in_weights_and_reasons(seed: Seed) -> None:
    seed.rep(OWNER, "Olga Owner", active=False)
    seed.rep(REP, "Bob Rep")
    seed.account("acme", OWNER, domains=["acme.com"], name="Acme Corp")
    root = seed.email(OWNER, frm=OWNER, to=[ALICE], at=T0 - timedelta(days=1))
    seed.email(REP, frm=REP, to=[ALICE], thread_root=root)  # looped in
    seed.email(REP, frm=REP, to=[ALICE], at=T0 + timedelta(hours=1))  # owner inactive
    seed.build()
    [w] = _weekly(seed)
    assert (w["looped_in"], w["coverage_gap"], w["backdoor"]) == (1, 1, 0)
    assert w["score"] == pytest.approx(1.5 * 0.25 + 1.5 * 0.5)
    assert w["reasons"] == [
        "2 emails with 1 Acme Corp person without owner Olga Owner",
        "2 of 2 started by the rep",
        "owner inactive",
        "owner was on the thread elsewhere (looped in)",
    ]


@pytest.mark.parametrize(("setup", "reason"), [
    ("missing", "owner not in reps.csv"),
    ("dormant", "owner had no contact with the account in 60 days"),
])
def test_coverage_gap_reasons(seed: Seed, setup: str, reason: str) -> None:
    seed.rep(REP, "Bob Rep")
    if setup == "dormant":
        seed.rep(OWNER, "Olga Owner")
    seed.account("acme", OWNER, domains=["acme.com"], name="Acme Corp")
    seed.email(REP, frm=REP, to=[ALICE])
    seed.build()
    [w] = _weekly(seed)
    assert reason in w["reasons"]
    if setup == "missing":
        assert w["owner_name"] == OWNER  # no name in reps.csv: the address stands in
        assert w["reasons"][0].endswith(f"without owner {OWNER}")


def test_weekly_is_per_account_and_rep(world: Seed) -> None:
    carl = world.rep("carl@corp.example", "Carl")
    world.email(REP, frm=REP, to=[ALICE], cc=[carl])
    world.email(REP, frm=REP, to=[ALICE], at=T0 + timedelta(days=7))
    world.build()
    assert [(w["week_start"], w["rep_email"], w["events"]) for w in _weekly(world)] == [
        (T0.date(), REP, 1), (T0.date(), carl, 1), (T0.date() + timedelta(days=7), REP, 1)]
    # the second week counts the first as persistence
    assert _weekly(world)[2]["reasons"][-1] == "also active in 1 of the previous 4 weeks"


def test_collaboration_weekly(world: Seed) -> None:
    carl = world.rep("carl@corp.example", "Carl")
    world.email(REP, frm=REP, to=[ALICE, "dora@acme.com"], cc=[OWNER])
    world.meeting(OWNER, uid="m", organizer=OWNER,
                  attendees={ALICE: "accepted", REP: "accepted", carl: "tentative"},
                  start=T0 + timedelta(days=1))
    world.email(OWNER, frm=OWNER, to=[ALICE], at=T0 + timedelta(days=2))  # owner alone
    world.build()
    [c] = world.rows("select * from collaboration_weekly")
    assert c == {
        "week_start": T0.date(), "account_id": "acme", "account_name": "Acme Corp",
        "owner_email": OWNER, "owner_name": "Olga Owner", "rep_emails": [REP, carl],
        "interactions": 2, "emails": 1, "meetings": 1, "contacts": 2,
    }
    assert world.events() == []
