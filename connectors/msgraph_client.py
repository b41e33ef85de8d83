"""Microsoft Graph plumbing for :mod:`connectors.msgraph`: credentials, msal, HTTP, limits.

* :class:`GraphAuth` — resolved credentials (from the Airflow connection dict or the source's
  options and the environment). ``repr`` never shows the secret.
* :class:`TokenProvider` — an msal ``ConfidentialClientApplication`` per (authority, client,
  credential) in this process; ``acquire_token_for_client`` serves the cached token while it
  is valid; on a 401 the token is dropped and a new one acquired. msal returns errors as a
  dict: they become one :class:`~connectors.api.AuthError` naming tenant and client id.
* :class:`GraphClient` — one ``requests`` session; every call goes through
  :func:`connectors.retry.call_with_retry` (429/503/504 honour ``Retry-After``) and two
  limits: at most 4 requests in flight per mailbox (Outlook's limit; a ``$batch`` of k parts
  counts k, because Outlook throttles the parts as requests of their own) and
  ``max_concurrency`` per app in this process. ``$batch`` requests carry at most 4 parts, so
  none is refused for concurrency; throttled parts are retried honouring their Retry-After.

These machines set ``REQUESTS_CA_BUNDLE``; in ``requests`` that variable overrides a
session's ``verify=``, so the CA is passed on every request instead (:class:`_CASession`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import requests

from connectors.api import AuthError, CursorExpired, SourceError, SyncStats
from connectors.retry import (
    TRANSIENT_STATUSES,
    RetryPolicy,
    Transient,
    call_with_retry,
    parse_retry_after,
)

log = logging.getLogger("connectors.msgraph")

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
DEFAULT_ENDPOINT = "https://graph.microsoft.com/v1.0"
DEFAULT_SECRET_ENV = "OVERLAP_MSGRAPH_CLIENT_SECRET"
MAILBOX_CONCURRENCY = 4  # Outlook: 4 concurrent requests per app and mailbox
MAX_BATCH = 20  # Graph JSON batching limit
# Parts of one $batch run concurrently and count against the mailbox's 4 (parts are
# answered 429 otherwise): a batch carries at most this many.
BATCH_PARTS = min(MAX_BATCH, MAILBOX_CONCURRENCY)
# Hosts msal knows; any other authority (the sandbox, a sovereign proxy) skips instance discovery.
_KNOWN_AUTHORITY_HOSTS = frozenset({
    "login.microsoftonline.com", "login.microsoftonline.us", "login.partner.microsoftonline.cn",
    "login.chinacloudapi.cn", "login.windows.net",
})
_EXPIRED_CODES = frozenset({"syncstatenotfound", "resyncrequired", "syncstateinvalid"})


class Forbidden(AuthError):
    """403: the app lacks a permission for this mailbox or for what the request asked."""


# --- credentials -----------------------------------------------------------------------------

@dataclass(frozen=True)
class GraphAuth:
    tenant_id: str
    client_id: str
    authority: str
    secret: str | None = field(default=None, repr=False)
    certificate_pem: str | None = field(default=None, repr=False)
    thumbprint: str | None = None

    @property
    def who(self) -> str:
        return f"tenant {self.tenant_id!r}, client id {self.client_id!r}"

    def fingerprint(self) -> str:
        """A key for caching the msal app: changes with the credential, reveals nothing."""
        h = hashlib.sha256()
        for part in (self.authority, self.client_id, self.secret or "", self.certificate_pem or "",
                     self.thumbprint or ""):
            h.update(part.encode() + b"\0")
        return h.hexdigest()


def resolve_auth(options: Mapping[str, Any], credentials: Any = None) -> GraphAuth:
    """Credentials from the Airflow connection dict, else from the options and environment.

    Options: ``tenant_id``, ``client_id``, ``authority``; the secret from
    ``client_secret_file`` or the variable named by ``client_secret_env`` (default
    ``OVERLAP_MSGRAPH_CLIENT_SECRET``); or ``certificate_file`` (PEM private key) +
    ``thumbprint``. Errors name the missing setting, never a value.
    """
    creds: Mapping[str, Any] = credentials if isinstance(credentials, Mapping) else {}
    tenant = str(creds.get("tenant_id") or options.get("tenant_id") or "").strip()
    client = str(creds.get("client_id") or options.get("client_id") or "").strip()
    if not tenant or not client:
        raise AuthError("msgraph: tenant_id and client_id are required (source options or "
                        "the Airflow connection)")
    authority = str(creds.get("authority") or options.get("authority")
                    or f"https://login.microsoftonline.com/{tenant}").rstrip("/")
    secret = creds.get("client_secret")
    pem = creds.get("certificate_pem")
    thumb = creds.get("thumbprint") or options.get("thumbprint")
    if not secret and not pem:
        if options.get("certificate_file"):
            try:
                pem = Path(str(options["certificate_file"])).read_text(encoding="utf-8")
            except OSError as exc:
                raise AuthError(f"msgraph: cannot read certificate_file for tenant {tenant!r}, "
                                f"client id {client!r}: {exc.strerror}") from None
        elif options.get("client_secret_file"):
            try:
                secret = Path(str(options["client_secret_file"])).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise AuthError(f"msgraph: cannot read client_secret_file for tenant {tenant!r}, "
                                f"client id {client!r}: {exc.strerror}") from None
        else:
            env = str(options.get("client_secret_env") or DEFAULT_SECRET_ENV)
            secret = os.environ.get(env)
            if not secret:
                raise AuthError(f"msgraph: no client secret for tenant {tenant!r}, client id "
                                f"{client!r}: set the environment variable {env} (or "
                                "certificate_file + thumbprint)")
    if pem and not thumb:
        raise AuthError(f"msgraph: certificate for tenant {tenant!r}, client id {client!r} "
                        "needs its thumbprint")
    return GraphAuth(tenant, client, authority, secret or None, pem or None,
                     str(thumb) if thumb else None)


# --- HTTP session ----------------------------------------------------------------------------

class _CASession(requests.Session):
    """A session that always verifies against ``ca_file`` when one is given.

    ``requests`` lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override ``Session.verify`` (they
    replace a per-request ``verify`` of None/True), so the CA goes on every request."""

    def __init__(self, ca_file: str | None, timeout: float) -> None:
        super().__init__()
        self._ca = ca_file
        self._timeout = timeout

    def request(self, method: str | bytes, url: str | bytes,
                *args: Any, **kwargs: Any) -> requests.Response:
        if self._ca:
            kwargs["verify"] = self._ca
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method if isinstance(method, str) else method.decode(),
                               url if isinstance(url, str) else url.decode(),
                               *args, **kwargs)


# --- tokens ----------------------------------------------------------------------------------

class TokenProvider:
    """msal client credentials; one per credential fingerprint in this process."""

    _lock = threading.Lock()
    _apps: dict[tuple[str, str | None], TokenProvider] = {}

    def __init__(self, auth: GraphAuth, session: requests.Session) -> None:
        self.auth = auth
        self._session = session
        self._app: Any = None  # built on first use: msal fetches the OpenID configuration
        self._last: str | None = None
        self._mu = threading.Lock()

    def _build(self) -> Any:
        import msal

        credential: Any = self.auth.secret
        if self.auth.certificate_pem:
            credential = {"private_key": self.auth.certificate_pem,
                          "thumbprint": self.auth.thumbprint}
        host = urlsplit(self.auth.authority).hostname or ""
        return msal.ConfidentialClientApplication(
            self.auth.client_id, client_credential=credential, authority=self.auth.authority,
            http_client=self._session,
            # msal validates authorities against Microsoft's instance discovery; the sandbox
            # (or any non-Microsoft host) must skip that.
            instance_discovery=host in _KNOWN_AUTHORITY_HOSTS,
        )

    @classmethod
    def get(cls, auth: GraphAuth, session: requests.Session, ca_file: str | None) -> TokenProvider:
        key = (auth.fingerprint(), ca_file)
        with cls._lock:
            prov = cls._apps.get(key)
            if prov is None:
                prov = cls._apps[key] = TokenProvider(auth, session)
            return prov

    def token(self) -> str:
        with self._mu:
            try:
                if self._app is None:
                    self._app = self._build()
                result = self._app.acquire_token_for_client([GRAPH_SCOPE])
            except requests.exceptions.SSLError:
                raise AuthError(f"msgraph: TLS verification of {self.auth.authority} failed for "
                                f"{self.auth.who} (set ca_file to the CA that signed it)") from None
            except requests.RequestException as exc:
                raise Transient(f"token endpoint unreachable: {type(exc).__name__}") from None
            except ValueError as exc:  # bad authority, unreadable key: msal raises for these
                raise AuthError(f"msgraph: cannot acquire a token for {self.auth.who}: "
                                f"{_scrub(str(exc), self.auth)[:200]}") from None
            if isinstance(result, dict) and "access_token" in result:
                self._last = str(result["access_token"])
                return self._last
        result = result if isinstance(result, dict) else {}
        codes = result.get("error_codes") or []
        desc = str(result.get("error_description") or "").splitlines()[0:1]
        raise AuthError(
            f"msgraph: token request refused for {self.auth.who}: "
            f"{result.get('error', 'unknown error')}"
            + (f" (AADSTS{codes[0]})" if codes else "")
            + (f": {_scrub(desc[0], self.auth)}" if desc else ""),
            request_id=result.get("correlation_id"))

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (the server said 401: expired or revoked). Threads that failed
        with the same token drop it once; the first to ask again gets the new one."""
        with self._mu:
            if self._app is not None and token == self._last:
                self._app.remove_tokens_for_client()
                self._last = None


