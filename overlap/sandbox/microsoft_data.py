"""The Microsoft sandbox's mailbox store: seed → Graph-shaped messages and events.

Messages come from :class:`~overlap.sandbox.seed.SeedMessage` header blocks (Inbox, or Sent
Items when the mailbox holder sent them); events from the seed's ``.ics`` files, expanded into
occurrences by :func:`connectors.files.ics.parse_calendar` — so the Graph path and the file
path read the same data. Every change bumps a per-store sequence number; delta tokens carry
the number they were issued at, and deletions leave tombstones, so a delta round can say what
changed since.

Graph shapes followed (checked against ../shared/data/api/msgraph by a test): recipients
``{"emailAddress": {"name", "address"}}``; ``internetMessageHeaders`` ``[{"name", "value"}]``
(never Bcc: it is not a transport header); events with ``start``/``end`` as
``{"dateTime": "...0000000", "timeZone": "UTC"}``, attendees ``{"type", "status":
{"response", "time"}, "emailAddress"}``, ``type`` singleInstance/occurrence/exception with
``seriesMasterId`` and ``originalStart``, and an ``iCalUId`` that differs per occurrence
(the series' own is on its master, which calendarView never returns).
"""

from __future__ import annotations

import base64
import hashlib
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar

from connectors.files.ics import parse_calendar
from connectors.headers import clean_message_id as _clean_mid
from connectors.headers import decode_words, parse_date, read_headers, split_addresses, thread_root
from connectors.records import MeetingCopy, Window
from overlap.sandbox.seed import MailboxSeed

FOLDERS = ("inbox", "sentitems", "archive", "deleteditems", "drafts")

_RESPONSE = {"accepted": "accepted", "tentative": "tentativelyAccepted", "declined": "declined",
             "needs_action": "none"}
_NO_TIME = "0001-01-01T00:00:00Z"


def graph_id(prefix: str, *parts: str) -> str:
    """A stable, immutable-looking Graph id ("AAkALg..." for messages, "AAMkAD..." events)."""
    digest = hashlib.sha256("\0".join(parts).encode()).digest()
    return prefix + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def folder_id(mailbox: str, folder: str) -> str:
    return graph_id("AQMkAD", mailbox, "folder", folder)


