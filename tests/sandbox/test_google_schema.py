"""The Google sandbox's JSON matches the real discovery documents field for field: every
key it sends is a property of the schema the API declares for that response, with the
declared JSON type (recursively)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httplib2
import pytest

from connectors.google_auth import CALENDAR_SCOPE, GMAIL_SCOPE, build_service, delegated_credentials
from sandbox import google
from sandbox.google_seed import calendar_seed, event_ics, mail_seed

REP = "rep@corp.example"
BUNDLED = Path(httplib2.__file__).parents[1] / "googleapiclient" / "discovery_cache" / "documents"


def _documents() -> Path:
    env = os.environ.get("OVERLAP_SHARED_DATA")
    shared = Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"
    folder = shared / "api" / "google_discovery"
    return folder if folder.is_dir() else BUNDLED


def _check(value: Any, schema: dict[str, Any], schemas: dict[str, Any], where: str) -> None:
    if "$ref" in schema:
        schema = schemas[schema["$ref"]]
    kind = schema.get("type")
    if kind == "object" and "properties" in schema:
        assert isinstance(value, dict), where
        for k, v in value.items():
            assert k in schema["properties"], f"{where}.{k} is not in the discovery schema"
            _check(v, schema["properties"][k], schemas, f"{where}.{k}")
    elif kind == "object" and "additionalProperties" in schema:
        assert isinstance(value, dict), where
        for k, v in value.items():
            _check(v, schema["additionalProperties"], schemas, f"{where}.{k}")
    elif kind == "array":
        assert isinstance(value, list), where
        for i, v in enumerate(value):
            _check(v, schema["items"], schemas, f"{where}[{i}]")
    elif kind == "string":
        assert isinstance(value, str), f"{where} must be a string (format {schema.get('format')})"
    elif kind == "integer":
        assert isinstance(value, int) and not isinstance(value, bool), where
    elif kind == "boolean":
        assert isinstance(value, bool), where


def test_responses_match_the_discovery_documents(tmp_path: Path) -> None:
    gmail_doc = json.loads((_documents() / "gmail.v1.json").read_text(encoding="utf-8"))
    cal_doc = json.loads((_documents() / "calendar.v3.json").read_text(encoding="utf-8"))
    start = datetime(2026, 11, 2, tzinfo=UTC)
    seed = mail_seed(REP, 3, start, start + timedelta(days=7))
    calendar_seed(seed, "a.ics", event_ics("a@x", REP, [(REP, "ACCEPTED"), ("b@acme.example",
                                                                            "NEEDS-ACTION")],
                                           start + timedelta(hours=9), rrule="FREQ=DAILY;COUNT=2"))
    with google.start({REP: seed}, secrets_dir=tmp_path) as sb:
        info = json.loads(sb.key_file.read_text(encoding="utf-8"))
        g = build_service("gmail", "v1", delegated_credentials(info, REP, GMAIL_SCOPE), sb.url, 10)
        users = g.users()
        before = users.getProfile(userId="me").execute()["historyId"]
        sb.add_message(REP, b"From: b@acme.example\r\nTo: rep@corp.example\r\n\r\n")
        msg_id = users.messages().list(userId="me").execute()["messages"][0]["id"]
        gs = gmail_doc["schemas"]
        responses = {
            "Profile": users.getProfile(userId="me").execute(),
            "ListMessagesResponse": users.messages().list(userId="me", maxResults=2).execute(),
            "Message": users.messages().get(userId="me", id=msg_id, format="metadata",
                                            metadataHeaders=["From", "To"]).execute(),
            "ListHistoryResponse": users.history().list(userId="me",
                                                        startHistoryId=before).execute(),
        }
        assert responses["ListHistoryResponse"]["history"]
        for name, body in responses.items():
            _check(body, gs[name], gs, name)
        c = build_service("calendar", "v3", delegated_credentials(info, REP, CALENDAR_SCOPE),
                          sb.url, 10)
        events = c.events().list(calendarId="primary", singleEvents=True, showDeleted=True,
                                 maxResults=1).execute()
        assert events["items"] and "nextPageToken" in events
        cs = cal_doc["schemas"]
        _check(events, cs["Events"], cs, "Events")
        for ev in events["items"]:
            assert ev["recurringEventId"] and ev["originalStartTime"]["dateTime"]


@pytest.mark.parametrize("scope", ["https://www.googleapis.com/auth/gmail.readonly",
                                   "https://mail.google.com/"])
def test_scopes_beyond_the_grant_are_refused(tmp_path: Path, scope: str) -> None:
    from google.auth.exceptions import RefreshError

    with google.start({REP: mail_seed(REP, 1, datetime(2026, 11, 2, tzinfo=UTC),
                                      datetime(2026, 11, 3, tzinfo=UTC))},
                      secrets_dir=tmp_path) as sb:
        info = json.loads(sb.key_file.read_text(encoding="utf-8"))
        g = build_service("gmail", "v1", delegated_credentials(info, REP, scope), sb.url, 10)
        with pytest.raises(RefreshError, match="unauthorized_client"):
            g.users().getProfile(userId="me").execute()


def test_a_forged_signature_is_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.auth.exceptions import RefreshError

    with google.start({REP: mail_seed(REP, 1, datetime(2026, 11, 2, tzinfo=UTC),
                                      datetime(2026, 11, 3, tzinfo=UTC))},
                      secrets_dir=tmp_path) as sb:
        info = json.loads(sb.key_file.read_text(encoding="utf-8"))
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        info["private_key"] = other.private_bytes(serialization.Encoding.PEM,
                                                  serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()).decode()
        g = build_service("gmail", "v1", delegated_credentials(info, REP, GMAIL_SCOPE), sb.url, 10)
        with pytest.raises(RefreshError, match="invalid_grant"):
            g.users().getProfile(userId="me").execute()
