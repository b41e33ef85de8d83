"""Recurrence, overrides, cancellation and attendees in handmade .ics files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.files.ics import meetings, parse_calendar
from connectors.records import MeetingCopy, Quarantined, Window


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


NOV = Window(_utc(2026, 11, 1), _utc(2026, 12, 1))


def _cal(*events: str, method: str = "REQUEST") -> bytes:
    body = "\n".join(f"BEGIN:VEVENT\n{e.strip()}\nEND:VEVENT" for e in events)
    text = f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:test\nMETHOD:{method}\n{body}\nEND:VCALENDAR\n"
    return text.replace("\n", "\r\n").encode()


def _run(data: bytes, window: Window = NOV) -> list[MeetingCopy | Quarantined]:
    return list(parse_calendar(data, "cal.ics", "ann@corp.example", window))


def _meetings(data: bytes, window: Window = NOV) -> list[MeetingCopy]:
    out = _run(data, window)
    assert all(isinstance(r, MeetingCopy) for r in out), out
    return [r for r in out if isinstance(r, MeetingCopy)]


WEEKLY = """
UID:weekly-1
DTSTART:20261020T150000Z
DTEND:20261020T160000Z
RRULE:FREQ=WEEKLY
SUMMARY:Pipeline review
ORGANIZER;CN=Ann Rep:mailto:ann@corp.example
ATTENDEE;PARTSTAT=ACCEPTED;CN=Bob:mailto:bob@acme.com
"""


def test_weekly_rrule_within_window() -> None:
    got = _meetings(_cal(WEEKLY))
    assert [m.occurred_at for m in got] == [_utc(2026, 11, d, 15) for d in (3, 10, 17, 24)]
    assert all(m.original_start == m.occurred_at for m in got)
    assert got[0].ended_at == _utc(2026, 11, 3, 16)
    assert got[0].copy_id == "cal.ics#weekly-1#20261103T150000Z"
    assert got[0].subject == "Pipeline review" and not got[0].cancelled


def test_exdate_removes_an_occurrence() -> None:
    got = _meetings(_cal(WEEKLY + "EXDATE:20261110T150000Z"))
    assert [m.occurred_at.day for m in got] == [3, 17, 24]


def test_moved_override_keeps_original_start() -> None:
    moved = """
