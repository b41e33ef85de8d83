"""Issue 16 in the model: broadcasts (rule 5), approvals and heads-ups (rule 6), judged at the
interaction's time with the owner then (rule 10), and their effect on the score."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from .conftest import ALICE, OWNER, REP
from .seed import T0, Seed

THIRD = "carl@corp.example"  # a third rep
CONSULTANT = "news@consult.example"
STAFF = "ida@corp.example"  # internal, not a rep


def _crowd(n: int) -> list[str]:
    return [f"p{i}@crowd.example" for i in range(n)]


def _events(world: Seed) -> list[tuple]:
    return [(e["rep_email"], e["category"], e["heads_up"], e["approval_reason"])
            for e in world.events()]


# --- broadcasts (rule 5) ---------------------------------------------------------------------

@pytest.mark.parametrize(("recipients", "events"), [(20, 1), (21, 0)])
def test_third_party_broadcast_above_the_threshold_is_no_interaction(
        world: Seed, recipients: int, events: int) -> None:
    # To: Bob, Alice and the crowd: `recipients` addresses in all
    world.email(REP, frm=CONSULTANT, to=[REP, ALICE, *_crowd(recipients - 2)])
    world.build()
    assert len(world.events()) == events
    found = world.rows("select item, detail, volume from data_quality"
                       " where kind = 'broadcast_ignored'")
    assert found == ([] if events else [{"item": CONSULTANT, "detail": "2024-03-04",
                                         "volume": 1}])


def test_a_broadcast_by_a_rep_or_by_the_accounts_people_is_still_an_event(world: Seed) -> None:
    world.rep(THIRD, "Carl Third")
    world.email(REP, frm=REP, to=[ALICE, *_crowd(30)], at=T0)
    world.email(REP, frm="dora@acme.com", to=[REP, *_crowd(30)], at=T0 + timedelta(hours=1))
    world.email(REP, frm=THIRD, to=[REP, ALICE, *_crowd(30)], at=T0 + timedelta(hours=2))
    world.build(broadcast_recipients=20)
    assert [(e["rep_email"], e["initiated_by"]) for e in world.events()] == [
        (REP, "rep"), (REP, "customer"), (REP, "other"), (THIRD, "rep")]
    assert world.rows("select * from data_quality where kind = 'broadcast_ignored'") == []


def test_a_broadcast_is_not_the_owners_contact_either(world: Seed) -> None:
    # the owner among a consultant's 30 recipients is no dormancy evidence (and no teamwork)
    world.con.execute("delete from raw_copies")
    world.email(OWNER, frm=CONSULTANT, to=[OWNER, ALICE, *_crowd(30)], at=T0 - timedelta(days=3))
    world.email(REP, frm=REP, to=[ALICE], at=T0)
    world.build()
    assert [e["category"] for e in world.events()] == ["coverage_gap"]
    assert world.rows("select * from collaboration_weekly") == []


# --- approvals (rule 6) ----------------------------------------------------------------------

def _approve(seed: Seed, rep: str, since: datetime | None, until: datetime | None,
             reason: str = "Timber deal with David's blessing") -> None:
    seed.con.execute("insert into crm_approvals values ('acme', ?, ?, ?, ?, 1)",
                     [rep, since, until, reason])


def test_an_approval_covers_only_its_interval(world: Seed) -> None:
    _approve(world, REP, T0, T0 + timedelta(days=7))
    for days in (-1, 0, 6, 7):  # before, at the start, inside, at the (exclusive) end
        world.email(REP, frm=REP, to=[ALICE], at=T0 + timedelta(days=days, hours=1))
    world.build()
    reason = "Timber deal with David's blessing"
    assert [e[1:] for e in _events(world)] == [
        ("backdoor", False, None), ("approved", False, reason), ("approved", False, reason),
        ("backdoor", False, None)]
    # approved is not risk: no weekly row of its own, and it scores 0
    weekly = world.rows("select week_start, events from overlap_weekly order by week_start")
    assert [w["events"] for w in weekly] == [1, 1]


def test_an_open_approval_for_another_rep_or_account_does_not_apply(world: Seed) -> None:
    world.rep(THIRD, "Carl Third")
    _approve(world, THIRD, None, None)
    world.email(REP, frm=REP, to=[ALICE])
    world.build()
    assert [e[1] for e in _events(world)] == ["backdoor"]


def test_approval_outranks_looped_in(world: Seed) -> None:
    _approve(world, REP, None, None)
    world.email(OWNER, frm=OWNER, to=[ALICE], message_id="root@x", at=T0 - timedelta(days=1))
    world.email(REP, frm=REP, to=[ALICE], thread_root="root@x")
    world.build()
    assert [e[1] for e in _events(world)] == ["approved"]


# --- heads-up (rule 6) -----------------------------------------------------------------------

def _pre_brief(seed: Seed, days: float, *, frm: str = REP, to: tuple[str, ...] = (OWNER,),
               cc: tuple[str, ...] = ()) -> None:
    seed.email(frm, frm=frm, to=to, cc=cc, at=T0 - timedelta(days=days))


@pytest.mark.parametrize(("days", "flag"), [(1, True), (6, True), (6.99, True), (7.01, False),
                                            (8, False)])
def test_heads_up_within_heads_up_days(world: Seed, days: float, flag: bool) -> None:
    _pre_brief(world, days)
    world.email(REP, frm=REP, to=[ALICE])
    world.build()
    assert [e[2] for e in _events(world)] == [flag]


@pytest.mark.parametrize("setup", [
    "customer_on_it", "owner_declined", "five_people", "third_colleague_sent", "bulk",
    "cancelled", "after"])
def test_what_is_not_a_heads_up(world: Seed, setup: str) -> None:
    world.rep(THIRD, "Carl Third")
    before = T0 - timedelta(days=2)
    if setup == "customer_on_it":
        _pre_brief(world, 2, cc=(ALICE,))
    elif setup == "owner_declined":
        world.meeting(REP, uid="brief", organizer=REP, attendees={OWNER: "declined"},
                      start=before)
        world.meeting(OWNER, uid="brief", organizer=REP, attendees={OWNER: "declined"},
                      start=before)
    elif setup == "five_people":  # a team meeting with both is not a heads-up
        world.meeting(REP, uid="team", organizer=REP, start=before, attendees={
            OWNER: "accepted", THIRD: "accepted", STAFF: "accepted", "eve@corp.example": None})
    elif setup == "third_colleague_sent":
        _pre_brief(world, 2, frm=THIRD, to=(REP, OWNER))
    elif setup == "bulk":
        world.email(REP, frm=REP, to=[OWNER], at=before, bulk_reason="List-Id")
    elif setup == "cancelled":
        world.meeting(REP, uid="brief", organizer=REP, attendees={OWNER: "accepted"},
                      start=before, cancelled=True)
    else:  # after the customer contact
        _pre_brief(world, -1)
    world.email(REP, frm=REP, to=[ALICE])
    world.build()
    [event] = world.events()
    assert event["heads_up"] is False


def test_a_heads_up_halves_the_score_and_says_so(world: Seed) -> None:
    world.meeting(OWNER, uid="brief", organizer=OWNER, start=T0 - timedelta(days=2),
                  attendees={REP: "accepted", STAFF: "tentative", "eve@corp.example": None})
    world.email(REP, frm=REP, to=[ALICE])
    world.build()
    [event] = world.events()
    assert (event["category"], event["heads_up"]) == ("backdoor", True)
    [w] = world.rows("select score, reasons from overlap_weekly")
    assert w["score"] == pytest.approx(1.0 * 1.5 * 0.5)
    assert ("Bob Rep and owner Olga Owner were in an internal meeting 2 days before"
            " (heads-up: every event × 0.5)") in w["reasons"]


def test_heads_up_is_judged_with_the_owner_then(seed: Seed) -> None:
    """Rule 10: the heads-up must reach the owner at I's time, not today's."""
    new = seed.rep("nina@corp.example", "Nina New")
    seed.rep(OWNER, "Olga Owner")
    seed.rep(REP, "Bob Rep")
    seed.account("acme", OWNER, domains=["acme.com"], name="Acme Corp")
    seed.snapshot(T0 - timedelta(days=100))
    seed.set_owner("acme", new)
    seed.snapshot(T0 + timedelta(days=3))
    seed.email(REP, frm=REP, to=[new], at=T0 - timedelta(days=1))  # Nina: not the owner yet
    seed.email(REP, frm=REP, to=[ALICE], at=T0)  # owner then: Olga
    seed.email(REP, frm=REP, to=[new], at=T0 + timedelta(days=4))
    seed.email(REP, frm=REP, to=[ALICE], at=T0 + timedelta(days=5))  # owner then: Nina
    seed.build()
    assert [(e["owner_email"], e["heads_up"]) for e in seed.events()] == [
        (OWNER, False), (new, True)]
