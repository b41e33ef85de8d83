"""Google sandbox: OAuth token endpoint, Gmail v1 and Calendar v3, on 127.0.0.1.

What it serves (paths as the real services have them, under one base URL):

* ``POST /token`` — the service-account JWT-bearer grant. The assertion's RS256 signature is
  checked against the sandbox service account's public key; ``sub`` must be a mailbox of the
  tenant (else ``400 invalid_grant "Invalid email or User ID"``, as Google answers), the
  scopes must be within the domain-wide delegation grant (else ``401 unauthorized_client``).
* ``GET /gmail/v1/users/{userId}/profile | /messages | /messages/{id} | /history``;
  ``POST /batch`` and ``/batch/gmail/v1`` (multipart/mixed, <= 100 parts).
* ``GET /calendar/v3/calendars/{calendarId}/events`` with ``singleEvents``, ``timeMin``,
  ``timeMax``, ``showDeleted``, ``maxResults`` (capped at 2500), ``pageToken``, ``syncToken``;
  ``GET .../events/{eventId}`` (a recurring event with its ``recurrence``, or one instance).
* The real services' awkward shapes, each switchable (:mod:`sandbox.fidelity`).

It enforces what Google enforces for Overlap's scopes: ``q`` and ``format=full|raw`` answer
403 under ``gmail.metadata``; page sizes are capped (500 / 2500); ``syncToken`` cannot be
combined with timeMin/timeMax (400); each user has a quota of units per minute (sliding
minute; messages.get/list 5, history.list 2, getProfile 1; events.list counts 1) answered by
429 ``rateLimitExceeded`` (or 403 ``userRateLimitExceeded`` with ``quota_status=403``); as
an option, Gmail calls also count against an app-wide quota, all users together
(``project_quota_units_per_minute``; Gmail's is 1,200,000 units per minute), answered 429
(or 403) ``rateLimitExceeded``.
Faults are injected with :meth:`GoogleSandbox.inject`; :meth:`expire_history` and
:meth:`expire_sync_tokens` invalidate cursors (404 / 410); :meth:`expire_tokens` revokes the
access tokens issued so far; :meth:`GoogleSandbox.chaos` adds seeded random faults of every
kind (see :mod:`sandbox.chaos`). ``counts`` holds the requests served per API name
(a batch counts once as ``batch`` and each part under its own name).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesFeedParser
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sandbox.chaos import Chaos
from sandbox.fidelity import Fidelity
from sandbox.google_data import Mailbox, build_mailboxes
from sandbox.http import Request, Response, SandboxHTTPServer, parse_target, write_secret
from sandbox.seed import MailboxSeed

GMAIL_SCOPE = "https://www.googleapis.com/auth/gmail.metadata"
CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar.events.readonly"
CALENDAR_SCOPES = frozenset({CALENDAR_SCOPE, "https://www.googleapis.com/auth/calendar.readonly"})
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
SERVICE_ACCOUNT = "overlap-reader@overlap-sandbox.iam.gserviceaccount.com"
QUOTA_COST = {"gmail.profile": 1, "gmail.messages.list": 5, "gmail.messages.get": 5,
              "gmail.history.list": 2, "calendar.events.list": 1, "calendar.events.get": 1}
GMAIL_PAGE_MAX = 500
CALENDAR_PAGE_MAX = 2500
BATCH_MAX = 100
SHORT_CALENDAR_PAGE = 20  # Fidelity.short_calendar_pages: events.list pages hold at most this
HIDDEN_UNLESS_ASKED = frozenset({"SPAM", "TRASH"})  # messages.list without includeSpamTrash

_Row = TypeVar("_Row")


@dataclass
class Fault:
    """Answer the next ``times`` requests to ``api`` (a name of ``QUOTA_COST``, ``batch``,
    ``token`` or ``*``) with ``status`` after ``delay`` seconds. ``status=0`` only delays."""

    api: str
    status: int = 503
    times: int = 1
    retry_after: float | None = None
    delay: float = 0.0
    mailbox: str | None = None


def google_error(status: int, message: str, reason: str, domain: str = "global",
                 headers: dict[str, str] | None = None) -> Response:
    """The JSON error body Google APIs send."""
    names = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
             404: "NOT_FOUND", 410: "GONE", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
             502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
    body = {"error": {"code": status, "message": message,
                      "errors": [{"message": message, "domain": domain, "reason": reason}],
                      "status": names.get(status, "UNKNOWN")}}
    return Response.json(status, body, headers)


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _encode_token(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, sort_keys=True).encode()).decode().rstrip("=")


def _decode_token(token: str) -> dict[str, Any] | None:
    try:
        value = json.loads(_b64url_decode(token))
    except (ValueError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _offset_page(req: Request, rows: list[_Row], size: int, bad_token: tuple[str, str]
                 ) -> tuple[list[_Row], str | None] | Response:
    """The page of ``rows`` that ``req``'s pageToken (an offset, ``{"o": n}``) points at, and
    the nextPageToken (None on the last page); or the 400 for a token that does not decode.

    ``bad_token`` is that 400's (message, reason): Gmail's history.list and Calendar's
    events.list word it differently, as the real APIs do.
    """
    token = req.arg("pageToken")
    offset = 0
    if token:
        decoded = _decode_token(token)
        if decoded is None or "o" not in decoded:
            return google_error(400, *bad_token)
        offset = int(decoded["o"])
    page = rows[offset:offset + size]
    return page, _encode_token({"o": offset + size}) if offset + size < len(rows) else None


def _parse_rfc3339(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


class _Window:
    """Units spent in a sliding window: (time, units), oldest first, and their sum."""

    def __init__(self) -> None:
        self.spent: deque[tuple[float, int]] = deque()
        self.sum = 0

    def total(self, now: float, window: float) -> int:
        while self.spent and self.spent[0][0] <= now - window:
            self.sum -= self.spent.popleft()[1]
        return self.sum

    def add(self, now: float, units: int) -> None:
        self.spent.append((now, units))
        self.sum += units


@dataclass
class _Grant:
    mailbox: str
    scopes: frozenset[str]
    expires: float


@dataclass
class GoogleSandbox:
    """A running Google sandbox (implements ``sandbox.serve.SandboxServer``)."""

    mailboxes: dict[str, Mailbox]
    secrets_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    quota_units_per_minute: int | None = 6000
    quota_status: int = 429
    quota_window_seconds: float = 60.0  # Google counts per minute; tests shorten it
    # The app-wide quota, all users together (Gmail: 1,200,000 units per minute); None: off.
    project_quota_units_per_minute: int | None = None
    project_quota_rejections: int = 0
    granted_scopes: frozenset[str] = frozenset({GMAIL_SCOPE, CALENDAR_SCOPE})
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    faults: list[Fault] = field(default_factory=list)
    quota_rejections: int = 0
    random_faults: Chaos | None = None  # set by chaos()
    fidelity: Fidelity = field(default_factory=Fidelity.default)
    # calls per batch request received (Google refuses > 100 and advises <= 50)
    batch_sizes: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._in_batch = threading.local()
        self._grants: dict[str, _Grant] = {}
        self._usage: dict[str, _Window] = {}
        self._project_usage = _Window()
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._key_id = secrets.token_hex(20)
        self.http = SandboxHTTPServer(self._handle, host=self.host, port=self.port)
        self.key_file = self._write_key()

    # --- the SandboxServer contract ---------------------------------------------------------

    @property
    def url(self) -> str:
        return self.http.url

    @property
    def counts(self) -> Any:
        return self.http.counts

    def sources(self, mailboxes: list[str]) -> list[dict[str, Any]]:
        """``[[sources]]`` tables for a gmail and a google_calendar source over ``mailboxes``."""
        common = {"endpoint": self.url, "key_file": str(self.key_file),
                  "mailboxes": sorted(mailboxes)}
        return [{"kind": "gmail", "name": "gmail", **common},
                {"kind": "google_calendar", "name": "google_calendar", **common}]

    def start(self) -> GoogleSandbox:
        self.http.start()
        return self

    def stop(self) -> None:
        self.http.stop()

    def __enter__(self) -> GoogleSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- controls for tests and demos --------------------------------------------------------

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def chaos(self, rate: float, seed: int = 0, **options: Any) -> Chaos:
        """From now on fail ``rate`` of the Gmail/Calendar requests (batches and their parts
        too; the token endpoint is spared) at random; see :class:`sandbox.chaos.Chaos`
        for the kinds and options. Returns it (its ``injected`` counts the faults)."""
        with self._lock:
            self.random_faults = Chaos(rate, seed, **options)
            return self.random_faults

    def expire_tokens(self) -> None:
        """Every access token issued so far answers 401 from now on."""
        with self._lock:
            self._grants.clear()

    def add_message(self, mailbox: str, head: bytes, *, key: str | None = None,
                    internal_date: datetime | None = None, sent: bool = False) -> str:
        """Deliver a message (header block) into a mailbox; returns its Gmail id."""
        with self._lock:
            box = self.mailboxes[mailbox]
            msg = box.add_message(key or f"added:{len(box.messages)}:{secrets.token_hex(4)}",
                                  head, internal_date or self.clock(), sent)
            return msg.id

    def delete_message(self, mailbox: str, message_id: str) -> None:
        with self._lock:
            self.mailboxes[mailbox].delete_message(message_id)

    def put_calendar(self, mailbox: str, key: str, data: bytes) -> None:
        """Add or replace one .ics file of a mailbox's primary calendar."""
        with self._lock:
            self.mailboxes[mailbox].put_calendar(key, data, self.clock())

    def expire_history(self, mailbox: str) -> None:
        """Every stored startHistoryId of ``mailbox`` now answers 404."""
        with self._lock:
            box = self.mailboxes[mailbox]
            box.history_id += 1
            box.history_floor = box.history_id

    def expire_sync_tokens(self, mailbox: str) -> None:
        """Every sync token issued so far for ``mailbox`` now answers 410."""
        with self._lock:
            box = self.mailboxes[mailbox]
            box.calendar_seq += 1
            box.token_floor = box.calendar_seq

    # --- credentials ------------------------------------------------------------------------

    def _write_key(self) -> Path:
        self.secrets_dir.mkdir(parents=True, exist_ok=True)
        pem = self._key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode("ascii")
        info = {"type": "service_account", "project_id": "overlap-sandbox",
                "private_key_id": self._key_id, "private_key": pem,
                "client_email": SERVICE_ACCOUNT, "client_id": "100000000000000000001",
                "token_uri": f"{self.url}/token",
                "auth_uri": "https://accounts.google.com/o/oauth2/auth"}
        return write_secret(self.secrets_dir / "google-service-account.json",
                            json.dumps(info, indent=2))

    def _token(self, req: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}

        def oauth_error(status: int, error: str, description: str) -> Response:
            return Response.json(status, {"error": error, "error_description": description})

        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return oauth_error(400, "unsupported_grant_type", "Invalid grant_type: "
                               + form.get("grant_type", ""))
        try:
            head_b64, body_b64, sig_b64 = form.get("assertion", "").split(".")
            header = json.loads(_b64url_decode(head_b64))
            claims = json.loads(_b64url_decode(body_b64))
            signature = _b64url_decode(sig_b64)
        except (ValueError, json.JSONDecodeError):
            return oauth_error(400, "invalid_grant", "Invalid JWT: Token must be a short-lived "
                               "token (60 minutes) and in a reasonable timeframe.")
        try:
            if header.get("alg") != "RS256":
                raise InvalidSignature
            self._key.public_key().verify(signature, f"{head_b64}.{body_b64}".encode("ascii"),
                                          padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return oauth_error(400, "invalid_grant", "Invalid JWT Signature.")
        now = time.time()
        if (claims.get("iss") != SERVICE_ACCOUNT
                or claims.get("aud") not in (GOOGLE_TOKEN_AUDIENCE, f"{self.url}/token")):
            return oauth_error(400, "invalid_grant", "Invalid JWT: issuer or audience.")
        if not (claims.get("iat", 0) - 300 <= now <= claims.get("exp", 0) + 300):
            return oauth_error(400, "invalid_grant", "Invalid JWT: Token must be a short-lived "
                               "token (60 minutes) and in a reasonable timeframe.")
        subject = str(claims.get("sub", "")).lower()
        if subject not in self.mailboxes:
            return oauth_error(400, "invalid_grant", "Invalid email or User ID")
        scopes = frozenset(str(claims.get("scope", "")).split())
        if not scopes or not scopes <= self.granted_scopes:
            return oauth_error(401, "unauthorized_client",
                               "Client is unauthorized to retrieve access tokens using this "
                               "method, or client not authorized for any of the scopes "
                               "requested.")
        token = "ya29.sandbox-" + secrets.token_urlsafe(32)
        with self._lock:
            self._grants[token] = _Grant(subject, scopes, now + 3600)
        return Response.json(200, {"access_token": token, "expires_in": 3599,
                                   "token_type": "Bearer"})

    # --- dispatch -----------------------------------------------------------------------------

    def _handle(self, req: Request) -> Response:
        if req.method == "POST" and req.path == "/token":
            return self._apply(req, "token", None, lambda: self._token(req))
        if req.method == "POST" and req.path in ("/batch", "/batch/gmail/v1",
                                                 "/batch/calendar/v3"):
            return self._apply(req, "batch", None, lambda: self._batch(req))
        return self._api(req)

    def _apply(self, req: Request, api: str, mailbox: str | None,
               answer: Callable[[], Response]) -> Response:
        """Count the request, run any injected fault for it, else answer."""
        self.http.count(api)
        fault = self._take_fault(api, mailbox)
        if fault is None and self.random_faults is not None and api != "token":
            return self._random_fault(api, mailbox, answer)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status:
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = f"{fault.retry_after:g}"
                if fault.status == 429:
                    return google_error(429, "Too many requests (injected).",
                                        "rateLimitExceeded", "usageLimits", headers)
                if fault.status == 403:
                    return google_error(403, "User-rate limit exceeded (injected).",
                                        "userRateLimitExceeded", "usageLimits", headers)
                return google_error(fault.status, "Backend Error (injected).", "backendError",
                                    headers=headers)
        return answer()

    def _random_fault(self, api: str, mailbox: str | None,
                      answer: Callable[[], Response]) -> Response:
        assert self.random_faults is not None
        chaos = self.random_faults
        kind = chaos.draw(part=getattr(self._in_batch, "on", False))
        if kind is None:
            return answer()
        if kind == "429":
            return google_error(429, "Too many requests (injected).", "rateLimitExceeded",
                                "usageLimits", {"Retry-After": f"{chaos.retry_after:g}"})
        if kind in ("500", "503"):
            return google_error(int(kind), "Backend Error (injected).", "backendError")
        if kind == "token":
            self.expire_tokens()
            return google_error(401, "Request had invalid authentication credentials.",
                                "authError")
        if kind == "cursor" and mailbox is not None:
            self.expire_history(mailbox)
            self.expire_sync_tokens(mailbox)
        if kind in ("slow", "timeout"):
            time.sleep(chaos.slow if kind == "slow" else chaos.hang)
        if kind == "drop":
            return Response(200, cut="drop")
        response = answer()
        if kind == "truncate":
            response.cut = "truncate"
        return response

    def _take_fault(self, api: str, mailbox: str | None) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times <= 0:
                    continue
                if fault.api not in ("*", api):
                    continue
                if fault.mailbox is not None and mailbox is not None and fault.mailbox != mailbox:
                    continue
                fault.times -= 1
                return fault
        return None

    def _authorize(self, req: Request) -> _Grant | Response:
        auth = req.headers.get("authorization", "")
        grant = self._grants.get(auth[7:]) if auth.startswith("Bearer ") else None
        if grant is None or grant.expires < time.time():
            return google_error(401, "Request had invalid authentication credentials. Expected "
                                "OAuth 2 access token, login cookie or other valid "
                                "authentication credential.", "authError")
        return grant

    def _charge(self, mailbox: str, api: str) -> Response | None:
        """Count quota units against the user and the project; a 429/403 when either's
        window is used up (Google: ``userRateLimitExceeded`` / ``rateLimitExceeded``)."""
        limit = self.quota_units_per_minute
        # Gmail's project quota; Calendar has its own, not emulated.
        project = self.project_quota_units_per_minute if api.startswith("gmail.") else None
        cost = QUOTA_COST.get(api, 1)
        if limit is None and project is None:
            return None
        now = time.monotonic()
        window = self.quota_window_seconds
        with self._lock:
            used = self._usage.setdefault(mailbox, _Window())
            if limit is not None and used.total(now, window) + cost > limit:
                self.quota_rejections += 1
                if self.quota_status == 403:
                    return google_error(403, "User-rate limit exceeded.",
                                        "userRateLimitExceeded", "usageLimits")
                return google_error(429, "User-rate limit exceeded.", "rateLimitExceeded",
                                    "usageLimits")
            if project is not None \
                    and self._project_usage.total(now, window) + cost > project:
                self.quota_rejections += 1
                self.project_quota_rejections += 1
                message = ("Quota exceeded for quota metric 'Queries' and limit 'Queries per "
                           "minute' of service 'gmail.googleapis.com'.")
                return google_error(self.quota_status, message, "rateLimitExceeded",
                                    "usageLimits")
            used.add(now, cost)
            if project is not None:
                self._project_usage.add(now, cost)
        return None

    def _api(self, req: Request) -> Response:
        parts = [p for p in req.path.split("/") if p]
        if req.method != "GET":
            return google_error(405, "Method not allowed.", "methodNotAllowed")
        if parts[:3] == ["gmail", "v1", "users"] and len(parts) >= 5:
            routes: dict[tuple[str, ...], str] = {
                ("profile",): "gmail.profile", ("messages",): "gmail.messages.list",
                ("history",): "gmail.history.list"}
            api = routes.get(tuple(parts[4:]))
            if api is None and len(parts) == 6 and parts[4] == "messages":
                api = "gmail.messages.get"
            if api is None:
                return google_error(404, "Not Found", "notFound")
            return self._authorized(req, api, parts[3], GMAIL_SCOPE)
        if parts[:3] == ["calendar", "v3", "calendars"] and len(parts) == 5 \
                and parts[4] == "events":
            return self._authorized(req, "calendar.events.list", parts[3], None)
        if parts[:3] == ["calendar", "v3", "calendars"] and len(parts) == 6 \
                and parts[4] == "events":
            return self._authorized(req, "calendar.events.get", parts[3], None)
        return google_error(404, "Not Found", "notFound")

    def _authorized(self, req: Request, api: str, user: str, scope: str | None) -> Response:
        grant = self._authorize(req)
        if isinstance(grant, Response):
            self.http.count(api)
            return grant
        mailbox = grant.mailbox
        if user not in ("me", "primary") and user.lower() != mailbox:
            self.http.count(api)
            return google_error(403, f"Delegation denied for {mailbox}", "forbidden")
        needed = {scope} if scope else CALENDAR_SCOPES
        if not grant.scopes & needed:
            self.http.count(api)
            return google_error(403, "Request had insufficient authentication scopes.",
                                "insufficientPermissions")

        def answer() -> Response:
            refused = self._charge(mailbox, api)
            if refused is not None:
                return refused
            with self._lock:
                box = self.mailboxes[mailbox]
                return self._route(api, req, box)

        return self._apply(req, api, mailbox, answer)

    def _route(self, api: str, req: Request, box: Mailbox) -> Response:
        if api == "gmail.profile":
            return Response.json(200, {"emailAddress": box.address,
                                       "messagesTotal": len(box.messages),
                                       "threadsTotal": len({m.thread_id for m in
                                                            box.messages.values()}),
                                       "historyId": str(box.history_id)})
        if api == "gmail.messages.list":
            return self._messages_list(req, box)
        if api == "gmail.messages.get":
            return self._messages_get(req, box)
        if api == "gmail.history.list":
            return self._history_list(req, box)
        if api == "calendar.events.get":
            event = box.event(req.path.rsplit("/", 1)[-1], self.clock())
            if event is None:
                return google_error(404, "Not Found", "notFound")
            return Response.json(200, event)
        return self._events_list(req, box)

    # --- Gmail --------------------------------------------------------------------------------

    @staticmethod
    def _page_size(req: Request, default: int, cap: int) -> int | Response:
        raw = req.arg("maxResults")
        try:
            n = int(raw) if raw is not None else default
        except ValueError:
            return google_error(400, f"Invalid value '{raw}'. Values must match the following "
                                "regular expression: '[0-9]+'", "invalidArgument")
        return max(1, min(n, cap))  # Google caps silently

    def _messages_list(self, req: Request, box: Mailbox) -> Response:
        if req.arg("q") is not None:  # the metadata scope forbids search
            return google_error(403, "Metadata scope does not support 'q' parameter",
                                "forbidden")
        size = self._page_size(req, 100, GMAIL_PAGE_MAX)
        if isinstance(size, Response):
            return size
        ordered = box.sorted_messages()
        if req.arg("includeSpamTrash", "false") != "true":
            ordered = [m for m in ordered if not HIDDEN_UNLESS_ASKED & set(m.label_ids)]
        wanted = set(req.query.get("labelIds") or [])
        if wanted:
            ordered = [m for m in ordered if wanted <= set(m.label_ids)]
        start = 0
        token = req.arg("pageToken")
        if token:
            after = _decode_token(token)
            if after is None or "d" not in after:
                return google_error(400, "Invalid pageToken", "invalidArgument")
            key = (after["d"], after["i"])
            start = next((n for n, m in enumerate(ordered)
                          if (int(m.internal_date.timestamp() * 1000), m.id) < key), len(ordered))
        page = ordered[start:start + size]
        body: dict[str, Any] = {"messages": [m.ref() for m in page]} if page else {}
        if start + size < len(ordered):
            last = page[-1]
            body["nextPageToken"] = _encode_token(
                {"d": int(last.internal_date.timestamp() * 1000), "i": last.id})
        body["resultSizeEstimate"] = len(page)
        return Response.json(200, body)

    def _messages_get(self, req: Request, box: Mailbox) -> Response:
        fmt = (req.arg("format") or "full").lower()  # the API's default is full
        if fmt in ("full", "raw"):
            return google_error(403, f"Metadata scope doesn't allow format {fmt.upper()}",
                                "forbidden")
        message_id = req.path.rsplit("/", 1)[-1]
        msg = box.messages.get(message_id)
        if msg is None:
            return google_error(404, "Requested entity was not found.", "notFound")
        wanted = req.query.get("metadataHeaders") if fmt == "metadata" else []
        resource = msg.resource(wanted)
        if fmt == "minimal":
            del resource["payload"]
        return Response.json(200, resource)

    def _history_list(self, req: Request, box: Mailbox) -> Response:
        raw = req.arg("startHistoryId")
        if raw is None or not raw.isdigit():
            return google_error(400, "Invalid startHistoryId", "invalidArgument")
        start = int(raw)
        if start < box.history_floor:
            return google_error(404, "Requested entity was not found.", "notFound")
        size = self._page_size(req, 100, GMAIL_PAGE_MAX)
        if isinstance(size, Response):
            return size
        types = set(req.query.get("historyTypes") or ["messageAdded", "messageDeleted",
                                                      "labelAdded", "labelRemoved"])
        kinds = {"messagesAdded": "messageAdded", "messagesDeleted": "messageDeleted"}
        records = [(hid, kind, m) for hid, kind, m in box.history
                   if hid > start and kinds[kind] in types]
        paged = _offset_page(req, records, size, ("Invalid pageToken", "invalidArgument"))
        if isinstance(paged, Response):
            return paged
        page, next_token = paged
        body: dict[str, Any] = {}
        if page:
            body["history"] = [{"id": str(hid), "messages": [m.ref()],
                                kind: [{"message": m.ref(with_labels=True)}]}
                               for hid, kind, m in page]
        if next_token is not None:
            body["nextPageToken"] = next_token
        body["historyId"] = str(box.history_id)
        return Response.json(200, body)

    # --- Calendar -----------------------------------------------------------------------------

    def _events_list(self, req: Request, box: Mailbox) -> Response:
        now = self.clock()
        size = self._page_size(req, 250, CALENDAR_PAGE_MAX)
        if isinstance(size, Response):
            return size
        if self.fidelity.short_calendar_pages:
            size = min(size, SHORT_CALENDAR_PAGE)  # "may be less than this parameter value"
        sync_token = req.arg("syncToken")
        if req.arg("singleEvents", "false") != "true":
            # The sandbox stores occurrences only; series masters are not emulated.
            return google_error(400, "The sandbox serves singleEvents=true only.",
                                "invalidArgument")
        time_min = req.arg("timeMin")
        time_max = req.arg("timeMax")
        if sync_token is not None:
            if time_min or time_max or req.arg("q") or req.arg("orderBy") \
                    or req.arg("updatedMin"):
                return google_error(400, "Sync token cannot be used with other query "
                                    "parameters.", "invalid")
            state = _decode_token(sync_token)
            if state is None or state.get("m") != box.address or "s" not in state:
                return google_error(400, "Invalid sync token value.", "invalid")
            if int(state["s"]) < box.token_floor:
                return google_error(410, "Sync token is no longer valid, a full sync is "
                                    "required.", "fullSyncRequired")
            items = box.events(None, None, now, since_seq=int(state["s"]))
        else:
            try:
                lo = _parse_rfc3339(time_min) if time_min else None
                hi = _parse_rfc3339(time_max) if time_max else None
            except ValueError:
                return google_error(400, "Bad Request", "badRequest")
            items = box.events(lo, hi, now)
            if req.arg("showDeleted", "false") != "true":
                items = [e for e in items if e["status"] != "cancelled"]
        paged = _offset_page(req, items, size, ("Invalid page token", "invalid"))
        if isinstance(paged, Response):
            return paged
        page, next_token = paged
        body: dict[str, Any] = {"kind": "calendar#events", "etag": f'"{box.calendar_seq}"',
                                "summary": box.address, "updated": now.strftime(
                                    "%Y-%m-%dT%H:%M:%S.000Z"),
                                "timeZone": "UTC", "accessRole": "owner",
                                "defaultReminders": []}
        if next_token is not None:
            body["nextPageToken"] = next_token
        else:  # the sync token arrives on the last page only
            body["nextSyncToken"] = _encode_token({"m": box.address, "s": box.calendar_seq})
        body["items"] = page
        return Response.json(200, body)

    # --- batch --------------------------------------------------------------------------------

    def _batch(self, req: Request) -> Response:
        ctype = req.headers.get("content-type", "")
        parser = BytesFeedParser()
        parser.feed(f"Content-Type: {ctype}\r\n\r\n".encode() + req.body)
        message = parser.close()
        if not message.is_multipart():
            return google_error(400, "Batch requests must be multipart/mixed.", "badRequest")
        parts = message.get_payload()
        assert isinstance(parts, list)
        with self._lock:
            self.batch_sizes.append(len(parts))
        if len(parts) > BATCH_MAX:
            return google_error(400, f"A batch request cannot contain more than {BATCH_MAX} "
                                "calls.", "badRequest")
        boundary = "batch_" + secrets.token_hex(12)
        out: list[bytes] = []
        self._in_batch.on = True
        try:
            return self._batch_parts(parts, boundary, out)
        finally:
            self._in_batch.on = False

    def _batch_parts(self, parts: list[Any], boundary: str, out: list[bytes]) -> Response:
        for part in parts:
            if isinstance(part, str):
                return google_error(400, "Batch parts must be application/http.", "badRequest")
            content_id = str(part.get("Content-ID", ""))
            raw = part.get_payload(decode=False)
            text = raw if isinstance(raw, str) else ""
            inner = self._batch_part(text)
            lines = [f"--{boundary}", "Content-Type: application/http",
                     f"Content-ID: <response-{content_id.strip('<>')}>", "",
                     f"HTTP/1.1 {inner.status} {_REASONS.get(inner.status, 'Error')}"]
            for name, value in inner.headers.items():
                lines.append(f"{name}: {value}")
            lines += ["", inner.body.decode("utf-8"), ""]
            out.append("\r\n".join(lines).encode("utf-8"))
        body = b"".join(out) + f"--{boundary}--\r\n".encode()
        return Response(200, body, {"Content-Type": f"multipart/mixed; boundary={boundary}"})

    def _batch_part(self, text: str) -> Response:
        request_line, _, rest = text.replace("\r\n", "\n").partition("\n")
        try:
            method, target, _version = request_line.split(" ", 2)
        except ValueError:
            return google_error(400, "Bad Request", "badRequest")
        head, _, body = rest.partition("\n\n")
        headers: dict[str, str] = {}
        for line in head.split("\n"):
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        path, query = parse_target(target)
        return self._api(Request(method, path, query, headers, body.encode("utf-8")))


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 410: "Gone", 429: "Too Many Requests",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
            504: "Gateway Timeout"}


def start(seeds: dict[str, MailboxSeed], *, host: str = "127.0.0.1", port: int = 0,
          secrets_dir: Path, **options: Any) -> GoogleSandbox:
    """Serve ``seeds`` (address → MailboxSeed) as a Google Workspace tenant; started.

    Options: ``quota_units_per_minute`` (per user; default 6000; None: unlimited),
    ``project_quota_units_per_minute`` (all users together; default None: unlimited — Gmail's
    is 1,200,000), ``quota_window_seconds`` (default 60), ``quota_status`` (429 or 403),
    ``granted_scopes`` (the domain-wide delegation grant), ``clock``.
    """
    clock = options.pop("clock", None) or (lambda: datetime.now(UTC))
    fidelity = options.pop("fidelity", None) or Fidelity.default()
    sandbox = GoogleSandbox(build_mailboxes(seeds, clock(), fidelity), Path(secrets_dir),
                            host=host, port=port, clock=clock, fidelity=fidelity, **options)
    return sandbox.start()
