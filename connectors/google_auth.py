"""What the Gmail and Google Calendar connectors share: credentials, the service object,
error classification, quota pacing and the retried call.

Credentials are a service account with domain-wide delegation: one key, and
``with_subject(mailbox)`` per rep. The key info comes from ``SyncRequest.credentials`` (the
Airflow task passes the parsed JSON of its connection), else from the file named by the
``key_file`` option, else by the environment variable named in ``key_file_env`` (default
``OVERLAP_GOOGLE_KEY_FILE``). Nothing here logs or raises with the key or a token in it.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httplib2
from google.auth.exceptions import RefreshError, TransportError
from google.oauth2 import service_account
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from connectors.api import AuthError, CursorExpired, SourceError, SyncRequest, SyncStats
from connectors.retry import (
    GOOGLE_RATE_LIMIT_REASONS,
    TRANSIENT_STATUSES,
    RetryPolicy,
    Transient,
    call_with_retry,
    parse_retry_after,
)

T = TypeVar("T")

DEFAULT_KEY_ENV = "OVERLAP_GOOGLE_KEY_FILE"
GMAIL_SCOPE = "https://www.googleapis.com/auth/gmail.metadata"
# Least privilege for events.list: events only — no calendar list, settings or ACLs.
CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar.events.readonly"
DEFAULT_QUOTA = 6000  # units per user per minute (Gmail's default for new projects)
DEFAULT_TIMEOUT = 60.0  # seconds per HTTP request


@dataclass(frozen=True)
class GoogleOptions:
    """The ``[[sources]]`` options a Google connector reads (see docs/google.md)."""

    endpoint: str | None = None
    quota_units_per_minute: int = DEFAULT_QUOTA
    quota_window_seconds: float = 60.0
    batch_size: int = 50
    timeout_seconds: float = DEFAULT_TIMEOUT
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @classmethod
    def from_request(cls, request: SyncRequest) -> GoogleOptions:
        o = request.options

        def number(name: str, default: float, low: float, high: float | None = None) -> float:
            value = o.get(name, default)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < low \
                    or (high is not None and value > high):
                bound = f"between {low:g} and {high:g}" if high is not None else f">= {low:g}"
                raise SourceError(f"source {request.source!r}: option {name} must be a number "
                                  f"{bound}")
            return float(value)

        endpoint = o.get("endpoint")
        if endpoint is not None and not isinstance(endpoint, str):
            raise SourceError(f"source {request.source!r}: option endpoint must be a URL")
        retry = RetryPolicy(attempts=int(number("retry_attempts", 8, 1)),
                            base=number("retry_base_seconds", 0.5, 0),
                            cap=number("retry_cap_seconds", 60, 0))
        return cls(endpoint=endpoint.rstrip("/") if endpoint else None,
                   quota_units_per_minute=int(number("quota_units_per_minute", DEFAULT_QUOTA, 1)),
                   quota_window_seconds=number("quota_window_seconds", 60, 0.001),
                   batch_size=int(number("batch_size", 50, 1, 100)),
                   timeout_seconds=number("timeout_seconds", DEFAULT_TIMEOUT, 0.001),
                   retry=retry)


def key_info(request: SyncRequest) -> dict[str, Any]:
    """The service-account key (parsed JSON) for ``request``; errors never quote it."""
    if request.credentials is not None:
        if not isinstance(request.credentials, dict):
            raise AuthError(f"source {request.source!r}: credentials must be the service "
                            "account key as a dict")
        return request.credentials
    path = request.options.get("key_file")
    where = "key_file"
    if not path:
        env = str(request.options.get("key_file_env") or DEFAULT_KEY_ENV)
        path = os.environ.get(env)
        where = f"environment variable {env}"
        if not path:
            raise AuthError(f"source {request.source!r}: no service-account key: set key_file "
                            f"or the {where}")
    try:
        with open(str(path), encoding="utf-8") as f:
            info = json.load(f)
    except OSError as exc:
        raise AuthError(f"source {request.source!r}: cannot read the key file named by "
                        f"{where}: {exc.strerror}") from None
    except ValueError:
        raise AuthError(f"source {request.source!r}: the key file named by {where} is not "
                        "JSON") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise AuthError(f"source {request.source!r}: the key file named by {where} is not a "
                        "service-account key")
    return info


def delegated_credentials(info: dict[str, Any], mailbox: str,
                          scope: str) -> service_account.Credentials:
    """Service-account credentials acting as ``mailbox`` (domain-wide delegation)."""
    try:
        creds = service_account.Credentials.from_service_account_info(info, scopes=[scope])
    except (ValueError, KeyError):
        raise AuthError("the service-account key is incomplete or malformed") from None
    return creds.with_subject(mailbox)


def build_service(api: str, version: str, creds: service_account.Credentials,
                  endpoint: str | None, timeout: float) -> Any:
    """The API client from the library's bundled discovery document (no network), talking
    to ``endpoint`` when given (the sandbox)."""
    http = AuthorizedHttp(creds, http=httplib2.Http(timeout=timeout))
    client_options = None
    if endpoint:
        # api_endpoint replaces rootUrl + servicePath: Calendar's paths are relative to
        # /calendar/v3/, Gmail's already start with gmail/v1/.
        client_options = {"api_endpoint": endpoint + ("/calendar/v3/" if api == "calendar"
                                                      else "")}
    return build(api, version, http=http, client_options=client_options,
                 static_discovery=True, cache_discovery=False)


def batch_uri(endpoint: str | None) -> str:
    # new_batch_http_request() ignores api_endpoint and would post to Google: name it.
    return (endpoint or "https://gmail.googleapis.com") + "/batch/gmail/v1"


def error_reason(exc: HttpError) -> str | None:
    try:
        details = json.loads(exc.content.decode("utf-8", "replace"))["error"]
        errors = details.get("errors") or [{}]
        return str(errors[0].get("reason") or details.get("status") or "") or None
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return None


def _message(exc: HttpError) -> str:
    try:
        return str(json.loads(exc.content.decode("utf-8", "replace"))["error"]["message"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return exc.resp.reason or "error"


def request_id(exc: HttpError) -> str | None:
    for name in ("x-goog-request-id", "x-request-id"):
        value = exc.resp.get(name)
        if value:
            return str(value)
    return None


def is_transient(exc: HttpError) -> bool:
    status = exc.resp.status
    return status in TRANSIENT_STATUSES or (
        status == 403 and error_reason(exc) in GOOGLE_RATE_LIMIT_REASONS)


def classify(exc: BaseException, what: str, expired: tuple[int, ...] = (410,)) -> Exception:
    """An exception from the client → Transient (retry), CursorExpired, AuthError or
    SourceError. Messages carry the status, reason and Google's message, never a secret."""
    if isinstance(exc, HttpError):
        status = exc.resp.status
        reason = error_reason(exc)
        text = f"{what}: HTTP {status} {reason or ''} {_message(exc)}".replace("  ", " ")
        if is_transient(exc):
            return Transient(text, retry_after=parse_retry_after(exc.resp.get("retry-after")))
        if status in expired:
            return CursorExpired(text, request_id=request_id(exc))
        if status in (401, 403):
            return AuthError(text, request_id=request_id(exc))
        return SourceError(text, request_id=request_id(exc))
    if isinstance(exc, RefreshError):
        # google-auth puts Google's OAuth error ("invalid_grant: Invalid email or User ID")
        # in args[0]; args[1] is the response body, which holds no token on failure.
        detail = str(exc.args[0]) if exc.args else "token request refused"
        if getattr(exc, "retryable", False):
            return Transient(f"{what}: token request failed: {detail}")
        return AuthError(f"{what}: the token endpoint refused the service account: {detail}")
    if isinstance(exc, TransportError | httplib2.HttpLib2Error | OSError | socket.timeout
                  | http.client.HTTPException | json.JSONDecodeError):
        # Network failures, and bodies cut short or mangled on the way (IncompleteRead, a
        # JSON document that ends early): retried, never read as a short page.
        return Transient(f"{what}: {type(exc).__name__}: {exc}")
    return SourceError(f"{what}: {type(exc).__name__}")


