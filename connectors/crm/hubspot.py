"""HubSpot: the CRM over the CRM v3 API (``[crm] kind = "hubspot"``; docs/crm.md).

Authentication: a private app's access token (``Authorization: Bearer``), scopes
``crm.objects.owners.read``, ``crm.objects.companies.read``, ``crm.objects.contacts.read``.
A private-app token does not expire; a 401 is an error (a revoked or wrong token), the import
fails whole and the previous CRM snapshot stays in force.

Data: owners (``/crm/v3/owners``, once active and once with ``archived=true``: archived
owners are inactive reps; the primary team is the rep's team), companies (``name, domain``,
the additional-domains property, ``hubspot_owner_id``, optionally a team property of owner ids)
with ``propertiesWithHistory=hubspot_owner_id`` — whose timestamps are the dated owner facts
of rule 10 — and contacts with their company associations. Every list pages with ``after``;
with ``propertiesWithHistory`` the API allows at most 50 objects a page, else 100.

Rate limits: a 429 is retried after ``Retry-After`` when sent, else after the window of
``X-HubSpot-RateLimit-Interval-Milliseconds``; a response whose
``X-HubSpot-RateLimit-Remaining`` is 0 makes the next request wait for that window first.

Why ``requests`` and not hubspot-api-client: the generated client would work against the
sandbox (its Configuration takes a host), but it is not a dependency of the project, carries
one generated API class per object, and retries 429 only through a urllib3 ``Retry`` that
ignores HubSpot's rate-limit headers; the three list calls here are small enough to share
the project's one retry policy instead.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from connectors.api import AuthError, SourceError
from connectors.crm import CrmAccount, CrmContact, CrmOwnerChange, CrmRecords, CrmUser
from connectors.crm._http import CrmSession, log, read_secret

DEFAULT_BASE_URL = "https://api.hubapi.com"
OWNER_PROPERTY = "hubspot_owner_id"
PAGE_WITH_HISTORY = 50  # the API's limit when propertiesWithHistory is asked
PAGE = 100
OWNERS_PAGE = 500


def _window(response: requests.Response) -> float | None:
    """Seconds to wait after a 429: Retry-After, else the rate-limit window."""
    retry_after = response.headers.get("Retry-After")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            pass
    interval = response.headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")
    if response.status_code == 429 and interval and interval.isdigit():
        return int(interval) / 1000.0
    return None


class _Client:
    def __init__(self, options: dict[str, Any], credentials: dict[str, Any] | None) -> None:
        creds = credentials or {}
        self.base = str(options.get("base_url") or creds.get("base_url")
                        or DEFAULT_BASE_URL).rstrip("/")
        self._token = str(creds.get("token") or "") or read_secret(
            options, "token", "private app access token")
        self.session = CrmSession("hubspot")
        self.pause_until = 0.0

    def get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        wait = self.pause_until - time.monotonic()
        if wait > 0:
            self.session.policy.sleep(wait)
        response = self.session.send("GET", self.base + path, params=params,
                                     headers={"Authorization": f"Bearer {self._token}",
                                              "Accept": "application/json"},
                                     transient=_window)
        remaining = response.headers.get("X-HubSpot-RateLimit-Remaining")
        interval = response.headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")
        if remaining == "0" and interval and interval.isdigit():
            self.pause_until = time.monotonic() + int(interval) / 1000.0
        try:
            body = response.json()
        except ValueError:
            body = None
        message = body.get("message") if isinstance(body, dict) else None
        if response.status_code in (401, 403):
            raise AuthError(f"hubspot: HTTP {response.status_code} on {path} ("
                            f"{message or 'no message'}); check the private app's token and"
                            " scopes")
        if response.status_code != 200 or not isinstance(body, dict):
            raise SourceError(f"hubspot: HTTP {response.status_code} on {path} ("
                              f"{message or 'no message'})",
                              request_id=body.get("correlationId") if isinstance(body, dict)
                              else None)
        return body

    def pages(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Every result of a list endpoint, following ``paging.next.after``."""
        out: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            body = self.get(path, {**params, **({"after": after} if after else {})})
            out += body.get("results", [])
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return out


def _list(value: Any) -> list[str]:
    return [v.strip() for v in str(value or "").split(";") if v.strip()]


def _domain(value: str) -> str:
    """HubSpot keeps bare domains; one typed as a URL gives its host."""
    if "/" in value:
        return urlsplit(value if "//" in value else "//" + value).hostname or value
    return value


