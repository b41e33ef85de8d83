"""iCalendar files (``*.ics``, read recursively): one :class:`MeetingCopy` per occurrence.

Stream ``meetings``: key (source, mailbox, copy_id) with copy_id
``f"{relpath}#{uid}#{original_start:%Y%m%dT%H%M%SZ}"``; identity of the occurrence across
calendars is (UID, original start), per rule 4.

* Recurrence: RRULE/RDATE are expanded with ``recurring_ical_events`` and EXDATE honoured; an
  occurrence belongs to the window when its (possibly moved) start lies in it.
* RECURRENCE-ID overrides: ``original_start`` is the RECURRENCE-ID, ``occurred_at`` the
  override's DTSTART. An override that names no organizer/attendees/summary (minimal CANCEL
  notices do this) takes them from its series' master.
* Cancelled: STATUS:CANCELLED on the event or on an override, or METHOD:CANCEL on the
  calendar. Cancelled occurrences are still yielded (``cancelled=True``): rule 3 says a meeting
  cancelled in any copy does not count, so the model needs to see the cancellation.
* Times: every datetime becomes aware UTC. Floating times (no TZID, no ``Z``) and all-day
  dates are taken as UTC — a file has no better zone to offer, and an all-day event is
  matched by its date. A TZID defined neither by a VTIMEZONE nor a known zone name is left
  to icalendar, which yields floating time, hence UTC too.
* Attendees: PARTSTAT → response (ACCEPTED→accepted, TENTATIVE→tentative, DECLINED→declined,
  NEEDS-ACTION or none→needs_action, DELEGATED→declined); CUTYPE=RESOURCE or ROOM →
  ``is_resource``. The organizer is role ``organizer`` with no response.

* Large files (over ``SPLIT_ABOVE``, 4 MB — a whole calendar exported at once) are parsed
  in pieces of whole series (every VEVENT of a UID together, with the calendar's properties
  and time zones), so memory stays near the file's size instead of ~30x it; a file whose
  BEGIN/END nesting is broken is quarantined as a whole.

Never raises on file content: an unreadable file, an event without UID or DTSTART, or a
series whose recurrence cannot be expanded becomes a :class:`Quarantined` with its reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import icalendar
import recurring_ical_events

from connectors.addresses import normalize_address
from connectors.files._walk import REASON_UNREADABLE, walk_files
from connectors.headers import decode_bytes
from connectors.ical_uid import canonical_uid
from connectors.records import MeetingCopy, Participant, Participants, Quarantined, Window

REASON_BAD_CALENDAR = "unreadable calendar"
REASON_NO_UID = "event without UID"
REASON_NO_DTSTART = "event without DTSTART"
REASON_BAD_RECURRENCE = "recurrence cannot be expanded"

_PARTSTAT = {
    "ACCEPTED": "accepted",
    "TENTATIVE": "tentative",
    "DECLINED": "declined",
    "NEEDS-ACTION": "needs_action",
    # A delegator handed their seat to the DELEGATED-TO attendee (listed separately, with
    # their own PARTSTAT): the delegator will not attend, so they count as declined.
    "DELEGATED": "declined",
}
_RESOURCE_CUTYPES = frozenset({"RESOURCE", "ROOM"})
_INHERITED = ("ORGANIZER", "ATTENDEE", "SUMMARY")
# recurring_ical_events selects by overlap; we select by start, so ask for a little more and
# filter exactly (this also covers floating times, which the library may place differently).
_SLACK = timedelta(days=2)


def _is_ics(_rel_dir: str, name: str) -> bool:
    return name.lower().endswith(".ics") and not name.startswith(".")


def meetings(
    mailbox_dir: Path, mailbox: str, window: Window, *, source: str = "ics"
) -> Iterator[MeetingCopy | Quarantined]:
    """Meeting occurrences from ``*.ics`` files at any depth whose start lies in ``window``."""
    for rel, path in walk_files(Path(mailbox_dir), _is_ics):
        try:
            data = path.read_bytes()
        except OSError:
            yield Quarantined(source, "ics", mailbox, rel, REASON_UNREADABLE)
            continue
        yield from parse_calendar(data, rel, mailbox, window, source=source)


def to_utc(value: date | datetime) -> datetime:
    """A DTSTART-like value → aware UTC; floating times and dates are taken as UTC."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _load(data: bytes) -> list[icalendar.Calendar]:
    try:
        return list(icalendar.Calendar.from_ical(data, multiple=True))
    except Exception:  # noqa: BLE001 - retry once with lenient decoding, below
        pass
    # Non-UTF-8 bytes (cp1252 exports): decode leniently and try again.
    return list(icalendar.Calendar.from_ical(decode_bytes(data), multiple=True))


