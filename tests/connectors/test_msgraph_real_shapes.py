"""connectors.msgraph over real HTTP against a responder that replays the shapes Microsoft
documents and users report (issue 15), not an idealised emulator:

* calendarView/delta trims occurrences of a series to id/type/seriesMasterId/start/end
  (microsoft-graph-docs #7632, #22197; fixture graph_calendarview_delta_trimmed_occurrence);
* iCalUId is the hex Global Object Id, an external organiser's UID wrapped as vCal-Uid;
* Sent Items carry no internetMessageHeaders (#2716, #12726); Exchange keeps their
  In-Reply-To/References as the MAPI properties 0x1042/0x1039, returned through
  ``$expand=singleValueExtendedProperties`` in the documented ``{"id", "value"}`` shape, and
  refused (403) to an app holding only Mail.ReadBasic.All ("… any extended properties");
* ``$top`` on a message delta caps the whole round (#2232): page size belongs in
  ``Prefer: odata.maxpagesize``;
* ``$batch`` parts run concurrently and count against the mailbox's 4 (a batch with more
  parts gets 429 parts, with Retry-After).

The responder is a few lines of http.server in this file; sign-in goes through the Microsoft
sandbox's Entra ID emulator (real msal). Nothing of ours is replaced.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from connectors import msgraph
from connectors.api import AuthError, SyncRequest, SyncResult
from connectors.ical_uid import canonical_uid
from connectors.records import EmailCopy, MeetingCopy, Window
from connectors.retry import RetryPolicy
from sandbox import microsoft
from tests.connectors.replay import serving

REP = "rep@corp.example"
WINDOW = Window(datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 16, tzinfo=UTC))
GOOGLE_UID = "7kukuqrfedlm2f9t0vr3sqbe6p@google.com"
T0 = datetime(2026, 11, 3, 15, tzinfo=UTC)


def goid(data: bytes, instance: bytes = b"\0\0\0\0") -> str:
    return ("040000008200E00074C5B7101A82E008" + instance.hex() + "00" * 16
            + len(data).to_bytes(4, "little").hex() + data.hex()).upper()


def vcal(uid: str) -> str:
    return goid(b"vCal-Uid\x01\x00\x00\x00" + uid.encode() + b"\x00")


EXCHANGE_UID = goid(bytes(range(16)))  # organised in Exchange: an OutlookID


def when(t: datetime) -> dict[str, str]:
    return {"dateTime": t.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}


def person(address: str, response: str = "none", kind: str = "required") -> dict[str, Any]:
    return {"type": kind, "status": {"response": response, "time": "0001-01-01T00:00:00Z"},
            "emailAddress": {"name": address.split("@")[0], "address": address}}


def trimmed(event_id: str, master: str, kind: str, start: datetime) -> dict[str, Any]:
    """The shape of #22197, verbatim but for the values."""
    return {"@odata.type": "#microsoft.graph.event", "@odata.etag": 'W/"DwAAABYAAAC9"',
            "id": event_id, "seriesMasterId": master, "type": kind, "start": when(start),
            "end": when(start + timedelta(minutes=30))}


MASTERS: dict[str, dict[str, Any]] = {
    # A weekly customer meeting organised by a Google user: Exchange wraps their UID.
    "M-google": {"id": "M-google", "type": "seriesMaster", "iCalUId": vcal(GOOGLE_UID),
                 "isCancelled": False, "start": when(T0), "end": when(T0 + timedelta(hours=1)),
                 "organizer": {"emailAddress": {"name": "Ann", "address": "ann@acme.example"}},
                 "attendees": [person("ann@acme.example", "organizer"),
                               person(REP, "accepted"), person("bob@acme.example", "declined"),
                               person("room1@corp.example", "accepted", "resource")]},
    # One organised in Exchange by the rep.
    "M-exchange": {"id": "M-exchange", "type": "seriesMaster", "iCalUId": EXCHANGE_UID,
                   "isCancelled": False, "start": when(T0), "end": when(T0 + timedelta(hours=1)),
                   "organizer": {"emailAddress": {"name": "Rep", "address": REP}},
                   "attendees": [person("carol@globex.example", "tentativelyAccepted")]},
}
for _n in (1, 2):  # two more series, so that the series events fill more than one $batch
    MASTERS[f"M-x{_n}"] = {**MASTERS["M-exchange"], "id": f"M-x{_n}",
                           "iCalUId": goid(bytes([_n]) * 16)}
