"""The Microsoft sandbox's mailbox store: seed → Graph-shaped messages and events.

Messages come from :class:`~sandbox.seed.SeedMessage` header blocks (Inbox, or Sent
Items when the mailbox holder sent them); events from the seed's ``.ics`` files, expanded into
occurrences by the sandbox's own reader (:mod:`sandbox.ical`; never the connectors' parser,
so the Graph path and the file path agree only if both read iCalendar right). Every change bumps a per-store sequence number; delta tokens carry
the number they were issued at, and deletions leave tombstones, so a delta round can say what
changed since.

Graph shapes followed (checked against ../shared/data/api/msgraph by a test): recipients
``{"emailAddress": {"name", "address"}}``; ``internetMessageHeaders`` ``[{"name", "value"}]``
(never Bcc: it is not a transport header); events with ``start``/``end`` as
``{"dateTime": "...0000000", "timeZone": "UTC"}``, attendees ``{"type", "status":
{"response", "time"}, "emailAddress"}``, ``type`` singleInstance/occurrence/exception with
``seriesMasterId`` and ``originalStart``, and an ``iCalUId`` that differs per occurrence
(the series' own is on its master, which calendarView never returns). With
``Fidelity.exchange_uids`` iCalUIds are Exchange Global Object Ids (:mod:`sandbox.exchange_ids`);
with ``trimmed_occurrences`` delta serves occurrences as :meth:`Event.trimmed`.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.exchange_ids import global_object_id
from sandbox.fidelity import Fidelity
from sandbox.ical import Occurrence, Series, read_calendar
from sandbox.rfc822 import addresses, decode_words, first, header_map, message_date, message_ids
from sandbox.seed import MailboxSeed

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
    return [{"emailAddress": {"name": name or addr, "address": addr}}
            for name, addr in addresses(values)]


def _header_name(lower: str) -> str:
    return "-".join(p.capitalize() for p in lower.split("-"))


# MAPI string properties Exchange keeps on every message, Sent Items included, from the
# headers it was written with ([MS-OXCMAIL] 2.2.3.2; [MS-OXPROPS]): what the sandbox can serve
# through ``$expand=singleValueExtendedProperties($filter=id eq 'String 0x1042' …)``.
MAPI_HEADERS = {0x1042: "in-reply-to", 0x1039: "references", 0x1035: "message-id"}
_PROP_ID = re.compile(r"^\s*String\s+0x([0-9a-f]{1,4})\s*$", re.I)


def property_tag(prop_id: str) -> int | None:
    """``"String 0x1042"`` → 0x1042 (any case, leading zeros or not); None for any other form
    (named properties, other types: the sandbox holds none of them)."""
    m = _PROP_ID.match(prop_id)
    return int(m.group(1), 16) if m else None


def extended_properties(headers: dict[str, list[str]], ids: list[str]) -> list[dict[str, str]]:
    """The asked-for single-value extended properties a message has, in Graph's shape
    ``{"id": "String 0x1042", "value": …}`` (the id written back in Graph's normal form:
    lower-case hex without leading zeros, as in "Binary 0xe0a"). The value is the header's
    as written (unfolded); a property the message lacks is left out."""
    out: list[dict[str, str]] = []
    for prop_id in ids:
        tag = property_tag(prop_id)
        value = first(headers, MAPI_HEADERS[tag]) if tag in MAPI_HEADERS else None
        if value is not None:
            out.append({"id": f"String 0x{tag:x}", "value": value.strip()})
    return out


@dataclass
class Message:
    id: str
    folder: str
    received: datetime
    head: bytes
    seq: int = 0
    draft: bool = False

    def to_graph(self, mailbox: str, *, with_headers: bool = True,
                 extended: list[str] | None = None) -> dict[str, Any]:
        """The message as Graph returns it; ``extended``: the ``singleValueExtendedProperties``
        ids asked for with ``$expand`` (:func:`extended_properties`)."""
        h = header_map(self.head)
        mid = first(h, "message-id")
        sent = message_date(first(h, "date")) or self.received
        froms = _recipients(h.get("from", []))
        senders = _recipients(h.get("sender", [])) or froms
        root = next(iter(message_ids(first(h, "references")) + message_ids(
            first(h, "in-reply-to")) + message_ids(mid)), None)
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
            "subject": decode_words(first(h, "subject") or ""),
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
        if extended is not None:
            props = extended_properties(h, extended)
            if props:  # a message without any of them has no such key (learn.microsoft.com)
                out["singleValueExtendedProperties"] = props
        return out


@dataclass
class Event:
    id: str
    occ: Occurrence
    type: str  # singleInstance | occurrence | exception | seriesMaster
    master_id: str | None
    ical_uid: str  # what Graph shows on this item
    seq: int = 0

    def overlaps(self, start: datetime, end: datetime) -> bool:
        finish = self.occ.end or self.occ.start
        if finish <= self.occ.start:
            return start <= self.occ.start < end
        return self.occ.start < end and finish > start

    def trimmed(self) -> dict[str, Any]:
        """An occurrence or exception as calendarView/delta really returns it: id, type,
        seriesMasterId, start, end — no people, no iCalUId, no isCancelled (#7632, #22197)."""
        full = self.to_graph()
        keep = ("@odata.type", "@odata.etag", "id", "type", "seriesMasterId", "start", "end")
        return {k: full[k] for k in keep}

    def to_graph(self) -> dict[str, Any]:
        o = self.occ
        organizer = o.organizer
        attendees = []
        for p in o.attendees:
            attendees.append({
                "type": "resource" if p.is_resource else "required",
                "status": {"response": _RESPONSE.get(p.response or "needs_action", "none"),
                           "time": _NO_TIME},
                "emailAddress": {"name": p.name or p.address, "address": p.address},
            })
        end = o.end or o.start
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
            "start": graph_datetime(o.start),
            "end": graph_datetime(end),
            "showAs": "busy",
            "responseStatus": {"response": "none", "time": _NO_TIME},
            "organizer": {"emailAddress": {"name": organizer.name or organizer.address,
                                           "address": organizer.address}} if organizer else None,
            "attendees": attendees,
        }


