"""Gmail (API v1, scope ``gmail.metadata``): one rep mailbox's email metadata.

Stream :data:`EMAILS` (declared below): key (source, mailbox, copy_id) with copy_id = the
Gmail message id; cursor = JSON ``{"historyId": ..., "pending": [ids]}``; partitioned by
mailbox.

Window sync (no cursor, or the cursor expired):

1. ``users.getProfile`` → the mailbox's current historyId, taken *before* listing, so a
   message arriving while we list is also in the next history (the upsert dedupes it).
2. ``users.messages.list`` pages of 500, newest first. The metadata scope forbids ``q``, so
   the window cannot be asked for: each page's messages are fetched (step 3) and paging
   stops once a whole page has ``internalDate`` older than the window start minus
   :data:`DATE_SLACK`. Cost: every message received since the window start, plus at most one
   page of older ones. The next page is listed (on a second connection) while this page's
   batches run, as soon as one of them shows the page is not wholly older.
3. ``users.messages.get`` with ``format=metadata`` and only the headers the rules need, in
   batches of ``batch_size`` (50, also the cap: Google advises at most 50 calls a batch;
   fewer when less quota is left) posted to ``<endpoint>/batch/gmail/v1``. Sub-requests answered 429, the
   rate-limit 403s or 5xx are re-queued with backoff (never dropped); 404 means deleted
   meanwhile.
4. A message belongs to the window by its Date header (rule 8), like the file sources;
   without a usable Date, by internalDate. Messages dated at or after the window end (mail
   that arrived between the window end and the sync) are not returned but remembered in the
   cursor as ``pending``: the next incremental sync fetches them again, because history
   after the cursor will never mention them. Messages labelled DRAFT, SPAM, TRASH or CHAT
   are skipped (listing excludes spam and trash; drafts and chats are listed like mail).

Incremental sync (a stored cursor): ``users.history.list`` from the historyId
(messageAdded / messageDeleted); the added messages and the pending ones are fetched as in
step 3; deleted ones are returned in ``removed``. A 404 (history no longer kept, about a
week) falls back to a window sync, reported as ``mode="window"``.

Quota: messages.list/get 5 units, history.list 2, getProfile 1; paced to
``quota_units_per_minute`` (default 6,000) per mailbox and ``project_quota_units_per_minute``
(default 1,200,000) for all the mailboxes a process syncs, by one
:class:`~connectors.google_auth.QuotaPacer` per mailbox and per project, shared by the syncs
of the process. A call's units count from its send until a window after its answer (Google
counts it somewhere in between); a batch is sized to the quota left and built before that
quota is free, and a small call leaves the window with the batch after it, so windows are
filled to the unit.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httplib2
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from connectors.api import (
    CursorExpired,
    SourceError,
    Stream,
    SyncRequest,
    SyncResult,
    SyncStats,
    log_summary,
)
from connectors.google_auth import (
    GMAIL_SCOPE,
    MAX_BATCH,
    Caller,
    GoogleOptions,
    QuotaPacer,
    Spend,
    batch_uri,
    build_service,
    classify,
    delegated_credentials,
    is_transient,
    key_info,
    pages,
    shared_pacer,
)
from connectors.headers import email_from_headers
from connectors.records import EmailCopy, Quarantined, Record, Window
from connectors.retry import Transient

log = logging.getLogger("connectors.gmail")

PAGE_SIZE = 500  # the API's maximum for messages.list and history.list
EMAILS = Stream("emails", "email", copy_id="the Gmail message id",
                cursor='JSON {"historyId", "pending": [ids dated after the window]}')
# How much earlier than its Date header a message may have been received (clock skew of the
# sender): listing continues until a whole page is older than window start minus this.
DATE_SLACK = timedelta(days=2)
COST_GET = 5
COST_LIST = 5
COST_HISTORY = 2
COST_PROFILE = 1
HEADERS = ("From", "To", "Cc", "Bcc", "Date", "Message-ID", "In-Reply-To", "References",
           "List-Id", "List-Unsubscribe", "Precedence", "Auto-Submitted")
# Not mail that was exchanged: drafts, spam, trash, and Chat messages (the CHAT label: Gmail
# lists Hangouts/Chat history among messages).
SKIPPED_LABELS = frozenset({"DRAFT", "SPAM", "TRASH", "CHAT"})


class _Gmail:
    def __init__(self, request: SyncRequest) -> None:
        self.request = request
        self.options = GoogleOptions.from_request(request)
        self.stats = SyncStats()
        info = key_info(request)
        creds = delegated_credentials(info, request.mailbox, GMAIL_SCOPE)
        self.service = build_service("gmail", "v1", creds, self.options.endpoint,
                                     self.options.timeout_seconds)
        # A second connection for the list page fetched ahead (see window_sync).
        self._list_http = AuthorizedHttp(creds, http=httplib2.Http(
            timeout=self.options.timeout_seconds))
        # Shared by the syncs of this process: one right after another (an incremental
        # sync after a window sync) must not start as if the last minute spent nothing.
        owner = ("gmail", self.options.endpoint or "", str(info.get("client_email")))
        project = shared_pacer(owner, self.options.project_quota_units_per_minute,
                               self.options.quota_window_seconds)
        self.pacer = shared_pacer((*owner, request.mailbox.lower()),
                                  self.options.quota_units_per_minute,
                                  self.options.quota_window_seconds, project=project)
        self.caller = Caller(self.options.retry, self.pacer, self.stats)
        self.headers = HEADERS + (("Subject",) if request.subjects else ())
        self.users = self.service.users()
        # One resource object: users.messages() builds every method of the collection anew
        # from the discovery document (~1 ms), which was most of the CPU spent per message.
        self.messages = self.users.messages()

    # --- streams ------------------------------------------------------------------------

    def window_sync(self) -> SyncResult:
        window = self.request.window
        # Small calls leave the quota window with the batch after them (with_next).
        profile = self.caller.call(lambda: self.users.getProfile(userId="me"), COST_PROFILE,
                                   "users.getProfile", with_next=True)
        history_id = str(profile["historyId"])
        records: list[Record] = []
        pending: list[str] = []
        seen: set[str] = set()
        floor_ms = (window.start - DATE_SLACK).timestamp() * 1000
        # The next list page is fetched on a second connection while this page's batches
        # run, once a batch shows that this page is not wholly older than the window (the
        # rule below would stop listing): no list round trip between pages, and no page
        # listed in vain.
        ahead: dict[str, Future[dict[str, Any]]] = {}  # page token → the page, listed ahead

        def fetch(token: str | None) -> dict[str, Any]:
            listed = ahead.pop(token, None) if token else None
            return listed.result() if listed is not None else self._list_page(token)

        with ThreadPoolExecutor(1, thread_name_prefix="gmail-list") as lister:
            for page in pages(fetch):
                token = page.get("nextPageToken")

                def list_ahead(found: dict[str, dict[str, Any] | None],
                               token: str | None = token) -> None:
                    if token and token not in ahead and any(
                            m is not None and int(m.get("internalDate", 0)) >= floor_ms
                            for m in found.values()):
                        # Its quota is reserved here, between two batches, so that the next
                        # batch is sized knowing it.
                        spend = self.pacer.acquire(COST_LIST)
                        ahead[token] = lister.submit(self._list_page, token, self._list_http,
                                                     spend)

                ids = [m["id"] for m in page.get("messages", [])]
                fresh = [i for i in ids if i not in seen]  # pages overlap while mail arrives
                seen.update(fresh)
                found = self._get_many(fresh, on_batch=list_ahead)
                self._sort(found.values(), window, records, pending)
                dates = [int(m.get("internalDate", 0)) for m in found.values() if m is not None]
                if dates and max(dates) < floor_ms:
                    break  # newest first: this whole page is older than the window
        return SyncResult(records, "window", _cursor(history_id, pending), stats=self.stats)

    def incremental_sync(self, cursor: dict[str, Any]) -> SyncResult:
        added: list[str] = []
        removed: list[str] = []
        latest = str(cursor["historyId"])

        def fetch(token: str | None) -> dict[str, Any]:
            page: dict[str, Any] = self.caller.call(
                lambda: self.users.history().list(
                    userId="me", startHistoryId=cursor["historyId"], maxResults=PAGE_SIZE,
                    historyTypes=["messageAdded", "messageDeleted"], pageToken=token),
                COST_HISTORY, "users.history.list", expired=(404,), with_next=True)
            return page

        for page in pages(fetch):
            for record in page.get("history", []):
                for item in record.get("messagesAdded", []):
                    added.append(item["message"]["id"])
                for item in record.get("messagesDeleted", []):
                    removed.append(item["message"]["id"])
            latest = str(page.get("historyId", latest))
        gone = set(removed)
        wanted = list(dict.fromkeys(i for i in [*cursor.get("pending", []), *added]
                                    if i not in gone))
        found = self._get_many(wanted)
        removed += [i for i, m in found.items() if m is None]  # deleted since it was listed
        records: list[Record] = []
        pending: list[str] = []
        self._sort(found.values(), self.request.window, records, pending)
        return SyncResult(records, "incremental", _cursor(latest, pending),
                          removed=sorted(set(removed)), stats=self.stats)

    # --- helpers ------------------------------------------------------------------------

    def _list_page(self, token: str | None, http: Any = None,
                   reserved: Spend | None = None) -> dict[str, Any]:
        """One page of up to 500 message ids, newest first (``http``: another connection,
        for a page fetched from another thread; ``reserved``: its quota)."""

        def make() -> Any:
            request = self.messages.list(userId="me", maxResults=PAGE_SIZE, pageToken=token,
                                         includeSpamTrash=False)
            if http is not None:
                request.http = http  # httplib2 connections are not thread-safe
            return request

        page: dict[str, Any] = self.caller.call(make, COST_LIST, "users.messages.list",
                                                with_next=True, reserved=reserved)
        return page

    def _get_many(self, ids: list[str],
                  on_batch: Callable[[dict[str, dict[str, Any] | None]], None] | None = None,
                  ) -> dict[str, dict[str, Any] | None]:
        """``messages.get`` (metadata) for ``ids`` in batches; None for deleted messages;
        ``on_batch(found so far)`` after each batch.

        A sub-request failing transiently goes back into the queue (front) and is retried
        after the policy's backoff; after ``attempts`` tries of one id the sync fails."""
        out: dict[str, dict[str, Any] | None] = {}
        queue = list(ids)
        tries: dict[str, int] = {}
        size = self.options.batch_size
        while queue:
            # As many as the quota allows once some fit, up to a batch: a part-filled window
            # is not left idle until a whole batch fits. (The quota itself is reserved when
            # the batch goes out: _PacedHttp.)
            most = min(size, len(queue))
            least = max(1, size // 10)
            spare = min(least - 1, len(queue) - most, MAX_BATCH - most)
            calls = self.pacer.forecast(COST_GET, most, least, spare)
            chunk, queue = queue[:calls], queue[calls:]
            failed: list[tuple[str, Transient]] = []
            self._batch(chunk, out, failed)
            if on_batch is not None:
                on_batch(out)
            if not failed:
                continue
            worst = 0
            retry_after: float | None = None
            for message_id, exc in failed:
                tries[message_id] = tries.get(message_id, 1) + 1
                worst = max(worst, tries[message_id])
                if exc.retry_after is not None:
                    retry_after = max(retry_after or 0.0, exc.retry_after)
                if tries[message_id] > self.options.retry.attempts:
                    raise SourceError(f"users.messages.get gave up after "
                                      f"{self.options.retry.attempts} tries: {exc}",
                                      transient=True)
            self.caller.count(retries=len(failed))
            queue = [m for m, _ in failed] + queue
            self.options.retry.sleep(self.options.retry.delay(worst - 1, retry_after))
        return out

    def _batch(self, chunk: list[str], out: dict[str, dict[str, Any] | None],
               failed: list[tuple[str, Transient]]) -> None:
        """One batch of ``messages.get`` for ``chunk``; a batch failing whole is resent."""
        errors: list[Exception] = []

        def callback(request_id: str, response: Any, exception: Exception | None) -> None:
            if exception is None:
                out[request_id] = response
            elif isinstance(exception, HttpError) and exception.resp.status == 404:
                out[request_id] = None
            elif isinstance(exception, HttpError) and is_transient(exception):
                err = classify(exception, "users.messages.get")
                assert isinstance(err, Transient)
                failed.append((request_id, err))
            else:
                errors.append(classify(exception, "users.messages.get"))

        def send() -> None:
            # One batch object per try: a failed batch is resent whole.
            batch = BatchHttpRequest(callback=callback, batch_uri=batch_uri(self.options.endpoint))
            gets = [self.messages.get(userId="me", id=message_id, format="metadata",
                                      metadataHeaders=list(self.headers)) for message_id in chunk]
            for message_id, get in zip(chunk, gets, strict=True):
                batch.add(get, request_id=message_id)
            self.caller.count(requests=1, calls=len(chunk), units=COST_GET * len(chunk))
            try:
                batch.execute(http=_PacedHttp(gets[0].http, self.pacer, len(chunk)))
            except HttpError as exc:
                raise classify(exc, "batch") from None
            except Exception as exc:  # noqa: BLE001 - transport errors: classified
                raise classify(exc, "batch") from None

        self.caller.retry(send)
        if errors:
            raise errors[0]

    def _sort(self, messages: Iterable[dict[str, Any] | None], window: Window,
              records: list[Record], pending: list[str]) -> None:
        """Window membership by Date header: in → records, later → pending, earlier → out."""
        for msg in messages:
            if msg is None or not exchanged(msg):
                continue
            rec = self._record(msg)
            if isinstance(rec, Quarantined):
                when = _internal_date(msg)
                if when in window:
                    records.append(rec)
                continue
            if rec.occurred_at in window:
                records.append(rec)
            elif rec.occurred_at >= window.end:
                pending.append(msg["id"])

    def _record(self, msg: dict[str, Any]) -> EmailCopy | Quarantined:
        return email_from_gmail(msg, self.request)


def exchanged(msg: dict[str, Any]) -> bool:
    """False for what is not mail that was exchanged: DRAFT, SPAM, TRASH or CHAT labels."""
    return not SKIPPED_LABELS & set(msg.get("labelIds") or ())


def email_from_gmail(msg: dict[str, Any], request: SyncRequest) -> EmailCopy | Quarantined:
    """One ``messages.get`` (format=metadata) resource → an EmailCopy; time per rule 8
    (Date header, else internalDate), thread = Gmail's threadId as ``provider_thread_id``."""
    headers: dict[str, list[str]] = {}
    for h in msg.get("payload", {}).get("headers", []):
        headers.setdefault(str(h.get("name", "")).lower(), []).append(str(h.get("value", "")))
    return email_from_headers(
        headers, source=request.source, source_kind=request.source_kind,
        mailbox=request.mailbox, copy_id=msg["id"], subject_wanted=request.subjects,
        provider_time=_internal_date(msg), provider_thread_id=msg.get("threadId"))


class _PacedHttp:
    """The connection a batch of ``calls`` gets goes out on: their quota is reserved just
    before the request is sent — once the batch is built and encoded, work that then holds
    no quota — and released as soon as the answer is in, before its parts are parsed."""

    def __init__(self, http: Any, pacer: QuotaPacer, calls: int) -> None:
        self.http = http
        self.pacer = pacer
        self.calls = calls
        self.credentials = getattr(http, "credentials", None)  # the library refreshes them

    def request(self, *args: Any, **kwargs: Any) -> Any:
        waited = self.pacer.waited
        spend = self.pacer.acquire_calls(COST_GET, self.calls, least=self.calls)
        if self.pacer.waited - waited >= 1.0:  # say so: a quota wait is otherwise silent
            log.info("gmail: pacing, waited %.0f s for the quota before a batch of %d calls",
                     self.pacer.waited - waited, self.calls)
        try:
            return self.http.request(*args, **kwargs)
        finally:
            self.pacer.release(spend)


def _internal_date(msg: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(msg.get("internalDate", 0)) / 1000, UTC)


def _cursor(history_id: str, pending: list[str]) -> str:
    return json.dumps({"historyId": history_id, "pending": sorted(set(pending))},
                      separators=(",", ":"))


def _parse_cursor(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or not str(value.get("historyId", "")).isdigit():
        return None
    return value


def sync(request: SyncRequest) -> SyncResult:
    """One mailbox, one window: incremental from ``request.cursor`` when possible."""
    gmail = _Gmail(request)
    paced = gmail.pacer.waited  # the pacer may be shared with earlier syncs of this mailbox
    cursor = _parse_cursor(request.cursor) if request.cursor else None
    try:
        if cursor is not None:
            try:
                return log_summary("gmail", request, gmail.incremental_sync(cursor),
                                   gmail.pacer.waited - paced)
            except CursorExpired:
                pass  # history.list answers 404 when startHistoryId is older than Gmail keeps
        return log_summary("gmail", request, gmail.window_sync(), gmail.pacer.waited - paced)
    finally:
        gmail.pacer.flush()