def _dt(component: Any, name: str) -> date | datetime | None:
    prop = component.get(name)
    try:
        value = getattr(prop, "dt", None)
    except Exception:  # noqa: BLE001 - icalendar raises BrokenCalendarProperty on "INVALID-DATE"
        return None
    return value if isinstance(value, date) else None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _address(prop: Any) -> str | None:
    """mailto: value of an ATTENDEE/ORGANIZER, else its EMAIL parameter (RFC 7986)."""
    found = normalize_address(str(prop))
    if found is None:
        email = getattr(prop, "params", {}).get("EMAIL")
        if email:
            found = normalize_address(str(email))
    return found


def _name(prop: Any) -> str | None:
    cn = getattr(prop, "params", {}).get("CN")
    if not cn:
        return None
    cn = str(cn).strip().strip('"').strip()
    return cn or None


def participants(event: Any) -> tuple[tuple[Participant, ...], int]:
    """(organizer + attendees, count of unusable addresses) of one VEVENT."""
    found = Participants()
    for prop in _as_list(event.get("ORGANIZER")):
        found.add(_address(prop), _name(prop), "organizer")
    for prop in _as_list(event.get("ATTENDEE")):
        params = getattr(prop, "params", {})
        partstat = str(params.get("PARTSTAT", "NEEDS-ACTION")).upper()
        cutype = str(params.get("CUTYPE", "INDIVIDUAL")).upper()
        found.add(_address(prop), _name(prop), "attendee",
                  response=_PARTSTAT.get(partstat, "needs_action"),  # x-names: no answer yet
                  is_resource=cutype in _RESOURCE_CUTYPES)
    return tuple(found.people), found.invalid


def _expand(cal: icalendar.Calendar, start: datetime, end: datetime) -> list[Any]:
    return list(recurring_ical_events.of(cal).between(start, end))


def _sub_calendar(cal: icalendar.Calendar, events: Iterable[Any]) -> icalendar.Calendar:
    sub = icalendar.Calendar()
    for key, value in cal.items():
        sub[key] = value
    for comp in cal.subcomponents:
        if comp.name == "VTIMEZONE":
            sub.add_component(comp)
    for ev in events:
        sub.add_component(ev)
    return sub


def parse_calendar(
    data: bytes,
    locator: str,
    mailbox: str,
    window: Window,
    *,
    source: str = "ics",
    source_kind: str = "ics",
) -> Iterator[MeetingCopy | Quarantined]:
    """The occurrences in ``window`` of every event in one iCalendar file's bytes."""

    def quarantine(where: str, reason: str) -> Quarantined:
        return Quarantined(source, source_kind, mailbox, where, reason)

    seen: set[str] = set()
    # A large file (a whole calendar exported at once): icalendar holds every component of a
    # file in memory at ~30x its size, so parse it in pieces of whole series instead.
    pieces = [data] if len(data) <= SPLIT_ABOVE else _split_calendar(data)
    for piece in pieces:
        try:
            calendars = _load(piece) if piece else []
        except Exception:  # noqa: BLE001 - any parse failure is the file's fault, not the run's
            calendars = []
        if not calendars:
            yield quarantine(locator, REASON_BAD_CALENDAR)
            return
        yield from _records(calendars, seen, quarantine, locator, mailbox, window, source,
                            source_kind)


def _records(
    calendars: list[icalendar.Calendar],
    seen: set[str],
    quarantine: Callable[[str, str], Quarantined],
    locator: str,
    mailbox: str,
    window: Window,
    source: str,
    source_kind: str,
) -> Iterator[MeetingCopy | Quarantined]:
    for cal in calendars:
        cancelled_by_method = str(cal.get("METHOD", "")).strip().upper() == "CANCEL"
        good: list[Any] = []
        masters: dict[str, Any] = {}
        for i, ev in enumerate(c for c in cal.subcomponents if c.name == "VEVENT"):
            uid = str(ev.get("UID", "")).strip()
            if not uid:
                yield quarantine(f"{locator}#{i + 1}", REASON_NO_UID)
                continue
            if _dt(ev, "DTSTART") is None:
                yield quarantine(f"{locator}#{uid}", REASON_NO_DTSTART)
                continue
            good.append(ev)
            if ev.get("RECURRENCE-ID") is None:
                masters.setdefault(uid, ev)
        if not good:
            continue
        cal.subcomponents = [c for c in cal.subcomponents if c.name != "VEVENT"] + good

        lo, hi = window.start - _SLACK, window.end + _SLACK
        try:
            occurrences = _expand(cal, lo, hi)
        except Exception:  # noqa: BLE001 - find the broken series, keep the others
            occurrences = []
            by_uid: dict[str, list[Any]] = {}
            for ev in good:
                by_uid.setdefault(str(ev.get("UID")).strip(), []).append(ev)
            for uid, events in by_uid.items():
                try:
                    occurrences.extend(_expand(_sub_calendar(cal, events), lo, hi))
                except Exception:  # noqa: BLE001
                    yield quarantine(f"{locator}#{uid}", REASON_BAD_RECURRENCE)

        for occ in occurrences:
            rec = _occurrence(occ, masters, cancelled_by_method, locator, mailbox, window, source, source_kind)
            if rec is None or rec.copy_id in seen:
                continue
            seen.add(rec.copy_id)
            yield rec


