"""The Google sandbox's data: one Gmail mailbox and one primary calendar per seeded address.

Gmail resources are rendered as the Gmail v1 API returns them with the ``gmail.metadata``
scope (``Message`` with ``payload.headers`` only, never a body); calendar events as Calendar
v3 ``Event`` resources with ``singleEvents=true`` (one resource per occurrence). Field names
follow the discovery documents exactly (tests/sandbox/test_google_schema.py checks them).

Identity, chosen to be stable across sandbox restarts:

* message id = 16 hex digits of sha1(mailbox, seed key) (Gmail's ids are 16 hex digits, per
  mailbox). threadId = ``X-GM-THRID`` when the seed carries it, else by Gmail's rules
  (``Fidelity.gmail_threading``; developers.google.com/gmail/api/guides/threads: a message
  joins a thread when its References/In-Reply-To name a message of the thread AND the
  subjects match, prefixes like ``Re:`` aside; otherwise it starts one, whose id is its own
  message id). Idealised: a hash of the References root (else In-Reply-To, else Message-ID),
  the key Overlap's rule 6 uses.
* Labels: INBOX or SENT from the seed; with ``Fidelity.gmail_drafts_spam_trash`` /
  ``gmail_chats`` each mailbox also holds a DRAFT reply, a SPAM and a TRASH message and a CHAT
  message, addressed to the mailbox's latest correspondent (nothing anyone exchanged: a
  connector that counts them creates interactions the file path does not have).
* event id = base32hex of sha1(UID); an occurrence of a recurring series gets
  ``<id>_<original start YYYYMMDDTHHMMSSZ>`` and carries ``recurringEventId`` and
  ``originalStartTime``, as Google's per-instance ids do.
* A seeded calendar without ORGANIZER yields events without ``organizer`` (Google would name
  the calendar owner): the sandbox serves what the file says, so both paths agree.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.fidelity import Fidelity
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

    @property
    def subject(self) -> str:
        return next((v for n, v in self.headers if n.lower() == "subject"), "")

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
    fidelity: Fidelity = field(default_factory=Fidelity.default)
    by_message_id: dict[str, GmailMessage] = field(default_factory=dict)  # for threading

    # --- Gmail --------------------------------------------------------------------------

    def add_message(self, key: str, head: bytes, internal_date: datetime, sent: bool,
                    *, record: bool = True, labels: list[str] | None = None) -> GmailMessage:
        self.history_id += 1
        headers = header_fields(head)
        lower: dict[str, str] = {}
        for n, v in headers:
            lower.setdefault(n.lower(), v)
        msg_id = _hex_id(self.address, key)
        thrid = lower.get("x-gm-thrid")
        parents = message_ids(lower.get("references")) + message_ids(lower.get("in-reply-to"))
        if thrid:
            thread = thrid.strip()
        elif self.fidelity.gmail_threading:
            thread = self._gmail_thread(parents, lower.get("subject", ""), msg_id)
        else:
            root = next(iter(parents + message_ids(lower.get("message-id"))), None)
            thread = _hex_id(self.address, "thread", root or key)
        msg = GmailMessage(id=msg_id, thread_id=thread,
                           label_ids=labels or (["SENT"] if sent else ["INBOX"]),
                           internal_date=internal_date.astimezone(UTC), headers=headers,
                           size=len(head), history_id=self.history_id)
        self.messages[msg.id] = msg
        for own in message_ids(lower.get("message-id")):
            self.by_message_id.setdefault(own, msg)
        if record:
            self.history.append((self.history_id, "messagesAdded", msg))
        return msg

    def _gmail_thread(self, parents: list[str], subject: str, own_id: str) -> str:
        """Gmail's thread for a new message: that of the nearest referenced message of this
        mailbox with the same subject (prefixes aside), else a new thread named by the
        message's own id."""
        key = subject_key(subject)
        for parent_id in reversed(parents):  # In-Reply-To last: the nearest parent first
            parent = self.by_message_id.get(parent_id)
            if parent is not None and subject_key(parent.subject) == key:
                return parent.thread_id
        return own_id

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
                    if self.fidelity.trimmed_deleted_events:
                        # a deleted event only guarantees its id (Events resource, status)
                        gone = {"kind": "calendar#event", "etag": f'"{self.calendar_seq}"',
                                "id": ev["id"], "status": "cancelled"}
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
                # a trimmed cancelled exception has no start: it stands at its original one
                start = _parse_time(ev.get("start") or ev["originalStartTime"])
                end = _parse_time(ev.get("end") or ev["originalStartTime"])
                if start is not None and start < lo and (end is None or end <= lo):
                    continue  # ended by timeMin (timeMin bounds the end, exclusive)
                found.setdefault(ev["id"], ev)
        if since_seq is not None:
            for seq, ev in self.removed_events:
                if seq > since_seq:
                    found.setdefault(ev["id"], ev)
        return sorted(found.values(), key=lambda e: (
            (e.get("start") or e.get("originalStartTime") or {}).get("dateTime", ""), e["id"]))

    def event(self, event_id: str, now: datetime) -> dict[str, Any] | None:
        """``events.get``: a recurring event (its series, with ``recurrence``) by its id, or
        one instance by its instance id; None when the calendar holds neither."""
        horizon = (now - timedelta(days=3 * 366), now + timedelta(days=2 * 366))
        for entry in sorted(self.calendars.values(), key=lambda e: e.key):
            occurrences, series = read_calendar(entry.data, *horizon)
            for uid, head in series.items():
                if event_base_id(uid) == event_id:
                    whole = Occurrence(uid, head.start, head.start, head.end, head.people,
                                       head.cancelled, head.subject, recurring=False)
                    ev = self.event_resource(whole, entry, now)
                    ev["recurrence"] = [f"RRULE:{head.rrule}"] if head.rrule else []
                    return ev
            for occ in occurrences:
                ev = self.event_resource(occ, entry, now)
                if ev["id"] == event_id:
                    return ev
        return None

    def event_resource(self, occ: Occurrence, entry: CalendarEntry,
                       now: datetime) -> dict[str, Any]:
        base = event_base_id(occ.uid)
        recurring = occ.recurring
        ev_id = f"{base}_{occ.original_start:%Y%m%dT%H%M%SZ}" if recurring else base
        if (recurring and occ.cancelled and occ.overridden
                and self.fidelity.trimmed_cancelled_exceptions):
            # "Cancelled exceptions are only guaranteed to have values for the id,
            # recurringEventId and originalStartTime fields populated" (Events resource)
            return {"kind": "calendar#event", "etag": f'"{entry.seq}"', "id": ev_id,
                    "status": "cancelled", "recurringEventId": base,
                    "originalStartTime": {"dateTime": rfc3339(occ.original_start),
                                          "timeZone": "UTC"}}
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


