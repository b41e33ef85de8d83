"""Rule 4 (identity) and rule 3 (participants): copies merge into one interaction."""

from __future__ import annotations

from datetime import timedelta

from .conftest import ALICE, OWNER, REP
from .seed import T0, Seed


def test_email_in_three_mailboxes_and_two_providers_is_one_interaction(world: Seed) -> None:
    mid = world.email(REP, frm=REP, to=[ALICE, "carl@corp.example"], source="maildir")
    world.email(ALICE, frm=REP, to=[ALICE, "carl@corp.example"], message_id=mid, source="gmail")
    world.email("carl@corp.example", frm=REP, to=[ALICE, "carl@corp.example"],
                message_id=mid, source="gmail")
    world.build()
    rows = world.rows("select * from interactions where message_id = ?", [mid])
    assert len(rows) == 1
    assert rows[0]["copies"] == 3
    assert rows[0]["sources"] == ["gmail", "maildir"]
    assert rows[0]["source"] == "gmail"
    assert rows[0]["mailboxes"] == sorted([REP, ALICE, "carl@corp.example"])
    assert len(world.events()) == 1


def test_interaction_id_is_stable_across_mailboxes_providers_and_reruns(world: Seed) -> None:
    import hashlib

    mid = world.email(REP, frm=REP, to=[ALICE], message_id="Abc@X.example")
    world.email(ALICE, frm=REP, to=[ALICE], message_id=mid, source="gmail")
    world.build()
    [row] = world.rows("select interaction_id from interactions where message_id = ?", [mid])
    assert row["interaction_id"] == hashlib.md5(b"email|Abc@X.example").hexdigest()
    world.build()
    assert world.rows("select interaction_id from interactions where message_id = ?",
                      [mid]) == [row]


def test_message_id_case_is_kept(world: Seed) -> None:
    world.email(REP, frm=REP, to=[ALICE], message_id="ABC@x.example")
    world.email(REP, frm=REP, to=[ALICE], message_id="abc@x.example")
    world.build()
    assert len(world.rows("select * from interactions where message_id ilike 'abc@x.example'")) == 2


def test_bcc_is_only_in_the_senders_copy_and_still_counts(world: Seed) -> None:
    carl = world.rep("carl@corp.example", "Carl")
    mid = world.email(REP, frm=REP, to=[ALICE], bcc=[carl])  # the sender's copy names the Bcc
    world.email(ALICE, frm=REP, to=[ALICE], message_id=mid)  # the recipient's does not
    world.build()
    [row] = world.rows("select interaction_id from interactions where message_id = ?", [mid])
    people = world.participants(row["interaction_id"])
    assert people[carl]["role"] == "bcc"
    assert people[carl]["party"] == "rep"
    assert {e["rep_email"] for e in world.events()} == {REP, carl}


def test_strongest_role_wins_over_copies(world: Seed) -> None:
    mid = world.email(REP, frm=REP, to=[ALICE], cc=["carl@corp.example"])
    world.email("carl@corp.example", frm=REP, to=[ALICE, "carl@corp.example"], message_id=mid)
    world.build()
    iid = world.rows("select interaction_id from interactions where message_id = ?",
                     [mid])[0]["interaction_id"]
    assert world.participants(iid)["carl@corp.example"]["role"] == "to"


def test_missing_message_id_falls_back_to_sender_date_and_recipients(world: Seed) -> None:
    # two mailboxes hold the same message without a Message-ID: one interaction
    world.email(REP, frm=REP, to=[ALICE], cc=["carl@corp.example"], message_id=None)
    world.email(ALICE, frm=REP, to=[ALICE], cc=["carl@corp.example"], message_id=None)
    # same people a minute later: another interaction
    world.email(REP, frm=REP, to=[ALICE], cc=["carl@corp.example"], message_id=None,
                at=T0 + timedelta(minutes=1))
    world.build()
    rows = world.rows("select * from interactions where message_id is null order by occurred_at")
    assert [r["copies"] for r in rows] == [2, 1]
    assert len(world.events()) == 2


def test_recurring_occurrences_are_distinct_interactions(world: Seed) -> None:
    for week in range(3):
        start = T0 + timedelta(weeks=week)
        world.meeting(REP, uid="series-1", organizer=REP, attendees={ALICE: "accepted"},
                      start=start)
    world.build()
    rows = world.rows("select * from interactions where ical_uid = 'series-1'")
    assert len(rows) == 3
    assert len({r["week_start"] for r in rows}) == 3
    assert len(world.events()) == 3


def test_moved_occurrence_dedupes_by_original_start(world: Seed) -> None:
    moved = T0 + timedelta(days=1, hours=3)
    # the organizer's calendar has the new time, the attendee's calendar is stale
    world.meeting(REP, uid="series-2", organizer=REP, attendees={ALICE: "accepted"},
                  start=moved, original_start=T0)
    world.meeting(ALICE, uid="series-2", organizer=REP, attendees={ALICE: "accepted"},
                  start=T0, original_start=T0, source="google_calendar")
    world.build()
    [row] = world.rows("select * from interactions where ical_uid = 'series-2'")
    assert row["copies"] == 2
    assert row["occurred_at"] == moved  # the organizer's copy speaks for the start
    assert row["original_start"] == T0