# Files above this size are parsed series by series (see _split_calendar).
SPLIT_ABOVE = 4 << 20
_PIECE = 1 << 20  # bytes of events parsed at once
_MARK = re.compile(rb"^(BEGIN|END):([A-Za-z-]+)[ \t]*\r?$", re.M | re.I)
_UID = re.compile(rb"^UID[;:]([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)", re.M | re.I)


def _uid_of(event: bytes) -> bytes:
    m = _UID.search(event)
    if m is None:
        return b""
    value = re.sub(rb"\r?\n[ \t]", b"", m.group(1))
    return value.split(b":", 1)[-1].strip() if m.group(0)[3:4] == b";" else value.strip()


def _split_calendar(data: bytes) -> Iterator[bytes]:
    """Each VCALENDAR of ``data`` as pieces of about ``_PIECE`` bytes: its own properties and
    time zones plus whole series (every VEVENT of one UID — master and overrides — lands in
    the same piece, wherever it is in the file). Yields ``b""`` when the nesting is broken.
    Memory: the input, one index entry per event and one piece at a time."""
    cal_start = header_end = 0
    comp_start = 0
    zones: list[tuple[int, int]] = []
    events: dict[bytes, list[tuple[int, int]]] = {}
    stack: list[bytes] = []
    found = False
    for m in _MARK.finditer(data):
        found = True
        kind, name = m.group(1).upper(), m.group(2).upper()
        if kind == b"BEGIN":
            stack.append(name)
            if len(stack) == 1:
                # a bare VTODO/VEVENT outside a VCALENDAR holds no calendar events: skipped
                cal_start, header_end, zones, events = m.start(), 0, [], {}
            elif len(stack) == 2:
                comp_start = m.start()
                header_end = header_end or m.start()
            continue
        if not stack or stack[-1] != name:
            yield b""
            return
        stack.pop()
        end = m.end() + (1 if data[m.end():m.end() + 1] == b"\n" else 0)
        if len(stack) == 1:
            if name == b"VTIMEZONE":
                zones.append((comp_start, end))
            elif name == b"VEVENT":
                uid = _uid_of(data[comp_start:end])
                # events without a UID each go alone: they are quarantined by the parser
                events.setdefault(uid or b"\0%d" % comp_start, []).append((comp_start, end))
        elif not stack and name == b"VCALENDAR":
            head = data[cal_start:header_end or m.start()]
            head += b"".join(data[a:b] for a, b in zones)
            tail = data[m.start():end]
            piece: list[bytes] = []
            size = 0
            for spans in events.values():
                for a, b in spans:
                    piece.append(data[a:b])
                    size += b - a
                if size >= _PIECE:
                    yield head + b"".join(piece) + tail
                    piece, size = [], 0
            if piece or not events:
                yield head + b"".join(piece) + tail
    if stack or not found:
        yield b""


def _occurrence(
    occ: Any,
    masters: dict[str, Any],
    cancelled_by_method: bool,
    locator: str,
    mailbox: str,
    window: Window,
    source: str,
    source_kind: str,
) -> MeetingCopy | None:
    dtstart = _dt(occ, "DTSTART")
    if dtstart is None:
        return None
    start = to_utc(dtstart)
    if start not in window:
        return None
    uid = str(occ.get("UID")).strip()
    rid = _dt(occ, "RECURRENCE-ID")
    original = to_utc(rid) if rid is not None else start
    dtend = _dt(occ, "DTEND")
    ended = to_utc(dtend) if dtend is not None else None
    source_event = occ
    master = masters.get(uid)
    if master is not None and master is not occ and not any(occ.get(k) for k in _INHERITED[:2]):
        source_event = master  # a bare override (e.g. a CANCEL notice) keeps the series' people
    people, invalid = participants(source_event)
    summary = occ.get("SUMMARY")
    if summary is None and master is not None:
        summary = master.get("SUMMARY")
    status = str(occ.get("STATUS", "")).strip().upper()
    return MeetingCopy(
        source=source,
        source_kind=source_kind,
        mailbox=mailbox,
        copy_id=f"{locator}#{uid}#{original:%Y%m%dT%H%M%SZ}",
        ical_uid=canonical_uid(uid),  # an Exchange GOID as the other providers see it
        original_start=original,
        occurred_at=start,
        ended_at=ended,
        participants=people,
        cancelled=cancelled_by_method or status == "CANCELLED",
        subject=str(summary) if summary is not None else None,
        invalid_addresses=invalid,
    )
