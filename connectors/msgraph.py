"""Microsoft 365 (Outlook mail and calendar) through Microsoft Graph v1.0, app-only.

``sync(SyncRequest) -> SyncResult`` reads one mailbox for one window (docs/microsoft.md).
Its two streams are declared below (:data:`MAIL`, :data:`CALENDAR`); one source syncs both
unless ``streams`` says otherwise.

* Mail, per folder (Inbox and Sent Items by default, option ``folders``): a window sync is the
  folder's first delta round with ``$filter=receivedDateTime ge (window start − slack)`` and
  ``$select``; the page size goes in ``Prefer: odata.maxpagesize`` — ``$top`` on a delta
  request caps the whole round, not the page (microsoft-graph-docs #2232). The same requests
  give the records and the delta token. Drafts are not interactions. The same requests ask
  for In-Reply-To/References as Exchange's MAPI properties (0x1042, 0x1039; ``$expand=
  singleValueExtendedProperties``): a Sent Items copy has no internetMessageHeaders, these it
  has. They need ``Mail.Read``; refused (403, ``Mail.ReadBasic.All``), the mailbox is read
  again without them (:class:`PropertiesRefused`).
* Calendar: ``calendarView/delta`` (window baked into the token). Occurrences of a series come
  back trimmed to id/type/seriesMasterId/start/end (microsoft-graph-docs #7632, #22197): each
  series master is read once per run (``GET /users/{m}/events/{id}?$select=…`` through
  ``$batch``), and so is an exception that came back trimmed; the occurrence takes attendees,
  organizer, cancellation and subject from them. ``ical_uid`` is the master's ``iCalUId``
  through :func:`connectors.ical_uid.canonical_uid` (an occurrence's own differs per
  occurrence), ``original_start`` the occurrence's ``originalStart`` (an unmodified occurrence
  starts at it) — the identity of the .ics path's UID + RECURRENCE-ID and of Google's copy.

Time (rule 8, :func:`connectors.headers.message_time`): an email happens at its ``Date``
header (from ``internetMessageHeaders``), else at ``sentDateTime`` (``date_source =
"provider"``) — Sent Items come without headers (microsoft-graph-docs #12726); a copy whose
time is outside the window is not returned, like the file sources. The cursor is JSON::

    {"v": 1, "start": ..., "end": ..., "mail": {folder: deltaLink}, "calendar": deltaLink,
     "calendar_window": [start, end]}

``start``/``end`` is the span of time whose data the cursor keeps current. Incremental:
each folder's delta round (new, changed, ``@removed``), plus — when the window reaches past
``end`` — a plain listing of the new part (``receivedDateTime`` between the old end and the
new one: mail received before the token was taken but after the old window). The calendar
follows its delta link when the window is unchanged; otherwise it reads the old link (for
deletions) and starts a fresh round for the new window. 410, ``syncStateNotFound`` or
``resyncRequired`` anywhere → a full window sync (``mode="window"``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.addresses import normalize_address
from connectors.api import (
    CursorExpired,
    SourceError,
    Stream,
    SyncRequest,
    SyncResult,
    SyncStats,
    log_summary,
)
from connectors.headers import bulk_reason, clean_message_id, message_time, thread_root
from connectors.ical_uid import canonical_uid
from connectors.msgraph_client import (
    DEFAULT_ENDPOINT,
    Forbidden,
    GraphClient,
    Response,
    resolve_auth,
)
from connectors.records import (
    EmailCopy,
    MeetingCopy,
    Participants,
    Quarantined,
    Record,
    Window,
)
from connectors.retry import RetryPolicy

log = logging.getLogger("connectors.msgraph")

SOURCE_KIND = "msgraph"
MAIL = Stream("messages", "email", copy_id="the immutable message id (Prefer IdType)",
              cursor="per folder: the @odata.deltaLink of its last delta round")
CALENDAR = Stream("events", "meeting", copy_id="the occurrence's event id",
                  cursor="the calendarView @odata.deltaLink (window baked in) + that window")
DEFAULT_FOLDERS = ("inbox", "sentitems")
MAX_PAGE = 1000  # Graph: $top 1..1000 for messages
# Mail whose Date is just inside the window can be received just outside it: ask the
# server for a little more by receivedDateTime and filter exactly by the Date.
DEFAULT_SLACK = timedelta(days=1)

MESSAGE_SELECT = ("id", "internetMessageId", "conversationId", "from", "sender", "toRecipients",
                  "ccRecipients", "bccRecipients", "sentDateTime", "receivedDateTime", "isDraft",
                  "internetMessageHeaders", "parentFolderId")
# What an occurrence takes from its series master or its own exception: calendarView/delta
# trims occurrences to id/type/seriesMasterId/start/end.
EVENT_SELECT = ("id", "iCalUId", "type", "seriesMasterId", "originalStart", "start", "end",
                "isCancelled", "organizer", "attendees")
# In-Reply-To and References as Exchange keeps them on every message, Sent Items included
# (PidTagInReplyToId 0x1042, PidTagInternetReferences 0x1039): a Sent Items copy has no
# internetMessageHeaders (microsoft-graph-docs #12726), these it has. Asked for with the
# mail requests themselves (no extra request); readable with Mail.Read, not with
# Mail.ReadBasic.All ("all properties except … any extended properties").
REPLY_TAGS = {0x1042: "in-reply-to", 0x1039: "references"}
REPLY_EXPAND = ("singleValueExtendedProperties($filter=id eq 'String 0x1042' or "
                "id eq 'String 0x1039')")
IMMUTABLE = 'IdType="ImmutableId"'
UTC_PREFER = 'outlook.timezone="UTC"'

# Graph attendee status.response → our response. "organizer" on an attendee entry is the
# organizer listed among the attendees: they attend.
RESPONSES = {
    "accepted": "accepted", "organizer": "accepted", "tentativelyaccepted": "tentative",
    "declined": "declined", "none": "needs_action", "notresponded": "needs_action",
}

REASON_NO_ADDRESSES = "no sender or recipients"
REASON_NO_VALID_ADDRESSES = "no valid sender or recipient address"
REASON_NO_DATE = "no usable Date header or sentDateTime"
REASON_BAD_EVENT = "event without start"


# --- options ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Options:
    endpoint: str = DEFAULT_ENDPOINT
    ca_file: str | None = None
    mail: bool = True
    calendar: bool = True
    folders: tuple[str, ...] = DEFAULT_FOLDERS
    page_size: int = MAX_PAGE
    max_concurrency: int = 16
    slack: timedelta = DEFAULT_SLACK
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = 60.0  # seconds per HTTP request
    reply_headers: bool = False  # ask for In-Reply-To/References as MAPI properties (Mail.Read)

    @classmethod
    def parse(cls, options: Mapping[str, Any]) -> Options:
        streams = options.get("streams", ("mail", "calendar"))
        if isinstance(streams, str):
            streams = [s.strip() for s in streams.replace("+", ",").split(",")]
            streams = ["mail", "calendar"] if streams == ["both"] else streams
        unknown = set(streams) - {"mail", "calendar"}
        if unknown or not streams:
            raise SourceError(f"msgraph: streams must be 'mail', 'calendar' or both, got {streams!r}")
        page = int(options.get("page_size", MAX_PAGE))
        if not 1 <= page <= MAX_PAGE:
            raise SourceError(f"msgraph: page_size must be 1..{MAX_PAGE}, got {page}")
        folders = options.get("folders", DEFAULT_FOLDERS)
        retry = options.get("retry_policy")
        if not isinstance(retry, RetryPolicy):
            # The same option names as the Google sources (connectors/retry.py).
            retry = RetryPolicy(attempts=int(options.get("retry_attempts", 8)),
                                base=float(options.get("retry_base_seconds", 0.5)),
                                cap=float(options.get("retry_cap_seconds", 60)))
        return cls(
            endpoint=str(options.get("endpoint") or DEFAULT_ENDPOINT).rstrip("/"),
            ca_file=str(options["ca_file"]) if options.get("ca_file") else None,
            mail="mail" in streams,
            calendar="calendar" in streams,
            folders=tuple(str(f) for f in folders),
            page_size=page,
            max_concurrency=int(options.get("max_concurrency", 16)),
            slack=timedelta(hours=float(options.get("window_slack_hours", 24))),
            retry=retry,
            timeout=float(options.get("timeout_seconds", 60)),
            reply_headers=_flag(options.get("reply_headers", False)),
        )


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "no", "off", "0", "")
    return bool(value)


# --- cursor ----------------------------------------------------------------------------------

@dataclass
class Cursor:
    start: datetime
    end: datetime
    mail: dict[str, str] = field(default_factory=dict)
    calendar: str | None = None
    calendar_window: tuple[datetime, datetime] | None = None

    def dumps(self) -> str:
        return json.dumps({
            "v": 1, "start": _iso(self.start), "end": _iso(self.end), "mail": self.mail,
            "calendar": self.calendar,
            "calendar_window": [_iso(t) for t in self.calendar_window] if self.calendar_window
            else None,
        }, sort_keys=True)

    @classmethod
    def loads(cls, text: str | None) -> Cursor | None:
        if not text:
            return None
        try:
            d = json.loads(text)
            if d.get("v") != 1:
                return None
            cw = d.get("calendar_window")
            return cls(_parse_iso(d["start"]), _parse_iso(d["end"]), dict(d.get("mail") or {}),
                       d.get("calendar"),
                       (_parse_iso(cw[0]), _parse_iso(cw[1])) if cw else None)
        except (ValueError, KeyError, TypeError, AttributeError):
            return None  # not ours or damaged: a full window sync rebuilds it


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


# --- entry point -----------------------------------------------------------------------------

def sync(request: SyncRequest) -> SyncResult:
    """One mailbox, one window: mail and/or calendar; incremental when the cursor allows."""
    opts = Options.parse(request.options)
    auth = resolve_auth(request.options, request.credentials)
    stats = SyncStats()
    client = GraphClient(auth, request.mailbox, endpoint=opts.endpoint, ca_file=opts.ca_file,
                         max_concurrency=opts.max_concurrency, policy=opts.retry,
                         timeout=opts.timeout, stats=stats)
    series = Series(client, request.mailbox, request.subjects)  # read once per run
    app = (opts.endpoint, client.auth.client_id)
    if app in _REFUSED:
        opts = replace(opts, reply_headers=False)
    try:
        try:
            result = _sync(client, request, opts, series)
        except PropertiesRefused as exc:
            # Read again without them; a Sent Items copy then has no In-Reply-To/References
            # (docs/microsoft.md). A mailbox the app may not read at all fails here too.
            result = _window(client, request, replace(opts, reply_headers=False), series)
            # The mailbox is readable: it was the grant (Mail.ReadBasic.All). Ask no more
            # in this process.
            _REFUSED.add(app)
            log.warning("msgraph %s: In-Reply-To/References of Sent Items not readable, the "
                        "app needs Mail.Read for Exchange's extended properties; read "
                        "without them (%s)", request.mailbox, exc)
    finally:
        client.close()
    result.stats = stats
    return log_summary("msgraph", request, result)


# (endpoint, client id) whose extended properties were refused in this process.
_REFUSED: set[tuple[str, str]] = set()


def _sync(client: GraphClient, request: SyncRequest, opts: Options, series: Series) -> SyncResult:
    cursor = Cursor.loads(request.cursor)
    if cursor is not None and _usable(cursor, request.window, opts):
        try:
            return _incremental(client, request, opts, cursor, series)
        except CursorExpired as exc:
            log.info("msgraph %s: %s; full window sync", request.mailbox, exc)
    return _window(client, request, opts, series)


def _usable(cursor: Cursor, window: Window, opts: Options) -> bool:
    if cursor.start > window.start or cursor.end > window.end:
        return False
    if opts.mail and set(cursor.mail) != set(opts.folders):
        return False
    return not (opts.calendar and not cursor.calendar)


def _window(client: GraphClient, req: SyncRequest, opts: Options, series: Series) -> SyncResult:
    w = req.window
    firsts: dict[str, First] = {}
    if opts.mail:
        for folder in opts.folders:
            url = client.url(f"/users/{_q(req.mailbox)}/mailFolders/{_q(folder)}/messages/delta")
            params = _message_params(req, opts,
                                     f"receivedDateTime ge {_iso(w.start - opts.slack)}")
            firsts[f"mail:{folder}"] = (url, params, _mail_prefer(opts))
    if opts.calendar:
        firsts["calendar"] = _calendar_first(client, req.mailbox, w, opts)
    done = _rounds(client, firsts, _expanding(firsts, opts))
    cursor = Cursor(w.start, w.end)
    records: list[Record] = []
    for folder in opts.folders if opts.mail else ():
        items, _removed, link = done[f"mail:{folder}"]
        cursor.mail[folder] = _need_link(link, req.mailbox)
        records.extend(_emails(items, req, w))
    if opts.calendar:
        items, _removed, link = done["calendar"]
        cursor.calendar, cursor.calendar_window = _need_link(link, req.mailbox), (w.start, w.end)
        records.extend(_meetings(items, req, w, series))
    return SyncResult(records=_dedupe(records), mode="window", cursor=cursor.dumps())


def _incremental(client: GraphClient, req: SyncRequest, opts: Options, cur: Cursor,
                 series: Series) -> SyncResult:
    w = req.window
    span = Window(min(cur.start, w.start), max(cur.end, w.end))
    new = Cursor(span.start, span.end)
    records: list[Record] = []
    removed: set[str] = set()
    firsts: dict[str, First] = {}
    if opts.mail:
        for folder in opts.folders:
            firsts[f"delta:{folder}"] = (cur.mail[folder], None, _mail_prefer(opts))
            if w.end > cur.end:
                # Mail received after the old window's end but before its delta token was
                # taken is in no delta round: list it.
                url = client.url(f"/users/{_q(req.mailbox)}/mailFolders/{_q(folder)}/messages")
                flt = (f"receivedDateTime ge {_iso(cur.end - opts.slack)} and "
                       f"receivedDateTime lt {_iso(w.end + opts.slack)}")
                # A plain listing (not delta): here $top is the page size.
                firsts[f"gap:{folder}"] = (url, _message_params(req, opts, flt,
                                                                top=opts.page_size),
                                           _mail_prefer(opts))
    if opts.calendar:
        assert cur.calendar is not None
        firsts["cal:old"] = (cur.calendar, None, _calendar_prefer(opts))
        if cur.calendar_window != (w.start, w.end):
            # The window is baked into the token: the old link still reports deletions, a
            # fresh round covers the new window.
            firsts["cal:new"] = _calendar_first(client, req.mailbox, w, opts)
    done = _rounds(client, firsts, _expanding(firsts, opts))
    for folder in opts.folders if opts.mail else ():
        items, gone, link = done[f"delta:{folder}"]
        new.mail[folder] = _need_link(link, req.mailbox)
        removed.update(gone)
        records.extend(_emails(items, req, span))
        if f"gap:{folder}" in done:
            records.extend(_emails(done[f"gap:{folder}"][0], req, span))
    if opts.calendar:
        items, gone, link = done["cal:old"]
        removed.update(gone)
        cal_items = list(items)
        if "cal:new" in done:
            fresh, _none, link = done["cal:new"]
            cal_items.extend(fresh)
        new.calendar, new.calendar_window = _need_link(link, req.mailbox), (w.start, w.end)
        records.extend(_meetings(cal_items, req, span, series))
    records = _dedupe(records)
    kept = {r.copy_id for r in records if not isinstance(r, Quarantined)}
    # A message moved between synced folders is removed from one and added to the other
    # under the same immutable id: it stays.
    return SyncResult(records=records, mode="incremental", cursor=new.dumps(),
                      removed=sorted(removed - kept))


def _need_link(link: str | None, mailbox: str) -> str:
    if not link:
        raise SourceError(f"msgraph {mailbox}: a delta round ended without @odata.deltaLink")
    return link


# --- pagination (written once) ---------------------------------------------------------------

Page = tuple[list[dict[str, Any]], list[str], str | None]
First = tuple[str, "Mapping[str, str] | None", list[str]]  # url, params, Prefer values


def _pages(client: GraphClient, first: First,
           body: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Every page of a collection or delta round: follow ``@odata.nextLink`` verbatim (it
    embeds $skip/$skiptoken and the original query) until a page has none; a delta round's
    last page carries ``@odata.deltaLink`` instead. ``body``: the first page, when it was
    already fetched (through ``$batch``). Query options live in the link; Prefer headers do
    not, so they go with every page."""
    url, params, prefer = first
    if body is None:
        body = client.get(url, params=params, prefer=prefer)
    yield body
    while body.get("@odata.nextLink"):
        body = client.get(str(body["@odata.nextLink"]), prefer=prefer)
        yield body


