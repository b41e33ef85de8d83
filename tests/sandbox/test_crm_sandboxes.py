"""The CRM sandboxes speak the real protocols (issue 17), checked with plain HTTP — not the
connectors: Salesforce's JWT bearer token endpoint checks the assertion's signature and
claims, SOQL answers with the real error codes, pages with nextRecordsUrl and records each
owner change twice in AccountHistory; HubSpot refuses a missing token, a too-large page with
property history, and throttles with its rate-limit headers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox import hubspot, salesforce
from sandbox.crm_seed import read_crm_seed
from tests.connectors.crm_org import write_org

GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _seed(tmp_path: Path) -> Any:
    config = write_org(tmp_path / "org", contacts="email,account_id\nann@x.example,A1\n"
                       "ann@x.example,A2\nbob@y.example,A3\n")
    assert config.accounts_csv and config.reps_csv
    return read_crm_seed(config.accounts_csv, config.reps_csv, config.contacts_csv,
                         config.ownership_csv, config.timezone)


@pytest.fixture()
def sf(tmp_path: Path) -> Iterator[salesforce.SalesforceSandbox]:
    with salesforce.start(_seed(tmp_path), secrets_dir=tmp_path / "s", page_size=3) as server:
        yield server


@pytest.fixture()
def hs(tmp_path: Path) -> Iterator[hubspot.HubSpotSandbox]:
    with hubspot.start(_seed(tmp_path), secrets_dir=tmp_path / "h", max_requests=4,
                       interval_ms=500) as server:
        yield server


def _assertion(server: salesforce.SalesforceSandbox, key: Any = None, **claims: Any) -> str:
    body = {"iss": server.client_id, "sub": server.username,
            "aud": "https://login.salesforce.com", "exp": int(time.time()) + 120, **claims}
    signing = key if key is not None else server.key_file.read_text(encoding="utf-8")
    return jwt.encode(body, signing, algorithm="RS256")


def _token(server: salesforce.SalesforceSandbox, assertion: str) -> requests.Response:
    return requests.post(f"{server.url}/services/oauth2/token",
                         data={"grant_type": GRANT, "assertion": assertion}, timeout=10)


def test_salesforce_jwt_signature_and_claims_are_checked(sf: salesforce.SalesforceSandbox
                                                         ) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert _token(sf, _assertion(sf, key=stranger)).json() == {
        "error": "invalid_grant", "error_description": "invalid assertion"}
    assert _token(sf, _assertion(sf, aud=sf.url)).status_code == 400
    assert _token(sf, _assertion(sf, sub="someone@else.example")).json()["error"] == \
        "invalid_grant"
    assert _token(sf, _assertion(sf, iss="another-app")).json()["error"] == "invalid_client_id"
    ok = _token(sf, _assertion(sf))
    assert ok.status_code == 200 and ok.json()["instance_url"] == sf.url


def _soql(sf: salesforce.SalesforceSandbox, q: str, token: str | None = None
          ) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"{sf.url}/services/data/v61.0/query", params={"q": q},
                        headers=headers, timeout=10)


def test_salesforce_soql_errors_paging_and_the_history_quirk(sf: salesforce.SalesforceSandbox
                                                            ) -> None:
    assert _soql(sf, "SELECT Id FROM User").json()[0]["errorCode"] == "INVALID_SESSION_ID"
    token = _token(sf, _assertion(sf)).json()["access_token"]
    bad = _soql(sf, "SELECT Id, Nope__c FROM Account", token)
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_FIELD"
    assert _soql(sf, "SELECT Id FROM Opportunity", token).json()[0]["errorCode"] == \
        "INVALID_TYPE"
    page = _soql(sf, "SELECT Id, Email FROM User", token).json()
    users = list(page["records"])
    assert not page["done"] and len(users) == 3
    while not page["done"]:
        page = requests.get(sf.url + page["nextRecordsUrl"], timeout=10,
                            headers={"Authorization": f"Bearer {token}"}).json()
        users += page["records"]
    assert len(users) == page["totalSize"] == 4
    history = _soql(sf, "SELECT AccountId, CreatedDate, DataType, OldValue, NewValue FROM "
                        "AccountHistory WHERE Field = 'Owner' AND AccountId = 'A1'", token).json()
    rows = history["records"]
    assert history["totalSize"] == 4  # two changes, each twice (page size 3)
    assert [r["DataType"] for r in rows] == ["EntityId", "Text", "EntityId"]
    assert rows[0]["CreatedDate"] == rows[1]["CreatedDate"]
    assert rows[0]["NewValue"].startswith("005") and rows[1]["NewValue"] == "Tom Seller"
    sf.inject("locator", after=1)  # at the queryMore below
    more = _soql(sf, "SELECT Id FROM User", token).json()
    expired = requests.get(sf.url + more["nextRecordsUrl"], timeout=10,
                           headers={"Authorization": f"Bearer {token}"})
    assert expired.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def _hs(hs: hubspot.HubSpotSandbox, path: str, token: str | None, **params: Any
        ) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(hs.url + path, params=params, headers=headers, timeout=10)


def test_hubspot_auth_limits_archived_owners_and_associations(hs: hubspot.HubSpotSandbox
                                                              ) -> None:
    denied = _hs(hs, "/crm/v3/owners", None)
    assert denied.status_code == 401 and denied.json()["category"] == "INVALID_AUTHENTICATION"
    too_many = _hs(hs, "/crm/v3/objects/companies", hs.token, limit=100,
                   propertiesWithHistory="hubspot_owner_id")
    assert too_many.status_code == 400 and "propertiesWithHistory" in too_many.json()["message"]
    active = _hs(hs, "/crm/v3/owners", hs.token).json()["results"]
    archived = _hs(hs, "/crm/v3/owners", hs.token, archived="true").json()["results"]
    assert {o["email"] for o in archived} == {"ina@corp.example"}
    assert "ina@corp.example" not in {o["email"] for o in active}
    contacts = _hs(hs, "/crm/v3/objects/contacts", hs.token, properties="email",
                   associations="companies").json()["results"]
    ann = next(c for c in contacts if c["properties"]["email"] == "ann@x.example")
    assert [a["id"] for a in ann["associations"]["companies"]["results"]] == ["A1", "A2"]
    throttled = _hs(hs, "/crm/v3/owners", hs.token)  # the 5th request within 500 ms
    assert throttled.status_code == 429 and throttled.json()["errorType"] == "RATE_LIMIT"
    assert throttled.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert throttled.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "500"
    assert "Retry-After" not in throttled.headers


def test_hubspot_history_is_newest_first_and_pages_with_after(hs: hubspot.HubSpotSandbox
                                                             ) -> None:
    first = _hs(hs, "/crm/v3/objects/companies", hs.token, limit=2,
                properties="name,hubspot_owner_id", propertiesWithHistory="hubspot_owner_id")
    body = first.json()
    assert [c["id"] for c in body["results"]] == ["A1", "A2"]
    stamps = [h["timestamp"] for h in body["results"][0]["propertiesWithHistory"][
        "hubspot_owner_id"]]
    assert stamps == sorted(stamps, reverse=True) and len(stamps) == 2
    nxt = _hs(hs, "/crm/v3/objects/companies", hs.token, limit=2, properties="name",
              after=body["paging"]["next"]["after"]).json()
    assert [c["id"] for c in nxt["results"]] == ["A3", "A4"] and "paging" not in nxt