EXCEPTIONS: dict[str, dict[str, Any]] = {
    # The second occurrence of M-google, moved by an hour, with one attendee fewer.
    "E-moved": {"id": "E-moved", "type": "exception", "seriesMasterId": "M-google",
                "originalStart": "2026-11-10T15:00:00Z", "isCancelled": False,
                "start": when(T0 + timedelta(days=7, hours=1)),
                "organizer": MASTERS["M-google"]["organizer"],
                "attendees": [person("ann@acme.example", "organizer"), person(REP, "accepted")]},
    # The first occurrence of M-exchange, cancelled (kept in the attendee's calendar).
    "E-cancelled": {"id": "E-cancelled", "type": "exception", "seriesMasterId": "M-exchange",
                    "originalStart": "2026-11-04T15:00:00Z", "isCancelled": True,
                    "start": when(T0 + timedelta(days=1)),
                    "organizer": MASTERS["M-exchange"]["organizer"],
                    "attendees": MASTERS["M-exchange"]["attendees"]},
}
CALENDAR = [
    trimmed("O-1", "M-google", "occurrence", T0),
    trimmed("E-moved", "M-google", "exception", T0 + timedelta(days=7, hours=1)),
    trimmed("E-cancelled", "M-exchange", "exception", T0 + timedelta(days=1)),
    trimmed("O-2", "M-exchange", "occurrence", T0 + timedelta(days=8)),
    {"id": "S-1", "type": "singleInstance", "iCalUId": EXCHANGE_UID[:-2] + "FF",
     "isCancelled": False, "start": when(T0 + timedelta(days=2)),
     "end": when(T0 + timedelta(days=2, hours=1)),
     "organizer": {"emailAddress": {"name": "Rep", "address": REP}},
     "attendees": [person("dave@initech.example", "accepted")]},
    trimmed("X-1", "M-x1", "occurrence", T0 + timedelta(days=3)),
    trimmed("X-2", "M-x2", "occurrence", T0 + timedelta(days=4)),
]


def message(i: int, folder: str) -> dict[str, Any]:
    sent = folder == "sentitems"
    frm, to = (REP, "ann@acme.example") if sent else ("ann@acme.example", REP)
    at = WINDOW.start + timedelta(hours=3 * i + (1 if sent else 0))
    item: dict[str, Any] = {
        "id": f"{folder}-{i}", "internetMessageId": f"<{folder}-{i}@x.example>",
        "conversationId": f"conv-{i % 4}", "isDraft": False,
        "sentDateTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "receivedDateTime": (at + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "from": {"emailAddress": {"name": frm, "address": frm}},
        "sender": {"emailAddress": {"name": frm, "address": frm}},
        "toRecipients": [{"emailAddress": {"name": to, "address": to}}],
        "ccRecipients": [], "bccRecipients": []}
    if not sent:  # Sent Items have none (#2716, #12726)
        item["internetMessageHeaders"] = [
            {"name": "Date", "value": at.strftime("%a, %d %b %Y %H:%M:%S +0000")},
            {"name": "References", "value": f"<root-{i % 4}@acme.example>"}]
    return item


FOLDERS = {"inbox": [message(i, "inbox") for i in range(25)],
           "sentitems": [message(i, "sentitems") for i in range(5)]}
# Sent Items 1..4 are the rep's replies to Inbox 1..4: Exchange keeps their In-Reply-To and
# References as MAPI properties (sentitems-0 is no reply: it has neither).
REPLY_PROPS = {f"sentitems-{i}": [
    {"id": "String 0x1042", "value": f"<inbox-{i}@x.example>"},
    {"id": "String 0x1039", "value": f"<root-{i % 4}@acme.example> <inbox-{i}@x.example>"}]
    for i in range(1, 5)}
ACCESS_DENIED = {"error": {"code": "ErrorAccessDenied",
                           "message": "Access is denied. Check credentials and try again."}}


class Responder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.log: list[tuple[str, str, dict[str, list[str]], str]] = []
        self.mu = threading.Lock()
        self.throttled: set[str] = set()
        self.batch_sizes: list[int] = []
        self.read_basic = False  # the app holds Mail.ReadBasic.All only
        self.forbidden = False  # the mailbox is outside the app's access policy

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1.0"