def _scrub(text: str, auth: GraphAuth) -> str:
    for secret in (auth.secret, auth.certificate_pem):
        if secret:
            text = text.replace(secret, "***")
    return text


# --- the client ------------------------------------------------------------------------------

class Slots:
    """Requests in flight, counted as the server counts them: a ``$batch`` of k parts holds
    k slots (of ``size``) until its answer is in."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._used = 0
        self._cond = threading.Condition()

    @contextmanager
    def hold(self, n: int = 1) -> Iterator[None]:
        n = max(1, min(n, self.size))
        with self._cond:
            self._cond.wait_for(lambda: self._used + n <= self.size)
            self._used += n
        try:
            yield
        finally:
            with self._cond:
                self._used -= n
                self._cond.notify_all()


_sem_lock = threading.Lock()
_mailbox_sems: dict[tuple[str, str], Slots] = {}
_app_sems: dict[tuple[str, str, int], Slots] = {}


def _semaphore(registry: dict[Any, Slots], key: Any, size: int) -> Slots:
    with _sem_lock:
        sem = registry.get(key)
        if sem is None:
            sem = registry[key] = Slots(size)
        return sem


@dataclass
class Response:
    status: int
    body: dict[str, Any]
    headers: Mapping[str, str]


class GraphClient:
    """Graph v1.0 for one mailbox: retries, limits, token refresh, stats."""

    def __init__(self, auth: GraphAuth, mailbox: str, *, endpoint: str = DEFAULT_ENDPOINT,
                 ca_file: str | None = None, max_concurrency: int = 16,
                 policy: RetryPolicy | None = None, timeout: float = 60.0,
                 stats: SyncStats | None = None) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.mailbox = mailbox
        self.policy = policy or RetryPolicy()
        self.stats = stats or SyncStats()
        self._stats_lock = threading.Lock()
        self.session = _CASession(ca_file, timeout)
        self.tokens = TokenProvider.get(auth, _CASession(ca_file, timeout), ca_file)
        self.auth = auth
        self._mailbox_sem = _semaphore(_mailbox_sems, (self.endpoint, mailbox), MAILBOX_CONCURRENCY)
        self._app_sem = _semaphore(_app_sems, (self.endpoint, auth.client_id, max_concurrency),
                                   max(1, max_concurrency))

    def close(self) -> None:
        self.session.close()

    def url(self, path: str) -> str:
        return f"{self.endpoint}{path}"

    def relative(self, url: str, params: Mapping[str, str] | None = None) -> str:
        """An absolute Graph URL (+ params) as a $batch part's URL (relative to the version)."""
        rel = url[len(self.endpoint):] if url.startswith(self.endpoint) else url
        if params:
            rel += ("&" if "?" in rel else "?") + urlencode(params, safe="$,:", quote_via=quote)
        return rel

    @contextmanager
    def _slot(self, n: int = 1) -> Iterator[None]:
        with self._mailbox_sem.hold(n), self._app_sem.hold(n):
            yield

    def _count(self, requests_: int = 0, calls: int = 0, retries: int = 0) -> None:
        with self._stats_lock:
            self.stats.requests += requests_
            self.stats.calls += calls
            self.stats.retries += retries

    def _on_retry(self, attempt: int, exc: Transient) -> None:
        self._count(retries=1)
        log.info("msgraph %s: transient failure (try %d), retrying: %s", self.mailbox, attempt, exc)

    def get(self, url: str, *, params: Mapping[str, str] | None = None,
            prefer: list[str] | None = None) -> dict[str, Any]:
        """GET ``url`` (absolute, e.g. a nextLink used verbatim) and return its JSON body."""
        return call_with_retry(lambda: self._once("GET", url, params=params, prefer=prefer),
                               self.policy, self._on_retry).body

    def _once(self, method: str, url: str, *, params: Mapping[str, str] | None = None,
              prefer: list[str] | None = None, json_body: Any = None, calls: int = 1) -> Response:
        refreshed = False
        while True:
            token = self.tokens.token()
            headers = {"Authorization": f"Bearer {token}",
                       "Accept": "application/json"}
            if prefer:
                headers["Prefer"] = ", ".join(prefer)
            try:
                with self._slot(calls):
                    self._count(requests_=1, calls=calls)
                    r = self.session.request(method, url, params=params, headers=headers,
                                             json=json_body)
            except requests.exceptions.SSLError:
                raise SourceError(f"msgraph {self.mailbox}: TLS verification of {self.endpoint} "
                                  "failed (set ca_file to the CA that signed it)") from None
            except (requests.ConnectionError, requests.Timeout,
                    requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError) as exc:
                # A dropped connection or a body cut short: retry, never read as a short page.
                raise Transient(f"{type(exc).__name__} talking to Graph") from None
            if r.status_code == 401 and not refreshed:
                # Expired or revoked before msal's clock said so: drop it and ask again once.
                self.tokens.invalidate(token)
                refreshed = True
                continue
            return self._check(r)

    def _check(self, r: requests.Response) -> Response:
        status = r.status_code
        try:
            body = r.json() if r.content else {}
        except ValueError:
            if 200 <= status < 300:
                # A success whose body is not JSON was cut or mangled on the way: reading it
                # as an empty page would lose data silently, so it is retried instead.
                raise Transient(f"Graph {status}: unreadable response body") from None
            body = {}
        if not isinstance(body, dict):
            body = {"value": body}
        if 200 <= status < 300:
            return Response(status, body, r.headers)
        raise self.error(status, body, r.headers)

    def error(self, status: int, body: Mapping[str, Any], headers: Mapping[str, str]) -> Exception:
        """Classify a Graph error: transient, cursor expired, auth, or fatal."""
        err = body.get("error") if isinstance(body.get("error"), dict) else {}
        assert isinstance(err, dict)
        code = str(err.get("code") or "")
        message = str(err.get("message") or "")[:300]
        inner = err.get("innerError") if isinstance(err.get("innerError"), dict) else {}
        assert isinstance(inner, dict)
        request_id = (headers.get("request-id") or inner.get("request-id")
                      or inner.get("client-request-id"))
        what = f"Graph {status} {code}: {message}".rstrip(": ")
        if status in TRANSIENT_STATUSES:
            return Transient(f"{what} (request id {request_id})",
                             retry_after=parse_retry_after(headers.get("Retry-After")))
        if status == 410 or code.lower() in _EXPIRED_CODES:
            return CursorExpired(f"msgraph {self.mailbox}: delta token expired ({what})",
                                 request_id=request_id)
        if status == 403:
            return Forbidden(f"msgraph {self.mailbox}: access denied for {self.auth.who} "
                             f"({what})", request_id=request_id)
        if status == 401:
            return AuthError(f"msgraph {self.mailbox}: access denied for {self.auth.who} "
                             f"({what})", request_id=request_id)
        if status == 404 and code in ("ErrorInvalidUser", "ResourceNotFound",
                                      "MailboxNotEnabledForRESTAPI", "ErrorItemNotFound", ""):
            return SourceError(f"msgraph: mailbox {self.mailbox!r} not found or not enabled "
                               f"({what})", request_id=request_id)
        return SourceError(f"msgraph {self.mailbox}: {what}", request_id=request_id)

    # --- $batch -------------------------------------------------------------------------

    def batch(self, parts: list[tuple[str, str, list[str]]]) -> dict[str, Response]:
        """GET each (id, relative url, Prefer values) through ``$batch``, at most
        :data:`BATCH_PARTS` a request (they run concurrently on the server and count against
        the mailbox's 4); 429/5xx parts are retried (honouring their Retry-After) under the
        same policy. Returns id → response; a part that fails for good carries its error
        status and body."""
        results: dict[str, Response] = {}
        for i in range(0, len(parts), BATCH_PARTS):
            pending = {pid: (rel, prefer) for pid, rel, prefer in parts[i:i + BATCH_PARTS]}

            def round_(pending: dict[str, tuple[str, list[str]]] = pending) -> None:
                reqs = [{"id": pid, "method": "GET", "url": rel,
                         "headers": {"Prefer": ", ".join(prefer)} if prefer else {}}
                        for pid, (rel, prefer) in pending.items()]
                resp = self._once("POST", self.url("/$batch"), json_body={"requests": reqs},
                                  calls=len(reqs))
                retry_after: float | None = None
                for part in resp.body.get("responses", []):
                    pid = str(part.get("id"))
                    status = int(part.get("status", 500))
                    pbody = part.get("body") if isinstance(part.get("body"), dict) else {}
                    pheaders = part.get("headers") or {}
                    if status in TRANSIENT_STATUSES:
                        ra = parse_retry_after(pheaders.get("Retry-After"))
                        if ra is not None:
                            retry_after = max(retry_after or 0.0, ra)
                        continue  # stays pending
                    results[pid] = Response(status, pbody or {}, pheaders)
                    pending.pop(pid, None)
                if pending:
                    # $batch answers 200 even when parts are throttled: retry just those.
                    raise Transient(f"{len(pending)} batch part(s) throttled or failed",
                                    retry_after=retry_after)

            call_with_retry(round_, self.policy, self._on_retry)
        return results