def _collect(bodies: Iterable[dict[str, Any]]) -> Page:
    """A whole round's pages → (items, removed ids, deltaLink or None)."""
    items: list[dict[str, Any]] = []
    removed: list[str] = []
    link: str | None = None
    for body in bodies:
        for item in body.get("value", []):
            if not isinstance(item, dict) or "id" not in item:
                continue
            if "@removed" in item:
                removed.append(str(item["id"]))
            else:
                items.append(item)
        link = body.get("@odata.deltaLink") or link
    return items, removed, link


class PropertiesRefused(SourceError):
    """A mail request asking for the MAPI reply properties was refused (403): the app holds
    Mail.ReadBasic.All, which excludes extended properties. :func:`sync` reads again
    without them."""


def _expanding(firsts: Mapping[str, First], opts: Options) -> frozenset[str]:
    """The rounds whose first request asks for the reply properties: every mail round (a
    delta link carries the ``$expand`` of the request that started its round)."""
    if not opts.reply_headers:
        return frozenset()
    return frozenset(n for n in firsts if n != "calendar" and not n.startswith("cal:"))


def _first_error(client: GraphClient, name: str, resp: Response,
                 expanding: frozenset[str]) -> Exception:
    err = client.error(resp.status, resp.body, resp.headers)
    if isinstance(err, Forbidden) and name in expanding:
        return PropertiesRefused(str(err))
    return err


