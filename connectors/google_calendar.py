"""Google Calendar (API v3, scope ``calendar.events.readonly``): one rep's primary calendar.

Stream :data:`MEETINGS` (declared below): key (source, mailbox, copy_id) with copy_id = the
event id of the occurrence (``singleEvents=true`` gives each occurrence its own id); identity
across calendars is (iCalUID through :func:`connectors.ical_uid.canonical_uid`,
originalStartTime else start), rule 4. Cursor = JSON ``{"syncToken": ..., "end": <window
end>}``; partitioned by mailbox.

Window sync: ``events.list`` with ``singleEvents=true``, ``showDeleted=true`` (a cancelled
copy must reach the model: rule 3 — cancelled in any copy does not count),
``timeMin``/``timeMax`` = the window, ``maxResults=2500``, every page. ``timeMin`` bounds the
*end*, so events that started before the window are dropped here: an occurrence belongs to
the window by its start, as with the .ics files. The ``nextSyncToken`` arrives on the last
page.

Incremental sync: ``events.list`` with the ``syncToken`` (no time bounds: the API refuses
them) returns every event changed since; those starting in the window are upserted,
changed ones now starting after it are removed (older history is left alone). Because the token says nothing about events that
already existed in the part of the new window after the old one's end, that gap
``[old end, new end)`` is listed as in a window sync. A 410 means the token expired: full
window sync, ``mode="window"``.

Trimmed cancelled events (the Event resource's ``status`` documentation): a *cancelled
exception* of a recurring event is only guaranteed ``id``, ``recurringEventId`` and
``originalStartTime`` — it becomes a cancelled copy of that occurrence, with the iCalUID (and
organizer/attendees) of its recurring event, read once per run with ``events.get`` (which
always returns an event, cancelled or not); a *deleted* event is only guaranteed ``id`` — the
copy is deleted (returned in ``removed``), as Google says clients should.

Mapping: organizer → role organizer; every attendee → role attendee with ``responseStatus``
(needsAction → needs_action); ``resource: true`` → a room, not a person; ``status:
cancelled`` → cancelled. All-day events (``date``) start at 00:00 UTC, as in the .ics path.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from connectors.addresses import normalize_address
from connectors.api import CursorExpired, Stream, SyncRequest, SyncResult, SyncStats, log_summary
from connectors.google_auth import (
    CALENDAR_SCOPE,
    Caller,
    GoogleOptions,
    QuotaPacer,
    build_service,
    delegated_credentials,
    key_info,
    pages,
)
from connectors.ical_uid import canonical_uid
from connectors.records import MeetingCopy, Participants, Record, Window

MEETINGS = Stream("meetings", "meeting", copy_id="the occurrence's event id (singleEvents)",
                  cursor='JSON {"syncToken", "end": the window end it covers}')
PAGE_SIZE = 2500  # events.list maximum
COST_LIST = 1
COST_GET = 1
# What a trimmed cancelled exception takes from its recurring event (never its id or times).
_FROM_PARENT = ("iCalUID", "organizer", "attendees", "summary")
_RESPONSES = {"accepted": "accepted", "tentative": "tentative", "declined": "declined",
              "needsAction": "needs_action"}


def _time(value: dict[str, Any] | None) -> datetime | None:
    if not value:
        return None
    if value.get("dateTime"):
        moment = datetime.fromisoformat(str(value["dateTime"]).replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    if value.get("date"):
        return datetime.fromisoformat(str(value["date"])).replace(tzinfo=UTC)
    return None


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def complete_cancelled(event: dict[str, Any], parent: dict[str, Any] | None) -> dict[str, Any]:
    """A cancelled exception trimmed to id/recurringEventId/originalStartTime, with its
    recurring event's identity and people filled in; it starts at its original start and
    lasts as long as the series' occurrences."""
    if parent is None or event.get("status") != "cancelled" or event.get("iCalUID"):
        return event
    out = {k: parent[k] for k in _FROM_PARENT if k in parent}
    out.update(event)
    original = _time(out.get("originalStartTime"))
    if not out.get("start") and original is not None:
        out["start"] = out["originalStartTime"]
        # It lasted as long as the series' occurrences do.
        first, last = _time(parent.get("start")), _time(parent.get("end"))
        if not out.get("end") and first is not None and last is not None:
            out["end"] = {"dateTime": _rfc3339(original + (last - first))}
    return out


def meeting_from_event(event: dict[str, Any], request: SyncRequest,
                       parent: dict[str, Any] | None = None) -> MeetingCopy | None:
    """One Calendar ``Event`` resource → a MeetingCopy (None when it lacks identity);
    ``parent``: the recurring event of a trimmed cancelled exception."""
    event = complete_cancelled(event, parent)
    start = _time(event.get("start"))
    uid = event.get("iCalUID")
    if start is None or not uid:
        return None
    original = _time(event.get("originalStartTime")) or start
    found = Participants()
    organizer = event.get("organizer") or {}
    if organizer.get("email"):
        found.add(normalize_address(str(organizer["email"])),
                  organizer.get("displayName") or None, "organizer")
    for attendee in event.get("attendees", []):
        found.add(normalize_address(str(attendee.get("email", ""))),
                  attendee.get("displayName") or None, "attendee",
                  response=_RESPONSES.get(str(attendee.get("responseStatus")), "needs_action"),
                  is_resource=bool(attendee.get("resource", False)))
    return MeetingCopy(
        source=request.source, source_kind=request.source_kind, mailbox=request.mailbox,
        copy_id=str(event["id"]), ical_uid=canonical_uid(str(uid)), original_start=original,
        occurred_at=start, ended_at=_time(event.get("end")), participants=tuple(found.people),
        cancelled=event.get("status") == "cancelled",
        subject=event.get("summary") if request.subjects else None,
        invalid_addresses=found.invalid)


