"""What the Gmail and Google Calendar connectors share: credentials, the service object,
error classification, quota pacing and the retried call.

Credentials are a service account with domain-wide delegation: one key, and
``with_subject(mailbox)`` per rep. The key info comes from ``SyncRequest.credentials`` (the
Airflow task passes the parsed JSON of its connection), else from the file named by the
``key_file`` option, else by the environment variable named in ``key_file_env`` (default
``OVERLAP_GOOGLE_KEY_FILE``). Nothing here logs or raises with the key or a token in it.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
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
DEFAULT_PROJECT_QUOTA = 1_200_000  # units per minute for the whole project (Gmail)
DEFAULT_TIMEOUT = 60.0  # seconds per HTTP request
MAX_BATCH = 50  # calls per batch request: the API takes 100, Google advises at most 50


@dataclass(frozen=True)
class GoogleOptions:
    """The ``[[sources]]`` options a Google connector reads (see docs/google.md)."""

    endpoint: str | None = None
    quota_units_per_minute: int = DEFAULT_QUOTA
    # App-wide: one pacer shared by the syncs running in one process (see shared_pacer).
    project_quota_units_per_minute: int = DEFAULT_PROJECT_QUOTA
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
                   project_quota_units_per_minute=int(number(
                       "project_quota_units_per_minute", DEFAULT_PROJECT_QUOTA, 1)),
                   quota_window_seconds=number("quota_window_seconds", 60, 0.001),
                   # Google allows 100 calls a batch and advises at most 50: 50 is the cap.
                   batch_size=int(number("batch_size", MAX_BATCH, 1, MAX_BATCH)),
                   timeout_seconds=number("timeout_seconds", DEFAULT_TIMEOUT, 0.001),
                   retry=retry)


def pages(fetch: Callable[[str | None], dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every page of a Google list method, written once: ``fetch(pageToken)`` (None first)
    until a page has no ``nextPageToken`` — that last page carries ``nextSyncToken``
    (Calendar) or the final ``historyId`` (Gmail). The caller may stop early."""
    token: str | None = None
    while True:
        page = fetch(token)
        yield page
        token = page.get("nextPageToken")
        if not token:
            return


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


_SIGNERS: dict[tuple[str, str], service_account.Credentials] = {}
_SIGNERS_LOCK = threading.Lock()


def delegated_credentials(info: dict[str, Any], mailbox: str,
                          scope: str) -> service_account.Credentials:
    """Service-account credentials acting as ``mailbox`` (domain-wide delegation).

    The key is parsed once per process: loading an RSA key checks it (~35 ms of CPU), which
    200 mailboxes starting at once would spend serially; ``with_subject`` reuses it."""
    digest = hashlib.sha256(json.dumps(info, sort_keys=True).encode("utf-8")).hexdigest()
    with _SIGNERS_LOCK:
        base = _SIGNERS.get((digest, scope))
    if base is None:
        try:
            base = service_account.Credentials.from_service_account_info(info, scopes=[scope])
        except (ValueError, KeyError):
            raise AuthError("the service-account key is incomplete or malformed") from None
        with _SIGNERS_LOCK:
            base = _SIGNERS.setdefault((digest, scope), base)
    return base.with_subject(mailbox)


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


@dataclass(eq=False)
class Spend:
    """Units reserved by one request (``calls`` calls of equal cost; a batch has several)."""

    units: int
    calls: int
    project: Spend | None = None  # the same units in the project-wide pacer
    settled: bool = False