def _rounds(client: GraphClient, firsts: dict[str, First],
            expanding: frozenset[str] = frozenset()) -> dict[str, Page]:
    """Run several rounds: their first requests share ``$batch`` requests (a window sync of
    two folders and a calendar is one round trip when everything fits a page), then each
    round follows its own next links, in parallel. A 403 to the first request of a round in
    ``expanding`` raises :class:`PropertiesRefused`."""
    if not firsts:
        return {}
    if len(firsts) == 1:
        (name, first), = firsts.items()
        url, params, prefer = first
        try:
            body = client.get(url, params=params, prefer=prefer)
        except Forbidden as exc:
            if name in expanding:
                raise PropertiesRefused(str(exc)) from None
            raise
        return {name: _collect(_pages(client, first, body))}
    names = sorted(firsts)
    answers = client.batch([(str(i), client.relative(firsts[n][0], firsts[n][1]), firsts[n][2])
                            for i, n in enumerate(names)])
    bodies: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(names):
        resp = answers[str(i)]
        if not 200 <= resp.status < 300:
            raise _first_error(client, name, resp, expanding)
        bodies[name] = resp.body
    with ThreadPoolExecutor(max_workers=min(4, len(names))) as pool:
        futures = {n: pool.submit(lambda n: _collect(_pages(client, firsts[n], bodies[n])), n)
                   for n in names}
        return {n: f.result() for n, f in futures.items()}


