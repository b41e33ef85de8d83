"""The sandbox's own reading of ``.ics`` seed files (``icalendar`` + ``recurring_ical_events``).

Like :mod:`sandbox.rfc822`, this is deliberately not the connectors' parser: a calendar
server expands a series with its own code, and the file path and the API paths must agree
because both read the same iCalendar semantics, not because they share a function.

What a calendar server makes of a file, as the sandboxes serve it:

* every VEVENT with a UID and a DTSTART; RRULE/RDATE expanded, EXDATE honoured;
* a RECURRENCE-ID override replaces its occurrence (``original_start`` = RECURRENCE-ID); an
  override naming no organizer or attendees (a bare CANCEL notice) keeps the series' people,
  one without SUMMARY the series' summary;
* cancelled: STATUS:CANCELLED on the event or override, or METHOD:CANCEL on the calendar;
* times in UTC; floating times and all-day dates taken as UTC (the seed has no better zone);
* attendees: PARTSTAT (DELEGATED counts as declined: the seat went to someone else),
  CUTYPE=ROOM/RESOURCE marks a room; the organizer has no response.

A file the library cannot read, or a series it cannot expand, is skipped: a real server would
have refused it on import, so it is simply not in the mailbox.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import icalendar
import recurring_ical_events

_PARTSTAT = {"ACCEPTED": "accepted", "TENTATIVE": "tentative", "DECLINED": "declined",
             "NEEDS-ACTION": "needs_action", "DELEGATED": "declined"}
_ROOMS = frozenset({"ROOM", "RESOURCE"})
_SLACK = timedelta(days=2)  # the library selects by overlap; we select by start


@dataclass(frozen=True)
class Person:
    address: str
    name: str | None
    role: str  # organizer | attendee
    response: str | None = None  # accepted | tentative | declined | needs_action
    is_resource: bool = False


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of one event of a seed calendar (a single event is its own)."""

    uid: str
    original_start: datetime
    start: datetime
    end: datetime | None
    people: tuple[Person, ...]
    cancelled: bool
    subject: str | None
    recurring: bool  # part of a series (RRULE/RDATE or overridden by RECURRENCE-ID)
    overridden: bool = False  # a RECURRENCE-ID override of the series (an "exception")

    @property
    def organizer(self) -> Person | None:
        return next((p for p in self.people if p.role == "organizer"), None)

    @property
    def attendees(self) -> list[Person]:
        return [p for p in self.people if p.role == "attendee"]

    @property
    def exception(self) -> bool:
        """Overridden or moved: Exchange's ``exception``, not a plain ``occurrence``."""
        return self.overridden or self.start != self.original_start


@dataclass(frozen=True)
class Series:
    """A recurring series' master as a server stores it (its first start, its people)."""

    uid: str
    start: datetime
    end: datetime | None
    people: tuple[Person, ...]
    subject: str | None
    cancelled: bool
    rrule: str | None  # the RRULE as written, for the recurrence pattern


