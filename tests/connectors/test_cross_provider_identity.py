"""One meeting seen by a Google calendar and an Outlook calendar is one identity (rule 4).

Two recurring customer meetings, one organised in Google (UID ``…@google.com``, which
Exchange wraps as vCal-Uid data in Graph's iCalUId) and one organised in Exchange (UID = the
clean Global Object Id in hex, which Google keeps as iCalUID), each on the calendar of a
Google rep and of an Outlook rep: both connectors, over HTTP against the sandboxes, give the
same (iCalUID, original start) for every occurrence, and the .ics file path agrees.
See docs/microsoft.md, section 6.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors import google_calendar, msgraph
from connectors.api import SyncRequest
from connectors.files.ics import parse_calendar
from connectors.records import MeetingCopy, Record, Window
from connectors.retry import RetryPolicy
from sandbox import google, microsoft
from sandbox.google_seed import calendar_seed, event_ics
from sandbox.seed import MailboxSeed

GOOGLE_REP = "gina@corp.example"
OUTLOOK_REP = "otto@corp.example"
WINDOW = Window(datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))
T0 = datetime(2026, 11, 3, 15, tzinfo=UTC)
GOOGLE_UID = "5q1n3v0d2m7c8k9r4t6b0a1s2e@google.com"
# [MS-ASEMAIL] 4.3 example 1's clean id: the UID Exchange writes into the invitation it sends.
EXCHANGE_UID = ("040000008200E00074C5B7101A82E00800000000E040C9C12685C4010000000000000000100000"
                "000BF0ED4B6E4EE94E9E39E3867B378EF3")
PEOPLE = [(GOOGLE_REP, "ACCEPTED"), (OUTLOOK_REP, "TENTATIVE"), ("ann@acme.example", "ACCEPTED")]
MEETINGS = {
    "google.ics": event_ics(GOOGLE_UID, "ann@acme.example", PEOPLE, T0, rrule="FREQ=WEEKLY;COUNT=3"),
    "exchange.ics": event_ics(EXCHANGE_UID, OUTLOOK_REP, PEOPLE, T0 + timedelta(days=1),
                              rrule="FREQ=WEEKLY;COUNT=3"),
}


def seed(mailbox: str) -> MailboxSeed:
    box = MailboxSeed(mailbox)
    for name, data in MEETINGS.items():
        calendar_seed(box, name, data)
    return box


@pytest.fixture()
def sandboxes(tmp_path: Path) -> Iterator[tuple[google.GoogleSandbox, microsoft.MicrosoftSandbox]]:
    with google.start({GOOGLE_REP: seed(GOOGLE_REP)}, secrets_dir=tmp_path / "g") as gs, \
            microsoft.start({OUTLOOK_REP: seed(OUTLOOK_REP)}, secrets_dir=tmp_path / "m") as ms:
        yield gs, ms


def identities(records: list[Record]) -> set[tuple[str, datetime]]:
    return {(r.ical_uid, r.original_start) for r in records if isinstance(r, MeetingCopy)}


def test_a_meeting_in_google_and_outlook_calendars_is_one_identity(
        sandboxes: tuple[google.GoogleSandbox, microsoft.MicrosoftSandbox]) -> None:
    gs, ms = sandboxes
    g_opts: dict[str, Any] = {**gs.sources([GOOGLE_REP])[1], "retry_base_seconds": 0.01}
    via_google = google_calendar.sync(SyncRequest("google_calendar", "google_calendar",
                                                  GOOGLE_REP, WINDOW, options=g_opts))
    m_opts = {k: v for k, v in ms.sources([])[0].items() if k not in ("kind", "name", "mailboxes")}
    m_opts.update(streams="calendar", retry_policy=RetryPolicy(attempts=6, base=0.001, cap=0.01))
    via_graph = msgraph.sync(SyncRequest("msgraph", "msgraph", OUTLOOK_REP, WINDOW,
                                         options=m_opts))
    via_files = [r for data in MEETINGS.values()
                 for r in parse_calendar(data, "x.ics", OUTLOOK_REP, WINDOW)]
    expected = {(uid, start + timedelta(days=7 * k))
                for uid, start in ((GOOGLE_UID, T0), (EXCHANGE_UID, T0 + timedelta(days=1)))
                for k in range(3)}
    assert identities(via_google.records) == expected
    assert identities(via_graph.records) == expected
    assert identities(via_files) == expected
    # The Outlook copies name the same people as the Google copies.
    people = {frozenset((p.address, p.role) for p in r.participants)
              for r in via_graph.records if isinstance(r, MeetingCopy)}
    assert frozenset({(GOOGLE_REP, "attendee"), (OUTLOOK_REP, "attendee"),
                      ("ann@acme.example", "attendee"), ("ann@acme.example", "organizer")}) in people