def iso_z(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def graph_datetime(t: datetime) -> dict[str, str]:
    return {"dateTime": t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000"),
            "timeZone": "UTC"}


def _recipients(values: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for value in values:
        for name, addr in split_addresses(value) or ():
            out.append({"emailAddress": {"name": decode_words(name).strip() if name else addr,
                                         "address": addr}})
    return out


def _header_name(lower: str) -> str:
    return "-".join(p.capitalize() for p in lower.split("-"))


@dataclass
class Message:
    id: str
    folder: str
    received: datetime
    head: bytes
    seq: int = 0
    draft: bool = False

    def to_graph(self, mailbox: str, *, with_headers: bool = True) -> dict[str, Any]:
        h = read_headers(self.head)
        first = {k: v[0] for k, v in h.items() if v}
        mid = first.get("message-id")
        sent = parse_date(first.get("date")) or self.received
        froms = _recipients(h.get("from", []))
        senders = _recipients(h.get("sender", [])) or froms
        root = thread_root(first.get("references"), first.get("in-reply-to")) or _clean_mid(mid)
        out: dict[str, Any] = {
            "@odata.type": "#microsoft.graph.message",
            "@odata.etag": f'W/"{graph_id("CQAAAB", self.id, str(self.seq))[:28]}"',
            "id": self.id,
            "createdDateTime": iso_z(self.received),
            "lastModifiedDateTime": iso_z(self.received),
            "receivedDateTime": iso_z(self.received),
            "sentDateTime": iso_z(sent),
            "hasAttachments": False,
            "internetMessageId": mid.strip() if mid else None,
            "subject": decode_words(first.get("subject", "")),
            "importance": "normal",
            "parentFolderId": folder_id(mailbox, self.folder),
            "conversationId": graph_id("AAQkAD", mailbox.split("@")[-1], root or self.id),
            "isRead": True,
            "isDraft": self.draft,
            "from": froms[0] if froms else None,
            "sender": senders[0] if senders else None,
            "toRecipients": _recipients(h.get("to", [])),
            "ccRecipients": _recipients(h.get("cc", [])),
            "bccRecipients": _recipients(h.get("bcc", [])),
            "replyTo": _recipients(h.get("reply-to", [])),
        }
        if with_headers:
            out["internetMessageHeaders"] = [
                {"name": _header_name(k), "value": v} for k, vs in h.items() if k != "bcc"
                for v in vs]
        return out


@dataclass
class Event:
    id: str
    occ: MeetingCopy
    type: str  # singleInstance | occurrence | exception | seriesMaster
    master_id: str | None
    ical_uid: str  # what Graph shows on this item
    seq: int = 0

    def overlaps(self, start: datetime, end: datetime) -> bool:
        finish = self.occ.ended_at or self.occ.occurred_at
        if finish <= self.occ.occurred_at:
            return start <= self.occ.occurred_at < end
        return self.occ.occurred_at < end and finish > start

    def to_graph(self) -> dict[str, Any]:
        o = self.occ
        organizer = next((p for p in o.participants if p.role == "organizer"), None)
        attendees = []
        for p in o.participants:
            if p.role != "attendee":
                continue
            attendees.append({
                "type": "resource" if p.is_resource else "required",
                "status": {"response": _RESPONSE.get(p.response or "needs_action", "none"),
                           "time": _NO_TIME},
                "emailAddress": {"name": p.name or p.address, "address": p.address},
            })
        end = o.ended_at or o.occurred_at
        return {
            "@odata.type": "#microsoft.graph.event",
            "@odata.etag": f'W/"{graph_id("EZ9r3c", self.id, str(self.seq))[:28]}"',
            "id": self.id,
            "iCalUId": self.ical_uid,
            "subject": o.subject or "",
            "isAllDay": False,
            "isCancelled": o.cancelled,
            "isOrganizer": False,
            "type": self.type,
            "seriesMasterId": self.master_id,
            "originalStart": iso_z(o.original_start) if self.master_id else None,
            "originalStartTimeZone": "UTC",
            "originalEndTimeZone": "UTC",
            "start": graph_datetime(o.occurred_at),
            "end": graph_datetime(end),
            "showAs": "busy",
            "responseStatus": {"response": "none", "time": _NO_TIME},
            "organizer": {"emailAddress": {"name": organizer.name or organizer.address,
                                           "address": organizer.address}} if organizer else None,
            "attendees": attendees,
        }


def occurrence_uid(uid: str, original: datetime) -> str:
    """Graph's per-occurrence iCalUId: derived from the series' and the original date."""
    return "040000008200E00074C5B7101A82E008" + hashlib.sha256(
        f"{uid}|{iso_z(original)}".encode()).hexdigest()[:64].upper()


def _series_uids(data: bytes) -> set[str]:
    """UIDs of recurring series in one .ics (RRULE/RDATE, or overrides by RECURRENCE-ID)."""
    try:
        cals = icalendar.Calendar.from_ical(data, multiple=True)
    except Exception:  # noqa: BLE001 - an unreadable file has no series
        return set()
    out: set[str] = set()
    for cal in cals:
        for ev in cal.walk("VEVENT"):
            if ev.get("RRULE") or ev.get("RDATE") or ev.get("RECURRENCE-ID"):
                out.add(str(ev.get("UID", "")).strip())
    return out


@dataclass
class Tombstone:
    seq: int
    kind: str  # mail | event
    folder: str | None
    id: str
    start: datetime | None = None


@dataclass
class Mailbox:
    address: str
    messages: dict[str, Message] = field(default_factory=dict)
    events: dict[str, Event] = field(default_factory=dict)  # occurrences and single instances
    masters: dict[str, Event] = field(default_factory=dict)
    tombstones: list[Tombstone] = field(default_factory=list)
    epoch: int = 0  # delta tokens issued before the last expiry are refused


class Store:
    """All mailboxes; every method takes the lock (the server is threaded)."""

    def __init__(self, seeds: dict[str, MailboxSeed], *, calendar_range: Window | None = None,
                 sent_headers: bool = True) -> None:
        self.lock = threading.RLock()
        self.seq = 0
        self.sent_headers = sent_headers
        self.boxes: dict[str, Mailbox] = {}
        dates = [m.internal_date for s in seeds.values() for m in s.messages]
        lo = min(dates, default=datetime.now(UTC)) - timedelta(days=400)
        hi = max(dates, default=datetime.now(UTC)) + timedelta(days=400)
        self.calendar_range = calendar_range or Window(lo, hi)
        for address, seed in seeds.items():
            box = self.boxes[address.lower()] = Mailbox(address.lower())
            for m in seed.messages:
                mid = graph_id("AAkALg", address, m.key)
                box.messages[mid] = Message(mid, "sentitems" if m.sent else "inbox",
                                            m.internal_date, m.head, self._next())
            for cal in seed.calendars:
                self._add_calendar(box, cal.key, cal.data)

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def _add_calendar(self, box: Mailbox, key: str, data: bytes) -> list[str]:
        series = _series_uids(data)
        added: list[str] = []
        for rec in parse_calendar(data, key, box.address, self.calendar_range, source="sandbox"):
            if not isinstance(rec, MeetingCopy):
                continue
            if rec.ical_uid in series:
                master = graph_id("AAMkAD", box.address, key, rec.ical_uid, "master")
                if master not in box.masters:
                    box.masters[master] = Event(master, rec, "seriesMaster", None, rec.ical_uid,
                                                self._next())
                moved = rec.original_start != rec.occurred_at
                ev = Event(graph_id("AAMkAD", box.address, key, rec.copy_id), rec,
                           "exception" if moved else "occurrence", master,
                           occurrence_uid(rec.ical_uid, rec.original_start), self._next())
            else:
                ev = Event(graph_id("AAMkAD", box.address, key, rec.copy_id), rec,
                           "singleInstance", None, rec.ical_uid, self._next())
            box.events[ev.id] = ev
            added.append(ev.id)
        return added

    # --- mutations for tests ----------------------------------------------------------------

    def box(self, mailbox: str) -> Mailbox:
        return self.boxes[mailbox.lower()]

    def add_message(self, mailbox: str, head: bytes, *, folder: str | None = None,
                    received: datetime | None = None, draft: bool = False) -> str:
        with self.lock:
            box = self.box(mailbox)
            h = read_headers(head, ("date", "from", "message-id"))
            when = received or parse_date((h.get("date") or [""])[0]) or datetime.now(UTC)
            if folder is None:
                folder = "sentitems" if box.address in " ".join(h.get("from", [])).lower() else "inbox"
            mid = graph_id("AAkALg", mailbox, "added", str(self.seq), head.decode("utf-8", "replace"))
            box.messages[mid] = Message(mid, folder, when.astimezone(UTC), head, self._next(), draft)
            return mid

    def delete_message(self, mailbox: str, message_id: str) -> None:
        with self.lock:
            box = self.box(mailbox)
            msg = box.messages.pop(message_id)
            box.tombstones.append(Tombstone(self._next(), "mail", msg.folder, message_id))

    def move_message(self, mailbox: str, message_id: str, folder: str) -> None:
        """Move keeps the immutable id; the old folder's delta reports it removed."""
        with self.lock:
            box = self.box(mailbox)
            msg = box.messages[message_id]
            box.tombstones.append(Tombstone(self._next(), "mail", msg.folder, message_id))
            msg.folder = folder
            msg.seq = self._next()

    def add_calendar(self, mailbox: str, ics: bytes, key: str = "added.ics") -> list[str]:
        with self.lock:
            return self._add_calendar(self.box(mailbox), key, ics)

    def delete_event(self, mailbox: str, event_id: str) -> None:
        with self.lock:
            box = self.box(mailbox)
            ev = box.events.pop(event_id)
            box.tombstones.append(Tombstone(self._next(), "event", None, event_id,
                                            ev.occ.occurred_at))

    def expire_delta_tokens(self, mailbox: str | None = None) -> None:
        with self.lock:
            for box in self.boxes.values():
                if mailbox is None or box.address == mailbox.lower():
                    box.epoch += 1
