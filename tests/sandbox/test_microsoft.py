"""The Microsoft sandbox speaks Graph's shapes and rules (checked against recorded documentation
responses in ../shared/data/api/msgraph) and Entra ID's token errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox import microsoft
from sandbox.exchange_ids import vcal_uid
from sandbox.seed import MailboxSeed, SeedCalendar, SeedMessage

MB = "rep@corp.example"
HEAD = (b"Message-ID: <m1@acme.example>\nDate: Tue, 10 Nov 2026 10:00:00 +0000\n"
        b"From: Ann <ann@acme.example>\nTo: Rep <rep@corp.example>\nCc: bob@acme.example\n"
        b"Bcc: hidden@corp.example\nList-Id: <news.acme.example>\nSubject: hi\n")
ICS = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VEVENT\r
UID:weekly-1@corp.example\r
DTSTART:20261102T090000Z\r
DTEND:20261102T093000Z\r
RRULE:FREQ=WEEKLY;COUNT=3\r
ORGANIZER;CN=Rep:mailto:rep@corp.example\r
ATTENDEE;PARTSTAT=ACCEPTED;CN=Ann:mailto:ann@acme.example\r
ATTENDEE;PARTSTAT=TENTATIVE:mailto:bob@acme.example\r
ATTENDEE;CUTYPE=ROOM;PARTSTAT=ACCEPTED:mailto:room-1@resource.corp.example\r
END:VEVENT\r
END:VCALENDAR\r
"""


@pytest.fixture()
def sb(tmp_path: Path) -> Iterator[microsoft.MicrosoftSandbox]:
    t = datetime(2026, 11, 10, 10, tzinfo=UTC)
    seed = MailboxSeed(MB, [SeedMessage("eml:1.eml", HEAD, t, False)],
                       [SeedCalendar("cal.ics", ICS)])
    with microsoft.start({MB: seed}, secrets_dir=tmp_path) as s:
        yield s


def token(sb: microsoft.MicrosoftSandbox, **form: str) -> requests.Response:
    data = {"grant_type": "client_credentials", "client_id": sb.client_id,
            "client_secret": sb.secret, "scope": "https://graph.microsoft.com/.default", **form}
    return requests.post(f"{sb.authority}/oauth2/v2.0/token", data=data, verify=str(sb.ca_file))


def get(sb: microsoft.MicrosoftSandbox, path: str, **kw: Any) -> requests.Response:
    tok = token(sb).json()["access_token"]
    headers = {"Authorization": f"Bearer {tok}", **kw.pop("headers", {})}
    return requests.get(f"{sb.endpoint}{path}", headers=headers, verify=str(sb.ca_file), **kw)


def test_openid_and_token_errors(sb: microsoft.MicrosoftSandbox) -> None:
    conf = requests.get(f"{sb.authority}/v2.0/.well-known/openid-configuration",
                        verify=str(sb.ca_file)).json()
    assert conf["token_endpoint"] == f"{sb.authority}/oauth2/v2.0/token"
    ok = token(sb).json()
    assert ok["token_type"] == "Bearer" and ok["expires_in"] > 0
    bad = token(sb, client_secret="nope")
    assert bad.status_code == 401 and bad.json()["error_codes"] == [7000215]
    unknown = token(sb, client_id="nobody")
    assert unknown.status_code == 400 and unknown.json()["error"] == "unauthorized_client"
    assert "AADSTS700016" in unknown.json()["error_description"]
    assert get(sb, f"/users/{MB}/messages", headers={"Authorization": "Bearer x"}).status_code == 401


