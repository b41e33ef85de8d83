"""Gmail and Google Calendar connectors over real HTTP against a responder that replays what
Google documents (issue 15), with the real google-api-python-client:

* Gmail lists drafts and Chat messages among messages (labels DRAFT, CHAT): they are not
  exchanged mail and must be skipped; batches carry at most 50 calls (Google's advice);
* Calendar returns a cancelled exception of a recurring event trimmed to id,
  recurringEventId and originalStartTime, and a deleted event trimmed to its id
  (Event.status in the discovery document; fixture calendar_trimmed_cancelled.json).

Sign-in goes through the Google sandbox's token endpoint (service-account JWT, real
google-auth); the API answers come from the few lines of http.server below.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.parser import BytesFeedParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from connectors import gmail, google_calendar
from connectors.api import SyncRequest
from connectors.records import EmailCopy, MeetingCopy, Window
from sandbox import google
from sandbox.seed import MailboxSeed
from tests.connectors.replay import serving

REP = "rep@corp.example"
WINDOW = Window(datetime(2018, 4, 1, tzinfo=UTC), datetime(2018, 4, 15, tzinfo=UTC))
FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "calendar_trimmed_cancelled.json")
                     .read_text(encoding="utf-8"))
PARENT = FIXTURE["parent"]


def gmail_message(i: int) -> dict[str, Any]:
    at = WINDOW.start + timedelta(hours=2 * i)
    labels = ["CHAT"] if i % 20 == 3 else ["DRAFT"] if i % 20 == 7 else ["INBOX"]
    return {"id": f"{i:016x}", "threadId": f"{i - i % 3:016x}", "labelIds": labels,
            "historyId": str(1000 + i), "internalDate": str(int(at.timestamp() * 1000)),
            "payload": {"mimeType": "text/plain", "headers": [
                {"name": "From", "value": "Ann <ann@acme.example>"},
                {"name": "To", "value": REP},
                {"name": "Date", "value": at.strftime("%a, %d %b %Y %H:%M:%S +0000")},
                {"name": "Message-ID", "value": f"<m{i}@acme.example>"}]}}


MESSAGES = [gmail_message(i) for i in range(140)]  # newest last; listed newest first
INSTANCE = {**PARENT, "id": f"{PARENT['id']}_20180401T083000Z",
            "recurringEventId": PARENT["id"], "originalStartTime": PARENT["start"]}
INSTANCE.pop("recurrence")


class Responder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.batch_sizes: list[int] = []
        self.paths: list[str] = []
        self.synced = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: Responder

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        status, body = self.api(self.path)
        self._send(status, json.dumps(body).encode())

    def do_POST(self) -> None:
        assert self.path == "/batch/gmail/v1", self.path
        parser = BytesFeedParser()
        parser.feed(f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
                    + self.rfile.read(int(self.headers["Content-Length"])))
        parts = parser.close().get_payload()
        assert isinstance(parts, list)
        self.server.batch_sizes.append(len(parts))
        out = []
        for part in parts:
            target = str(part.get_payload()).split(" ", 2)[1]
            status, body = self.api(target)
            cid = str(part["Content-ID"]).strip("<>")
            out.append("\r\n".join(["--b", "Content-Type: application/http",
                                    f"Content-ID: <response-{cid}>", "",
                                    f"HTTP/1.1 {status} OK", "Content-Type: application/json",
                                    "", json.dumps(body), ""]))
        self._send(200, ("".join(out) + "--b--\r\n").encode(), "multipart/mixed; boundary=b")

    def api(self, target: str) -> tuple[int, Any]:
        split = urlsplit(target)
        q = {k: v[0] for k, v in parse_qs(split.query).items()}
        self.server.paths.append(split.path)
        path = split.path
        if path == "/gmail/v1/users/me/profile":
            return 200, {"emailAddress": REP, "messagesTotal": len(MESSAGES), "historyId": "2000"}
        if path == "/gmail/v1/users/me/messages":
            newest = list(reversed(MESSAGES))
            start = int(q.get("pageToken", "0"))
            size = int(q.get("maxResults", "100"))
            page: dict[str, Any] = {"messages": [{"id": m["id"], "threadId": m["threadId"]}
                                                 for m in newest[start:start + size]],
                                    "resultSizeEstimate": len(newest)}
            if start + size < len(newest):
                page["nextPageToken"] = str(start + size)
            return 200, page
        if path.startswith("/gmail/v1/users/me/messages/"):
            mid = path.rsplit("/", 1)[1]
            found = [m for m in MESSAGES if m["id"] == mid]
            return (200, found[0]) if found else (404, {"error": {"code": 404}})
        if path == "/calendar/v3/calendars/primary/events":
            if "syncToken" in q:
                self.server.synced = True
                return 200, {"kind": "calendar#events", "nextSyncToken": "t2", "items": [
                    {"kind": "calendar#event", "id": f"{PARENT['id']}_20180401T083000Z",
                     "status": "cancelled", "recurringEventId": PARENT["id"],
                     "originalStartTime": PARENT["start"]}]}
            return 200, {**FIXTURE["page"], "items": [INSTANCE, *FIXTURE["page"]["items"]]}
        if path == f"/calendar/v3/calendars/primary/events/{PARENT['id']}":
            return 200, PARENT
        return 404, {"error": {"code": 404, "message": f"no route {path}"}}


@pytest.fixture()
def responder() -> Iterator[Responder]:
    with serving(Responder()) as server:
        yield server


@pytest.fixture(scope="module")
def signin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[google.GoogleSandbox]:
    # Only its token endpoint is used (the key file names it as token_uri).
    with google.start({REP: MailboxSeed(REP)}, secrets_dir=tmp_path_factory.mktemp("g")) as sb:
        yield sb


def request(sb: google.GoogleSandbox, responder: Responder, kind: str,
            cursor: str | None = None) -> SyncRequest:
    opts = {"key_file": str(sb.key_file), "endpoint": responder.url,
            "retry_base_seconds": 0.01, "retry_cap_seconds": 0.05,
            "quota_units_per_minute": 10**6}
    return SyncRequest(kind, kind, REP, WINDOW, cursor=cursor, options=opts)


def test_gmail_skips_drafts_and_chats_and_batches_at_most_50(
        signin: google.GoogleSandbox, responder: Responder) -> None:
    result = gmail.sync(request(signin, responder, "gmail"))
    emails = [r for r in result.records if isinstance(r, EmailCopy)]
    in_window = [m for m in MESSAGES
                 if int(m["internalDate"]) < WINDOW.end.timestamp() * 1000]
    expected = {m["id"] for m in in_window if m["labelIds"] == ["INBOX"]}
    assert {e.copy_id for e in emails} == expected
    assert len(expected) < len(in_window)  # chats and drafts were listed and skipped
    assert responder.batch_sizes and max(responder.batch_sizes) <= 50
    assert sum(responder.batch_sizes) == len(MESSAGES)


def test_gmail_batch_size_option_cannot_exceed_50(signin: google.GoogleSandbox,
                                                  responder: Responder) -> None:
    from connectors.api import SourceError

    req = request(signin, responder, "gmail")
    with pytest.raises(SourceError, match="batch_size"):
        gmail.sync(SyncRequest(req.source, req.source_kind, REP, WINDOW,
                               options={**req.options, "batch_size": 100}))


def test_calendar_trimmed_cancellations(signin: google.GoogleSandbox,
                                        responder: Responder) -> None:
    first = google_calendar.sync(request(signin, responder, "google_calendar"))
    got = {r.copy_id: r for r in first.records if isinstance(r, MeetingCopy)}
    exception = FIXTURE["page"]["items"][0]
    # The full instance and the trimmed cancelled exception (identity from its parent);
    # the deleted event (id only) is not a meeting.
    assert sorted(got) == sorted([INSTANCE["id"], exception["id"]])
    cancelled = got[exception["id"]]
    assert cancelled.cancelled and cancelled.ical_uid == PARENT["iCalUID"]
    assert cancelled.original_start == datetime(2018, 4, 8, 8, 30, tzinfo=UTC)
    assert not got[INSTANCE["id"]].cancelled
    # The parent was read once for the run.
    assert responder.paths.count(f"/calendar/v3/calendars/primary/events/{PARENT['id']}") == 1

    # Incremental: the organiser cancels the first occurrence; it arrives trimmed.
    second = google_calendar.sync(request(signin, responder, "google_calendar",
                                          cursor=first.cursor))
    assert responder.synced and second.mode == "incremental"
    [again] = second.records
    assert isinstance(again, MeetingCopy) and again.cancelled
    assert again.copy_id == INSTANCE["id"] and again.ical_uid == PARENT["iCalUID"]
    assert again.original_start == datetime(2018, 4, 1, 8, 30, tzinfo=UTC)
    assert second.removed == []  # a cancellation, not a deletion