def _q(segment: str) -> str:
    return quote(segment, safe="@.")


def _mail_prefer(opts: Options) -> list[str]:
    return [IMMUTABLE, f"odata.maxpagesize={opts.page_size}"]


def _message_params(req: SyncRequest, opts: Options, flt: str,
                    top: int | None = None) -> dict[str, str]:
    """Query options of a mail request. A delta request never gets ``$top``: on delta it caps
    the whole round, not the page (microsoft-graph-docs #2232); ``Prefer:
    odata.maxpagesize`` (:func:`_mail_prefer`) sets the page size. ``$expand`` asks for
    In-Reply-To/References as MAPI properties (:data:`REPLY_EXPAND`); delta takes
    ``$expand`` like ``$select`` (message: delta, "OData query parameters") and keeps it in
    its links."""
    select = MESSAGE_SELECT + (("subject",) if req.subjects else ())
    params = {"$select": ",".join(select), "$filter": flt}
    if opts.reply_headers:
        params["$expand"] = REPLY_EXPAND
    if top is not None:
        params["$top"] = str(top)
    return params


def _calendar_prefer(opts: Options) -> list[str]:
    return [IMMUTABLE, UTC_PREFER, f"odata.maxpagesize={opts.page_size}"]


def _calendar_first(client: GraphClient, mailbox: str, w: Window, opts: Options) -> First:
    # calendarView/delta takes no $select/$filter; the window is baked into its token.
    url = client.url(f"/users/{_q(mailbox)}/calendarView/delta")
    return url, {"startDateTime": _iso(w.start), "endDateTime": _iso(w.end)}, _calendar_prefer(opts)


