"""Published response shapes through the connectors' parsing code (issue 15, Deliver 4).

Every shape a connector parses has a sample here, taken from Microsoft's and Google's
published material: the shared recordings under $OVERLAP_SHARED_DATA/api (Graph docs
responses, an Outlook.com Perl module's recorded events, Zapier's recorded Graph objects,
KDE libkgapi's recorded Calendar responses, the discovery documents), and the fixtures in
tests/connectors/fixtures/, each citing its source in ``_source``. Where a sample contradicts
what the connector expected, the sample wins (e.g. the docs' delta samples carry ``sender``
but no ``from``; Graph writes Windows zone names without the UTC Prefer header).
"""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors import gmail, msgraph
from connectors.api import CursorExpired, SyncRequest
from connectors.google_auth import pages
from connectors.google_calendar import meeting_from_event
from connectors.ical_uid import canonical_uid
from connectors.msgraph_client import GraphAuth, GraphClient
from connectors.records import EmailCopy, MeetingCopy, Quarantined, Window
from connectors.retry import Transient

FIXTURES = Path(__file__).parent / "fixtures"
SHARED = Path(os.environ.get("OVERLAP_SHARED_DATA", "/work/shared/data")) / "api"
GRAPH_DOCS = SHARED / "msgraph" / "docs"
TEKKI = SHARED / "msgraph" / "tekki_onedrive_perl"
ZAPIER = SHARED / "msgraph" / "zapier_samples"
KDE = SHARED / "google_calendar" / "kde_libkgapi"
MAILBOX = "rep@corp.example"