def test_graph_limits(sb: microsoft.MicrosoftSandbox) -> None:
    assert get(sb, f"/users/{MB}/messages", params={"$top": "1001"}).status_code == 400
    assert get(sb, f"/users/{MB}/messages", params={"$select": "id,body"}).status_code == 403
    assert get(sb, f"/users/{MB}/messages", params={"$select": "idd"}).status_code == 400
    delta = f"/users/{MB}/mailFolders/inbox/messages/delta"
    lt = {"$filter": "receivedDateTime lt 2026-01-01T00:00:00Z"}
    assert get(sb, delta, params=lt).status_code == 400  # delta: only ge/gt
    cal = get(sb, f"/users/{MB}/calendarView/delta", params={
        "startDateTime": "2026-11-01T00:00:00Z", "endDateTime": "2026-12-01T00:00:00Z",
        "$select": "id"})
    assert cal.status_code == 400  # calendarView delta takes no $select
    missing = get(sb, "/users/ghost@corp.example/messages")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ErrorInvalidUser"
    tok = token(sb).json()["access_token"]
    big = {"requests": [{"id": str(i), "method": "GET", "url": f"/users/{MB}/messages"}
                        for i in range(21)]}
    r = requests.post(f"{sb.endpoint}/$batch", json=big, verify=str(sb.ca_file),
                      headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 400


def _keys(obj: Any) -> set[str]:
    return set(obj) if isinstance(obj, dict) else set()


def test_shapes_follow_the_graph_documentation(sb: microsoft.MicrosoftSandbox,
                                               shared_data: Path) -> None:
    docs = shared_data / "api" / "msgraph"
    email = json.loads((docs / "zapier_samples/email.json").read_text())
    event_samples = [json.loads(p.read_text()) for p in
                     [docs / "zapier_samples/calendar_event.json",
                      *sorted((docs / "tekki_onedrive_perl").glob("*.json"))]]
    delta_docs = {p.name: json.loads(p.read_text()) for p in (docs / "docs").glob("*.json")}

    msgs = get(sb, f"/users/{MB}/messages").json()["value"]
    m = msgs[0]
    # every property we serve exists on the documented message, with the same JSON type
    for k, v in m.items():
        if k.startswith("@odata") or k in ("internetMessageHeaders",):
            continue
        assert k in email, k
        if email[k] is not None and v is not None:
            assert type(v) is type(email[k]), k
    for prop in ("from", "sender"):
        assert _keys(m[prop]) == _keys(email[prop]) == {"emailAddress"}
        assert _keys(m[prop]["emailAddress"]) == _keys(email[prop]["emailAddress"])
    assert _keys(m["toRecipients"][0]) == _keys(email["toRecipients"][0])
    names = {h["name"].lower() for h in m["internetMessageHeaders"]}
    assert "list-id" in names and "bcc" not in names  # Bcc is never a transport header
    assert m["bccRecipients"][0]["emailAddress"]["address"] == "hidden@corp.example"

    events = get(sb, f"/users/{MB}/calendarView", params={
        "startDateTime": "2026-11-01T00:00:00Z", "endDateTime": "2026-12-01T00:00:00Z"},
        headers={"Prefer": 'outlook.timezone="UTC"'}).json()["value"]
    assert len(events) == 3 and {e["type"] for e in events} == {"occurrence"}
    documented = set().union(*(set(e) for e in event_samples)) | {"originalStart"}
    att_doc = next(a for e in event_samples for a in e.get("attendees", []))
    for e in events:
        assert set(k for k in e if not k.startswith("@odata")) <= documented
        assert _keys(e["start"]) == _keys(event_samples[0]["start"]) == {"dateTime", "timeZone"}
        assert e["start"]["dateTime"].endswith(".0000000") and e["start"]["timeZone"] == "UTC"
        for a in e["attendees"]:
            assert _keys(a) == _keys(att_doc)
            assert _keys(a["status"]) == _keys(att_doc["status"])
            assert a["status"]["response"] in ("none", "organizer", "tentativelyAccepted",
                                               "accepted", "declined", "notResponded")
        assert any(a["type"] == "resource" for a in e["attendees"])
    assert len({e["iCalUId"] for e in events}) == 3  # differs per occurrence, like Graph
    master = get(sb, f"/users/{MB}/events/{events[0]['seriesMasterId']}").json()
    # The .ics UID, wrapped in an Exchange Global Object Id (real shapes are the default)
    assert master["type"] == "seriesMaster" and vcal_uid(master["iCalUId"]) == "weekly-1@corp.example"

    # delta envelopes and @removed entries look like the documented rounds
    round1 = get(sb, f"/users/{MB}/mailFolders/inbox/messages/delta",
                 headers={"Prefer": "odata.maxpagesize=1"}).json()
    final = delta_docs["messages_delta_round1_page3_final.json"]
    assert set(round1) == set(final)  # @odata.context, @odata.deltaLink, value
    sb.store.delete_message(MB, m["id"])
    link = round1["@odata.deltaLink"]
    tok = token(sb).json()["access_token"]
    round2 = requests.get(link, headers={"Authorization": f"Bearer {tok}"},
                          verify=str(sb.ca_file)).json()
    removed_doc = next(v for v in delta_docs["messages_delta_round2_with_removed.json"]["value"]
                       if "@removed" in v)
    removed = round2["value"][0]
    assert set(removed) == set(removed_doc) and removed["@removed"] == {"reason": "deleted"}
    cal_doc = delta_docs["calendarview_delta_round1_page1.json"]
    cal = get(sb, f"/users/{MB}/calendarView/delta", params={
        "startDateTime": "2026-11-01T00:00:00Z", "endDateTime": "2026-12-01T00:00:00Z"},
        headers={"Prefer": "odata.maxpagesize=2"}).json()
    assert set(cal) == set(cal_doc)  # @odata.context, @odata.nextLink, value
    assert "$skiptoken=" in cal["@odata.nextLink"]