def _dedupe(records: Iterable[Record]) -> list[Record]:
    out: dict[tuple[str, str], Record] = {}
    for r in records:
        key = ("q", r.locator) if isinstance(r, Quarantined) else (r.kind, r.copy_id)
        out[key] = r
    return list(out.values())


# --- mail ------------------------------------------------------------------------------------

def _emails(items: Iterable[dict[str, Any]], req: SyncRequest, window: Window) -> Iterator[Record]:
    for item in items:
        if item.get("isDraft"):
            continue  # drafts are not interactions
        rec = email_from_graph(item, source=req.source, mailbox=req.mailbox,
                               subject_wanted=req.subjects)
        if isinstance(rec, Quarantined) or rec.occurred_at in window:
            yield rec


def _headers(item: Mapping[str, Any]) -> dict[str, list[str]]:
    """``internetMessageHeaders`` by lower-case name; In-Reply-To and References that the
    headers lack (a Sent Items copy has none) from the MAPI properties, if returned."""
    out: dict[str, list[str]] = {}
    for h in item.get("internetMessageHeaders") or ():
        if isinstance(h, dict) and h.get("name"):
            out.setdefault(str(h["name"]).strip().lower(), []).append(str(h.get("value") or ""))
    for name, value in reply_properties(item).items():
        out.setdefault(name, [value])
    return out


