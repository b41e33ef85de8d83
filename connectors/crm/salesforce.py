"""Salesforce: the CRM over the REST API (``[crm] kind = "salesforce"``; docs/crm.md).

Authentication is the OAuth 2.0 JWT bearer flow of a connected app (server to server): an
RS256 assertion (``iss`` = consumer key, ``sub`` = the integration user, ``aud`` = the login
URL) signed with the app's private key is exchanged at ``{login_url}/services/oauth2/token``
for an access token and the org's ``instance_url``. An expired session (401
``INVALID_SESSION_ID``) is renewed with a fresh assertion and the request repeated.

Data: SOQL through ``/services/data/vXX.X/query``, following ``nextRecordsUrl`` until
``done``. A query locator that expired (``INVALID_QUERY_LOCATOR``) restarts that object's
query from the start (its partial pages are dropped, never imported). Objects read: User,
Account (+ the configured multi-domain field), AccountTeamMember (roles configurable),
Contact and AccountHistory for ``Field = 'Owner'``. AccountHistory records every owner change
twice — one row with the user Ids (``DataType = 'EntityId'``) and one with their names
(``'Text'``); only the Id rows are used. No Owner rows at all means history tracking is off
for the field: one data-quality note, and the snapshots are the only owner history.

Why not simple-salesforce: its JWT login only posts to ``https://{domain}.salesforce.com`` and
it prefixes ``https://`` to the instance it is given, so none of its documented options can
aim it at the local sandbox (plain HTTP, another host); the calls needed here are four
``requests`` calls, so a small client it is.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests

from connectors.api import AuthError, SourceError
from connectors.crm import CrmAccount, CrmContact, CrmOwnerChange, CrmRecords, CrmUser
from connectors.crm._http import CrmSession, log, read_secret
from overlap.domains import registrable_domain

DEFAULT_LOGIN_URL = "https://login.salesforce.com"
DEFAULT_VERSION = "v61.0"
QUERY_RESTARTS = 3  # INVALID_QUERY_LOCATOR: restart an object's query at most this often
SESSION_RENEWALS = 3  # INVALID_SESSION_ID: new tokens per run at most


class _Client:
    def __init__(self, options: dict[str, Any], credentials: dict[str, Any] | None) -> None:
        creds = credentials or {}
        self.login_url = str(options.get("login_url") or creds.get("login_url")
                             or DEFAULT_LOGIN_URL).rstrip("/")
        self.audience = str(options.get("audience") or self._audience(self.login_url))
        self.client_id = str(creds.get("client_id") or options.get("client_id") or "")
        self.username = str(creds.get("username") or options.get("username") or "")
        if not self.client_id or not self.username:
            raise SourceError("salesforce: set client_id (the connected app's consumer key) "
                              "and username (the integration user) in [crm.salesforce]")
        self._key = str(creds.get("private_key") or "") or read_secret(
            options, "private_key", "connected app's private key")
        self.version = str(options.get("api_version") or DEFAULT_VERSION)
        self.session = CrmSession("salesforce")
        self.token = ""
        self.instance = ""
        self.renewals = 0

    @staticmethod
    def _audience(login_url: str) -> str:
        """The JWT's ``aud``: Salesforce wants login.salesforce.com (test.salesforce.com for a
        sandbox org) whatever host the assertion is posted to (My Domain included)."""
        host = urlsplit(login_url).hostname or ""
        if host.startswith("test.") or ".sandbox." in host:
            return "https://test.salesforce.com"
        return "https://login.salesforce.com"

    def authenticate(self) -> None:
        now = int(time.time())
        claims = {"iss": self.client_id, "sub": self.username, "aud": self.audience,
                  "exp": now + 180, "jti": uuid.uuid4().hex}
        try:
            assertion = jwt.encode(claims, self._key, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError):
            raise AuthError("salesforce: the private key could not sign the JWT assertion (not"
                            " an RSA private key in PEM form?)") from None
        response = self.session.send(
            "POST", f"{self.login_url}/services/oauth2/token",
            data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                  "assertion": assertion})
        body = _json(response)
        if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
            error = body.get("error_description") or body.get("error") if isinstance(
                body, dict) else None
            raise AuthError(f"salesforce: the JWT bearer login was refused (HTTP "
                            f"{response.status_code}: {error or 'no reason given'}); check the "
                            "connected app's certificate, pre-authorization and the username")
        self.token = str(body["access_token"])
        self.instance = str(body.get("instance_url") or self.login_url).rstrip("/")

    def get(self, path: str, params: dict[str, str] | None = None) -> tuple[int, Any]:
        """GET a REST path, renewing an expired session; (status, JSON body)."""
        while True:
            response = self.session.send("GET", self.instance + path, params=params,
                                         headers={"Authorization": f"Bearer {self.token}",
                                                  "Accept": "application/json"})
            body = _json(response)
            if response.status_code == 401 and self.renewals < SESSION_RENEWALS:
                self.renewals += 1
                log.info("salesforce: session expired, renewing (%d)", self.renewals)
                self.authenticate()
                continue
            if response.status_code == 401:
                raise AuthError(f"salesforce: the session was refused again after "
                                f"{SESSION_RENEWALS} renewals ({_error(body)})")
            return response.status_code, body

    def query(self, soql: str, what: str) -> list[dict[str, Any]]:
        """Every record of ``soql`` (all pages), restarting on an expired query locator."""
        for _ in range(QUERY_RESTARTS + 1):
            records: list[dict[str, Any]] = []
            status, body = self.get(f"/services/data/{self.version}/query", {"q": soql})
            while True:
                if status != 200:
                    if _code(body) == "INVALID_QUERY_LOCATOR":
                        log.info("salesforce: %s query locator expired, restarting", what)
                        break
                    raise SourceError(f"salesforce: the {what} query failed (HTTP {status}: "
                                      f"{_error(body)})")
                records += body.get("records", [])
                if body.get("done", True) or not body.get("nextRecordsUrl"):
                    return records
                status, body = self.get(str(body["nextRecordsUrl"]))
        raise SourceError(f"salesforce: the {what} query locator expired {QUERY_RESTARTS + 1} "
                          "times in a row", transient=True)


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _code(body: Any) -> str | None:
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return str(body[0].get("errorCode"))
    return None


def _error(body: Any) -> str:
    """The API's own error text (Salesforce: ``[{"errorCode", "message"}]``)."""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return f"{body[0].get('errorCode')}: {body[0].get('message')}"
    if isinstance(body, dict):
        return str(body.get("error_description") or body.get("error") or body.get("message"))
    return "no error body"