class Handler(BaseHTTPRequestHandler):
    server: Responder

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        status, body = self.answer("GET", self.path, self.headers.get("Prefer", ""))
        self._send(status, body)

    def do_POST(self) -> None:
        assert self.path == "/v1.0/$batch"
        parts = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["requests"]
        self.server.batch_sizes.append(len(parts))
        out = []
        for i, part in enumerate(parts):
            prefer = (part.get("headers") or {}).get("Prefer", "")
            if i >= 4:  # Outlook: more than 4 concurrent requests per mailbox → 429 parts
                out.append({"id": part["id"], "status": 429, "headers": {"Retry-After": "0"},
                            "body": {"error": {"code": "ApplicationThrottled",
                                               "message": "MailboxConcurrency limit"}}})
                continue
            status, body = self.answer("GET", "/v1.0" + part["url"], prefer, in_batch=True)
            with self.server.mu:
                first = part["url"] not in self.server.throttled and "/events/" in part["url"]
                self.server.throttled.add(part["url"])
            if first:  # each event read is throttled once: the part must be retried
                out.append({"id": part["id"], "status": 429, "headers": {"Retry-After": "0"},
                            "body": {"error": {"code": "TooManyRequests", "message": "retry"}}})
                continue
            out.append({"id": part["id"], "status": status, "body": body,
                        "headers": {"Content-Type": "application/json"}})
        self._send(200, {"responses": out})

    def answer(self, method: str, path: str, prefer: str,
               in_batch: bool = False) -> tuple[int, Any]:
        split = urlsplit(path)
        q = {k: v[0] for k, v in parse_qs(split.query).items()}
        with self.server.mu:
            self.server.log.append((method, split.path, parse_qs(split.query), prefer))
        parts = split.path.split("/")[2:]  # after /v1.0
        if self.server.forbidden:
            return 403, ACCESS_DENIED
        size = int(prefer.split("odata.maxpagesize=")[1].split(",")[0]) if "maxpagesize" in prefer \
            else 10
        if parts[:2] == ["users", REP] and parts[2:4] == ["calendarView", "delta"]:
            return 200, self.page(CALENDAR, q, size, split.path)
        if parts[:2] == ["users", REP] and parts[2] == "events":
            event = MASTERS.get(parts[3]) or EXCEPTIONS.get(parts[3])
            if event is None:
                return 404, {"error": {"code": "ErrorItemNotFound", "message": "not found"}}
            return 200, event
        if parts[:2] == ["users", REP] and parts[2] == "mailFolders" and parts[-1] == "delta":
            items = FOLDERS[parts[3]]
            if "$expand" in q or "exp" in q:  # the round's links carry its $expand
                if self.server.read_basic:
                    return 403, ACCESS_DENIED
                items = [{**m, "singleValueExtendedProperties": REPLY_PROPS[m["id"]]}
                         if m["id"] in REPLY_PROPS else m for m in items]
                q = {**q, "exp": "1"}
            if "$top" in q or "top" in q.get("cap", ""):
                # #2232: $top caps the whole round; the round's next link carries the cap.
                cap = int(q.get("$top") or q["cap"].split(":")[1])
                items = items[:cap]
                q = {**q, "cap": f"top:{cap}"}
            return 200, self.page(items, q, size, split.path)
        return 400, {"error": {"code": "BadRequest", "message": path}}

    def page(self, items: list[dict[str, Any]], q: dict[str, str], size: int,
             path: str) -> dict[str, Any]:
        skip = int(q.get("$skiptoken", "0"))
        chunk = items[skip:skip + size]
        out: dict[str, Any] = {"value": chunk}
        base = f"{self.server.url}{path[len('/v1.0'):]}"
        extra = (f"&cap={q['cap']}" if "cap" in q else "") + ("&exp=1" if "exp" in q else "")
        if skip + size < len(items):
            out["@odata.nextLink"] = f"{base}?$skiptoken={skip + size}{extra}"
        else:
            out["@odata.deltaLink"] = f"{base}?$deltatoken=done"
        return out


@pytest.fixture()
def responder() -> Iterator[Responder]:
    with serving(Responder()) as server:
        yield server


@pytest.fixture(scope="module")
def entra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[microsoft.MicrosoftSandbox]:
    # Only its Entra ID emulator is used (real msal sign-in); Graph is the responder.
    with microsoft.start({}, secrets_dir=tmp_path_factory.mktemp("entra")) as sb:
        yield sb


def run(entra: microsoft.MicrosoftSandbox, responder: Responder, **extra: Any) -> SyncResult:
    opts = {k: v for k, v in entra.sources([])[0].items() if k not in ("kind", "name", "mailboxes")}
    opts.update(endpoint=responder.url,
                retry_policy=RetryPolicy(attempts=6, base=0.001, cap=0.01,
                                         sleep=lambda s: None), **extra)
    return msgraph.sync(SyncRequest("msgraph", "msgraph", REP, WINDOW, options=opts))