def fixture(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    assert data.get("_source"), f"{name} must cite its source"
    return data


def shared(path: Path) -> Any:
    if not SHARED.is_dir():
        pytest.fail(f"shared data missing: {SHARED} (set OVERLAP_SHARED_DATA)")
    text = path.read_text(encoding="utf-8")
    if text.startswith("HTTP/"):
        text = text.split("\n\n", 1)[1]  # a recorded HTTP response: status line, headers, body
    return json.loads(text)


def test_every_fixture_cites_its_source() -> None:
    names = sorted(p.name for p in FIXTURES.glob("*.json"))
    assert len(names) >= 8
    for name in names:
        fixture(name)


# --- Graph: mail -----------------------------------------------------------------------------

def test_docs_message_delta_rounds_page_and_remove() -> None:
    page2 = shared(GRAPH_DOCS / "messages_delta_round1_page2.json")
    final = shared(GRAPH_DOCS / "messages_delta_round1_page3_final.json")
    items, removed, link = msgraph._collect([page2, final])
    assert [i["id"] for i in items] == ["AQMkADNkNAAAgWkAAAA", "AQMkADNkNAAAgWJAAAA",
                                        "AAMkADk0MGFkODE3LWEAAA="]
    assert removed == [] and link and "$deltatoken=" in link
    items, removed, link = msgraph._collect([shared(GRAPH_DOCS / "messages_delta_round2_with_removed.json")])
    assert removed == ["AAMkADk0MGFkODE3LWE4MmYtNDRhOS0Dh_6qB-pB2Sa2pUum19a6YAAKnLuxoAAA="]
    assert [i["id"] for i in items] == ["AAMkADNkNAAASq35xAAA="]
    # The docs' sample selected only subject/sender: sender stands in for the missing "from";
    # with no sentDateTime/receivedDateTime and no Date header there is no time (rule 8).
    rec = msgraph.email_from_graph(items[0], source="m", mailbox=MAILBOX)
    assert isinstance(rec, Quarantined) and rec.reason == msgraph.REASON_NO_DATE


def test_recorded_message_without_headers_uses_sent_time_and_conversation() -> None:
    item = shared(ZAPIER / "email.json")
    assert "internetMessageHeaders" not in item
    rec = msgraph.email_from_graph(item, source="m", mailbox=MAILBOX)
    assert isinstance(rec, EmailCopy)
    assert rec.occurred_at == datetime(2019, 2, 21, 21, 13, 51, tzinfo=UTC)
    assert rec.date_source == "provider" and rec.thread_root is None and rec.bulk_reason is None
    assert rec.provider_thread_id == item["conversationId"]
    assert rec.message_id == "CAKv56NC6FX_FPsAq3aL7DWm=QvJW1T6D+BB8Xao-oJx=U9KxGQ@mail.gmail.com"
    assert [(p.address, p.role) for p in rec.participants] == [
        ("contact@zapier.com", "from"), ("testemail@outlook.com", "to")]


def test_sent_items_sample_without_headers_or_addresses_is_quarantined() -> None:
    page = fixture("graph_sent_items_without_headers.json")
    items, _, link = msgraph._collect([page])
    assert link is None and page["@odata.nextLink"]  # a listing page, not the round's end
    rec = msgraph.email_from_graph(items[0], source="m", mailbox=MAILBOX)
    # Names without addresses (the reporter's redaction): nothing to match, said so.
    assert isinstance(rec, Quarantined) and rec.reason == msgraph.REASON_NO_VALID_ADDRESSES


def test_headers_when_present_win_over_provider_time() -> None:
    item = dict(shared(ZAPIER / "email.json"))
    item["internetMessageHeaders"] = [  # the documented {name, value} form
        {"name": "Date", "value": "Thu, 21 Feb 2019 13:13:50 -0800"},
        {"name": "References", "value": "<root@mail.gmail.com> <mid@mail.gmail.com>"},
        {"name": "List-Unsubscribe", "value": "<mailto:unsub@zapier.com>"},
    ]
    rec = msgraph.email_from_graph(item, source="m", mailbox=MAILBOX)
    assert isinstance(rec, EmailCopy) and rec.date_source == "header"
    assert rec.occurred_at == datetime(2019, 2, 21, 21, 13, 50, tzinfo=UTC)
    assert rec.thread_root == "root@mail.gmail.com" and rec.bulk_reason == "list-unsubscribe"


# --- Graph: calendar -------------------------------------------------------------------------

def test_docs_calendarview_delta_pages() -> None:
    first = shared(GRAPH_DOCS / "calendarview_delta_round1_page1.json")
    items, removed, link = msgraph._collect([first])
    assert link is None and first["@odata.nextLink"] and len(items) == 2
    rec = msgraph.meeting_from_graph(items[0], source="m", mailbox=MAILBOX)
    assert isinstance(rec, MeetingCopy)
    assert rec.occurred_at == datetime(2016, 12, 9, 20, 30, tzinfo=UTC)
    assert [(p.address, p.role) for p in rec.participants] == [
        ("samanthab@contoso.onmicrosoft.com", "organizer")]
    assert rec.ical_uid == "AAMkADNVxRAAA="  # the sample has no iCalUId: the id stands in
    items, removed, link = msgraph._collect(
        [shared(GRAPH_DOCS / "calendarview_delta_round2_page1_with_removed.json")])
    assert removed == ["AAMkADk0MGFkODE3LWE4MmYtNDRhOS04OGQLkRkXbBznTvAADb6ytyAAA="]
    assert link and [i["id"] for i in items] == ["AAMkADj1HvAAA="]


def test_windows_zone_names_are_read_in_their_zone() -> None:
    event = shared(GRAPH_DOCS / "user_list_events_with_attendees.json")["value"][0]
    rec = msgraph.meeting_from_graph(event, source="m", mailbox=MAILBOX)
    assert isinstance(rec, MeetingCopy)
    # "2017-04-21T10:00:00" Pacific Standard Time (PDT in April) = 17:00 UTC
    assert rec.occurred_at == datetime(2017, 4, 21, 17, 0, tzinfo=UTC)
    assert {(p.address, p.response) for p in rec.participants if p.role == "attendee"} == {
        ("samanthab@a830edad905084922e17020313.onmicrosoft.com", "needs_action"),
        ("danas@a830edad905084922e17020313.onmicrosoft.com", "needs_action")}


def test_a_trimmed_occurrence_takes_people_and_identity_from_its_master() -> None:
    page = fixture("graph_calendarview_delta_trimmed_occurrence.json")
    items, _, link = msgraph._collect([page])
    occurrence = items[0]
    assert link and msgraph._trimmed(occurrence)
    master = fixture("graph_batch_parts.json")["responses"][1]["body"]
    alone = msgraph.meeting_from_graph(occurrence, source="m", mailbox=MAILBOX)
    assert isinstance(alone, MeetingCopy) and alone.participants == ()  # what the bug lost
    rec = msgraph.meeting_from_graph(occurrence, master, source="m", mailbox=MAILBOX)
    assert isinstance(rec, MeetingCopy)
    assert rec.copy_id == "id" and rec.occurred_at == datetime(2023, 7, 23, 10, 25, tzinfo=UTC)
    assert rec.original_start == rec.occurred_at  # an occurrence starts at its original start
    assert rec.ical_uid == canonical_uid(master["iCalUId"]) != master["iCalUId"]
    assert {(p.address, p.role) for p in rec.participants} == {
        ("eandersen@contoso.com", "organizer"), ("sito@contoso.com", "attendee"),
        ("pcook@contoso.com", "attendee"), ("aweiler@contoso.com", "attendee")}
    assert not rec.cancelled
    cancelled = msgraph.meeting_from_graph(occurrence, {**master, "isCancelled": True},
                                           source="m", mailbox=MAILBOX)
    assert isinstance(cancelled, MeetingCopy) and cancelled.cancelled


def test_a_trimmed_exception_takes_its_own_attendees_and_original_start() -> None:
    master = fixture("graph_batch_parts.json")["responses"][1]["body"]
    trimmed = {**fixture("graph_calendarview_delta_trimmed_occurrence.json")["value"][0],
               "type": "exception"}
    exception = {"id": "id", "type": "exception", "isCancelled": True,
                 "originalStart": "2023-07-23T09:00:00Z",
                 "organizer": master["organizer"], "attendees": master["attendees"][:1]}
    rec = msgraph.meeting_from_graph(trimmed, master, exception, source="m", mailbox=MAILBOX)
    assert isinstance(rec, MeetingCopy) and rec.cancelled
    assert rec.original_start == datetime(2023, 7, 23, 9, 0, tzinfo=UTC)
    assert rec.occurred_at == datetime(2023, 7, 23, 10, 25, tzinfo=UTC)  # moved
    assert {p.address for p in rec.participants if p.role == "attendee"} == {"sito@contoso.com"}


@pytest.mark.parametrize("name", ["event_appointment", "event_meeting", "event_monthly",
                                  "event_weekly", "event_yearly"])
def test_recorded_outlook_events_parse(name: str) -> None:
    event = shared(TEKKI / f"{name}.json")
    rec = msgraph.meeting_from_graph(event, source="m", mailbox=MAILBOX)
    assert isinstance(rec, MeetingCopy)
    assert rec.occurred_at == msgraph._event_time(event["start"])
    assert rec.ical_uid == canonical_uid(event["iCalUId"])
    assert not rec.ical_uid.startswith("040000008200E00074C5B7101A82E008") or \
        rec.ical_uid[32:40] == "00000000"


def test_graph_throttling_sample_is_transient_with_its_retry_after() -> None:
    sample = fixture("graph_error_throttled.json")
    auth = GraphAuth("tenant", "client", "https://login.microsoftonline.com/tenant", secret="s")
    client = GraphClient(auth, MAILBOX, endpoint="https://graph.microsoft.com/v1.0")
    try:
        err = client.error(sample["_status"], sample, sample["_headers"])
        assert isinstance(err, Transient) and err.retry_after == 10
        assert "94fb3b52-452a-4535-a601-69e0a90e3aa2" in str(err)  # the request id is kept
        expired = client.error(410, {"error": {"code": "SyncStateNotFound"}}, {})
        assert isinstance(expired, CursorExpired)
    finally:
        client.close()


# --- meeting identity across providers -------------------------------------------------------

# [MS-ASEMAIL] 4.3 "Converting a GlobalObjId to a UID", examples 1 and 2: the published
# base64 GlobalObjIds, as the hex Graph writes, and the published UIDs.
ASEMAIL_1 = base64.b64decode("BAAAAIIA4AB0xbcQGoLgCAfUCRDgQMnBJoXEAQAAAAAAAAAAEAAAAAvw7UtuTulOnjnjhns3jvM="
                             ).hex().upper()
ASEMAIL_1_UID = ("040000008200E00074C5B7101A82E00800000000E040C9C12685C4010000000000000000100000"
                 "000BF0ED4B6E4EE94E9E39E3867B378EF3")
ASEMAIL_2 = base64.b64decode(
    "BAAAAIIA4AB0xbcQGoLgCAAAAAAAAAAAAAAAAAAAAAAAAAAAMwAAAHZDYWwtVWlkAQAAAHs4MTQxMkQzQy0yQTI0LTRF"
    "OUQtQjIwRS0xMUY3QkJFOTI3OTl9AA==").hex().upper()


def _vcal(uid: str) -> str:
    data = b"vCal-Uid\x01\x00\x00\x00" + uid.encode() + b"\x00"
    return ("040000008200E00074C5B7101A82E008" + "00" * 20 + len(data).to_bytes(4, "little").hex()
            + data.hex()).upper()


@pytest.mark.parametrize(("uid", "expected"), [
    (ASEMAIL_1, ASEMAIL_1_UID),  # an Exchange id: instance date zeroed (the clean id)
    (ASEMAIL_1_UID, ASEMAIL_1_UID),  # already clean: unchanged
    (ASEMAIL_1_UID.lower(), ASEMAIL_1_UID),  # hex case does not make another meeting
    (ASEMAIL_2, "{81412D3C-2A24-4E9D-B20E-11F7BBE92799}"),  # vCal-Uid: the wrapped UID
    (_vcal("7kukuqrfedlm2f9t0vr3sqbe6p@google.com"), "7kukuqrfedlm2f9t0vr3sqbe6p@google.com"),
    (_vcal("040000008200E00074C5B7101A82E00800000000C0FE0C40B268C80100000000000000000"),
     "040000008200E00074C5B7101A82E00800000000C0FE0C40B268C80100000000000000000"),
    ("3if6lf59tove1e037baa75l54t@google.com", "3if6lf59tove1e037baa75l54t@google.com"),
    ("040000008200E00074C5B7101A82E008", "040000008200E00074C5B7101A82E008"),  # too short
    ("040000008200E00074C5B7101A82E008ZZ" + "0" * 60, "040000008200E00074C5B7101A82E008ZZ"
     + "0" * 60),  # not hex: a third-party UID
    ("140000008200E00074C5B7101A82E008" + "0" * 60, "140000008200E00074C5B7101A82E008"
     + "0" * 60),  # another class id
])
def test_canonical_uid(uid: str, expected: str) -> None:
    assert canonical_uid(uid) == expected


def test_asemail_example_2_is_the_published_bytes() -> None:
    # Bytes 37-40 say 51 bytes of data follow; 51 - 13 = 38 bytes of UID.
    raw = bytes.fromhex(ASEMAIL_2)
    assert int.from_bytes(raw[36:40], "little") == 51 == len(raw) - 40


def test_recorded_vcal_uid_is_unwrapped() -> None:
    event = shared(TEKKI / "event_weekly.json")
    assert "7643616C2D556964" in event["iCalUId"]  # "vCal-Uid"
    # The wrapped UID is text (71 hex digits: odd, so a third-party UID by [MS-OXCICAL]).
    assert canonical_uid(event["iCalUId"]) == (
        "040000008200E00074C5B7101A82E00800000000C0FE0C40B268C801000000000000000")


def test_an_exchange_meeting_is_one_identity_in_graph_google_and_ics() -> None:
    """Exchange sends UID = the clean id in hex (what Google's copy carries as iCalUID);
    Graph's master iCalUId is the same id, an occurrence's carries its instance date."""
    master = shared(ZAPIER / "calendar_event.json")["iCalUId"]
    occurrence = master[:32] + "07E3020F" + master[40:]  # 2019-02-15
    google = {"id": "x", "iCalUID": master, "start": {"dateTime": "2019-02-15T01:00:00Z"}}
    req = SyncRequest("g", "google_calendar", MAILBOX,
                      Window(datetime(2019, 1, 1, tzinfo=UTC), datetime(2020, 1, 1, tzinfo=UTC)))
    got = meeting_from_event(google, req)
    assert got is not None
    assert canonical_uid(occurrence) == canonical_uid(master) == got.ical_uid == master


# --- Google ----------------------------------------------------------------------------------

def _request(kind: str) -> SyncRequest:
    return SyncRequest("g", kind, MAILBOX,
                       Window(datetime(2018, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)))


def test_gmail_metadata_messages_and_skipped_labels() -> None:
    messages = fixture("gmail_message_metadata.json")["messages"]
    kept = [m for m in messages if gmail.exchanged(m)]
    assert [m["id"] for m in kept] == ["18c1f0a5b2d3e4f5", "18c1f0a5b2d3e4f8"]  # CHAT, DRAFT out
    first = gmail.email_from_gmail(kept[0], _request("gmail"))
    assert isinstance(first, EmailCopy)
    assert first.occurred_at == datetime(2023, 12, 5, 10, 0, tzinfo=UTC)
    assert first.date_source == "header" and first.thread_root == "root-1@acme.example"
    assert first.provider_thread_id == "18c1f0a5b2d3e4f5"
    assert [(p.address, p.role) for p in first.participants] == [
        ("ann@acme.example", "from"), (MAILBOX, "to"), ("john.doe@corp.example", "cc"),
        (MAILBOX, "cc")]
    reply = gmail.email_from_gmail(kept[1], _request("gmail"))
    assert isinstance(reply, EmailCopy) and reply.date_source == "provider"  # no Date header
    assert reply.occurred_at == datetime.fromtimestamp(1701770700, UTC)  # internalDate
    assert reply.provider_thread_id == first.provider_thread_id  # Gmail's thread joins them


@pytest.mark.parametrize(("labels", "kept"), [
    (["INBOX"], True), (["SENT"], True), ([], True), (["CATEGORY_UPDATES", "UNREAD"], True),
    (["DRAFT"], False), (["SPAM"], False), (["TRASH"], False), (["CHAT"], False),
    (["INBOX", "TRASH"], False), (["SENT", "DRAFT"], False)])
def test_gmail_labels_that_are_not_exchanged_mail(labels: list[str], kept: bool) -> None:
    assert gmail.exchanged({"id": "x", "labelIds": labels}) is kept


def test_google_pages_follow_the_token_and_end_on_the_last_page() -> None:
    sample = fixture("gmail_list_and_history.json")
    served: list[str | None] = []

    def fetch(pages_: list[dict[str, Any]]) -> Any:
        def one(token: str | None) -> dict[str, Any]:
            served.append(token)
            return pages_[0 if token is None else 1]
        return one

    listed = [m["id"] for p in pages(fetch(sample["list_pages"])) for m in p["messages"]]
    assert len(listed) == 3 and served == [None, "09876543210987654321"]
    history = list(pages(fetch(sample["history_pages"])))
    assert history[-1]["historyId"] == "2840721" and "nextPageToken" not in history[-1]


def test_recorded_calendar_pages_parse() -> None:
    page1 = shared(KDE / "events_fetch_page1_response.txt")
    page2 = shared(KDE / "events_fetch_page2_response.txt")
    assert page1["nextPageToken"] and "nextPageToken" not in page2
    recs = [meeting_from_event(e, _request("google_calendar"))
            for p in (page1, page2) for e in p["items"]]
    assert recs and all(isinstance(r, MeetingCopy) for r in recs)
    first = recs[0]
    assert first is not None and first.ical_uid == "3if6lf59tove1e037baa75l54t@google.com"
    assert first.occurred_at == datetime(2018, 4, 1, 8, 30, tzinfo=UTC)
    assert {(p.address, p.role, p.response) for p in first.participants} == {
        ("konqui@kde.test", "organizer", None),
        ("attendee1@kde.test", "attendee", "needs_action"),
        ("attendee2@kde.test", "attendee", "needs_action")}


def test_trimmed_cancelled_calendar_events() -> None:
    sample = fixture("calendar_trimmed_cancelled.json")
    exception, deleted = sample["page"]["items"]
    req = _request("google_calendar")
    assert meeting_from_event(exception, req) is None  # alone it has no identity
    rec = meeting_from_event(exception, req, sample["parent"])
    assert isinstance(rec, MeetingCopy) and rec.cancelled
    assert rec.ical_uid == "3if6lf59tove1e037baa75l54t@google.com"
    assert rec.original_start == rec.occurred_at == datetime(2018, 4, 8, 8, 30, tzinfo=UTC)
    assert rec.ended_at == datetime(2018, 4, 8, 9, 30, tzinfo=UTC)  # the series' hour
    assert rec.copy_id == exception["id"]
    assert meeting_from_event(deleted, req) is None  # deleted: the copy is removed


def test_google_rate_limit_sample_is_transient() -> None:
    import httplib2
    from googleapiclient.errors import HttpError

    from connectors.google_auth import classify

    sample = fixture("google_error_rate_limit.json")
    body = {k: v for k, v in sample.items() if not k.startswith("_")}
    resp = httplib2.Response({"status": sample["_status"], "retry-after": "7"})
    err = classify(HttpError(resp, json.dumps(body).encode(), uri="https://x"), "messages.get")
    assert isinstance(err, Transient) and err.retry_after == 7


def test_extended_properties_sample_gives_reply_headers_by_tag_number() -> None:
    page = fixture("graph_message_extended_properties.json")
    items, _, _ = msgraph._collect([page])
    # a binary property and a named string property are neither In-Reply-To nor References;
    # a message without the key has none
    assert [msgraph.reply_properties(i) for i in items] == [{}, {}, {}]
    # the sample's shape carrying the two MAPI tags, written back in Graph's own form
    shape = items[0]["singleValueExtendedProperties"][0]
    props = [dict(shape, id="String 0x1042", value="<parent@acme.example>"),
             dict(shape, id="string 0X01039",
                  value="<root@acme.example> <parent@acme.example>"),
             dict(shape, id="Binary 0x1039", value="AAAA")]
    item = dict(shared(ZAPIER / "email.json"), singleValueExtendedProperties=props)
    item.pop("internetMessageHeaders", None)
    rec = msgraph.email_from_graph(item, source="m", mailbox=MAILBOX)
    assert isinstance(rec, EmailCopy)
    assert rec.date_source == "provider" and rec.thread_root == "root@acme.example"
    # headers, where Graph returns them, win over the properties
    item["internetMessageHeaders"] = [{"name": "In-Reply-To", "value": "<other@x.example>"},
                                      {"name": "References", "value": "<first@x.example>"}]
    rec = msgraph.email_from_graph(item, source="m", mailbox=MAILBOX)
    assert isinstance(rec, EmailCopy) and rec.thread_root == "first@x.example"