class _Calendar:
    def __init__(self, request: SyncRequest) -> None:
        self.request = request
        self.options = GoogleOptions.from_request(request)
        self.stats = SyncStats()
        creds = delegated_credentials(key_info(request), request.mailbox, CALENDAR_SCOPE)
        self.service = build_service("calendar", "v3", creds, self.options.endpoint,
                                     self.options.timeout_seconds)
        self.pacer = QuotaPacer(self.options.quota_units_per_minute,
                                self.options.quota_window_seconds, sleep=self.options.retry.sleep)
        self.caller = Caller(self.options.retry, self.pacer, self.stats)
        self.parents: dict[str, dict[str, Any] | None] = {}  # recurring events read this run

    def _pages(self, **params: Any) -> tuple[list[dict[str, Any]], str | None]:
        """Every page of one events.list query; (items, nextSyncToken of the last page)."""
        items: list[dict[str, Any]] = []
        sync_token: str | None = None
        for page in pages(lambda token: self.caller.call(
                lambda: self.service.events().list(
                    calendarId="primary", singleEvents=True, maxResults=PAGE_SIZE,
                    pageToken=token, **params),
                COST_LIST, "events.list")):
            items.extend(page.get("items", []))
            sync_token = page.get("nextSyncToken")
        return items, sync_token

    def _parent(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """The recurring event of a trimmed cancelled exception, read once per run."""
        if event.get("status") != "cancelled" or event.get("iCalUID"):
            return None
        parent_id = event.get("recurringEventId")
        if not parent_id or not event.get("originalStartTime"):
            return None
        if parent_id not in self.parents:
            try:
                # 404/410 come back as CursorExpired here (expired=...): the series is gone.
                self.parents[parent_id] = self.caller.call(
                    lambda: self.service.events().get(calendarId="primary", eventId=parent_id),
                    COST_GET, "events.get", expired=(404, 410))
            except CursorExpired:
                self.parents[parent_id] = None  # the whole series is gone: the copy goes too
        return self.parents[parent_id]

    def _record(self, event: dict[str, Any]) -> MeetingCopy | None:
        return meeting_from_event(event, self.request, self._parent(event))

    def _window_list(self, window: Window) -> tuple[list[dict[str, Any]], str | None]:
        return self._pages(showDeleted=True, timeMin=_rfc3339(window.start),
                           timeMax=_rfc3339(window.end))

    def window_sync(self) -> SyncResult:
        window = self.request.window
        items, sync_token = self._window_list(window)
        records: list[Record] = []
        for event in items:
            rec = self._record(event)
            if rec is not None and rec.occurred_at in window:
                records.append(rec)
        return SyncResult(records, "window", _cursor(sync_token, window.end), stats=self.stats)

    def incremental_sync(self, cursor: dict[str, Any]) -> SyncResult:
        window = self.request.window
        changed, sync_token = self._pages(syncToken=cursor["syncToken"])
        by_id = {str(e["id"]): e for e in changed}
        old_end = datetime.fromisoformat(cursor["end"])
        if window.end > old_end:
            gap, _ = self._window_list(Window(max(old_end, window.start), window.end))
            by_id.update((str(e["id"]), e) for e in gap)  # the current state wins
        records: list[Record] = []
        removed: list[str] = []
        for event_id, event in sorted(by_id.items()):
            rec = self._record(event)
            if rec is None:
                removed.append(event_id)  # deleted and trimmed to its id
            elif rec.occurred_at in window:
                records.append(rec)
            elif rec.occurred_at >= window.end:
                # Moved past the window (a later window's gap listing brings it back);
                # changes to events before the window leave the stored history alone.
                removed.append(event_id)
        end = max(old_end, window.end)
        return SyncResult(records, "incremental", _cursor(sync_token, end), removed=removed,
                          stats=self.stats)


def _cursor(sync_token: str | None, end: datetime) -> str | None:
    if not sync_token:
        return None
    return json.dumps({"syncToken": sync_token, "end": end.astimezone(UTC).isoformat()},
                      separators=(",", ":"))


def _parse_cursor(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
        datetime.fromisoformat(value["end"])
    except (ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value.get("syncToken"), str) else None


def sync(request: SyncRequest) -> SyncResult:
    """One calendar, one window: incremental from ``request.cursor`` when possible."""
    calendar = _Calendar(request)
    cursor = _parse_cursor(request.cursor) if request.cursor else None
    if cursor is not None:
        try:
            return log_summary("google_calendar", request, calendar.incremental_sync(cursor),
                               calendar.pacer.waited)
        except CursorExpired:
            pass  # 410: the token expired; a full resync of the window follows
    return log_summary("google_calendar", request, calendar.window_sync(), calendar.pacer.waited)