def meetings(result: SyncResult) -> dict[str, MeetingCopy]:
    return {r.copy_id: r for r in result.records if isinstance(r, MeetingCopy)}


def test_trimmed_occurrences_get_their_series_people_and_identity(
        entra: microsoft.MicrosoftSandbox, responder: Responder) -> None:
    result = run(entra, responder, streams="calendar")
    got = meetings(result)
    assert sorted(got) == ["E-cancelled", "E-moved", "O-1", "O-2", "S-1", "X-1", "X-2"]
    assert got["X-1"].ical_uid != got["X-2"].ical_uid
    # Identity: the Google organiser's UID unwrapped; the Exchange id as Exchange exports it.
    assert got["O-1"].ical_uid == got["E-moved"].ical_uid == GOOGLE_UID
    assert got["O-2"].ical_uid == got["E-cancelled"].ical_uid == canonical_uid(EXCHANGE_UID)
    # Attendees and responses from the master; rooms are not people.
    o1 = {(p.address, p.role, p.response, p.is_resource) for p in got["O-1"].participants}
    assert o1 == {("ann@acme.example", "organizer", None, False),
                  ("ann@acme.example", "attendee", "accepted", False),
                  (REP, "attendee", "accepted", False),
                  ("bob@acme.example", "attendee", "declined", False),
                  ("room1@corp.example", "attendee", "accepted", True)}
    assert got["O-1"].original_start == got["O-1"].occurred_at == T0
    # The exception: its own attendees, its original start, its new time.
    moved = got["E-moved"]
    assert {p.address for p in moved.participants if p.role == "attendee"} == {
        "ann@acme.example", REP}
    assert moved.original_start == T0 + timedelta(days=7)
    assert moved.occurred_at == T0 + timedelta(days=7, hours=1)
    # The cancelled occurrence is a cancelled copy; the other occurrence is not.
    assert got["E-cancelled"].cancelled and not got["O-2"].cancelled
    assert got["E-cancelled"].original_start == T0 + timedelta(days=1)
    assert {(p.address, p.response) for p in got["O-2"].participants if p.role == "attendee"} \
        == {("carol@globex.example", "tentative")}
    assert got["S-1"].ical_uid == canonical_uid(CALENDAR[4]["iCalUId"])


def test_series_are_read_once_in_batches_of_at_most_four(
        entra: microsoft.MicrosoftSandbox, responder: Responder) -> None:
    result = run(entra, responder, streams="calendar", page_size=2)
    assert len(meetings(result)) == 7
    reads = [p for _, p, _, _ in responder.log if "/events/" in p]
    # Four masters and the two trimmed exceptions, each read once (a throttled part is
    # answered 429 once, then read again): 6 distinct events, 12 reads.
    assert len(set(reads)) == 6 and len(reads) == 12
    assert responder.batch_sizes and max(responder.batch_sizes) <= 4
    # Request budget: the delta pages (7 events, 2 a page: 4) + one $batch per 4 series
    # events (at most one per distinct series event), and the retries of throttled parts.
    assert result.stats.requests - result.stats.retries == 4 + 2
    # The Prefer headers go with every page (they are not part of the next link).
    cal = [pr for _, p, _, pr in responder.log if p.endswith("/calendarView/delta")]
    assert len(cal) == 4 and all('outlook.timezone="UTC"' in pr for pr in cal)


def test_mail_delta_pages_through_prefer_never_top(
        entra: microsoft.MicrosoftSandbox, responder: Responder) -> None:
    result = run(entra, responder, streams="mail", page_size=10)
    emails = [r for r in result.records if isinstance(r, EmailCopy)]
    # Every message, although the responder caps a round at $top like the real service.
    assert len(emails) == 30
    deltas = [(q, pr) for _, p, q, pr in responder.log if p.endswith("/messages/delta")]
    assert deltas and all("$top" not in q for q, _ in deltas)
    assert all("odata.maxpagesize=10" in pr for _, pr in deltas)
    assert len(deltas) == 3 + 1  # inbox 25 in pages of 10, sent items 5 in one


def test_top_on_delta_would_lose_mail(entra: microsoft.MicrosoftSandbox,
                                      responder: Responder) -> None:
    """The responder reproduces #2232: what the old request ($top = page size) got."""
    status, body = Handler.answer.__get__(_handler(responder))(
        "GET", f"/v1.0/users/{REP}/mailFolders/inbox/messages/delta?$top=10", "")
    assert status == 200 and len(body["value"]) == 10 and "@odata.deltaLink" in body