def _list(value: Any) -> list[str]:
    """A multi-value text field: ``;``-separated (multi-select picklists), commas and
    newlines accepted too."""
    if not value:
        return []
    text = str(value).replace("\n", ";").replace(",", ";")
    return [v.strip() for v in text.split(";") if v.strip()]


def website_domain(website: str | None) -> str | None:
    """Website → the registrable domain (``https://www.acme.co.uk/x`` → ``acme.co.uk``), as
    for CSV; a host that is itself a public suffix comes back as is (the import rejects it)."""
    if not website or not website.strip():
        return None
    text = website.strip()
    host = urlsplit(text if "//" in text else "//" + text).hostname
    if not host:
        return text
    return registrable_domain(host) or host


def _field(name: Any) -> str | None:
    """A configured field name (API names only: letters, digits, underscores)."""
    if not name:
        return None
    text = str(name)
    if not text.replace("_", "").isalnum():
        raise SourceError(f"salesforce: {text!r} is not a field API name")
    return text


def _users(client: _Client, options: dict[str, Any]) -> tuple[dict[str, str], list[CrmUser]]:
    """(user Id → email for every user, the reps: users matching ``users_where``)."""
    team_field = _field(options.get("team_field", "Department"))
    alias_field = _field(options.get("aliases_field"))
    active_field = _field(options.get("active_field", "IsActive")) or "IsActive"
    fields = ["Id", "Email", "Name", "ManagerId", active_field, "UserType"]
    fields += [f for f in (team_field, alias_field) if f and f not in fields]
    rows = client.query(f"SELECT {', '.join(fields)} FROM User", "User")  # noqa: S608 (API names)
    emails = {str(r["Id"]): str(r.get("Email") or "") for r in rows}
    user_type = str(options.get("user_type", "Standard"))
    where = str(options.get("reps_where") or "").strip()
    if where:  # which users are reps, e.g. "Department IN ('Sales', 'Success')"
        chosen = {str(r["Id"]) for r in client.query(
            f"SELECT Id FROM User WHERE {where}", "User (reps_where)")}  # noqa: S608 (config)
        rows = [r for r in rows if str(r["Id"]) in chosen]
    users = [CrmUser(ref=f"User {r['Id']}", email=str(r.get("Email") or ""),
                     name=str(r.get("Name") or ""),
                     manager_email=emails.get(str(r.get("ManagerId") or ""), ""),
                     team=str(r.get(team_field) or "") if team_field else "",
                     aliases=_list(r.get(alias_field)) if alias_field else [],
                     active=bool(r.get(active_field)))
             for r in rows if not user_type or r.get("UserType") == user_type]
    return emails, users