def reply_properties(item: Mapping[str, Any]) -> dict[str, str]:
    """``singleValueExtendedProperties`` → ``{"in-reply-to": …, "references": …}`` for the
    ones present. Graph writes the id back in its own form ("String 0x1042"; a sample shows
    "Binary 0xe0a" for an asked "Binary 0x0E0A"), so the tag is compared as a number."""
    out: dict[str, str] = {}
    for prop in item.get("singleValueExtendedProperties") or ():
        if not isinstance(prop, dict) or not prop.get("value"):
            continue
        kind, _, tag = str(prop.get("id") or "").strip().partition(" ")
        tag = tag.strip().lower()
        if kind.lower() != "string" or not tag.startswith("0x"):
            continue
        try:
            name = REPLY_TAGS.get(int(tag, 16))
        except ValueError:
            continue
        if name:
            out[name] = str(prop["value"])
    return out


def _first(headers: Mapping[str, Sequence[str]], name: str) -> str | None:
    for v in headers.get(name, ()):
        if v.strip():
            return v
    return None


def _graph_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return _parse_iso(str(value))
    except ValueError:
        return None


def email_from_graph(item: Mapping[str, Any], *, source: str, mailbox: str,
                     subject_wanted: bool = True) -> EmailCopy | Quarantined:
    """One Graph message (as selected by MESSAGE_SELECT) → an :class:`EmailCopy`.

    Participants come from from/toRecipients/ccRecipients/bccRecipients (Graph's Bcc is only
    on the sender's copy, like the Bcc header); Date, References/In-Reply-To and the bulk
    headers from ``internetMessageHeaders`` when Graph returns them. Sent Items do not return
    them (microsoft-graph-docs #12726): then the time is ``sentDateTime``, References and
    In-Reply-To come from the MAPI properties when returned (:func:`reply_properties`), the
    provider thread is ``conversationId`` and the bulk signals come from other copies of the
    same Message-ID, if any (the model takes them over every copy).
    """
    copy_id = str(item["id"])
    headers = _headers(item)
    found = Participants()
    named = 0
    for prop, role in (("from", "from"), ("toRecipients", "to"), ("ccRecipients", "cc"),
                       ("bccRecipients", "bcc")):
        # "from" and "sender" differ only for delegates; a response without a "from" key at
        # all (the docs' delta samples select only sender) still names who sent it.
        value = item.get("sender") if prop == "from" and prop not in item else item.get(prop)
        for rcpt in [value] if isinstance(value, dict) else (value or ()):
            ea = rcpt.get("emailAddress") if isinstance(rcpt, dict) else None
            if not isinstance(ea, dict) or not (ea.get("address") or ea.get("name")):
                continue
            named += 1
            found.add(normalize_address(str(ea.get("address") or "")),
                      str(ea.get("name") or "").strip() or None, role)
    if not found.people:
        reason = REASON_NO_VALID_ADDRESSES if named else REASON_NO_ADDRESSES
        return Quarantined(source, SOURCE_KIND, mailbox, copy_id, reason)
    when = message_time(_first(headers, "date"), _graph_time(item.get("sentDateTime"))
                        or _graph_time(item.get("receivedDateTime")))
    if when is None:
        return Quarantined(source, SOURCE_KIND, mailbox, copy_id, REASON_NO_DATE)
    subject = item.get("subject") if subject_wanted else None
    return EmailCopy(
        source=source,
        source_kind=SOURCE_KIND,
        mailbox=mailbox,
        copy_id=copy_id,
        message_id=clean_message_id(item.get("internetMessageId")
                                    or _first(headers, "message-id")),
        occurred_at=when[0],
        date_source=when[1],
        participants=tuple(found.people),
        thread_root=thread_root(_first(headers, "references"), _first(headers, "in-reply-to")),
        provider_thread_id=str(item["conversationId"]) if item.get("conversationId") else None,
        subject=str(subject) if subject is not None else None,
        bulk_reason=bulk_reason(headers),
        invalid_addresses=found.invalid,
    )