def utc(value: date | datetime) -> datetime:
    """A DTSTART-like value → aware UTC; floating times and dates are taken as UTC."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _calendars(data: bytes) -> list[Any]:
    for text in (data, data.decode("latin-1")):
        try:
            return list(icalendar.Calendar.from_ical(text, multiple=True))
        except Exception:  # noqa: BLE001, S112 - try the lenient decoding, then give up
            continue
    return []


def _when(component: Any, name: str) -> date | datetime | None:
    try:
        value = getattr(component.get(name), "dt", None)
    except Exception:  # noqa: BLE001 - icalendar raises on "INVALID-DATE"
        return None
    return value if isinstance(value, date) else None


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _address(prop: Any) -> str | None:
    text = str(prop).strip()
    if text.lower().startswith("mailto:"):
        text = text[7:].strip()
    if "@" not in text:
        text = str(getattr(prop, "params", {}).get("EMAIL", "")).strip()
    return text.lower() if "@" in text else None


def _name(prop: Any) -> str | None:
    cn = str(getattr(prop, "params", {}).get("CN", "")).strip().strip('"').strip()
    return cn or None


def people(event: Any) -> tuple[Person, ...]:
    """Organizer and attendees of one VEVENT, once per (address, role)."""
    out: dict[tuple[str, str], Person] = {}
    for prop in _listed(event.get("ORGANIZER")):
        address = _address(prop)
        if address:
            out.setdefault((address, "organizer"), Person(address, _name(prop), "organizer"))
    for prop in _listed(event.get("ATTENDEE")):
        address = _address(prop)
        if not address:
            continue
        params = getattr(prop, "params", {})
        partstat = str(params.get("PARTSTAT", "NEEDS-ACTION")).upper()
        room = str(params.get("CUTYPE", "INDIVIDUAL")).upper() in _ROOMS
        out.setdefault((address, "attendee"), Person(
            address, _name(prop), "attendee", _PARTSTAT.get(partstat, "needs_action"), room))
    return tuple(out.values())


def _events(cal: Any) -> list[Any]:
    return [c for c in cal.subcomponents if c.name == "VEVENT"
            and str(c.get("UID", "")).strip() and _when(c, "DTSTART") is not None]


def read_calendar(data: bytes, start: datetime,
                  end: datetime) -> tuple[list[Occurrence], dict[str, Series]]:
    """Occurrences of one seed file starting in ``[start, end)``, sorted, and its series."""
    found: dict[tuple[str, datetime], Occurrence] = {}
    series: dict[str, Series] = {}
    for cal in _calendars(data):
        by_method = str(cal.get("METHOD", "")).strip().upper() == "CANCEL"
        events = _events(cal)
        cal.subcomponents = [c for c in cal.subcomponents if c.name != "VEVENT"] + events
        masters = {str(e["UID"]).strip(): e for e in events if e.get("RECURRENCE-ID") is None}
        recurring = {str(e["UID"]).strip() for e in events
                     if any(e.get(k) is not None for k in ("RRULE", "RDATE", "RECURRENCE-ID"))}
        overrides = {(str(e["UID"]).strip(), utc(rid)) for e in events
                     if (rid := _when(e, "RECURRENCE-ID")) is not None}
        for uid in recurring & masters.keys():
            series[uid] = _series(masters[uid], by_method)
        for uid in {str(e["UID"]).strip() for e in events}:
            one = _only(cal, [e for e in events if str(e["UID"]).strip() == uid])
            try:
                expanded = list(recurring_ical_events.of(one).between(start - _SLACK, end + _SLACK))
            except Exception:  # noqa: BLE001, S112 - a series no server would have stored
                continue
            for occ in expanded:
                made = _occurrence(occ, masters.get(uid), by_method, uid in recurring)
                if made is not None and start <= made.start < end:
                    if (uid, made.original_start) in overrides:
                        made = replace(made, overridden=True)
                    found.setdefault((uid, made.original_start), made)
    ordered = sorted(found.values(), key=lambda o: (o.start, o.uid, o.original_start))
    return ordered, series


def _only(cal: Any, events: list[Any]) -> Any:
    sub = icalendar.Calendar()
    for key, value in cal.items():
        sub[key] = value
    for comp in cal.subcomponents:
        if comp.name == "VTIMEZONE":
            sub.add_component(comp)
    for ev in events:
        sub.add_component(ev)
    return sub


def _series(master: Any, by_method: bool) -> Series:
    dtstart = _when(master, "DTSTART")
    assert dtstart is not None  # _events keeps only events with one
    dtend = _when(master, "DTEND")
    summary = master.get("SUMMARY")
    rrule = master.get("RRULE")
    return Series(
        uid=str(master["UID"]).strip(), start=utc(dtstart), end=utc(dtend) if dtend else None,
        people=people(master), subject=str(summary) if summary is not None else None,
        cancelled=by_method or str(master.get("STATUS", "")).strip().upper() == "CANCELLED",
        rrule=rrule.to_ical().decode() if rrule is not None else None)


def _occurrence(occ: Any, master: Any, by_method: bool, recurring: bool) -> Occurrence | None:
    dtstart = _when(occ, "DTSTART")
    if dtstart is None:
        return None
    start = utc(dtstart)
    rid = _when(occ, "RECURRENCE-ID")
    dtend = _when(occ, "DTEND")
    holder = occ
    if master is not None and not (occ.get("ORGANIZER") or occ.get("ATTENDEE")):
        holder = master  # a bare override (a CANCEL notice) keeps the series' people
    summary = occ.get("SUMMARY")
    if summary is None and master is not None:
        summary = master.get("SUMMARY")
    return Occurrence(
        uid=str(occ.get("UID")).strip(), original_start=utc(rid) if rid is not None else start,
        start=start, end=utc(dtend) if dtend is not None else None, people=people(holder),
        cancelled=by_method or str(occ.get("STATUS", "")).strip().upper() == "CANCELLED",
        subject=str(summary) if summary is not None else None, recurring=recurring)