def _handler(responder: Responder) -> Handler:
    h = Handler.__new__(Handler)
    h.server = responder
    return h


def emails(result: SyncResult) -> dict[str, EmailCopy]:
    return {r.copy_id: r for r in result.records if isinstance(r, EmailCopy)}


def test_sent_items_take_in_reply_to_and_references_from_mapi_properties(
        entra: microsoft.MicrosoftSandbox, responder: Responder) -> None:
    by_id = emails(run(entra, responder, streams="mail", reply_headers=True))
    sent, inbox = by_id["sentitems-1"], by_id["inbox-1"]
    assert sent.date_source == "provider"  # still no Date header: sentDateTime
    assert sent.occurred_at == WINDOW.start + timedelta(hours=4)
    # the References root, as the file path reads it from the raw message
    assert sent.thread_root == inbox.thread_root == "root-1@acme.example"
    assert by_id["sentitems-0"].thread_root is None  # no reply: no properties
    # asked for with the delta requests themselves: no request more
    firsts = [q for _, p, q, _ in responder.log if p.endswith("/messages/delta")
              and "$expand" in q]
    assert len(firsts) == 2 and all(q["$expand"] == [msgraph.REPLY_EXPAND] for q in firsts)


def test_sent_items_without_headers_keep_time_and_conversation(
        entra: microsoft.MicrosoftSandbox, responder: Responder) -> None:
    # the documented fallback: without the properties (option off, the default), a Sent Items
    # copy has no References/In-Reply-To; its conversationId is its provider thread
    by_id = emails(run(entra, responder, streams="mail"))
    sent, inbox = by_id["sentitems-1"], by_id["inbox-1"]
    assert sent.date_source == "provider" and sent.thread_root is None
    assert sent.occurred_at == WINDOW.start + timedelta(hours=4)  # sentDateTime
    assert sent.provider_thread_id == inbox.provider_thread_id == "conv-1"
    assert inbox.date_source == "header" and inbox.thread_root == "root-1@acme.example"
    assert not any("$expand" in q for _, _, q, _ in responder.log)


@pytest.mark.parametrize("folders", [["inbox", "sentitems"], ["sentitems"]])
def test_without_mail_read_the_properties_are_refused_and_mail_still_comes(
        entra: microsoft.MicrosoftSandbox, responder: Responder, folders: list[str],
        caplog: pytest.LogCaptureFixture) -> None:
    responder.read_basic = True
    with caplog.at_level("WARNING", logger="connectors.msgraph"):
        result = run(entra, responder, streams="mail", folders=folders, reply_headers=True)
    by_id = emails(result)
    assert len(by_id) == sum(len(FOLDERS[f]) for f in folders) and result.mode == "window"
    assert by_id["sentitems-1"].thread_root is None
    assert by_id["sentitems-1"].provider_thread_id == "conv-1"
    assert "needs Mail.Read" in caplog.text
    # refused once; the round read again without $expand, and not asked again in this process
    asked = [("$expand" in q) for _, p, q, _ in responder.log if p.endswith("/messages/delta")]
    assert asked[:len(folders)] == [True] * len(folders) and not any(asked[len(folders):])
    responder.log.clear()
    run(entra, responder, streams="mail", folders=folders, reply_headers=True)
    assert not any("$expand" in q for _, _, q, _ in responder.log)


def test_the_fixture_shape_is_what_the_responder_serves() -> None:
    fixture = json.loads((Path(__file__).parent / "fixtures"
                          / "graph_calendarview_delta_trimmed_occurrence.json").read_text())
    assert set(fixture["value"][0]) == set(CALENDAR[0])


def test_a_mailbox_the_app_may_not_read_still_fails_and_is_no_grant_problem(
        entra: microsoft.MicrosoftSandbox, responder: Responder) -> None:
    responder.forbidden = True
    with pytest.raises(AuthError, match="access denied"):
        run(entra, responder, streams="mail", reply_headers=True)
    # not taken for Mail.ReadBasic.All: the next mailbox still asks for the properties
    responder.forbidden = False
    responder.log.clear()
    assert emails(run(entra, responder, streams="mail",
                      reply_headers=True))["sentitems-1"].thread_root
    assert all("$expand" in q for _, p, q, _ in responder.log
               if p.endswith("/messages/delta") and "$skiptoken" not in q)
