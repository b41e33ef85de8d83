"""Google Calendar connector against the sandbox over real HTTP: window, rules 3/4 mapping,
incremental with sync tokens, 410 recovery, faults."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors import google_calendar
from connectors.api import SyncRequest
from connectors.files.ics import parse_calendar
from connectors.records import MeetingCopy, Window
from sandbox import google
from sandbox.google import Fault, GoogleSandbox
from sandbox.google_seed import calendar_seed, event_ics
from sandbox.seed import MailboxSeed

REP = "rep@corp.example"
WINDOW = Window(datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 16, tzinfo=UTC))
FAST = {"retry_base_seconds": 0.01, "retry_cap_seconds": 0.2}
T0 = datetime(2026, 11, 3, 10, tzinfo=UTC)
WEEKLY = event_ics("weekly@x", REP, [(REP, "ACCEPTED"), ("buyer@acme.example", "TENTATIVE"),
                                     ("room1@resource.calendar.google.com", "ACCEPTED")],
                   T0, rrule="FREQ=WEEKLY;COUNT=4").replace(
    b"ATTENDEE;PARTSTAT=ACCEPTED:mailto:room1", b"ATTENDEE;CUTYPE=RESOURCE;PARTSTAT=ACCEPTED:mailto:room1")
CANCELLED = event_ics("gone@x", "buyer@acme.example", [(REP, "DECLINED")],
                      T0 + timedelta(days=1), status="CANCELLED")
BEFORE = event_ics("old@x", REP, [("buyer@acme.example", "ACCEPTED")], T0 - timedelta(days=30))


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[GoogleSandbox]:
    seed = MailboxSeed(REP)
    for key, data in (("weekly.ics", WEEKLY), ("gone.ics", CANCELLED), ("old.ics", BEFORE)):
        calendar_seed(seed, key, data)
    with google.start({REP: seed}, secrets_dir=tmp_path / "secrets") as sb:
        yield sb


def request(sb: GoogleSandbox, cursor: str | None = None, window: Window = WINDOW,
            **options: Any) -> SyncRequest:
    opts = {**sb.sources([REP])[1], **FAST, **options}
    return SyncRequest("google_calendar", "google_calendar", REP, window, cursor=cursor,
                       options=opts)


def key(m: Any) -> tuple[Any, ...]:
    return (m.ical_uid, m.original_start, m.occurred_at, m.ended_at, m.cancelled, m.participants)


def test_window_sync_matches_the_ics_files(sandbox: GoogleSandbox) -> None:
    result = google_calendar.sync(request(sandbox))
    files = [r for data in (WEEKLY, CANCELLED, BEFORE)
             for r in parse_calendar(data, "f.ics", REP, WINDOW)]
    assert sorted(map(key, result.records)) == sorted(map(key, files))
    assert len(result.records) == 3  # two weekly occurrences in the window + the cancelled one
    weekly = [r for r in result.records if isinstance(r, MeetingCopy) and r.ical_uid == "weekly@x"]
    assert len({r.copy_id for r in weekly}) == 2  # one event id per occurrence
    people = {p.address: p for p in weekly[0].participants if p.role == "attendee"}
    assert people["buyer@acme.example"].response == "tentative"
    assert people["room1@resource.calendar.google.com"].is_resource
    cancelled = [r for r in result.records if isinstance(r, MeetingCopy) and r.cancelled]
    assert [c.ical_uid for c in cancelled] == ["gone@x"]  # kept: rule 3 needs to see it
    assert sandbox.counts["calendar.events.list"] == 1


def test_pages_are_followed_and_the_token_comes_last(sandbox: GoogleSandbox) -> None:
    for i in range(5):
        sandbox.put_calendar(REP, f"n{i}.ics", event_ics(f"n{i}@x", REP, [], T0 + timedelta(hours=i)))
    result = google_calendar.sync(request(sandbox))
    assert len(result.records) == 8
    assert result.cursor is not None


def test_incremental_fetches_exactly_the_changes(sandbox: GoogleSandbox) -> None:
    first = google_calendar.sync(request(sandbox))
    sandbox.put_calendar(REP, "new.ics", event_ics("new@x", "buyer@acme.example",
                                                   [(REP, "ACCEPTED")], T0 + timedelta(days=2)))
    before = sandbox.counts["calendar.events.list"]
    second = google_calendar.sync(request(sandbox, cursor=first.cursor))
    assert second.mode == "incremental"
    assert [r.ical_uid for r in second.records if isinstance(r, MeetingCopy)] == ["new@x"]
    assert sandbox.counts["calendar.events.list"] - before == 1
    third = google_calendar.sync(request(sandbox, cursor=second.cursor))
    assert third.records == [] and third.removed == []


def test_a_later_window_lists_the_gap(sandbox: GoogleSandbox) -> None:
    first = google_calendar.sync(request(sandbox))
    later = Window(WINDOW.start + timedelta(days=7), WINDOW.end + timedelta(days=7))
    second = google_calendar.sync(request(sandbox, cursor=first.cursor, window=later))
    assert second.mode == "incremental"
    # The weekly series' occurrence in the new week existed all along: the gap listing finds it.
    starts = sorted(r.occurred_at for r in second.records)
    assert starts == [T0 + timedelta(days=14)]


def test_cancelling_an_occurrence_arrives_as_a_cancelled_copy(sandbox: GoogleSandbox) -> None:
    first = google_calendar.sync(request(sandbox))
    sandbox.put_calendar(REP, "weekly.ics", WEEKLY.replace(b"STATUS:CONFIRMED", b"STATUS:CANCELLED"))
    second = google_calendar.sync(request(sandbox, cursor=first.cursor))
    assert second.records and all(isinstance(r, MeetingCopy) and r.cancelled
                                  for r in second.records)


def test_expired_sync_token_is_a_full_resync(sandbox: GoogleSandbox) -> None:
    first = google_calendar.sync(request(sandbox))
    sandbox.expire_sync_tokens(REP)
    second = google_calendar.sync(request(sandbox, cursor=first.cursor))
    assert second.mode == "window"
    assert sorted(map(key, second.records)) == sorted(map(key, first.records))


def test_faults_are_survived(sandbox: GoogleSandbox) -> None:
    clean = sorted(map(key, google_calendar.sync(request(sandbox)).records))
    sandbox.inject(Fault("calendar.events.list", status=503, times=3))
    sandbox.inject(Fault("calendar.events.list", status=429, times=1, retry_after=0.05))
    sandbox.inject(Fault("calendar.events.list", status=0, delay=0.2, times=1))
    result = google_calendar.sync(request(sandbox))
    assert sorted(map(key, result.records)) == clean and result.stats.retries == 4


def test_each_sync_logs_the_summary_line_every_connector_logs(
        sandbox: GoogleSandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="connectors")
    first = google_calendar.sync(request(sandbox))
    google_calendar.sync(request(sandbox, cursor=first.cursor))
    lines = [r.getMessage() for r in caplog.records if r.name == "connectors.google_calendar"]
    window = f"{WINDOW.start:%Y-%m-%d} .. {WINDOW.end:%Y-%m-%d}"
    assert lines == [
        f"google_calendar {REP}: {window}, window sync, 3 records, 0 removed, 1 requests,"
        " 0 retries, 0 s paced",
        f"google_calendar {REP}: {window}, incremental sync, 0 records, 0 removed, 1 requests,"
        " 0 retries, 0 s paced",
    ]