UID:weekly-1
RECURRENCE-ID:20261117T150000Z
DTSTART:20261118T090000Z
DTEND:20261118T100000Z
SUMMARY:Pipeline review (moved)
ORGANIZER:mailto:ann@corp.example
ATTENDEE;PARTSTAT=DECLINED:mailto:bob@acme.com
"""
    got = {m.original_start.day: m for m in _meetings(_cal(WEEKLY, moved))}
    assert sorted(got) == [3, 10, 17, 24]
    m = got[17]
    assert m.occurred_at == _utc(2026, 11, 18, 9)
    assert m.original_start == _utc(2026, 11, 17, 15)
    assert m.copy_id == "cal.ics#weekly-1#20261117T150000Z"
    assert m.subject == "Pipeline review (moved)"
    assert [(p.address, p.response) for p in m.participants if p.role == "attendee"] == [("bob@acme.com", "declined")]


def test_override_moved_out_of_window_is_skipped() -> None:
    moved = "UID:weekly-1\nRECURRENCE-ID:20261124T150000Z\nDTSTART:20261202T090000Z"
    got = _meetings(_cal(WEEKLY, moved))
    assert [m.original_start.day for m in got] == [3, 10, 17]


def test_cancelled_single_occurrence_keeps_series_people() -> None:
    cancelled = "UID:weekly-1\nRECURRENCE-ID:20261110T150000Z\nDTSTART:20261110T150000Z\nSTATUS:CANCELLED"
    got = {m.original_start.day: m for m in _meetings(_cal(WEEKLY, cancelled))}
    assert [d for d, m in sorted(got.items()) if m.cancelled] == [10]
    assert {p.address for p in got[10].participants} == {"ann@corp.example", "bob@acme.com"}


def test_cancel_notice_for_one_occurrence() -> None:
    # METHOD:CANCEL with only the override: what a mail client sends to cancel one date.
    notice = "UID:weekly-1\nRECURRENCE-ID:20261110T150000Z\nDTSTART:20261110T150000Z\nORGANIZER:mailto:ann@corp.example"
    (m,) = _meetings(_cal(notice, method="CANCEL"))
    assert m.cancelled and m.original_start == _utc(2026, 11, 10, 15)


def test_cancelled_series() -> None:
    got = _meetings(_cal(WEEKLY + "STATUS:CANCELLED"))
    assert len(got) == 4 and all(m.cancelled for m in got)


@pytest.mark.parametrize(
    ("params", "response", "is_resource"),
    [
        ("PARTSTAT=ACCEPTED", "accepted", False),
        ("PARTSTAT=TENTATIVE", "tentative", False),
        ("PARTSTAT=DECLINED", "declined", False),
        ("PARTSTAT=NEEDS-ACTION", "needs_action", False),
        ("CUTYPE=INDIVIDUAL", "needs_action", False),  # no PARTSTAT
        ("PARTSTAT=DELEGATED;DELEGATED-TO=\"mailto:x@acme.com\"", "declined", False),
        ("PARTSTAT=X-SOMETHING", "needs_action", False),
        ("CUTYPE=ROOM;PARTSTAT=ACCEPTED", "accepted", True),
        ("CUTYPE=RESOURCE", "needs_action", True),
    ],
)
def test_attendee_mapping(params: str, response: str, is_resource: bool) -> None:
    event = f"UID:one\nDTSTART:20261105T100000Z\nORGANIZER:mailto:Ann@Corp.Example\nATTENDEE;{params}:MAILTO:Carl@Acme.com"
    (m,) = _meetings(_cal(event))
    org, att = m.participants
    assert (org.address, org.role, org.response) == ("ann@corp.example", "organizer", None)
    assert (att.address, att.role, att.response, att.is_resource) == ("carl@acme.com", "attendee", response, is_resource)


def test_invalid_attendee_counted() -> None:
    event = "UID:one\nDTSTART:20261105T100000Z\nATTENDEE:mailto:not-an-address\nATTENDEE;EMAIL=dee@acme.com:urn:uuid:123"
    (m,) = _meetings(_cal(event))
    assert [p.address for p in m.participants] == ["dee@acme.com"]
    assert m.invalid_addresses == 1


@pytest.mark.parametrize(
    ("dtstart", "expected"),
    [
        ("DTSTART:20261105T100000Z", _utc(2026, 11, 5, 10)),
        ("DTSTART;TZID=Europe/Berlin:20261105T100000", _utc(2026, 11, 5, 9)),
        ("DTSTART:20261105T100000", _utc(2026, 11, 5, 10)),  # floating → UTC
        ("DTSTART;VALUE=DATE:20261105", _utc(2026, 11, 5)),  # all-day → midnight UTC
    ],
)
def test_times_become_utc(dtstart: str, expected: datetime) -> None:
    (m,) = _meetings(_cal(f"UID:t\n{dtstart}"))
    assert m.occurred_at == expected and m.occurred_at.tzinfo is UTC


def test_window_is_half_open_on_start() -> None:
    events = ("UID:a\nDTSTART:20261031T235959Z", "UID:b\nDTSTART:20261101T000000Z", "UID:c\nDTSTART:20261201T000000Z")
    assert [m.ical_uid for m in _meetings(_cal(*events))] == ["b"]


def test_bad_events_are_quarantined_not_raised() -> None:
    out = _run(_cal("DTSTART:20261105T100000Z", "UID:nostart\nSUMMARY:x", "UID:ok\nDTSTART:20261105T100000Z"))
    assert [(type(r).__name__, getattr(r, "reason", None)) for r in out] == [
        ("Quarantined", "event without UID"),
        ("Quarantined", "event without DTSTART"),
        ("MeetingCopy", None),
    ]


@pytest.mark.parametrize(
    "data", [b"", b"not a calendar", b"\x00\xff\xfe", b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n"]
)
def test_unreadable_calendar_is_quarantined(data: bytes) -> None:
    assert _run(data) == [Quarantined("ics", "ics", "ann@corp.example", "cal.ics", "unreadable calendar")]


def test_calendar_without_events_yields_nothing() -> None:
    assert _run(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n") == []


def test_meetings_reads_ics_recursively(tmp_path: Path) -> None:
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "sub" / "deeper" / "x.ICS").write_bytes(_cal("UID:u1\nDTSTART:20261105T100000Z"))
    (tmp_path / "notes.txt").write_bytes(_cal("UID:u2\nDTSTART:20261105T100000Z"))
    (m,) = list(meetings(tmp_path, "ann@corp.example", NOV))
    assert isinstance(m, MeetingCopy)
    assert m.copy_id == "sub/deeper/x.ICS#u1#20261105T100000Z" and m.source == "ics"