# --- calendar --------------------------------------------------------------------------------

# Windows zone names Graph writes when a request has no ``Prefer: outlook.timezone`` (the docs'
# samples: "Pacific Standard Time") → IANA, after CLDR's windowsZones (territory 001). Ours
# always asks for UTC; these keep a response that ignored it right for the common zones.
WINDOWS_ZONES = {
    "Pacific Standard Time": "America/Los_Angeles", "Mountain Standard Time": "America/Denver",
    "Central Standard Time": "America/Chicago", "Eastern Standard Time": "America/New_York",
    "Alaskan Standard Time": "America/Anchorage", "Hawaiian Standard Time": "Pacific/Honolulu",
    "Atlantic Standard Time": "America/Halifax", "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik", "W. Europe Standard Time": "Europe/Berlin",
    "Romance Standard Time": "Europe/Paris", "Central Europe Standard Time": "Europe/Budapest",
    "Central European Standard Time": "Europe/Warsaw", "E. Europe Standard Time": "Europe/Chisinau",
    "FLE Standard Time": "Europe/Kiev", "GTB Standard Time": "Europe/Bucharest",
    "Russian Standard Time": "Europe/Moscow", "India Standard Time": "Asia/Calcutta",
    "China Standard Time": "Asia/Shanghai", "Tokyo Standard Time": "Asia/Tokyo",
    "Singapore Standard Time": "Asia/Singapore", "AUS Eastern Standard Time": "Australia/Sydney",
    "New Zealand Standard Time": "Pacific/Auckland", "E. South America Standard Time":
    "America/Sao_Paulo", "South Africa Standard Time": "Africa/Johannesburg",
    "Arabian Standard Time": "Asia/Dubai", "Israel Standard Time": "Asia/Jerusalem",
}


def _event_time(value: Any) -> datetime | None:
    """A dateTimeTimeZone (``{"dateTime": "2017-06-19T17:00:00.0000000", "timeZone": "UTC"}``)
    → aware UTC. Graph writes seven fractional digits, which fromisoformat refuses."""
    if not isinstance(value, dict) or not value.get("dateTime"):
        return None
    text = str(value["dateTime"])
    base, _, frac = text.partition(".")
    try:
        t = datetime.fromisoformat(base)
    except ValueError:
        return None
    if frac.rstrip("0").isdigit():
        t = t.replace(microsecond=int(frac[:6].ljust(6, "0")))
    if t.tzinfo is None:
        zone = str(value.get("timeZone") or "UTC")
        zone = WINDOWS_ZONES.get(zone, zone)
        try:
            t = t.replace(tzinfo=UTC if zone.upper() in ("UTC", "Z") else ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError):
            t = t.replace(tzinfo=UTC)  # an unknown zone despite Prefer UTC: taken as UTC
    return t.astimezone(UTC)


class Series:
    """Series masters and trimmed exceptions of one run, each read once (``$batch``, at
    most 4 parts a request: Outlook's per-mailbox concurrency) and kept for the run."""

    def __init__(self, client: GraphClient, mailbox: str, subjects: bool) -> None:
        self._client = client
        self._mailbox = mailbox
        self._select = ",".join(EVENT_SELECT + (("subject",) if subjects else ()))
        self.events: dict[str, dict[str, Any] | None] = {}

    def load(self, ids: Iterable[str]) -> None:
        """Read every event of ``ids`` not read yet in this run (None when unreadable)."""
        todo = sorted(set(ids) - set(self.events))
        if not todo:
            return
        parts = [(str(i), f"/users/{_q(self._mailbox)}/events/{_q(eid)}?$select={self._select}",
                  [IMMUTABLE, UTC_PREFER]) for i, eid in enumerate(todo)]
        for pid, resp in self._client.batch(parts).items():
            eid = todo[int(pid)]
            if 200 <= resp.status < 300:
                self.events[eid] = resp.body
            else:
                # Deleted meanwhile (404): its occurrences keep what they carry themselves.
                log.warning("msgraph %s: series event not readable (status %d)",
                            self._mailbox, resp.status)
                self.events[eid] = None

    def get(self, event_id: Any) -> dict[str, Any] | None:
        return self.events.get(str(event_id)) if event_id else None