def _accounts(client: _Client, options: dict[str, Any],
              emails: dict[str, str]) -> list[CrmAccount]:
    domains_field = _field(options.get("domains_field"))
    fields = ["Id", "Name", "OwnerId", "Website"] + ([domains_field] if domains_field else [])
    accounts = client.query(f"SELECT {', '.join(fields)} FROM Account",  # noqa: S608 (API names)
                            "Account")
    roles = [str(r) for r in options.get("team_roles", [])]
    where = ""
    if roles:
        quoted = ", ".join("'" + r.replace("\\", "\\\\").replace("'", "\\'") + "'" for r in roles)
        where = f" WHERE TeamMemberRole IN ({quoted})"
    soql = "SELECT AccountId, UserId, TeamMemberRole FROM AccountTeamMember" + where  # noqa: S608
    members = client.query(soql, "AccountTeamMember")
    team: dict[str, list[str]] = {}
    for m in members:
        team.setdefault(str(m["AccountId"]), []).append(emails.get(str(m["UserId"]), ""))
    out: list[CrmAccount] = []
    for a in accounts:
        domains = [d for d in [website_domain(a.get("Website"))] if d]
        domains += _list(a.get(domains_field)) if domains_field else []
        out.append(CrmAccount(ref=f"Account {a['Id']}", account_id=str(a["Id"]),
                              account_name=str(a.get("Name") or ""),
                              owner_email=emails.get(str(a.get("OwnerId") or ""), ""),
                              domains=domains, team_emails=team.get(str(a["Id"]), [])))
    return out


def _history(client: _Client, emails: dict[str, str]) -> list[CrmOwnerChange]:
    rows = client.query("SELECT Id, AccountId, CreatedDate, DataType, NewValue FROM "
                        "AccountHistory WHERE Field = 'Owner' ORDER BY CreatedDate",
                        "AccountHistory")
    out: list[CrmOwnerChange] = []
    for r in rows:
        if r.get("DataType") != "EntityId":
            continue  # the same change again, with user names instead of Ids
        moment = datetime.fromisoformat(str(r["CreatedDate"]).replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        out.append(CrmOwnerChange(ref=f"AccountHistory {r['Id']}",
                                  account_id=str(r["AccountId"]),
                                  owner_email=emails.get(str(r.get("NewValue") or ""), ""),
                                  valid_from=moment.astimezone(UTC)))
    return out


def fetch(options: dict[str, Any], credentials: dict[str, Any] | None = None) -> CrmRecords:
    """Read the Salesforce org in full (see the module docstring)."""
    client = _Client(options, credentials)
    try:
        client.authenticate()
        emails, users = _users(client, options)
        records = CrmRecords(kind="salesforce", users=users)
        records.accounts = _accounts(client, options, emails)
        contacts = client.query("SELECT Id, AccountId, Email FROM Contact WHERE AccountId != null",
                                "Contact")
        records.contacts = [CrmContact(ref=f"Contact {c['Id']}", email=str(c.get("Email") or ""),
                                       account_id=str(c["AccountId"]))
                            for c in contacts if c.get("Email")]
        records.ownership = _history(client, emails)
        if not records.ownership:
            records.history = False
            records.notes.append("salesforce: AccountHistory has no Owner changes — field history"
                                 " tracking is off for Account Owner, so owner history comes"
                                 " from the snapshots only (turn it on: docs/crm.md)")
        records.requests, records.retries = client.session.requests, client.session.retries
        log.info("salesforce: %d users, %d accounts, %d contacts, %d owner changes, %d "
                 "requests, %d retries", len(users), len(records.accounts),
                 len(records.contacts), len(records.ownership), records.requests,
                 records.retries)
        return records
    finally:
        client.session.close()
