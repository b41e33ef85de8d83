"""Rules 5-7: who counts as overlap, the category of an event and who started it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from .conftest import ALICE, OWNER, REP
from .seed import T0, Seed


def test_rep_mailing_the_customer_without_the_owner_is_backdoor(world: Seed) -> None:
    world.email(REP, frm=REP, to=[ALICE])
    world.build()
    [event] = world.events()
    assert event["account_id"] == "acme"
    assert event["owner_email"] == OWNER
    assert event["rep_email"] == REP
    assert event["category"] == "backdoor"
    assert event["initiated_by"] == "rep"
    assert event["contact_emails"] == [ALICE]
    assert event["account_name"] == "Acme Corp"
    assert event["week_start"] == T0.date()


def test_owner_on_the_interaction_means_no_event(world: Seed) -> None:
    world.email(REP, frm=REP, to=[ALICE], cc=[OWNER])
    world.meeting(REP, uid="m", organizer=ALICE, attendees={REP: "accepted", OWNER: "tentative"})
    world.build()
    assert world.events() == []


def test_one_event_per_interaction_account_and_rep(world: Seed) -> None:
    carl = world.rep("carl@corp.example", "Carl")
    world.account("globex", OWNER, domains=["globex.com"])
    mid = world.email(REP, frm=REP, to=[ALICE, "dora@acme.com", "gail@globex.com"], cc=[carl])
    world.email(carl, frm=REP, to=[ALICE, "dora@acme.com", "gail@globex.com"], cc=[carl],
                message_id=mid)
    world.build()
    pairs = sorted((e["account_id"], e["rep_email"]) for e in world.events())
    assert pairs == [("acme", REP), ("acme", carl), ("globex", REP), ("globex", carl)]


def test_team_member_is_not_overlap(seed: Seed) -> None:
    seed.rep(OWNER, "Olga")
    seed.rep(REP, "Bob", aliases=["bobby@corp.example"])
    seed.rep("carl@corp.example", "Carl")
    seed.account("acme", OWNER, domains=["acme.com"], team=["bobby@corp.example"])
    seed.email(REP, frm=REP, to=[ALICE], cc=["carl@corp.example"])
    seed.build()
    assert [e["rep_email"] for e in seed.events()] == ["carl@corp.example"]


@pytest.fixture
def chain(seed: Seed) -> Seed:
    """Olga reports to Mia, who reports to Max; Bob is elsewhere."""
    seed.rep(OWNER, "Olga", manager="mia@corp.example")
    seed.rep("mia@corp.example", "Mia", manager="max@corp.example")
    seed.rep("max@corp.example", "Max", manager=None)
    seed.rep(REP, "Bob", manager="max@corp.example")
    seed.account("acme", OWNER, domains=["acme.com"])
    seed.email("mia@corp.example", frm="mia@corp.example", to=[ALICE])
    seed.email("max@corp.example", frm="max@corp.example", to=[ALICE])
    seed.email(REP, frm=REP, to=[ALICE])
    return seed


def test_managers_chain_is_not_overlap(chain: Seed) -> None:
    chain.build()
    assert [e["rep_email"] for e in chain.events()] == [REP]


def test_management_chain_off_counts_managers(chain: Seed) -> None:
    chain.build(management_chain=False)
    assert sorted(e["rep_email"] for e in chain.events()) == sorted(
        [REP, "mia@corp.example", "max@corp.example"])


def test_management_chain_cycle_terminates(chain: Seed) -> None:
    chain.con.execute("update crm_reps set manager_email = ? where email = ?",
                      [OWNER, "max@corp.example"])
    chain.build()
    assert [e["rep_email"] for e in chain.events()] == [REP]


def test_manager_listed_by_alias(seed: Seed) -> None:
    seed.rep(OWNER, "Olga", manager="m.alias@corp.example")
    seed.rep("mia@corp.example", "Mia", aliases=["m.alias@corp.example"])
    seed.account("acme", OWNER, domains=["acme.com"])
    seed.email("mia@corp.example", frm="mia@corp.example", to=[ALICE])
    seed.build()
    assert seed.events() == []


# --- rule 5: bulk and automated mail -------------------------------------------------------

@pytest.mark.parametrize("reason", ["list-id", "list-unsubscribe", "precedence:bulk",
                                    "auto-submitted:auto-replied"])
def test_header_bulk_mail_is_not_a_customer_interaction(world: Seed, reason: str) -> None:
    world.email(REP, frm=REP, to=[ALICE], bulk_reason=reason)
    world.build()
    [row] = world.rows("select * from interactions where mailboxes = [?]", [REP])
    assert row["bulk_reason"] == reason
    assert row["is_customer"] is False
    assert world.events() == []


@pytest.mark.parametrize("sender", [
    "noreply@acme.com", "no-reply@acme.com", "no_reply@acme.com", "no.reply+x@acme.com",
    "donotreply@acme.com", "do-not-reply@acme.com", "do_not.reply@acme.com",
    "noreply+billing@acme.com", "mailer-daemon@acme.com", "postmaster@acme.com",
    "mailer-daemon@corp.example", "postmaster+bounce@acme.com",
])
def test_system_sender_is_bulk(world: Seed, sender: str) -> None:
    world.email(REP, frm=sender, to=[REP, ALICE])
    world.build()
    [row] = world.rows("select * from interactions where mailboxes = [?]", [REP])
    assert row["bulk_reason"] == "system sender"
    assert world.participants(row["interaction_id"])[sender]["party"] == "excluded"
    assert world.events() == []


def test_donotreply_uppercase_is_normalized_and_bulk(world: Seed) -> None:
    # addresses arrive normalized (lower-cased) from the connectors
    world.email(REP, frm="DoNotReply@acme.com".lower(), to=[REP, ALICE])
    world.build()
    assert world.events() == []


@pytest.mark.parametrize("sender", ["noreplyx@acme.com", "reply@acme.com", "norep@acme.com"])
def test_lookalike_of_system_sender_is_a_person(world: Seed, sender: str) -> None:
    world.email(REP, frm=sender, to=[REP])
    world.build()
    [event] = world.events()
    assert event["initiated_by"] == "customer"


def test_system_address_in_cc_is_excluded_but_mail_still_counts(world: Seed) -> None:
    world.email(REP, frm=REP, to=[ALICE], cc=["noreply@acme.com"])
    world.build()
    [event] = world.events()
    assert event["contact_emails"] == [ALICE]


# --- rule 6: category ---------------------------------------------------------------------

def test_looped_in_when_owner_was_earlier_in_the_thread(world: Seed) -> None:
    root = world.email(OWNER, frm=OWNER, to=[ALICE], at=T0 - timedelta(days=1))
    world.email(REP, frm=ALICE, to=[REP], thread_root=root)
    world.build()
    [event] = world.events()
    assert event["category"] == "looped_in"
    assert event["initiated_by"] == "customer"


def test_looped_in_when_owner_joins_later_in_the_thread(world: Seed) -> None:
    root = world.email(REP, frm=REP, to=[ALICE])
    world.email(REP, frm=ALICE, to=[REP, OWNER], thread_root=root, at=T0 + timedelta(days=2))
    world.build()
    [event] = world.events()
    assert event["category"] == "looped_in"
    assert event["occurred_at"] == T0


def test_looped_in_through_provider_thread_id(world: Seed) -> None:
    world.email(OWNER, frm=OWNER, to=[ALICE], source="gmail", provider_thread_id="t-1",
                at=T0 - timedelta(hours=1))
    # a reply without References/In-Reply-To: only the provider's thread id joins it
    world.email(OWNER, frm=REP, to=[ALICE], source="gmail", provider_thread_id="t-1")
    world.build()
    [event] = world.events()
    assert event["category"] == "looped_in"


def test_same_provider_thread_id_in_another_source_does_not_join(world: Seed) -> None:
    world.email(OWNER, frm=OWNER, to=[ALICE], source="gmail", provider_thread_id="t-1",
                at=T0 - timedelta(hours=1))
    world.email(REP, frm=REP, to=[ALICE], source="msgraph", provider_thread_id="t-1")
    world.build()
    [event] = world.events()
    assert event["category"] == "backdoor"


def test_meetings_are_never_looped_in(world: Seed) -> None:
    world.meeting(REP, uid="m", organizer=REP, attendees={ALICE: "accepted"})
    world.build()
    [event] = world.events()
    assert event["category"] == "backdoor"
    assert event["initiated_by"] == "rep"


@pytest.mark.parametrize(("days_before", "category"), [
    (59, "backdoor"), (60, "backdoor"), (61, "coverage_gap"), (0, "coverage_gap"),
])
def test_dormant_owner_is_coverage_gap(seed: Seed, days_before: int, category: str) -> None:
    seed.rep(OWNER, "Olga")
    seed.rep(REP, "Bob")
    seed.account("acme", OWNER, domains=["acme.com"])
    seed.email(OWNER, frm=OWNER, to=["zoe@acme.com"], at=T0 - timedelta(days=days_before))
    seed.email(REP, frm=REP, to=[ALICE])
    seed.build()
    events = [e for e in seed.events() if e["rep_email"] == REP]
    assert [e["category"] for e in events] == [category]


def test_each_check_looks_back_from_its_own_date(seed: Seed) -> None:
    """Two rep emails 20 days apart, the owner's touches 70 and 50 days before the later: the
    touch 50 days before it keeps both in the window (the older one alone would not)."""
    seed.rep(OWNER, "Olga")
    seed.rep(REP, "Bob")
    seed.account("acme", OWNER, domains=["acme.com"])
    for days in (70, 50):
        seed.email(OWNER, frm=OWNER, to=[ALICE], at=T0 - timedelta(days=days))
    seed.email(REP, frm=REP, to=[ALICE], at=T0 - timedelta(days=20))
    seed.email(REP, frm=REP, to=[ALICE])
    seed.build()
    assert [e["category"] for e in seed.events()] == ["backdoor", "backdoor"]


def test_dormancy_window_follows_the_setting(seed: Seed) -> None:
    seed.rep(OWNER, "Olga")
    seed.rep(REP, "Bob")
    seed.account("acme", OWNER, domains=["acme.com"])
    seed.email(OWNER, frm=OWNER, to=[ALICE], at=T0 - timedelta(days=20))
    seed.email(REP, frm=REP, to=[ALICE])
    seed.build(dormant_days=14)
    assert [e["category"] for e in seed.events()] == ["coverage_gap"]


def test_owner_touch_with_another_account_does_not_count(seed: Seed) -> None:
    seed.rep(OWNER, "Olga")
    seed.rep(REP, "Bob")
    seed.account("acme", OWNER, domains=["acme.com"])
    seed.account("globex", OWNER, domains=["globex.com"])
    seed.email(OWNER, frm=OWNER, to=["gail@globex.com"], at=T0 - timedelta(days=5))
    seed.email(REP, frm=REP, to=[ALICE])
    seed.build()
    assert [e["category"] for e in seed.events()] == ["coverage_gap"]


def test_owner_bulk_mail_is_not_a_touch(seed: Seed) -> None:
    seed.rep(OWNER, "Olga")
    seed.rep(REP, "Bob")
    seed.account("acme", OWNER, domains=["acme.com"])
    seed.email(OWNER, frm=OWNER, to=[ALICE], at=T0 - timedelta(days=5), bulk_reason="list-id")
    seed.email(REP, frm=REP, to=[ALICE])
    seed.build()
    assert [e["category"] for e in seed.events()] == ["coverage_gap"]


def test_inactive_owner_is_coverage_gap(seed: Seed) -> None:
    seed.rep(OWNER, "Olga", active=False)
    seed.rep(REP, "Bob")
    seed.account("acme", OWNER, domains=["acme.com"])
    seed.email(OWNER, frm=OWNER, to=[ALICE], at=T0 - timedelta(days=5))
    seed.email(REP, frm=REP, to=[ALICE])
    seed.build()
    assert [(e["category"], e["rep_email"]) for e in seed.events()] == [("coverage_gap", REP)]


def test_owner_missing_from_reps_is_coverage_gap(seed: Seed) -> None:
    seed.rep(REP, "Bob")
    seed.account("acme", "gone@corp.example", domains=["acme.com"])
    seed.email("gone@corp.example", frm="gone@corp.example", to=[ALICE],
               at=T0 - timedelta(days=5))
    seed.email(REP, frm=REP, to=[ALICE])
    seed.build()
    [event] = seed.events()
    assert event["category"] == "coverage_gap"
    assert event["owner_email"] == "gone@corp.example"


def test_owner_not_in_reps_on_the_interaction_still_means_no_event(seed: Seed) -> None:
    seed.rep(REP, "Bob")
    seed.account("acme", "gone@corp.example", domains=["acme.com"])
    seed.email(REP, frm=REP, to=[ALICE], cc=["gone@corp.example"])
    seed.build()
    assert seed.events() == []


# --- rule 7: initiated by -----------------------------------------------------------------

def test_initiated_by_each_value(world: Seed) -> None:
    world.email(REP, frm=REP, to=[ALICE], at=T0)
    world.email(REP, frm=ALICE, to=[REP], at=T0 + timedelta(hours=1))
    world.email(REP, frm="eve@corp.example", to=[REP, ALICE], at=T0 + timedelta(hours=2))
    world.email(REP, frm="x@umbrella.example", to=[REP, ALICE], at=T0 + timedelta(hours=3))
    world.meeting(REP, uid="m1", organizer=REP, attendees={ALICE: "accepted"},
                  start=T0 + timedelta(hours=4))
    world.meeting(REP, uid="m2", organizer=ALICE, attendees={REP: "accepted"},
                  start=T0 + timedelta(hours=5))
    world.build()
    assert [(e["kind"], e["initiated_by"]) for e in world.events()] == [
        ("email", "rep"), ("email", "customer"), ("email", "other"), ("email", "other"),
        ("meeting", "rep"), ("meeting", "customer"),
    ]


def test_another_reps_mail_is_other_for_a_cc_rep(world: Seed) -> None:
    carl = world.rep("carl@corp.example", "Carl")
    world.email(REP, frm=REP, to=[ALICE], cc=[carl])
    world.build()
    assert {e["rep_email"]: e["initiated_by"] for e in world.events()} == {
        REP: "rep", carl: "other"}