class QuotaPacer:
    """Keeps one user's spend under ``units`` per ``window`` seconds (a sliding window, as
    Google counts), waiting before a call that would exceed it."""

    def __init__(self, units: int, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.units = units
        # Google counts a call when it arrives and a batch part when it is processed: leave
        # a margin so our clock's window never ends before theirs — 2% plus up to 0.1 s, in
        # proportion to the window (a fixed 0.1 s would cost 10% of a 1-second test window).
        self.window = window * 1.02 + min(0.1, window * 0.005)
        self.clock = clock
        self.sleep = sleep
        self.waited = 0.0
        self._spent: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()

    def acquire(self, cost: int) -> None:
        cost = min(cost, self.units)
        while True:
            with self._lock:
                now = self.clock()
                while self._spent and self._spent[0][0] <= now - self.window:
                    self._spent.popleft()
                used = sum(u for _, u in self._spent)
                if used + cost <= self.units:
                    self._spent.append((now, cost))
                    return
                # Wait until enough of the oldest spend leaves the window.
                need = used + cost - self.units
                freed = 0
                wait = self.window
                for t, u in self._spent:
                    freed += u
                    if freed >= need:
                        wait = t + self.window - now
                        break
            wait = max(wait, 0.001)
            self.waited += wait
            self.sleep(wait)


@dataclass
class Caller:
    """Runs API calls with the shared retry policy, quota pacing and statistics."""

    policy: RetryPolicy
    pacer: QuotaPacer
    stats: SyncStats

    def call(self, make: Callable[[], Any], cost: int, what: str,
             expired: tuple[int, ...] = (410,)) -> Any:
        """Execute one request (``make()`` builds it) with retries; returns the JSON.
        ``expired``: statuses meaning the cursor is no longer valid (CursorExpired)."""

        def once() -> Any:
            self.pacer.acquire(cost)
            self.stats.requests += 1
            self.stats.calls += 1
            self.stats.quota_units += cost
            try:
                return make().execute(num_retries=0)  # retries are ours: Retry-After honoured
            except Exception as exc:  # noqa: BLE001 - classified below, never swallowed
                raise classify(exc, what, expired) from None

        return self.retry(once)

    def retry(self, fn: Callable[[], T]) -> T:
        def count(_attempt: int, _exc: Transient) -> None:
            self.stats.retries += 1

        try:
            return call_with_retry(fn, self.policy, on_retry=count)
        except Transient as exc:
            raise SourceError(f"gave up after {self.policy.attempts} tries: {exc}",
                              transient=True) from None
