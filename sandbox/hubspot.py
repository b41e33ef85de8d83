"""A HubSpot CRM v3 API sandbox serving a CRM export (``overlap sandbox serve --apis hubspot``).

Protocol (as the real service, docs/crm.md): a private app's token as
``Authorization: Bearer``; ``GET /crm/v3/owners`` (``limit`` ≤ 500, ``after``,
``archived=true`` lists only archived owners), ``GET /crm/v3/objects/companies`` and
``/contacts`` (``limit`` ≤ 100, ≤ 50 with ``propertiesWithHistory``; ``properties``,
``propertiesWithHistory``, ``associations``, ``after``), paging as
``{"paging": {"next": {"after", "link"}}}``, errors as ``{"status": "error", "message",
"correlationId", "category"}``. Rate limit: ``max_requests`` per rolling ``interval_ms``
(private apps: 100 per 10 s) — beyond it a 429 with ``"errorType": "RATE_LIMIT"`` and no
Retry-After; every response carries ``X-HubSpot-RateLimit-Max``, ``-Remaining``,
``-Interval-Milliseconds``, ``-Daily`` and ``-Daily-Remaining``.

Data (from :mod:`sandbox.crm_seed`): an owner per address the export names — reps with
their team as the primary team; inactive reps and addresses missing from reps.csv are archived
owners (HubSpot has no owner who is not a user); companies with ``domain`` (the first domain),
``hs_additional_domains`` (the rest, ``;``-separated), ``hubspot_owner_id`` and the custom
``account_team`` property (owner ids, ``;``-separated as multi-checkbox values are); the owner
history is ownership.csv's rows (newest first, as HubSpot lists it) or, without any, the
current owner since the company's creation. Company ids are the export's ``account_id``.
HubSpot owners carry no manager and no alias: those stay in reps.csv (docs/crm.md).

Faults on request: ``inject(kind, count=1, after=0)`` with kind ``token`` (the token is
revoked: 401 from then on), ``429``, ``500``, ``503``.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sandbox._crm_faults import CrmServer, FaultPlan
from sandbox.crm_seed import CrmSeed
from sandbox.http import Request, Response, SandboxHTTPServer, write_secret

FAULT_KINDS = ("token", "429", "500", "503")
CREATED = "2020-01-01T00:00:00Z"
LIMITS = {"owners": 500, "companies": 100, "contacts": 100}
HISTORY_LIMIT = 50


def _error(status: int, message: str, category: str, headers: dict[str, str] | None = None,
           **extra: Any) -> Response:
    return Response.json(status, {"status": "error", "message": message,
                                  "correlationId": str(uuid.uuid4()), "category": category,
                                  **extra}, headers)


def _stamp(moment: Any) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.000Z"


class HubSpotSandbox(CrmServer):
    """A running sandbox; see the module docstring."""

    def __init__(self, seed: CrmSeed, *, host: str, port: int, secrets_dir: Path,
                 max_requests: int = 100, interval_ms: int = 10_000,
                 daily_limit: int = 250_000) -> None:
        self.max_requests = max_requests
        self.interval_ms = interval_ms
        self.daily_limit = daily_limit
        self.faults = FaultPlan(FAULT_KINDS)
        self._lock = threading.Lock()
        self._recent: deque[float] = deque()
        self.daily_used = 0
        self.throttled = 0
        self.token = "pat-na1-" + str(uuid.UUID(bytes=secrets.token_bytes(16)))
        self._revoked = False
        self._build(seed)
        self.secrets_dir = Path(secrets_dir)
        self.token_file = self._write_token()
        self._http = SandboxHTTPServer(self._handle, host=host, port=port).start()

    def _build(self, seed: CrmSeed) -> None:
        reps = {r.email: r for r in seed.reps}
        self.owner_ids = {a: str(100000000 + n) for n, a in enumerate(seed.addresses(), 1)}
        teams = {name: str(5000 + n) for n, name in enumerate(
            sorted({r.team for r in seed.reps if r.team}), 1)}
        self.owners: list[dict[str, Any]] = []
        for address, oid in self.owner_ids.items():
            rep = reps.get(address)
            first, _, last = (rep.name if rep else "").partition(" ")
            team = [{"id": teams[rep.team], "name": rep.team, "primary": True}] \
                if rep and rep.team else []
            self.owners.append({"id": oid, "email": address or None, "type": "PERSON",
                                "firstName": first, "lastName": last, "userId": int(oid) - 99000000,
                                "createdAt": CREATED, "updatedAt": CREATED,
                                "archived": not (rep and rep.active), "teams": team})
        changes: dict[str, list[Any]] = {}
        for change in seed.ownership:
            changes.setdefault(change.account_id, []).append(change)
        self.companies: list[dict[str, Any]] = []
        for a in seed.accounts:
            owner = self.owner_ids.get(a.owner, "")
            history = [{"value": self.owner_ids.get(c.owner, ""), "timestamp": _stamp(c.at),
                        "sourceType": "CRM_UI", "sourceId": "userId:1"}
                       for c in sorted(changes.get(a.account_id, []), key=lambda c: c.at,
                                       reverse=True)]
            if not history and owner:
                history = [{"value": owner, "timestamp": CREATED.replace("Z", ".000Z"),
                            "sourceType": "CRM_UI", "sourceId": "userId:1"}]
            self.companies.append({"id": a.account_id, "properties": {
                "name": a.name or None, "domain": a.domains[0] if a.domains else None,
                "hs_additional_domains": ";".join(a.domains[1:]) or None,
                "hubspot_owner_id": owner or None, "hs_object_id": a.account_id,
                "account_team": ";".join(self.owner_ids[t] for t in a.team if t) or None,
                "createdate": CREATED}, "history": history})
        people: dict[str, list[str]] = {}
        for email, account_id in seed.contacts:
            people.setdefault(email, []).append(account_id)
        self.contacts = [{"id": str(700000 + n), "email": email, "companies": accounts}
                         for n, (email, accounts) in enumerate(people.items(), 1)]

    def _write_token(self) -> Path:
        return write_secret(self.secrets_dir / "hubspot-token", self.token + "\n")

    def crm_config(self) -> dict[str, Any]:
        """The ``[crm]`` table (with its ``[crm.hubspot]`` options) reading this sandbox."""
        return {"kind": "hubspot", "hubspot": {
            "base_url": self.url, "token_file": str(self.token_file),
            "domains_property": "hs_additional_domains", "team_property": "account_team"}}

    def _rate(self) -> tuple[bool, dict[str, str]]:
        """Count this request against the rolling window; (allowed, rate-limit headers)."""
        now = time.monotonic()
        with self._lock:
            while self._recent and self._recent[0] <= now - self.interval_ms / 1000:
                self._recent.popleft()
            allowed = len(self._recent) < self.max_requests
            if allowed:
                self._recent.append(now)
                self.daily_used += 1
            else:
                self.throttled += 1
            headers = {"X-HubSpot-RateLimit-Max": str(self.max_requests),
                       "X-HubSpot-RateLimit-Remaining": str(self.max_requests - len(self._recent)),
                       "X-HubSpot-RateLimit-Interval-Milliseconds": str(self.interval_ms),
                       "X-HubSpot-RateLimit-Daily": str(self.daily_limit),
                       "X-HubSpot-RateLimit-Daily-Remaining": str(
                           max(0, self.daily_limit - self.daily_used))}
        return allowed, headers

    def _handle(self, request: Request) -> Response:
        route = {"/crm/v3/owners": "owners", "/crm/v3/owners/": "owners",
                 "/crm/v3/objects/companies": "companies",
                 "/crm/v3/objects/contacts": "contacts"}.get(request.path)
        if request.method != "GET" or route is None:
            return _error(404, "Not found", "OBJECT_NOT_FOUND")
        fault = self.faults.draw()
        if fault == "token":
            self._revoked = True
        if self._revoked or request.headers.get("authorization") != f"Bearer {self.token}":
            return _error(401, "Authentication credentials not found. This API supports OAuth "
                          "2.0 authentication and you can find more details at "
                          "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                          "INVALID_AUTHENTICATION")
        allowed, headers = self._rate()
        if fault == "429" or not allowed:
            return Response.json(429, {
                "status": "error", "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()),
                "policyName": "TEN_SECONDLY_ROLLING"}, headers)
        if fault in ("500", "503"):
            return _error(int(fault), "internal error", "INTERNAL_ERROR", headers)
        self._http.count(route)
        return self._list(route, request, headers)

    def _list(self, route: str, request: Request, headers: dict[str, str]) -> Response:
        with_history = [p for p in (request.arg("propertiesWithHistory") or "").split(",") if p]
        limit_text = request.arg("limit") or ("100" if route == "owners" else "10")
        if not limit_text.isdigit() or int(limit_text) < 1:
            return _error(400, f"Invalid input: limit {limit_text!r}", "VALIDATION_ERROR",
                          headers)
        most = HISTORY_LIMIT if route == "companies" and with_history else LIMITS[route]
        if int(limit_text) > most:
            return _error(400, f"limit must be at most {most}"
                          + (" when requesting propertiesWithHistory" if with_history else ""),
                          "VALIDATION_ERROR", headers)
        archived = (request.arg("archived") or "false") == "true"
        items = self._items(route, request, with_history, archived)
        after = request.arg("after") or "0"
        if not after.isdigit():
            return _error(400, f"Invalid input: after {after!r}", "VALIDATION_ERROR", headers)
        start, end = int(after), int(after) + int(limit_text)
        body: dict[str, Any] = {"results": items[start:end]}
        if end < len(items):
            query = {k: v[0] for k, v in request.query.items()}
            query["after"] = str(end)
            body["paging"] = {"next": {"after": str(end),
                                       "link": f"{self.url}{request.path}?{urlencode(query)}"}}
        return Response.json(200, body, headers)

    def _items(self, route: str, request: Request, with_history: list[str],
               archived: bool) -> list[dict[str, Any]]:
        if route == "owners":
            return [o for o in self.owners if o["archived"] == archived]
        if archived:
            return []
        wanted = [p for p in (request.arg("properties") or "").split(",") if p]
        if route == "companies":
            out = []
            for c in self.companies:
                item: dict[str, Any] = {
                    "id": c["id"], "properties": {p: c["properties"].get(p) for p in
                                                  ["hs_object_id", "createdate", *wanted]},
                    "createdAt": CREATED, "updatedAt": CREATED, "archived": False}
                if "hubspot_owner_id" in with_history:
                    item["propertiesWithHistory"] = {"hubspot_owner_id": c["history"]}
                out.append(item)
            return out
        associations = "companies" in (request.arg("associations") or "").split(",")
        out = []
        for person in self.contacts:
            item = {"id": person["id"], "properties": {
                "hs_object_id": person["id"], "createdate": CREATED,
                **({"email": person["email"] or None} if "email" in wanted else {})},
                "createdAt": CREATED, "updatedAt": CREATED, "archived": False}
            if associations and person["companies"]:
                item["associations"] = {"companies": {"results": [
                    {"id": company, "type": "contact_to_company"}
                    for company in person["companies"]]}}
            out.append(item)
        return out


def start(seed: CrmSeed, *, host: str = "127.0.0.1", port: int = 0, secrets_dir: Path,
          **options: Any) -> HubSpotSandbox:
    """Start the HubSpot sandbox in a background thread; ``stop()`` (or ``with``) ends it.
    Options: ``max_requests`` and ``interval_ms`` (the rolling rate limit, 100 per 10 000 ms),
    ``daily_limit``."""
    return HubSpotSandbox(seed, host=host, port=port, secrets_dir=Path(secrets_dir), **options)