def test_meeting_cancelled_in_one_copy_does_not_count(world: Seed) -> None:
    world.meeting(REP, uid="m-c", organizer=REP, attendees={ALICE: "accepted"})
    world.meeting(ALICE, uid="m-c", organizer=REP, attendees={ALICE: "accepted"},
                  cancelled=True)
    world.build()
    [row] = world.rows("select * from interactions where ical_uid = 'm-c'")
    assert row["cancelled"] is True
    assert row["is_customer"] is False
    assert world.events() == []


def test_declined_attendee_is_excluded(world: Seed) -> None:
    carl = world.rep("carl@corp.example", "Carl")
    world.meeting(REP, uid="m-d", organizer=ALICE,
                  attendees={REP: "accepted", carl: "declined", "dora@acme.com": "tentative",
                             "ed@acme.com": "needs_action"})
    world.build()
    people = world.participants(world.interactions()[-1]["interaction_id"])
    assert people[carl]["party"] == "excluded"
    assert people["dora@acme.com"]["party"] == "account_contact"
    assert people["ed@acme.com"]["party"] == "account_contact"
    [event] = world.events()
    assert event["rep_email"] == REP
    assert event["contact_emails"] == [ALICE, "dora@acme.com", "ed@acme.com"]


def test_owner_who_declined_is_not_a_participant(world: Seed) -> None:
    world.meeting(REP, uid="m-o", organizer=REP, attendees={ALICE: "accepted", OWNER: "declined"})
    world.build()
    [event] = world.events()
    assert event["rep_email"] == REP


def test_attendees_own_calendar_is_authoritative_for_the_response(world: Seed) -> None:
    # the organizer's copy still says needs_action; Bob's own calendar says declined
    world.meeting(ALICE, uid="m-a", organizer=ALICE, attendees={REP: "needs_action"})
    world.meeting(REP, uid="m-a", organizer=ALICE, attendees={REP: "declined"})
    # and the other way round: accepted in his own calendar, declined in the organizer's
    world.meeting(ALICE, uid="m-b", organizer=ALICE, attendees={REP: "declined"},
                  start=T0 + timedelta(days=1))
    world.meeting(REP, uid="m-b", organizer=ALICE, attendees={REP: "accepted"},
                  start=T0 + timedelta(days=1))
    world.build()
    rows = world.rows("select i.ical_uid, p.response, p.party from interaction_participants p "
                      "join interactions i using (interaction_id) where p.address = ? "
                      "order by i.ical_uid", [REP])
    assert rows == [{"ical_uid": "m-a", "response": "declined", "party": "excluded"},
                    {"ical_uid": "m-b", "response": "accepted", "party": "rep"}]
    assert [e["kind"] for e in world.events()] == ["meeting"]


def test_response_via_alias_mailbox_is_authoritative(seed: Seed) -> None:
    seed.rep("olga@corp.example", "Olga")
    seed.rep("bob@corp.example", "Bob", aliases=["robert@corp.example"])
    seed.account("acme", "olga@corp.example", domains=["acme.com"])
    seed.meeting(ALICE, uid="m", organizer=ALICE, attendees={"bob@corp.example": "accepted"})
    seed.meeting("robert@corp.example", uid="m", organizer=ALICE,
                 attendees={"bob@corp.example": "declined"})
    seed.build()
    assert seed.participants()["bob@corp.example"]["response"] == "declined"


def test_room_is_not_a_person(world: Seed) -> None:
    world.meeting(REP, uid="m-r", organizer=REP, attendees={ALICE: "accepted"},
                  rooms=["room-1@acme.com", "boardroom@corp.example"])
    world.build()
    people = world.participants(world.interactions()[-1]["interaction_id"])
    assert people["room-1@acme.com"]["party"] == "excluded"
    assert people["boardroom@corp.example"]["party"] == "excluded"
    [event] = world.events()
    assert event["contact_emails"] == [ALICE]


def test_room_alone_does_not_make_a_customer_meeting(world: Seed) -> None:
    world.meeting(REP, uid="m-r2", organizer=REP, attendees={}, rooms=["room-1@acme.com"])
    world.build()
    assert world.events() == []


def test_fallback_identity_key_is_sender_whole_seconds_and_sorted_recipients(world: Seed) -> None:
    import hashlib

    world.email(REP, frm=REP, to=["zed@acme.com", ALICE], cc=["carl@corp.example"],
                message_id=None, at=T0 + timedelta(microseconds=250_000))
    world.build()
    key = (f"email-fallback|{REP}|{int(T0.timestamp())}|"
           f"{ALICE},carl@corp.example,zed@acme.com")
    [row] = world.rows("select interaction_id from interactions where message_id is null")
    assert row["interaction_id"] == hashlib.md5(key.encode()).hexdigest()


def test_meeting_identity_key_uses_original_start_in_utc(world: Seed) -> None:
    import hashlib

    world.meeting(REP, uid="Series@X", organizer=REP, attendees={ALICE: "accepted"},
                  start=T0 + timedelta(hours=2), original_start=T0)
    world.build()
    [row] = world.rows("select interaction_id from interactions where kind = 'meeting'")
    key = "meeting|Series@X|2024-03-04T10:00:00Z"
    assert row["interaction_id"] == hashlib.md5(key.encode()).hexdigest()