def occurrence_uid(uid: str, original: datetime) -> str:
    """The idealised per-occurrence iCalUId (``exchange_uids`` off): derived from the series'
    UID and the original date, like Graph's it differs per occurrence."""
    return "040000008200E00074C5B7101A82E008" + hashlib.sha256(
        f"{uid}|{iso_z(original)}".encode()).hexdigest()[:64].upper()


def shown_uid(uid: str, fidelity: Fidelity, instance: datetime | None = None) -> str:
    """``iCalUId`` as Graph shows it for a seed UID: Exchange's Global Object Id (clean for a
    single event or master, with the instance date for an occurrence); idealised: the UID
    itself, and :func:`occurrence_uid` for an occurrence."""
    if fidelity.exchange_uids:
        return global_object_id(uid, instance)
    return uid if instance is None else occurrence_uid(uid, instance)


def master_occurrence(series: Series) -> Occurrence:
    """A series master as an item: its first start, the series' own people and summary."""
    return Occurrence(series.uid, series.start, series.start, series.end, series.people,
                      series.cancelled, series.subject, True)


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

    def __init__(self, seeds: dict[str, MailboxSeed], *,
                 calendar_range: tuple[datetime, datetime] | None = None,
                 fidelity: Fidelity | None = None) -> None:
        self.lock = threading.RLock()
        self.seq = 0
        self.fidelity = fidelity or Fidelity.default()
        self.boxes: dict[str, Mailbox] = {}
        dates = [m.internal_date for s in seeds.values() for m in s.messages]
        lo = min(dates, default=datetime.now(UTC)) - timedelta(days=400)
        hi = max(dates, default=datetime.now(UTC)) + timedelta(days=400)
        self.calendar_range = calendar_range or (lo, hi)
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
        occurrences, series = read_calendar(data, *self.calendar_range)
        added: list[str] = []
        for occ in occurrences:
            copy = f"{key}#{occ.uid}#{occ.original_start:%Y%m%dT%H%M%SZ}"
            ev_id = graph_id("AAMkAD", box.address, key, copy)
            if occ.recurring:
                master = graph_id("AAMkAD", box.address, key, occ.uid, "master")
                if master not in box.masters:
                    head = series.get(occ.uid)
                    box.masters[master] = Event(
                        master, master_occurrence(head) if head else occ, "seriesMaster", None,
                        shown_uid(occ.uid, self.fidelity), self._next())
                ev = Event(ev_id, occ, "exception" if occ.exception else "occurrence", master,
                           shown_uid(occ.uid, self.fidelity, occ.original_start), self._next())
            else:
                ev = Event(ev_id, occ, "singleInstance", None,
                           shown_uid(occ.uid, self.fidelity), self._next())
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
            h = header_map(head)
            when = received or message_date(first(h, "date")) or datetime.now(UTC)
            if folder is None:
                senders = {a.lower() for _, a in addresses(h.get("from", []))}
                folder = "sentitems" if box.address in senders else "inbox"
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
                                            ev.occ.start))

    def expire_delta_tokens(self, mailbox: str | None = None) -> None:
        with self.lock:
            for box in self.boxes.values():
                if mailbox is None or box.address == mailbox.lower():
                    box.epoch += 1