_SUBJECT_PREFIX = re.compile(r"^(?:\s*(?:re|fwd?|aw|wg|sv|vs|tr|rif)\s*(?:\[\d+\])?\s*:)+",
                             re.I)


def subject_key(subject: str) -> str:
    """A subject as Gmail compares it for threading: reply/forward prefixes and case off."""
    return " ".join(_SUBJECT_PREFIX.sub("", subject or "").lower().split())


def _planted(box: Mailbox) -> list[tuple[str, str, bytes, datetime]]:
    """(label, key, head, date) of the messages nobody exchanged that a real mailbox holds."""
    newest = box.sorted_messages()[:1]
    if not newest:
        return []
    last = newest[0]
    other = next((v for n, v in last.headers
                  if n.lower() == ("to" if "SENT" in last.label_ids else "from")), None)
    if not other:
        return []
    when = last.internal_date
    out = []
    labels = ((["DRAFT", "SPAM", "TRASH"] if box.fidelity.gmail_drafts_spam_trash else [])
              + (["CHAT"] if box.fidelity.gmail_chats else []))
    for n, label in enumerate(labels, 1):
        ours = label == "DRAFT"
        head = (f"From: {box.address if ours else other}\r\nTo: {other if ours else box.address}"
                f"\r\nSubject: {label.lower()} {n}\r\nDate: {when:%a, %d %b %Y %H:%M:%S +0000}"
                f"\r\nMessage-ID: <{label.lower()}.{_hex_id(box.address, label)}@sandbox.invalid>"
                "\r\n\r\n").encode()
        out.append((label, f"planted:{label}", head, when))
    return out


def build_mailboxes(seeds: dict[str, MailboxSeed], now: datetime,
                    fidelity: Fidelity | None = None) -> dict[str, Mailbox]:
    """Mailboxes holding the seed: its messages are there before history begins."""
    out: dict[str, Mailbox] = {}
    for address, seed in seeds.items():
        box = Mailbox(address, fidelity=fidelity or Fidelity.default())
        for m in seed.messages:
            box.add_message(m.key, m.head, m.internal_date, m.sent, record=False)
        for label, key, head, when in _planted(box):
            box.add_message(key, head, when, label == "DRAFT", record=False, labels=[label])
        box.history_floor = box.history_id
        for c in seed.calendars:
            box.put_calendar(c.key, c.data, now)
        out[address] = box
    return out
