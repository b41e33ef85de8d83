"""Microsoft sandbox: Microsoft identity v2 + Graph v1.0 over HTTPS on 127.0.0.1.

``start(seeds, secrets_dir=...)`` returns a running :class:`MicrosoftSandbox` (also a context
manager). It serves, for the mailboxes of ``seeds`` (see :mod:`sandbox.seed`):

* ``GET /{tenant}/v2.0/.well-known/openid-configuration`` and the client-credentials
  ``POST /{tenant}/oauth2/v2.0/token`` (AADSTS errors: unknown tenant 90002, unknown client
  700016, bad secret 7000215); tokens expire after ``token_lifetime`` seconds and
  :meth:`MicrosoftSandbox.expire_tokens` revokes them mid-run.
* Graph v1.0: ``/users/{m}/messages``, ``/users/{m}/messages/{id}``,
  ``/users/{m}/mailFolders/{f}/messages`` and ``.../messages/delta`` (``$select``, ``$top`` <=
  1000, ``$filter`` on receivedDateTime, ``Prefer: odata.maxpagesize``, next links with
  ``$skip``/``$skiptoken``, delta links, ``@removed``), ``/users/{m}/calendarView`` and
  ``calendarView/delta``, ``/users/{m}/events/{id}`` (series masters too),
  ``/users/{m}/events/{id}/instances``, ``POST /$batch`` (<= 20). Bodies are refused as
  Mail.ReadBasic.All would (403).
* Real shapes (:class:`sandbox.fidelity.Fidelity`, option ``fidelity``): Exchange Global
  Object Id iCalUIds, delta occurrences trimmed to id/type/seriesMasterId/start/end, Sent
  Items without internetMessageHeaders, ``$top`` capping a delta round (``capped_rounds``),
  ``$batch`` parts counted against the mailbox concurrency (``refused_batch_parts``).
* Messages' MAPI string properties In-Reply-To (0x1042), References (0x1039) and Message-ID
  (0x1035) through ``$expand=singleValueExtendedProperties($filter=id eq '…' or …)``, built
  from the seed's raw header block — only when the app holds Mail.Read (``mail_read=True``).
  By default the app holds what DESIGN.md grants, Mail.ReadBasic.All, which excludes
  extended properties: such an ``$expand`` answers 403.
* Limits and faults: more than ``mailbox_concurrency`` (4) requests in flight for one mailbox
  → 429 ApplicationThrottled with Retry-After; :meth:`inject` queues 429/5xx answers
  (also inside ``$batch``); ``latency``; :meth:`expire_delta_tokens` makes stored delta links
  answer 410 syncStateNotFound; :meth:`chaos` adds seeded random faults of every kind
  (see :mod:`sandbox.chaos`). Every request is logged in :attr:`requests` for tests.

Credentials for the client: :meth:`sources` returns ``[[sources]]`` tables whose secret is in
``client_secret_file`` (a 0600 file in ``secrets_dir``); :attr:`secret_env` gives the same
secret as an environment variable for callers that prefer ``client_secret_env``.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from sandbox.chaos import Chaos
from sandbox.fidelity import Fidelity
from sandbox.http import write_secret
from sandbox.microsoft_data import (
    FOLDERS,
    Event,
    Mailbox,
    Message,
    Store,
    folder_id,
    iso_z,
)
from sandbox.microsoft_tls import make_tls
from sandbox.seed import MailboxSeed

SECRET_ENV = "OVERLAP_MSGRAPH_CLIENT_SECRET"
MAX_TOP = 1000
DEFAULT_PAGE = 10  # Graph's default page size for messages and events
MAX_BATCH = 20
CUT_HEADER = "X-Sandbox-Cut"  # internal: graph() asks the handler to hang up (chaos)
_BODY_PROPS = frozenset({"body", "bodyPreview", "uniqueBody", "attachments"})
_MESSAGE_PROPS = frozenset({
    "id", "createdDateTime", "lastModifiedDateTime", "receivedDateTime", "sentDateTime",
    "hasAttachments", "internetMessageId", "subject", "importance", "parentFolderId",
    "conversationId", "conversationIndex", "isRead", "isDraft", "from", "sender",
    "toRecipients", "ccRecipients", "bccRecipients", "replyTo", "internetMessageHeaders",
    "categories", "changeKey", "flag", "webLink", "inferenceClassification",
}) | _BODY_PROPS
_EVENT_PROPS = frozenset({
    "id", "iCalUId", "subject", "isAllDay", "isCancelled", "isOrganizer", "type",
    "seriesMasterId", "originalStart", "originalStartTimeZone", "originalEndTimeZone", "start",
    "end", "showAs", "responseStatus", "organizer", "attendees", "location", "locations",
    "recurrence", "categories", "createdDateTime", "lastModifiedDateTime", "changeKey",
}) | _BODY_PROPS
_EXPAND = re.compile(r"^\s*singleValueExtendedProperties\s*\(\s*\$filter\s*=(.*)\)\s*$", re.I)
_EXPAND_ID = re.compile(r"^\s*id\s+eq\s+'([^']+)'\s*$", re.I)
_FILTER_TERM = re.compile(r"^\s*receivedDateTime\s+(ge|gt|lt|le)\s+(\S+)\s*$", re.I)


@dataclass
class Fault:
    status: int
    times: int
    match: str
    retry_after: float | None
    code: str


@dataclass
class LoggedRequest:
    method: str
    path: str
    status: int
    mailbox: str | None
    in_batch: bool
    at: float = field(default_factory=time.monotonic)


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def _b64(d: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(d, separators=(",", ":")).encode()).decode().rstrip("=")


def _unb64(s: str) -> dict[str, Any]:
    try:
        out = json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
    except (ValueError, TypeError):
        raise GraphError(400, "BadRequest", "Invalid state token.") from None
    if not isinstance(out, dict):
        raise GraphError(400, "BadRequest", "Invalid state token.")
    return out


def _parse_time(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.strip().strip("'").replace("Z", "+00:00"))
    except ValueError:
        raise GraphError(400, "BadRequest", f"Invalid date/time value '{text}'.") from None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)


def _select(obj: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    if not select:
        return obj
    # an expanded navigation property comes whatever $select says
    keep = set(select) | {"id", "@odata.etag", "@odata.type", "singleValueExtendedProperties"}
    return {k: v for k, v in obj.items() if k in keep}


class MicrosoftSandbox:
    """A running sandbox; see the module docstring."""

    def __init__(self, seeds: dict[str, MailboxSeed], *, host: str, port: int, secrets_dir: Path,
                 tenant_id: str = "00000000-0000-4000-8000-00000000feed",
                 client_id: str = "11111111-1111-4111-8111-0000000c1e47",
                 client_secret: str | None = None, token_lifetime: float = 3600.0,
                 mailbox_concurrency: int = 4, retry_after: float = 1.0, latency: float = 0.0,
                 sent_headers: bool | None = None, fidelity: Fidelity | None = None,
                 mail_read: bool = False) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.secret = client_secret or secrets.token_urlsafe(24)
        self.token_lifetime = token_lifetime
        self.mailbox_concurrency = mailbox_concurrency
        self.retry_after = retry_after
        self.latency = latency
        # The app holds Mail.Read: extended properties of messages are readable. False:
        # Mail.ReadBasic.All only ("all properties except body, previewBody, attachments and
        # any extended properties"): $expand of them answers 403, as a body does.
        self.mail_read = mail_read
        self.fidelity = fidelity or Fidelity.default()
        if sent_headers is not None:  # the older, narrower switch
            self.fidelity = replace(self.fidelity, sent_items_without_headers=not sent_headers)
        self.store = Store(seeds, fidelity=self.fidelity)
        self.requests: list[LoggedRequest] = []
        # What the real shapes did to a client, for tests: delta rounds cut short by $top
        # (items never delivered), $batch parts refused by the mailbox concurrency limit.
        self.capped_rounds = 0
        self.refused_batch_parts = 0
        self._tokens: dict[str, float] = {}
        self._faults: list[Fault] = []
        self.random_faults: Chaos | None = None  # set by chaos()
        self._inflight: dict[str, int] = {}
        self._mu = threading.Lock()
        self.secrets_dir = Path(secrets_dir)
        tls = make_tls(self.secrets_dir, (host, "localhost") if host != "localhost" else (host,))
        self.ca_file = tls.ca_file
        self.secret_file = write_secret(self.secrets_dir / "msgraph-client-secret",
                                        self.secret + "\n")

        sandbox = self

        class Handler(_Handler):
            box = sandbox

        self._httpd = _Server((host, port), Handler)
        self._httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
        # Handshake in the handler thread, not in accept(): one slow client must not stall all.
        self._httpd.socket = ctx.wrap_socket(self._httpd.socket, server_side=True,
                                             do_handshake_on_connect=False)
        self.host = host
        self.port = self._httpd.server_address[1]
        self.url = f"https://{host}:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="msgraph-sandbox",
                                        daemon=True)
        self._thread.start()

    # --- for callers ------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"{self.url}/v1.0"

    @property
    def authority(self) -> str:
        return f"{self.url}/{self.tenant_id}"

    @property
    def secret_env(self) -> dict[str, str]:
        """The secret as the environment variable msgraph sources read by default."""
        return {SECRET_ENV: self.secret}

    def sources(self, mailboxes: list[str], *, name: str = "msgraph",
                streams: list[str] | None = None) -> list[dict[str, Any]]:
        """``[[sources]]`` tables for sandbox.toml (paths absolute; the secret in a 0600 file)."""
        table: dict[str, Any] = {
            "kind": "msgraph", "name": name, "mailboxes": sorted(mailboxes),
            "tenant_id": self.tenant_id, "client_id": self.client_id,
            "client_secret_file": str(self.secret_file), "authority": self.authority,
            "endpoint": self.endpoint, "ca_file": str(self.ca_file),
        }
        if streams:
            table["streams"] = streams
        if self.mail_read:  # the app may read extended properties: ask for them
            table["reply_headers"] = True
        return [table]

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> MicrosoftSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- faults -----------------------------------------------------------------------------

    def inject(self, status: int, *, times: int = 1, match: str = "/users/",
               retry_after: float | None = None, code: str | None = None) -> None:
        """Answer the next ``times`` Graph requests whose path contains ``match`` with
        ``status`` (429 gets ``Retry-After`` when given; also applies to $batch parts)."""
        default = {429: "TooManyRequests", 503: "ServiceNotAvailable", 504: "GatewayTimeout"}
        with self._mu:
            self._faults.append(Fault(status, times, match, retry_after,
                                      code or default.get(status, "InternalServerError")))

    def chaos(self, rate: float, seed: int = 0, **options: Any) -> Chaos:
        """From now on fail ``rate`` of the Graph requests ($batch parts too; the identity
        endpoints are spared) at random; see :class:`sandbox.chaos.Chaos` for the
        kinds and options. Returns it (its ``injected`` counts the faults)."""
        with self._mu:
            self.random_faults = Chaos(rate, seed, **options)
            return self.random_faults

    def expire_tokens(self) -> None:
        """Every access token issued so far stops working now (msal still thinks it valid)."""
        with self._mu:
            self._tokens.clear()

    def expire_delta_tokens(self, mailbox: str | None = None) -> None:
        self.store.expire_delta_tokens(mailbox)

    def graph_requests(self, mailbox: str | None = None,
                       pred: Callable[[LoggedRequest], bool] | None = None) -> list[LoggedRequest]:
        with self._mu:
            return [r for r in self.requests if r.path.startswith("/v1.0")
                    and (mailbox is None or r.mailbox == mailbox.lower())
                    and (pred is None or pred(r))]

    def reset_log(self) -> None:
        with self._mu:
            self.requests.clear()

    # --- internals --------------------------------------------------------------------------

    def _log(self, method: str, path: str, status: int, mailbox: str | None,
             in_batch: bool) -> None:
        with self._mu:
            self.requests.append(LoggedRequest(method, path, status, mailbox, in_batch))

    def _take_fault(self, path: str) -> Fault | None:
        with self._mu:
            for f in self._faults:
                if f.match in path and f.times > 0:
                    f.times -= 1
                    return f
        return None

    def _issue_token(self) -> str:
        tok = secrets.token_urlsafe(32)
        with self._mu:
            self._tokens[tok] = time.monotonic() + self.token_lifetime
        return tok

    def _token_ok(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        with self._mu:
            exp = self._tokens.get(header[7:])
        return exp is not None and exp > time.monotonic()

    def _enter(self, mailbox: str) -> bool:
        with self._mu:
            n = self._inflight.get(mailbox, 0)
            if n >= self.mailbox_concurrency:
                return False
            self._inflight[mailbox] = n + 1
            return True

    def _leave(self, mailbox: str) -> None:
        with self._mu:
            self._inflight[mailbox] -= 1

    # --- identity ---------------------------------------------------------------------------

    def openid(self, tenant: str) -> dict[str, Any]:
        base = f"{self.url}/{tenant}"
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "issuer": f"{base}/v2.0",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                      "client_secret_basic"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "tenant_region_scope": "EU",
        }

    def token(self, tenant: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        def aad(status: int, error: str, code: int, text: str) -> tuple[int, dict[str, Any]]:
            trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
            return status, {"error": error, "error_description": f"AADSTS{code}: {text}\r\n"
                            f"Trace ID: {trace}\r\nCorrelation ID: {corr}\r\nTimestamp: "
                            f"{iso_z(datetime.now(UTC))}", "error_codes": [code],
                            "timestamp": iso_z(datetime.now(UTC)), "trace_id": trace,
                            "correlation_id": corr}

        if tenant != self.tenant_id:
            return aad(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return aad(400, "unsupported_grant_type", 70003, "The app requested an unsupported "
                       "grant type.")
        if form.get("client_id") != self.client_id:
            return aad(400, "unauthorized_client", 700016, f"Application with identifier "
                       f"'{form.get('client_id')}' was not found in the directory '{tenant}'.")
        if not secrets.compare_digest(form.get("client_secret", ""), self.secret):
            return aad(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure "
                       "the secret being sent in the request is the client secret value, not "
                       f"the client secret ID, for a secret added to app '{self.client_id}'.")
        if ".default" not in form.get("scope", ""):
            return aad(400, "invalid_scope", 1002012, "The provided value for scope is not valid."
                       " Client credential flows must have a scope value with /.default.")
        lifetime = int(self.token_lifetime)
        return 200, {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                     "access_token": self._issue_token()}

    # --- Graph ------------------------------------------------------------------------------

    def graph(self, method: str, target: str, headers: dict[str, str], body: Any,
              in_batch: bool = False,
              slot_held: bool = False) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Dispatch one Graph request (top level or a $batch part)."""
        split = urlsplit(target)
        path = split.path
        if not path.startswith("/v1.0"):
            path = "/v1.0" + path  # $batch parts are relative to the version
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        parts = path.split("/")
        mailbox = parts[3].lower() if len(parts) > 3 and parts[2] == "users" else None
        status, out, extra = 500, {}, {}
        try:
            if not in_batch and not self._token_ok(headers.get("authorization")):
                raise GraphError(401, "InvalidAuthenticationToken",
                                 "Access token has expired or is not yet valid.",
                                 {"WWW-Authenticate": 'Bearer error="invalid_token"'})
            fault = self._take_fault(path)
            if fault is not None:
                h = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
                raise GraphError(fault.status, fault.code, "Injected fault.", h)
            cut = self._random_fault(mailbox, in_batch)
            if cut == "drop":
                self._log(method, path, 0, mailbox, in_batch)
                return 200, {}, {CUT_HEADER: cut}
            if cut == "truncate":
                extra[CUT_HEADER] = cut
            if path == "/v1.0/$batch" and method == "POST" and not in_batch:
                status, out = 200, self._batch(body, headers)
            elif mailbox is not None and method == "GET":
                if not slot_held and not self._enter(mailbox):
                    raise GraphError(429, "ApplicationThrottled",
                                     "Application is over its MailboxConcurrency limit.",
                                     {"Retry-After": f"{self.retry_after:g}"})
                try:
                    if self.latency:
                        time.sleep(self.latency)
                    status, out = 200, self._user(mailbox, parts[4:], query, headers, path)
                finally:
                    if not slot_held:
                        self._leave(mailbox)
            else:
                raise GraphError(400, "BadRequest", f"Unsupported request {method} {path}.")
        except GraphError as exc:
            status, extra = exc.status, {**exc.headers, **{
                k: v for k, v in extra.items() if k == CUT_HEADER}}
            out = {"error": {"code": exc.code, "message": exc.message, "innerError": {
                "date": iso_z(datetime.now(UTC)), "request-id": str(uuid.uuid4()),
                "client-request-id": str(uuid.uuid4())}}}
            extra.setdefault("request-id", out["error"]["innerError"]["request-id"])
        self._log(method, path, status, mailbox, in_batch)
        return status, out, extra

    def _random_fault(self, mailbox: str | None, in_batch: bool) -> str | None:
        """Apply a random fault (chaos()) to this request: raises the error answers, sleeps,
        expires cursors or tokens; returns "drop"/"truncate" for the handler to carry out."""
        chaos = self.random_faults
        kind = chaos.draw(part=in_batch) if chaos is not None else None
        if chaos is None or kind is None:
            return None
        if kind == "429":
            raise GraphError(429, "TooManyRequests", "Injected fault.",
                             {"Retry-After": f"{chaos.retry_after:g}"})
        if kind in ("500", "503"):
            raise GraphError(int(kind), "ServiceNotAvailable" if kind == "503"
                             else "InternalServerError", "Injected fault.")
        if kind == "token":
            self.expire_tokens()
            if not in_batch:  # parts carry no token: the batch's own request was checked
                raise GraphError(401, "InvalidAuthenticationToken",
                                 "Access token has expired or is not yet valid.",
                                 {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if kind == "cursor" and mailbox is not None:
            self.expire_delta_tokens(mailbox)
        if kind in ("slow", "timeout"):
            time.sleep(chaos.slow if kind == "slow" else chaos.hang)
        return kind if kind in ("drop", "truncate") else None

    def _batch(self, body: Any, headers: dict[str, str]) -> dict[str, Any]:
        reqs = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(reqs, list) or not reqs:
            raise GraphError(400, "BadRequest", "Invalid batch payload.")
        if len(reqs) > MAX_BATCH:
            raise GraphError(400, "BadRequest", f"Exceeded maximum number of requests in batch "
                             f"({MAX_BATCH}).")
        if not self.fidelity.throttled_batch_parts:  # idealised: one part after another
            out = []
            for r in reqs:
                h = {k.lower(): str(v) for k, v in (r.get("headers") or {}).items()}
                status, pbody, pheaders = self.graph(str(r.get("method", "GET")).upper(),
                                                     str(r.get("url", "")), h, r.get("body"),
                                                     True)
                out.append({"id": r.get("id"), "status": status, "headers": pheaders,
                            "body": pbody})
            return {"responses": out}
        return {"responses": self._concurrent_parts(reqs)}

    def _concurrent_parts(self, reqs: list[Any]) -> list[dict[str, Any]]:
        """Graph runs the parts of a batch concurrently (unless ``dependsOn`` orders them), and
        each counts against its mailbox's concurrency limit: every part takes its slot first,
        the parts that find none answer 429 ApplicationThrottled with Retry-After."""
        held: list[str] = []
        refused: set[int] = set()
        for i, r in enumerate(reqs):
            parts = ("/v1.0" + urlsplit(str(r.get("url", ""))).path).split("/")
            mailbox = parts[3].lower() if len(parts) > 3 and parts[2] == "users" else None
            if mailbox is None:
                continue
            if self._enter(mailbox):
                held.append(mailbox)
            else:
                refused.add(i)
        out = []
        try:
            for i, r in enumerate(reqs):
                if i in refused:
                    with self._mu:
                        self.refused_batch_parts += 1
                    err = GraphError(429, "ApplicationThrottled", "Application is over its "
                                     "MailboxConcurrency limit.",
                                     {"Retry-After": f"{self.retry_after:g}"})
                    self._log("GET", "/v1.0" + urlsplit(str(r.get("url", ""))).path, 429,
                              None, True)
                    out.append({"id": r.get("id"), "status": 429, "headers": err.headers,
                                "body": {"error": {"code": err.code, "message": err.message}}})
                    continue
                h = {k.lower(): str(v) for k, v in (r.get("headers") or {}).items()}
                status, pbody, pheaders = self.graph(str(r.get("method", "GET")).upper(),
                                                     str(r.get("url", "")), h, r.get("body"),
                                                     True, slot_held=True)
                out.append({"id": r.get("id"), "status": status, "headers": pheaders,
                            "body": pbody})
        finally:
            for mailbox in held:
                self._leave(mailbox)
        return out

    def _box(self, mailbox: str) -> Mailbox:
        try:
            return self.store.box(mailbox)
        except KeyError:
            raise GraphError(404, "ErrorInvalidUser",
                             f"The requested user '{mailbox}' is invalid.") from None

    def _user(self, mailbox: str, rest: list[str], q: dict[str, str], headers: dict[str, str],
              path: str) -> dict[str, Any]:
        with self.store.lock:
            box = self._box(mailbox)
            prefer = headers.get("prefer", "")
            m = re.search(r"odata\.maxpagesize=(\d+)", prefer)
            page = int(m.group(1)) if m else DEFAULT_PAGE
            base = f"{self.url}{path}"
            if rest == ["messages"]:
                return self._list_messages(box, None, q, page, base)
            if len(rest) == 2 and rest[0] == "messages":
                msg = box.messages.get(rest[1])
                if msg is None:
                    raise GraphError(404, "ErrorItemNotFound", "The specified object was not "
                                     "found in the store.")
                return _select(self._message(box, msg, self._expand(q)),
                               self._select(q, _MESSAGE_PROPS))
            if len(rest) >= 3 and rest[0] == "mailFolders" and rest[2] == "messages":
                folder = self._folder(box, rest[1])
                if rest[3:] == ["delta"]:
                    return self._mail_delta(box, folder, q, page, base)
                if len(rest) == 3:
                    return self._list_messages(box, folder, q, page, base)
            if rest == ["calendarView"]:
                return self._calendar_view(box, q, page, base)
            if rest == ["calendarView", "delta"]:
                return self._calendar_delta(box, q, page, base)
            if len(rest) == 3 and rest[0] == "events" and rest[2] == "instances":
                return self._instances(box, rest[1], q, page, base)
            if len(rest) == 2 and rest[0] == "events":
                ev = box.events.get(rest[1]) or box.masters.get(rest[1])
                if ev is None:
                    raise GraphError(404, "ErrorItemNotFound", "The specified object was not "
                                     "found in the store.")
                return _select(ev.to_graph(), self._select(q, _EVENT_PROPS))
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{rest[0]}'.")

    def _folder(self, box: Mailbox, ref: str) -> str:
        low = ref.lower()
        if low in FOLDERS:
            return low
        for f in FOLDERS:
            if folder_id(box.address, f) == ref:
                return f
        raise GraphError(404, "ErrorItemNotFound", "The specified folder could not be found.")

    def _select(self, q: dict[str, str], known: frozenset[str]) -> list[str] | None:
        raw = q.get("$select")
        if not raw:
            return None
        props = [p.strip() for p in raw.split(",") if p.strip()]
        for p in props:
            if p in _BODY_PROPS:
                # Mail.ReadBasic.All / Calendars.ReadBasic never give bodies.
                raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials"
                                 " and try again.")
            if p not in known:
                raise GraphError(400, "RequestBroker--ParseUri",
                                 f"Could not find a property named '{p}' on type "
                                 "'microsoft.graph.message'.")
        return props

    def _top(self, q: dict[str, str], page: int) -> int:
        if "$top" in q:
            try:
                top = int(q["$top"])
            except ValueError:
                raise GraphError(400, "BadRequest", "Invalid $top value.") from None
            if not 1 <= top <= MAX_TOP:
                raise GraphError(400, "ErrorInvalidArgument",
                                 f"The value of $top must be between 1 and {MAX_TOP}.")
            return top
        return min(page, MAX_TOP)

    def _filter(self, q: dict[str, str], delta: bool) -> list[tuple[str, datetime]]:
        raw = q.get("$filter")
        if not raw:
            return []
        terms = []
        for part in re.split(r"\s+and\s+", raw, flags=re.I):
            m = _FILTER_TERM.match(part)
            if not m:
                raise GraphError(400, "ErrorInvalidUrlQueryFilter",
                                 "The query filter contains one or more invalid nodes.")
            op = m.group(1).lower()
            if delta and op not in ("ge", "gt"):
                # delta supports only receivedDateTime ge/gt.
                raise GraphError(400, "ErrorInvalidUrlQueryFilter",
                                 "The query filter contains one or more invalid nodes.")
            terms.append((op, _parse_time(m.group(2))))
        return terms

    @staticmethod
    def _matches(t: datetime, terms: Iterable[tuple[str, datetime]]) -> bool:
        for op, v in terms:
            if not {"ge": t >= v, "gt": t > v, "lt": t < v, "le": t <= v}[op]:
                return False
        return True

    def _message(self, box: Mailbox, msg: Message,
                 extended: list[str] | None = None) -> dict[str, Any]:
        # Items that never crossed a transport (Sent Items) carry no internetMessageHeaders;
        # Exchange still keeps In-Reply-To/References on them as MAPI properties.
        bare = self.fidelity.sent_items_without_headers and msg.folder == "sentitems"
        return msg.to_graph(box.address, with_headers=not bare, extended=extended)

    def _expand(self, q: dict[str, str]) -> list[str] | None:
        """``$expand=singleValueExtendedProperties($filter=id eq 'A' or id eq 'B')`` → the ids
        asked for (None without ``$expand``). Anything else to expand is refused (400); with
        Mail.ReadBasic.All only, extended properties are refused (403)."""
        raw = q.get("$expand")
        if raw is None:
            return None
        m = _EXPAND.match(raw)
        terms = re.split(r"\s+or\s+", m.group(1).strip(), flags=re.I) if m else []
        ids = [t.group(1) for t in (_EXPAND_ID.match(term) for term in terms) if t]
        if not ids or len(ids) != len(terms):
            raise GraphError(400, "BadRequest", "Parsing OData Select and Expand failed.")
        if not self.mail_read:
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials"
                             " and try again.")
        return ids

    def _list_messages(self, box: Mailbox, folder: str | None, q: dict[str, str], page: int,
                       base: str) -> dict[str, Any]:
        select = self._select(q, _MESSAGE_PROPS)
        extended = self._expand(q)
        terms = self._filter(q, delta=False)
        top = self._top(q, page)
        skip = int(q.get("$skip", "0") or 0)
        msgs = sorted((m for m in box.messages.values()
                       if (folder is None or m.folder == folder) and m.folder != "drafts"
                       and self._matches(m.received, terms)),
                      key=lambda m: (m.received, m.id), reverse=True)
        chunk = msgs[skip:skip + top]
        out: dict[str, Any] = {
            "@odata.context": f"{self.url}/v1.0/$metadata#users('{box.address}')/messages",
            "value": [_select(self._message(box, m, extended), select) for m in chunk]}
        if skip + top < len(msgs):
            nq = {k: v for k, v in q.items() if k != "$skip"}
            nq["$skip"] = str(skip + top)
            out["@odata.nextLink"] = f"{base}?{urlencode(nq, safe='$,:')}"
        return out

    def _state(self, box: Mailbox, q: dict[str, str], kind: str) -> dict[str, Any] | None:
        tok = q.get("$deltatoken") or q.get("$skiptoken")
        if not tok:
            return None
        st = _unb64(tok)
        if st.get("k") != kind or st.get("m") != box.address:
            raise GraphError(400, "BadRequest", "Invalid state token.")
        if st.get("ep") != box.epoch:
            raise GraphError(410, "syncStateNotFound", "The sync state generation is not found.",
                             {"Location": st.get("base", "")})
        return st

    def _mail_delta(self, box: Mailbox, folder: str, q: dict[str, str], page: int,
                    base: str) -> dict[str, Any]:
        st = self._state(box, q, "mail")
        if st is None:
            capped = self.fidelity.top_caps_delta_round and "$top" in q
            st = {"k": "mail", "m": box.address, "f": folder, "ep": box.epoch,
                  "terms": [(op, iso_z(t)) for op, t in self._filter(q, delta=True)],
                  "sel": self._select(q, _MESSAGE_PROPS), "exp": self._expand(q),
                  # real: the page size is Prefer's; $top caps the whole round (#2232)
                  "top": min(page, MAX_TOP) if capped else self._top(q, page),
                  "cap": self._top(q, page) if capped else None,
                  "since": 0, "base": base}
        if "$deltatoken" in q or "upto" not in st:
            st = dict(st, upto=self.store.seq, after="", sent=0)  # a new round starts here
        terms = [(op, _parse_time(t)) for op, t in st["terms"]]
        items = sorted((m for m in box.messages.values()
                        if m.folder == st["f"] and st["since"] < m.seq <= st["upto"]
                        and self._matches(m.received, terms) and m.id > st["after"]),
                       key=lambda m: m.id)
        top = int(st["top"])
        if st.get("cap") is not None:
            top = min(top, int(st["cap"]) - int(st.get("sent", 0)))
        chunk = items[:top]
        value: list[dict[str, Any]] = [_select(self._message(box, m, st.get("exp")), st["sel"])
                                       for m in chunk]
        cut = st.get("cap") is not None and len(items) > top \
            and int(st.get("sent", 0)) + len(chunk) >= int(st["cap"])
        if cut:
            with self._mu:
                self.capped_rounds += 1  # the rest of the round is never delivered
        if len(items) > top and not cut:
            nxt = dict(st, after=chunk[-1].id, sent=int(st.get("sent", 0)) + len(chunk))
            link = {"@odata.nextLink": f"{base}?{urlencode({'$skiptoken': _b64(nxt)}, safe='$')}"}
        else:
            if st["since"]:
                value += [{"@odata.type": "#microsoft.graph.message", "id": t.id,
                           "@removed": {"reason": "deleted"}} for t in box.tombstones
                          if t.kind == "mail" and t.folder == st["f"]
                          and st["since"] < t.seq <= st["upto"]]
            done = {k: v for k, v in st.items() if k not in ("after", "upto", "sent")}
            done["since"] = st["upto"]
            link = {"@odata.deltaLink": f"{base}?{urlencode({'$deltatoken': _b64(done)}, safe='$')}"}
        return {"@odata.context": f"{self.url}/v1.0/$metadata#Collection(message)",
                **link, "value": value}

    def _window(self, q: dict[str, str]) -> tuple[datetime, datetime]:
        if "startDateTime" not in q or "endDateTime" not in q:
            raise GraphError(400, "ErrorInvalidParameter", "This request requires a time window"
                             " specified by the query string parameters StartDateTime and "
                             "EndDateTime.")
        return _parse_time(q["startDateTime"]), _parse_time(q["endDateTime"])

    def _instances(self, box: Mailbox, master: str, q: dict[str, str], page: int,
                   base: str) -> dict[str, Any]:
        """``GET /events/{master}/instances``: the occurrences and exceptions of one series in
        a window, in full (people, iCalUId, isCancelled), as calendarView lists them."""
        if master not in box.masters:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in "
                             "the store.")
        return self._calendar_view(box, q, page, base, master=master)

    def _calendar_view(self, box: Mailbox, q: dict[str, str], page: int,
                       base: str, master: str | None = None) -> dict[str, Any]:
        start, end = self._window(q)
        select = self._select(q, _EVENT_PROPS)
        top = self._top(q, page)
        skip = int(q.get("$skip", "0") or 0)
        evs = sorted((e for e in box.events.values() if e.overlaps(start, end)
                      and (master is None or e.master_id == master)),
                     key=lambda e: (e.occ.start, e.id))
        out: dict[str, Any] = {"value": [_select(e.to_graph(), select)
                                         for e in evs[skip:skip + top]]}
        if skip + top < len(evs):
            nq = dict(q, **{"$skip": str(skip + top)})
            out["@odata.nextLink"] = f"{base}?{urlencode(nq, safe='$,:')}"
        return out

    def _calendar_delta(self, box: Mailbox, q: dict[str, str], page: int,
                        base: str) -> dict[str, Any]:
        st = self._state(box, q, "cal")
        if st is None:
            if any(k in q for k in ("$select", "$filter", "$orderby", "$expand")):
                raise GraphError(400, "ErrorInvalidUrlQuery", "The following parameters are not "
                                 "supported with change tracking over the 'CalendarView' "
                                 "resource: '$orderby, $filter, $select, $expand, $search, $top'.")
            start, end = self._window(q)
            st = {"k": "cal", "m": box.address, "ep": box.epoch, "ws": iso_z(start),
                  "we": iso_z(end), "top": min(page, MAX_TOP), "since": 0,
                  "base": f"{base}?{urlencode(q, safe=':')}"}
        if "$deltatoken" in q or "upto" not in st:
            st = dict(st, upto=self.store.seq, after="")
        ws, we = _parse_time(st["ws"]), _parse_time(st["we"])
        items: list[Event] = sorted(
            (e for e in box.events.values() if st["since"] < e.seq <= st["upto"]
             and e.overlaps(ws, we) and e.id > st["after"]), key=lambda e: e.id)
        top = int(st["top"])
        chunk = items[:top]
        trim = self.fidelity.trimmed_occurrences
        value: list[dict[str, Any]] = [
            e.trimmed() if trim and e.master_id else e.to_graph() for e in chunk]
        if len(items) > top:
            nxt = dict(st, after=chunk[-1].id)
            link = {"@odata.nextLink": f"{base}?{urlencode({'$skiptoken': _b64(nxt)}, safe='$')}"}
        else:
            if st["since"]:
                # Like Graph, deletions are reported even for events outside the window.
                value += [{"@odata.type": "#microsoft.graph.event", "id": t.id,
                           "@removed": {"reason": "deleted"}} for t in box.tombstones
                          if t.kind == "event" and st["since"] < t.seq <= st["upto"]]
            done = {k: v for k, v in st.items() if k not in ("after", "upto")}
            done["since"] = st["upto"]
            link = {"@odata.deltaLink": f"{base}?{urlencode({'$deltatoken': _b64(done)}, safe='$')}"}
        return {"@odata.context": f"{self.url}/v1.0/$metadata#Collection(event)",
                **link, "value": value}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], OSError):
            return  # a client that refused our CA or hung up: its problem, not a server bug
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    box: MicrosoftSandbox
    protocol_version = "HTTP/1.1"
    server_version = "OverlapMicrosoftSandbox/1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # requests carry bearer tokens in headers and secrets in bodies: never print them

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        headers = dict(headers or {})
        cut = headers.pop(CUT_HEADER, None)  # a random fault (chaos): hang up
        if cut == "drop":
            self.close_connection = True
            return
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        if cut == "truncate":
            self.send_header("Connection", "close")
            data = data[:len(data) // 2]
        self.end_headers()
        self.wfile.write(data)

    def _headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers.items()}

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        path = urlsplit(self.path).path
        m = re.fullmatch(r"/([^/]+)/v2\.0/\.well-known/openid-configuration", path)
        if m:
            if m.group(1) != self.box.tenant_id:
                self._send(400, {"error": "invalid_tenant", "error_description":
                                 f"AADSTS90002: Tenant '{m.group(1)}' not found.",
                                 "error_codes": [90002]})
                return
            self._send(200, self.box.openid(m.group(1)))
            return
        status, body, headers = self.box.graph("GET", self.path, self._headers(), None)
        self._send(status, body, headers)

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        path = urlsplit(self.path).path
        raw = self._body()
        m = re.fullmatch(r"/([^/]+)/oauth2/v2\.0/token", path)
        if m:
            form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
            status, body = self.box.token(m.group(1), form)
            self.box._log("POST", path, status, None, False)
            self._send(status, body)
            return
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            self._send(400, {"error": {"code": "BadRequest", "message": "Invalid JSON."}})
            return
        status, body, headers = self.box.graph("POST", self.path, self._headers(), payload)
        self._send(status, body, headers)


def start(seeds: dict[str, MailboxSeed], *, host: str = "127.0.0.1", port: int = 0,
          secrets_dir: Path, **options: Any) -> MicrosoftSandbox:
    """Start the Microsoft sandbox in a background thread; ``stop()`` (or ``with``) ends it.

    Options: ``tenant_id``, ``client_id``, ``client_secret`` (random by default),
    ``token_lifetime`` (s), ``mailbox_concurrency`` (4), ``retry_after`` (s advertised when
    throttling), ``latency`` (s per Graph request), ``sent_headers`` (False: Sent Items carry
    no internetMessageHeaders, as many real ones do), ``mail_read`` (True: the app holds
    Mail.Read and may read extended properties; False, the default: Mail.ReadBasic.All only)."""
    return MicrosoftSandbox(seeds, host=host, port=port, secrets_dir=Path(secrets_dir), **options)