class QuotaPacer:
    """Keeps a quota — one user's, or with ``project`` also the app-wide one — under ``units``
    per ``window`` seconds on a sliding window, as Google counts it, waiting before a call
    that would exceed it. Safe to share between threads.

    Google charges a call at some moment between our sending it and its answer arriving (a
    batch part when that part is processed), and we cannot see which: a reservation counts
    from before the send (:meth:`acquire`) until ``window`` seconds after the answer
    (:meth:`release`). That is never shorter than Google's own count, whatever the latency
    or the server's load, and costs one round trip per window (0.1% of a minute) — where a
    margin added to the window has to guess the round trip: 2.5% of a 1-second test window
    let a batch through too early when the machine was loaded.
    """

    def __init__(self, units: int, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 project: QuotaPacer | None = None) -> None:
        self.units = units
        self.window = window
        self.clock = clock
        self.sleep = sleep
        self.project = project
        self.waited = 0.0
        self._in_flight = 0  # units reserved by calls not yet answered
        self._done: deque[tuple[float, int]] = deque()  # (answered at, units), oldest first
        self._done_units = 0
        self._held: list[Spend] = []  # answered, leaving the window with the next one
        self._lock = threading.Lock()

    def acquire(self, cost: int) -> Spend:
        """Wait until a call of ``cost`` units fits; reserve it. :meth:`release` when answered."""
        return self.acquire_calls(cost, 1)

    def acquire_calls(self, each: int, most: int, least: int = 1, spare: int = 0) -> Spend:
        """Wait until ``least`` calls of ``each`` units fit, then reserve as many as fit now,
        up to ``most`` — or up to ``most + spare`` when less than ``least`` calls would be
        left. A batch is sized to the quota left: a small call does not hold a whole batch
        back until it leaves the window, and a remainder too small for a batch of its own
        rides along instead of idling or splitting into ever smaller batches."""
        spend = self._reserve(each, most, least, spare)
        if self.project is not None:
            try:
                spend.project = self.project._reserve(each, spend.calls,
                                                      min(least, spend.calls), 0)
            except BaseException:
                self._shrink(spend, 0)
                raise
            self._shrink(spend, spend.project.calls)
        return spend

    def forecast(self, each: int, most: int, least: int = 1, spare: int = 0) -> int:
        """How many calls :meth:`acquire_calls` would reserve once ``least`` fit, if nothing
        else is reserved meanwhile (with ``project``, in both): a batch can be built and
        encoded while its quota is still in use, and then reserved exactly."""
        calls = self._forecast(each, most, least, spare)
        if self.project is not None:
            calls = min(calls, self.project._forecast(each, most, least, spare))
        return calls

    def _forecast(self, each: int, most: int, least: int, spare: int) -> int:
        each = max(1, min(each, self.units))
        most = max(1, most)
        least = max(1, min(least, most, self.units // each))
        with self._lock:
            self._expire(self.clock())
            free = self.units - self._in_flight - self._done_units
            done = iter(self._done)
            last = None
            for answered, units in done:
                if free >= least * each and answered != last:
                    break
                free += units  # units answered at the same moment leave together
                last = answered
        if free < least * each:
            return least  # calls in flight must be answered first: a guess, the smallest
        return self._grant(free // each, most, least, spare)

    @staticmethod
    def _grant(fit: int, most: int, least: int, spare: int) -> int:
        return fit if most < fit < min(most + least, most + spare + 1) else min(most, fit)

    def release(self, spend: Spend, *, with_next: bool = False) -> None:
        """The request was answered (or failed): its units leave the window ``window``
        seconds from now. ``with_next``: keep them until the next call is answered and
        let them leave with it — a small call (a list page) then shares a batch's slot of
        the window instead of leaving a gap too small for a batch, where only a one-message
        batch would fit (safe: units only count longer). Idempotent."""
        if spend.project is not None:
            assert self.project is not None
            self.project.release(spend.project)
        with self._lock:
            if spend.settled:
                return
            spend.settled = True
            if with_next:
                self._held.append(spend)
                return
            self._settle([spend], self.clock())

    def flush(self) -> None:
        """Let the held units (``with_next``) go now: call when a sync ends."""
        with self._lock:
            self._settle([], self.clock())

    def _settle(self, spends: list[Spend], now: float) -> None:
        for spend in [*self._held, *spends]:
            self._in_flight -= spend.units
            if spend.units:
                self._done.append((now, spend.units))
                self._done_units += spend.units
        self._held.clear()

    def _shrink(self, spend: Spend, calls: int) -> None:
        with self._lock:
            units = spend.units // max(spend.calls, 1) * calls
            self._in_flight -= spend.units - units
            spend.units, spend.calls = units, calls

    def _expire(self, now: float) -> None:
        while self._done and self._done[0][0] + self.window <= now:
            self._done_units -= self._done.popleft()[1]

    def _reserve(self, each: int, most: int, least: int, spare: int) -> Spend:
        each = max(1, min(each, self.units))  # a call dearer than the quota: one at a time
        most = max(1, most)
        least = max(1, min(least, most, self.units // each))
        while True:
            with self._lock:
                now = self.clock()
                self._expire(now)
                free = self.units - self._in_flight - self._done_units
                if free >= least * each:
                    calls = self._grant(free // each, most, least, spare)
                    self._in_flight += calls * each
                    return Spend(calls * each, calls)
                need = least * each - free
                if need > self._done_units and self._held:
                    # Held units block this call: let them go now (safe: they were answered
                    # before now), instead of waiting for a call that cannot be made.
                    self._settle([], now)
                    continue
                wait = self.window
                if need <= self._done_units:
                    # Wait until enough of the answered spend leaves the window.
                    freed = 0
                    for answered, units in self._done:
                        freed += units
                        if freed >= need:
                            wait = answered + self.window - now
                            break
                # else: calls in flight must be answered first and then stay a whole
                # window: nothing can fit sooner than that.
            wait = max(wait, 0.001)
            self.waited += wait
            self.sleep(wait)


_PACERS: dict[tuple[object, ...], QuotaPacer] = {}
_PACERS_LOCK = threading.Lock()


def shared_pacer(key: tuple[str, ...], units: int, window: float,
                 project: QuotaPacer | None = None) -> QuotaPacer:
    """The one pacer of this process for a quota named by ``key`` (the API, the service
    account, the endpoint, and the mailbox for a per-user quota): syncs of one process —
    threads, or one sync after another — share what they spent. Separate processes each
    have their own, so an app-wide quota is best split between the worker processes."""
    full = (*key, units, window, id(project))
    with _PACERS_LOCK:
        pacer = _PACERS.get(full)
        if pacer is None:
            pacer = _PACERS[full] = QuotaPacer(units, window, project=project)
        return pacer


@dataclass
class Caller:
    """Runs API calls with the shared retry policy, quota pacing and statistics (the
    statistics may be counted from two threads: a list page fetched ahead of the batches)."""

    policy: RetryPolicy
    pacer: QuotaPacer
    stats: SyncStats
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, requests: int = 0, calls: int = 0, units: int = 0,
              retries: int = 0) -> None:
        with self._lock:
            self.stats.requests += requests
            self.stats.calls += calls
            self.stats.quota_units += units
            self.stats.retries += retries

    def call(self, make: Callable[[], Any], cost: int, what: str,
             expired: tuple[int, ...] = (410,), with_next: bool = False,
             reserved: Spend | None = None) -> Any:
        """Execute one request (``make()`` builds it) with retries; returns the JSON.
        ``expired``: statuses meaning the cursor is no longer valid (CursorExpired);
        ``with_next``: its quota leaves the window with the next call's
        (:meth:`QuotaPacer.release`); ``reserved``: the first try's quota, already reserved
        (by another thread)."""
        first = [reserved] if reserved is not None else []

        def once() -> Any:
            spend = first.pop() if first else self.pacer.acquire(cost)
            self.count(requests=1, calls=1, units=cost)
            try:
                return make().execute(num_retries=0)  # retries are ours: Retry-After honoured
            except Exception as exc:  # noqa: BLE001 - classified below, never swallowed
                raise classify(exc, what, expired) from None
            finally:
                self.pacer.release(spend, with_next=with_next)

        return self.retry(once)

    def retry(self, fn: Callable[[], T]) -> T:
        def count(_attempt: int, _exc: Transient) -> None:
            self.count(retries=1)

        try:
            return call_with_retry(fn, self.policy, on_retry=count)
        except Transient as exc:
            raise SourceError(f"gave up after {self.policy.attempts} tries: {exc}",
                              transient=True) from None