def _moment(value: Any) -> datetime:
    text = str(value)
    if text.isdigit():  # epoch milliseconds (older responses)
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _owners(client: _Client) -> tuple[dict[str, str], list[CrmUser]]:
    users: list[CrmUser] = []
    emails: dict[str, str] = {}
    for archived in ("false", "true"):
        for o in client.pages("/crm/v3/owners", {"limit": OWNERS_PAGE, "archived": archived}):
            email = str(o.get("email") or "")
            emails[str(o["id"])] = email
            teams = o.get("teams") or []
            team = next((t for t in teams if t.get("primary")), teams[0] if teams else None)
            name = " ".join(p for p in (o.get("firstName"), o.get("lastName")) if p)
            users.append(CrmUser(ref=f"owner {o['id']}", email=email, name=name,
                                 manager_email="", team=str(team.get("name") or "")
                                 if team else "", aliases=[], active=archived == "false"))
    return emails, users


def _companies(client: _Client, options: dict[str, Any], emails: dict[str, str]
               ) -> tuple[list[CrmAccount], list[CrmOwnerChange]]:
    domains_property = str(options.get("domains_property", "hs_additional_domains") or "")
    team_property = str(options.get("team_property") or "")
    properties = ["name", "domain", OWNER_PROPERTY] + [
        p for p in (domains_property, team_property) if p]
    rows = client.pages("/crm/v3/objects/companies", {
        "limit": PAGE_WITH_HISTORY, "properties": ",".join(properties),
        "propertiesWithHistory": OWNER_PROPERTY, "archived": "false"})
    accounts: list[CrmAccount] = []
    history: list[CrmOwnerChange] = []
    for c in rows:
        p = c.get("properties") or {}
        domains = [_domain(d) for d in [str(p.get("domain") or "").strip()] if d]
        domains += [_domain(d) for d in _list(p.get(domains_property))] if domains_property \
            else []
        team = [emails.get(i, "") for i in _list(p.get(team_property))] if team_property else []
        owner = str(p.get(OWNER_PROPERTY) or "")
        accounts.append(CrmAccount(ref=f"company {c['id']}", account_id=str(c["id"]),
                                   account_name=str(p.get("name") or ""),
                                   owner_email=emails.get(owner, "") if owner else "",
                                   domains=domains, team_emails=team))
        changes = ((c.get("propertiesWithHistory") or {}).get(OWNER_PROPERTY)) or []
        for n, h in enumerate(changes):
            if not h.get("value"):
                continue  # the owner was removed: an unowned period has no owner fact
            history.append(CrmOwnerChange(ref=f"company {c['id']} owner history #{n + 1}",
                                          account_id=str(c["id"]),
                                          owner_email=emails.get(str(h["value"]), ""),
                                          valid_from=_moment(h["timestamp"])))
    return accounts, history


def fetch(options: dict[str, Any], credentials: dict[str, Any] | None = None) -> CrmRecords:
    """Read the HubSpot portal's CRM in full (see the module docstring)."""
    client = _Client(options, credentials)
    try:
        emails, users = _owners(client)
        accounts, history = _companies(client, options, emails)
        contacts: list[CrmContact] = []
        for c in client.pages("/crm/v3/objects/contacts", {
                "limit": PAGE, "properties": "email", "associations": "companies",
                "archived": "false"}):
            email = str((c.get("properties") or {}).get("email") or "")
            links = ((c.get("associations") or {}).get("companies") or {}).get("results", [])
            for company in dict.fromkeys(str(link["id"]) for link in links):
                if email:
                    contacts.append(CrmContact(ref=f"contact {c['id']}", email=email,
                                               account_id=company))
        records = CrmRecords(kind="hubspot", accounts=accounts, users=users, contacts=contacts,
                             ownership=sorted(history, key=lambda h: h.valid_from),
                             history=bool(history))
        if not history:
            records.notes.append("hubspot: no company has hubspot_owner_id history, so owner "
                                 "history comes from the snapshots only")
        records.requests, records.retries = client.session.requests, client.session.retries
        log.info("hubspot: %d owners, %d companies, %d contacts, %d owner changes, %d "
                 "requests, %d retries", len(users), len(accounts), len(contacts),
                 len(history), records.requests, records.retries)
        return records
    finally:
        client.session.close()
