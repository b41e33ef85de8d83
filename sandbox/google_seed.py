"""Small hand-made seeds for the Google sandbox (tests, benchmarks): n messages between a rep
and a customer, spread evenly over a time range, and one-event calendars."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import format_datetime

from sandbox.seed import MailboxSeed, SeedCalendar, SeedMessage


def message_head(n: int, mailbox: str, when: datetime, *, to: str = "buyer@acme.example",
                 extra: str = "") -> bytes:
    """The header block of message ``n`` from ``mailbox`` to ``to``."""
    return (f"From: Rep <{mailbox}>\r\nTo: {to}\r\nDate: {format_datetime(when)}\r\n"
            f"Message-ID: <m{n}.{mailbox}>\r\nSubject: note {n}\r\n{extra}\r\n").encode()


def mail_seed(mailbox: str, n: int, start: datetime, end: datetime) -> MailboxSeed:
    """``n`` sent messages with Date (and internalDate) spread over ``[start, end)``."""
    step = (end - start) / max(n, 1)
    seed = MailboxSeed(mailbox)
    for i in range(n):
        when = start + step * i
        seed.messages.append(SeedMessage(f"gen:{i}", message_head(i, mailbox, when), when, True))
    return seed


def event_ics(uid: str, organizer: str, attendees: list[tuple[str, str]], start: datetime,
              *, minutes: int = 30, status: str = "CONFIRMED", rrule: str | None = None) -> bytes:
    """A one-VEVENT calendar; ``attendees`` are (address, PARTSTAT)."""
    fmt = "%Y%m%dT%H%M%SZ"
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//overlap//sandbox//EN", "BEGIN:VEVENT",
             f"UID:{uid}", f"DTSTAMP:{start:{fmt}}", f"DTSTART:{start:{fmt}}",
             f"DTEND:{start + timedelta(minutes=minutes):{fmt}}", f"STATUS:{status}",
             f"SUMMARY:meeting {uid}", f"ORGANIZER:mailto:{organizer}"]
    if rrule:
        lines.append(f"RRULE:{rrule}")
    lines += [f"ATTENDEE;PARTSTAT={p}:mailto:{a}" for a, p in attendees]
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines).encode()


def calendar_seed(seed: MailboxSeed, key: str, data: bytes) -> MailboxSeed:
    seed.calendars.append(SeedCalendar(key, data))
    return seed