_SERIES_TYPES = ("occurrence", "exception")
# What an occurrence may take from its master: never its own times or ids.
_FROM_SERIES = ("organizer", "attendees", "isCancelled", "subject")


def _trimmed(event: Mapping[str, Any]) -> bool:
    """calendarView/delta's trimmed shape: organizer or attendees missing altogether (a whole
    event with nobody invited still has ``"attendees": []`` and an organizer)."""
    return "organizer" not in event or "attendees" not in event


def _meetings(items: list[dict[str, Any]], req: SyncRequest, window: Window,
              series: Series) -> list[Record]:
    recurring = [e for e in items if e.get("seriesMasterId") and e.get("type") in _SERIES_TYPES]
    series.load([str(e["seriesMasterId"]) for e in recurring]
                + [str(e["id"]) for e in recurring if e.get("type") == "exception" and _trimmed(e)])
    out: list[Record] = []
    for e in items:
        if e.get("type") == "seriesMaster":
            continue  # calendarView never returns masters; be safe
        rec = meeting_from_graph(e, series.get(e.get("seriesMasterId")),
                                 series.get(e["id"]) if e.get("type") == "exception" else None,
                                 source=req.source, mailbox=req.mailbox,
                                 subject_wanted=req.subjects)
        if isinstance(rec, Quarantined) or rec.occurred_at in window:
            out.append(rec)
    return out


def complete_occurrence(event: Mapping[str, Any], master: Mapping[str, Any] | None,
                        exception: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A calendarView event with what its series says filled in: an occurrence trimmed by
    delta takes organizer, attendees, cancellation and subject from its master; a trimmed
    exception takes them from the exception read by id (its own attendees), then the master.
    What the event carries itself wins; its id, times and type are always its own."""
    if not _trimmed(event) or event.get("type") not in _SERIES_TYPES:
        return dict(event)
    out: dict[str, Any] = {}
    for source in (master, exception):
        for name in _FROM_SERIES:
            if source is not None and name in source:
                out[name] = source[name]
    if exception is not None and exception.get("originalStart"):
        out["originalStart"] = exception["originalStart"]
    out.update(event)
    return out


def meeting_from_graph(event: Mapping[str, Any], master: Mapping[str, Any] | None = None,
                       exception: Mapping[str, Any] | None = None, *, source: str,
                       mailbox: str, subject_wanted: bool = True) -> MeetingCopy | Quarantined:
    """One calendarView event (occurrence, exception or single instance) → a MeetingCopy;
    ``master`` (its series master) and ``exception`` (the exception read by id) fill in what
    delta trimmed (:func:`complete_occurrence`)."""
    event = complete_occurrence(event, master, exception)
    copy_id = str(event["id"])
    start = _event_time(event.get("start"))
    if start is None:
        return Quarantined(source, SOURCE_KIND, mailbox, copy_id, REASON_BAD_EVENT)
    uid = event.get("iCalUId") or copy_id
    original = start
    if event.get("seriesMasterId") and event.get("type") in _SERIES_TYPES:
        # An occurrence's iCalUId differs per occurrence; the series' is on its master. An
        # unmodified occurrence starts at its original start.
        if master is not None and master.get("iCalUId"):
            uid = master["iCalUId"]
        original = _graph_time(event.get("originalStart")) or start
    found = Participants()
    org = (event.get("organizer") or {}).get("emailAddress") or {}
    if org.get("address"):
        found.add(normalize_address(str(org["address"])),
                  str(org.get("name") or "").strip() or None, "organizer")
    for att in event.get("attendees") or ():
        ea = att.get("emailAddress") or {}
        response = str((att.get("status") or {}).get("response") or "none").lower()
        found.add(normalize_address(str(ea.get("address") or "")),
                  str(ea.get("name") or "").strip() or None, "attendee",
                  response=RESPONSES.get(response, "needs_action"),
                  is_resource=str(att.get("type") or "").lower() == "resource")
    subject = event.get("subject") if subject_wanted else None
    return MeetingCopy(
        source=source,
        source_kind=SOURCE_KIND,
        mailbox=mailbox,
        copy_id=copy_id,
        ical_uid=canonical_uid(str(uid)),
        original_start=original,
        occurred_at=start,
        ended_at=_event_time(event.get("end")),
        participants=tuple(found.people),
        cancelled=bool(event.get("isCancelled")),
        subject=str(subject) if subject is not None else None,
        invalid_addresses=found.invalid,
    )
