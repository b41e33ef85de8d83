"""Real data from ../shared/data: every Enron message and every mailing-list invite."""

from __future__ import annotations

import collections
from datetime import UTC, datetime
from pathlib import Path

from connectors.files.ics import parse_calendar
from connectors.headers import parse_email
from connectors.records import EmailCopy, MeetingCopy, Quarantined, Window

# Measured: 9,708 messages, 40 quarantined, all "no usable Date header" — dates in the years
# 0001/0002 (a client clock error; the weekday fits no year). The bound leaves room for a
# parser change to move a few, but a regression that loses mail fails.
ENRON_MAX_QUARANTINED = 60


def test_enron_all_messages_parse(shared_data: Path) -> None:
    root = shared_data / "enron-maildir"
    # Not maildir cur/new: raw messages under <person>/<folder>/<n>.
    files = [p for p in sorted(root.rglob("*")) if p.is_file() and p.name != "MANIFEST.tsv"]
    assert len(files) > 9000
    reasons: collections.Counter[str] = collections.Counter()
    emails = 0
    for path in files:
        rec = parse_email(
            path.read_bytes(),
            source="enron",
            source_kind="maildir",
            mailbox="x@enron.com",
            copy_id=str(path.relative_to(root)),
        )
        if isinstance(rec, Quarantined):
            reasons[rec.reason] += 1
        else:
            assert isinstance(rec, EmailCopy)
            assert rec.occurred_at.tzinfo is UTC
            assert rec.participants
            emails += 1
    assert sum(reasons.values()) <= ENRON_MAX_QUARANTINED, reasons
    assert set(reasons) <= {"no usable Date header"}, reasons
    assert emails >= len(files) - ENRON_MAX_QUARANTINED


def test_mailinglist_invites_all_parse(shared_data: Path) -> None:
    root = shared_data / "calendars" / "mailinglist_invites"
    files = sorted(root.glob("*.ics"))
    assert len(files) > 80
    window = Window(datetime(2000, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC))
    with_meetings = 0
    for path in files:
        recs = list(parse_calendar(path.read_bytes(), path.name, "me@example.com", window))
        meetings = [r for r in recs if isinstance(r, MeetingCopy)]
        for r in recs:
            assert isinstance(r, MeetingCopy | Quarantined)
            if isinstance(r, Quarantined):
                assert r.reason
        for m in meetings:
            assert m.occurred_at.tzinfo is UTC and m.original_start.tzinfo is UTC
            assert m.occurred_at in window
            assert m.copy_id.startswith(f"{path.name}#{m.ical_uid}#")
        with_meetings += bool(meetings)
    # Measured: all 83 yield meetings.
    assert with_meetings >= 0.95 * len(files)
