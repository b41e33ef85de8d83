"""The Google sandbox's data: one Gmail mailbox and one primary calendar per seeded address.

Gmail resources are rendered as the Gmail v1 API returns them with the ``gmail.metadata``
scope (``Message`` with ``payload.headers`` only, never a body); calendar events as Calendar
v3 ``Event`` resources with ``singleEvents=true`` (one resource per occurrence). Field names
follow the discovery documents exactly (tests/sandbox/test_google_schema.py checks them).

Identity, chosen to be stable across sandbox restarts:

* message id = 16 hex digits of sha1(mailbox, seed key); threadId = ``X-GM-THRID`` when the
  seed carries it, else a hash of the thread root (References root, else In-Reply-To, else
  the Message-ID) — the same key Overlap's rule 6 uses, so threads agree with the file path.
* event id = base32hex of sha1(UID); an occurrence of a recurring series gets
  ``<id>_<original start YYYYMMDDTHHMMSSZ>`` and carries ``recurringEventId`` and
  ``originalStartTime``, as Google's per-instance ids do.
* A seeded calendar without ORGANIZER yields events without ``organizer`` (Google would name
  the calendar owner): the sandbox serves what the file says, so both paths agree.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.ical import Occurrence, read_calendar
from sandbox.rfc822 import header_fields, message_ids
from sandbox.seed import MailboxSeed

_B32HEX = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "abcdefghijklmnopqrstuv0123456789")
# Occurrences are materialised on demand for a query window; an event that started this long
# before timeMin and still runs is not found (multi-week events are not meetings we count).
LONGEST_EVENT = timedelta(days=7)


def _hex_id(*parts: str) -> str:
    return hashlib.sha1("\x00".join(parts).encode("utf-8")).hexdigest()[:16]


def event_base_id(uid: str) -> str:
    digest = hashlib.sha1(uid.encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii").rstrip("=").translate(_B32HEX)[:26]


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class GmailMessage:
    id: str
    thread_id: str
    label_ids: list[str]
    internal_date: datetime
    headers: list[tuple[str, str]]  # (name as written, unfolded value), in message order
    size: int
    history_id: int

    def resource(self, wanted: list[str] | None) -> dict[str, Any]:
        """``users.messages.get`` with ``format=metadata``."""
        keep = None if not wanted else {w.lower() for w in wanted}
        headers = [{"name": n, "value": v} for n, v in self.headers
                   if keep is None or n.lower() in keep]
        return {
            "id": self.id,
            "threadId": self.thread_id,
            "labelIds": list(self.label_ids),
            "historyId": str(self.history_id),
            "internalDate": str(int(self.internal_date.timestamp() * 1000)),
            "sizeEstimate": self.size,
            "payload": {"mimeType": "text/plain", "headers": headers},
        }

    def ref(self, with_labels: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "threadId": self.thread_id}
        if with_labels:
            out["labelIds"] = list(self.label_ids)
        return out


@dataclass
class CalendarEntry:
    key: str  # the .ics path inside the mailbox folder
    data: bytes
    seq: int  # change sequence when this version was stored
    created: datetime


@dataclass
class Mailbox:
    """One user's Gmail mailbox and primary calendar, with their change histories."""

    address: str
    messages: dict[str, GmailMessage] = field(default_factory=dict)
    history: list[tuple[int, str, GmailMessage]] = field(default_factory=list)  # (id, type, msg)
    history_id: int = 1000
    history_floor: int = 0  # startHistoryId below this → 404 (history no longer kept)
    calendars: dict[str, CalendarEntry] = field(default_factory=dict)
    removed_events: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    calendar_seq: int = 1
    token_floor: int = 0  # sync tokens issued before this sequence → 410

    # --- Gmail --------------------------------------------------------------------------

    def add_message(self, key: str, head: bytes, internal_date: datetime, sent: bool,
                    *, record: bool = True) -> GmailMessage:
        self.history_id += 1
        headers = header_fields(head)
        lower: dict[str, str] = {}
        for n, v in headers:
            lower.setdefault(n.lower(), v)
        thrid = lower.get("x-gm-thrid")
        root = next(iter(message_ids(lower.get("references")) + message_ids(
            lower.get("in-reply-to")) + message_ids(lower.get("message-id"))), None)
        thread = thrid.strip() if thrid else _hex_id(self.address, "thread", root or key)
        msg = GmailMessage(id=_hex_id(self.address, key), thread_id=thread,
                           label_ids=["SENT"] if sent else ["INBOX"],
                           internal_date=internal_date.astimezone(UTC), headers=headers,
                           size=len(head), history_id=self.history_id)
        self.messages[msg.id] = msg
        if record:
            self.history.append((self.history_id, "messagesAdded", msg))
        return msg

    def delete_message(self, message_id: str) -> None:
        msg = self.messages.pop(message_id)
        self.history_id += 1
        self.history.append((self.history_id, "messagesDeleted", msg))

    def sorted_messages(self) -> list[GmailMessage]:
        """Newest first by internalDate, as users.messages.list returns them."""
        return sorted(self.messages.values(), key=lambda m: (m.internal_date, m.id),
                      reverse=True)

    # --- Calendar -----------------------------------------------------------------------

    def put_calendar(self, key: str, data: bytes, now: datetime) -> None:
        """Add or replace one .ics; occurrences that disappear become cancelled changes."""
        self.calendar_seq += 1
        old = self.calendars.get(key)
        entry = CalendarEntry(key, data, self.calendar_seq, old.created if old else now)
        self.calendars[key] = entry
        if old is not None:
            horizon = (now - timedelta(days=3 * 366), now + timedelta(days=2 * 366))
            new_ids = {e["id"] for e in self.entry_events(entry, horizon, now)}
            for ev in self.entry_events(old, horizon, now):
                if ev["id"] not in new_ids:
                    gone = dict(ev, status="cancelled", updated=rfc3339_ms(now))
                    self.removed_events.append((self.calendar_seq, gone))

    def entry_events(self, entry: CalendarEntry, window: tuple[datetime, datetime],
                     now: datetime) -> list[dict[str, Any]]:
        """Event resources of one .ics whose start lies in ``window``."""
        occurrences, _ = read_calendar(entry.data, *window)
        return [self.event_resource(occ, entry, now) for occ in occurrences]

    def events(self, time_min: datetime | None, time_max: datetime | None, now: datetime,
               *, since_seq: int | None = None) -> list[dict[str, Any]]:
        """Occurrences with end > timeMin and start < timeMax (Google's semantics), sorted;
        with ``since_seq``: only those of calendars changed after that sequence, plus the
        occurrences removed since then (as cancelled)."""
        lo = time_min or now - timedelta(days=3 * 366)
        hi = time_max or now + timedelta(days=2 * 366)
        window = (lo - LONGEST_EVENT, hi)
        found: dict[str, dict[str, Any]] = {}
        for entry in sorted(self.calendars.values(), key=lambda e: e.key):
            if since_seq is not None and entry.seq <= since_seq:
                continue
            for ev in self.entry_events(entry, window, now):
                start, end = _parse_time(ev["start"]), _parse_time(ev["end"])
                if start is not None and start < lo and (end is None or end <= lo):
                    continue  # ended by timeMin (timeMin bounds the end, exclusive)
                found.setdefault(ev["id"], ev)
        if since_seq is not None:
            for seq, ev in self.removed_events:
                if seq > since_seq:
                    found.setdefault(ev["id"], ev)
        return sorted(found.values(), key=lambda e: (e["start"].get("dateTime", ""), e["id"]))

    def event_resource(self, occ: Occurrence, entry: CalendarEntry,
                       now: datetime) -> dict[str, Any]:
        base = event_base_id(occ.uid)
        recurring = occ.recurring
        ev_id = f"{base}_{occ.original_start:%Y%m%dT%H%M%SZ}" if recurring else base
        organizer = occ.organizer
        ev: dict[str, Any] = {
            "kind": "calendar#event",
            "etag": f'"{entry.seq}"',
            "id": ev_id,
            "status": "cancelled" if occ.cancelled else "confirmed",
            "htmlLink": "https://www.google.com/calendar/event?eid="
                        + base64.urlsafe_b64encode(f"{ev_id} {self.address}".encode()).decode(),
            "created": rfc3339_ms(entry.created),
            "updated": rfc3339_ms(now),
        }
        if occ.subject is not None:
            ev["summary"] = occ.subject
        if organizer is not None:
            org: dict[str, Any] = {"email": organizer.address}
            if organizer.name:
                org["displayName"] = organizer.name
            if organizer.address == self.address:
                org["self"] = True
            ev["creator"] = dict(org)
            ev["organizer"] = org
        ev["start"] = {"dateTime": rfc3339(occ.start), "timeZone": "UTC"}
        end = occ.end or occ.start
        ev["end"] = {"dateTime": rfc3339(end), "timeZone": "UTC"}
        if recurring:
            ev["recurringEventId"] = base
            ev["originalStartTime"] = {"dateTime": rfc3339(occ.original_start),
                                       "timeZone": "UTC"}
        ev["iCalUID"] = occ.uid
        ev["sequence"] = 0
        attendees = []
        for p in occ.attendees:
            a: dict[str, Any] = {"email": p.address}
            if p.name:
                a["displayName"] = p.name
            if organizer is not None and p.address == organizer.address:
                a["organizer"] = True
            if p.address == self.address:
                a["self"] = True
            if p.is_resource:
                a["resource"] = True
            a["responseStatus"] = _RESPONSE[p.response or "needs_action"]
            attendees.append(a)
        if attendees:
            ev["attendees"] = attendees
        ev["eventType"] = "default"
        return ev


_RESPONSE = {"accepted": "accepted", "tentative": "tentative", "declined": "declined",
             "needs_action": "needsAction"}


def _parse_time(value: dict[str, Any]) -> datetime | None:
    if "dateTime" in value:
        return datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00"))
    if "date" in value:
        return datetime.fromisoformat(value["date"]).replace(tzinfo=UTC)
    return None


def build_mailboxes(seeds: dict[str, MailboxSeed], now: datetime) -> dict[str, Mailbox]:
    """Mailboxes holding the seed: its messages are there before history begins."""
    out: dict[str, Mailbox] = {}
    for address, seed in seeds.items():
        box = Mailbox(address)
        for m in seed.messages:
            box.add_message(m.key, m.head, m.internal_date, m.sent, record=False)
        box.history_floor = box.history_id
        for c in seed.calendars:
            box.put_calendar(c.key, c.data, now)
        out[address] = box
    return out
