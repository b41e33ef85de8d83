"""A Salesforce REST API sandbox serving a CRM export (``overlap sandbox serve --apis salesforce``).

Protocol (as the real service, docs/crm.md): the OAuth 2.0 JWT bearer flow at
``POST /services/oauth2/token`` (form ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``
and ``assertion``; the RS256 signature is checked against the connected app's certificate,
``iss`` must be its consumer key, ``sub`` a user, ``aud`` https://login.salesforce.com, ``exp``
at most 3 minutes ahead; errors ``{"error": "invalid_grant", "error_description"}``), SOQL at
``GET /services/data/vXX.X/query?q=`` with ``nextRecordsUrl`` paging (``…/query/<locator>-<n>``,
at most 2000 records a page, ``Sforce-Query-Options: batchSize=`` 200–2000; the sandbox may
return smaller pages, as Salesforce may), errors as ``[{"message", "errorCode"}]``:
``INVALID_SESSION_ID`` (401), ``INVALID_QUERY_LOCATOR``, ``INVALID_FIELD``,
``MALFORMED_QUERY``, ``INVALID_TYPE`` (400), ``REQUEST_LIMIT_EXCEEDED`` (403, the daily API
limit), and the ``Sforce-Limit-Info: api-usage=n/limit`` header.

The SOQL it understands is what a connector needs: ``SELECT f, … FROM Object [WHERE c AND …]
[ORDER BY f [ASC|DESC]]`` with conditions ``f = 'v'``, ``f != 'v'``, ``f = null``,
``f != null``, ``f IN ('a', …)``.

Data (from :mod:`sandbox.crm_seed`): a User per address the export names (reps are
``UserType = 'Standard'``; owners, team members and managers missing from reps.csv are
``'CsnOnly'`` users, inactive), custom fields ``User.Email_Aliases__c`` and
``Account.Email_Domains__c`` (``;``-separated), Account ``Website`` = ``https://www.`` + the
first domain when that has two labels (else empty; an accounts.csv ``website`` column wins),
AccountTeamMember rows with role ``Sales Rep``, Contacts, and AccountHistory for every
ownership.csv row — twice, as Salesforce records it: ``DataType = 'EntityId'`` with user Ids
and ``'Text'`` with names. Account Ids are the export's ``account_id`` (so results compare
one to one with the CSV path).

Faults on request: ``inject(kind, count=1, after=0)`` with kind ``token`` (every session
expires now: 401), ``locator`` (every query locator expires now: the request answers
``INVALID_QUERY_LOCATOR`` when it is a queryMore), ``429``, ``500``, ``503``.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox._crm_faults import CrmServer, FaultPlan
from sandbox.crm_seed import CrmSeed
from sandbox.http import Request, Response, SandboxHTTPServer, write_secret

AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
VERSIONS = re.compile(r"^v(4[0-9]|5[0-9]|6[0-3])\.0$")
MAX_BATCH, MIN_BATCH = 2000, 200
FAULT_KINDS = ("token", "locator", "429", "500", "503")
_SOQL = re.compile(r"^\s*select\s+(?P<fields>.+?)\s+from\s+(?P<object>\w+)"
                   r"(?:\s+where\s+(?P<where>.+?))?"
                   r"(?:\s+order\s+by\s+(?P<order>\w+)(?:\s+(?P<dir>asc|desc))?)?\s*$",
                   re.IGNORECASE | re.DOTALL)
_COND = re.compile(r"^\s*(\w+)\s*(=|!=)\s*(null|'(?:[^'\\]|\\.)*')\s*$", re.IGNORECASE)
_IN = re.compile(r"^\s*(\w+)\s+in\s*\((.*)\)\s*$", re.IGNORECASE | re.DOTALL)
_LITERAL = re.compile(r"'((?:[^'\\]|\\.)*)'")

FIELDS: dict[str, tuple[str, ...]] = {
    "User": ("Id", "Email", "Name", "ManagerId", "IsActive", "UserType", "Department",
             "Email_Aliases__c", "Username"),
    "Account": ("Id", "Name", "OwnerId", "Website", "Email_Domains__c", "CreatedDate"),
    "AccountTeamMember": ("Id", "AccountId", "UserId", "TeamMemberRole"),
    "Contact": ("Id", "AccountId", "Email", "LastName"),
    "AccountHistory": ("Id", "AccountId", "CreatedDate", "Field", "DataType", "OldValue",
                       "NewValue"),
}
_PREFIX = {"User": "005", "Account": "001", "AccountTeamMember": "01M", "Contact": "003",
           "AccountHistory": "017"}


def _sf_id(obj: str, n: int) -> str:
    return f"{_PREFIX[obj]}{n:012d}AAA"


def _sf_time(moment: Any) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.000+0000"


def _error(status: int, code: str, message: str,
           headers: dict[str, str] | None = None) -> Response:
    return Response.json(status, [{"message": message, "errorCode": code}], headers)


@dataclass
class _Locator:
    records: list[dict[str, Any]]
    size: int


class SalesforceSandbox(CrmServer):
    """A running sandbox; see the module docstring."""

    def __init__(self, seed: CrmSeed, *, host: str, port: int, secrets_dir: Path,
                 client_id: str = "3MVG9sandbox.overlap.connected.app", username: str = "",
                 page_size: int = MAX_BATCH, daily_limit: int = 15000,
                 token_lifetime: float = 7200.0) -> None:
        self.client_id = client_id
        self.page_size = page_size
        self.daily_limit = daily_limit
        self.token_lifetime = token_lifetime
        self.faults = FaultPlan(FAULT_KINDS)
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # token -> expiry (monotonic)
        self.issued: list[str] = []  # every access token handed out (tests look for leaks)
        self._locators: dict[str, _Locator] = {}
        self.api_usage = 0
        self.tables = self._build(seed)
        self.username = username or f"integration@{self._org_domain(seed)}"
        self.secrets_dir = Path(secrets_dir)
        self.key_file = self._write_key()
        self._http = SandboxHTTPServer(self._handle, host=host, port=port).start()

    # --- data -----------------------------------------------------------------------------

    @staticmethod
    def _org_domain(seed: CrmSeed) -> str:
        for r in seed.reps:
            if "@" in r.email:
                return r.email.rpartition("@")[2]
        return "example.com"

    def _build(self, seed: CrmSeed) -> dict[str, list[dict[str, Any]]]:
        reps = {r.email: r for r in seed.reps}
        users: list[dict[str, Any]] = []
        ids: dict[str, str] = {}
        names: dict[str, str] = {}
        for n, address in enumerate(seed.addresses(), start=1):
            ids[address] = _sf_id("User", n)
        for address, uid in ids.items():
            rep = reps.get(address)
            names[uid] = (rep.name if rep else "") or address
            users.append({"Id": uid, "Email": address or None, "Username": address or uid,
                          "Name": names[uid],
                          "ManagerId": ids.get(rep.manager) if rep and rep.manager else None,
                          "IsActive": rep.active if rep else False,
                          "UserType": "Standard" if rep else "CsnOnly",
                          "Department": (rep.team or None) if rep else None,
                          "Email_Aliases__c": ";".join(rep.aliases) or None if rep else None})
        accounts: list[dict[str, Any]] = []
        team: list[dict[str, Any]] = []
        history: list[dict[str, Any]] = []
        for a in seed.accounts:
            website = a.website if a.website is not None else (
                f"https://www.{a.domains[0]}" if a.domains and a.domains[0].count(".") == 1
                else "")
            accounts.append({"Id": a.account_id, "Name": a.name or None,
                             "OwnerId": ids.get(a.owner), "Website": website or None,
                             "Email_Domains__c": ";".join(a.domains) or None,
                             "CreatedDate": "2020-01-01T00:00:00.000+0000"})
            for member in a.team:
                team.append({"Id": _sf_id("AccountTeamMember", len(team) + 1),
                             "AccountId": a.account_id, "UserId": ids.get(member),
                             "TeamMemberRole": "Sales Rep"})
        current = {a.account_id: a.owner for a in seed.accounts}
        for change in sorted(seed.ownership, key=lambda c: c.at):
            old = current.get(change.account_id, "")
            for data_type, old_value, new_value in (
                    ("EntityId", ids.get(old), ids.get(change.owner)),
                    ("Text", names.get(ids.get(old, ""), old), names.get(
                        ids.get(change.owner, ""), change.owner))):
                history.append({"Id": _sf_id("AccountHistory", len(history) + 1),
                                "AccountId": change.account_id,
                                "CreatedDate": _sf_time(change.at), "Field": "Owner",
                                "DataType": data_type, "OldValue": old_value,
                                "NewValue": new_value})
            current[change.account_id] = change.owner
        contacts = [{"Id": _sf_id("Contact", n), "AccountId": account_id, "Email": email or None,
                     "LastName": email.partition("@")[0] or "Unknown"}
                    for n, (email, account_id) in enumerate(seed.contacts, start=1)]
        return {"User": users, "Account": accounts, "AccountTeamMember": team,
                "Contact": contacts, "AccountHistory": history}

    def _write_key(self) -> Path:
        self.secrets_dir.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._public_key = key.public_key()
        path = self.secrets_dir / "salesforce-private-key.pem"
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        return write_secret(path, pem)

    # --- server ---------------------------------------------------------------------------

    def crm_config(self) -> dict[str, Any]:
        """The ``[crm]`` table (with its ``[crm.salesforce]`` options) reading this sandbox."""
        return {"kind": "salesforce", "salesforce": {
            "login_url": self.url, "client_id": self.client_id, "username": self.username,
            "private_key_file": str(self.key_file), "domains_field": "Email_Domains__c",
            "aliases_field": "Email_Aliases__c", "team_field": "Department"}}

    def _handle(self, request: Request) -> Response:
        if request.method == "POST" and request.path == "/services/oauth2/token":
            self._http.count("token")
            return self._token(request)
        m = re.fullmatch(r"/services/data/(v[\d.]+)/query(?:/([\w-]+))?", request.path)
        if request.method != "GET" or m is None:
            return _error(404, "NOT_FOUND", "The requested resource does not exist")
        if not VERSIONS.match(m.group(1)):
            return _error(404, "NOT_FOUND", "The requested resource does not exist")
        auth = request.headers.get("authorization", "")
        fault = self.faults.draw()
        with self._lock:
            if fault == "token":
                self._tokens.clear()
            if fault == "locator":
                self._locators.clear()
            token = auth.removeprefix("Bearer ").strip()
            expiry = self._tokens.get(token)
            if not auth.startswith("Bearer ") or expiry is None or expiry < time.monotonic():
                return _error(401, "INVALID_SESSION_ID", "Session expired or invalid")
            self.api_usage += 1
            limit = {"Sforce-Limit-Info": f"api-usage={self.api_usage}/{self.daily_limit}"}
            if self.api_usage > self.daily_limit:
                return _error(403, "REQUEST_LIMIT_EXCEEDED",
                              f"TotalRequests Limit exceeded. Limit: {self.daily_limit}", limit)
        if fault in ("429", "500", "503"):
            status = int(fault)
            return _error(status, "SERVER_UNAVAILABLE" if status != 429 else
                          "REQUEST_LIMIT_EXCEEDED", "the server is busy, try again", limit)
        if m.group(2):
            self._http.count("queryMore")
            return self._more(m.group(1), m.group(2), limit)
        self._http.count("query")
        return self._query(m.group(1), request, limit)

    def _token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return Response.json(400, {"error": "unsupported_grant_type",
                                       "error_description": "grant type not supported"})
        try:
            claims = jwt.decode(form.get("assertion", ""), self._public_key, algorithms=["RS256"],
                                audience=list(AUDIENCES), options={"require": ["exp", "iss",
                                                                             "sub", "aud"]})
        except jwt.PyJWTError:
            return Response.json(400, {"error": "invalid_grant",
                                       "error_description": "invalid assertion"})
        if claims["exp"] > time.time() + 300:
            return Response.json(400, {"error": "invalid_grant",
                                       "error_description": "expired authorization code"})
        if claims["iss"] != self.client_id:
            return Response.json(400, {"error": "invalid_client_id",
                                       "error_description": "client identifier invalid"})
        if claims["sub"] != self.username:
            return Response.json(400, {"error": "invalid_grant",
                                       "error_description": "user hasn't approved this consumer"})
        token = "00D000000000001!" + secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_lifetime
            self.issued.append(token)
        return Response.json(200, {"access_token": token, "scope": "api",
                                   "instance_url": self.url, "id": f"{self.url}/id/00D/005",
                                   "token_type": "Bearer"})

    def _query(self, version: str, request: Request, limit: dict[str, str]) -> Response:
        soql = request.arg("q") or ""
        m = _SOQL.match(soql)
        if m is None:
            return _error(400, "MALFORMED_QUERY", f"unexpected token in {soql[:60]!r}", limit)
        obj = next((o for o in FIELDS if o.lower() == m["object"].lower()), None)
        if obj is None:
            return _error(400, "INVALID_TYPE", f"sObject type '{m['object']}' is not supported.",
                          limit)
        fields = [f.strip() for f in m["fields"].split(",")]
        for f in fields + ([m["order"]] if m["order"] else []):
            if f not in FIELDS[obj]:
                return _error(400, "INVALID_FIELD", f"No such column '{f}' on entity '{obj}'. "
                              "If you are attempting to use a custom field, be sure to append "
                              "the '__c' after the custom field name.", limit)
        try:
            rows = [r for r in self.tables[obj] if self._where(m["where"], obj, r)]
        except ValueError as exc:
            return _error(400, "MALFORMED_QUERY", str(exc), limit)
        if m["order"]:
            rows.sort(key=lambda r: (r.get(m["order"]) is None, r.get(m["order"]) or ""),
                      reverse=(m["dir"] or "").lower() == "desc")
        records = [{"attributes": {"type": obj, "url": f"/services/data/{version}/sobjects/"
                                                       f"{obj}/{r['Id']}"},
                    **{f: r.get(f) for f in fields}} for r in rows]
        size = self.page_size
        option = request.headers.get("sforce-query-options", "")
        bm = re.search(r"batchSize=(\d+)", option)
        if bm:
            size = min(size, max(MIN_BATCH, min(MAX_BATCH, int(bm.group(1)))))
        locator = "01g" + secrets.token_hex(6).upper()
        with self._lock:
            self._locators[locator] = _Locator(records, size)
        return self._page(version, locator, 0, limit)

    def _where(self, where: str | None, obj: str, row: dict[str, Any]) -> bool:
        if not where:
            return True
        for cond in re.split(r"\s+and\s+", where, flags=re.IGNORECASE):
            m = _COND.match(cond)
            if m:
                field, op, raw = m.groups()
                value = None if raw.lower() == "null" else _LITERAL.match(raw).group(1)  # type: ignore[union-attr]
                values: list[Any] = [value]
            else:
                im = _IN.match(cond)
                if im is None:
                    raise ValueError(f"unexpected condition {cond.strip()!r}")
                field, op = im.group(1), "in"
                values = [v.replace("\\'", "'") for v in _LITERAL.findall(im.group(2))]
            if field not in FIELDS[obj]:
                raise ValueError(f"No such column '{field}' on entity '{obj}'")
            hit = row.get(field) in values
            if hit != (op != "!="):
                return False
        return True

    def _page(self, version: str, locator: str, start: int, limit: dict[str, str]) -> Response:
        with self._lock:
            cursor = self._locators.get(locator)
        if cursor is None:
            return _error(400, "INVALID_QUERY_LOCATOR", "invalid query locator", limit)
        end = start + cursor.size
        body: dict[str, Any] = {"totalSize": len(cursor.records), "done": end >= len(
            cursor.records), "records": cursor.records[start:end]}
        if not body["done"]:
            body["nextRecordsUrl"] = f"/services/data/{version}/query/{locator}-{end}"
        else:
            with self._lock:
                self._locators.pop(locator, None)
        return Response.json(200, body, limit)

    def _more(self, version: str, token: str, limit: dict[str, str]) -> Response:
        locator, _, start = token.rpartition("-")
        if not start.isdigit():
            return _error(400, "INVALID_QUERY_LOCATOR", "invalid query locator", limit)
        return self._page(version, locator, int(start), limit)


def start(seed: CrmSeed, *, host: str = "127.0.0.1", port: int = 0, secrets_dir: Path,
          **options: Any) -> SalesforceSandbox:
    """Start the Salesforce sandbox in a background thread; ``stop()`` (or ``with``) ends it.
    Options: ``client_id``, ``username``, ``page_size`` (records a page, ≤ 2000),
    ``daily_limit`` (API requests), ``token_lifetime`` (s)."""
    return SalesforceSandbox(seed, host=host, port=port, secrets_dir=Path(secrets_dir),
                             **options)

