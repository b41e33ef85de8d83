"""Property tests (hypothesis) for everything that parses mailbox content.

Properties, for arbitrary input: the parser never raises; what it returns is either a refusal
(None / a quarantine / an invalid count) or a *normalized* value — normalizing it again changes
nothing; and where a value can be written back (an address in a header, a date in RFC 5322
form) reading what we wrote gives the same value.
"""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

from hypothesis import example, given
from hypothesis import strategies as st

from connectors.addresses import normalize_address, normalize_domain
from connectors.files.ics import parse_calendar
from connectors.headers import (
    clean_message_id,
    parse_address_list,
    parse_date,
    parse_email,
    read_headers,
    split_addresses,
    thread_root,
)
from connectors.records import EmailCopy, MeetingCopy, Quarantined, Window

# Mostly header-ish characters, with the syntax characters, controls and non-ASCII mixed in.
HEADERISH = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(string.ascii_letters + string.digits + ' <>@.,;:"()[]\\=?-_+\t\r\n')),
        st.characters(codec="utf-8"),
    ),
    max_size=120,
)
ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
LABEL = st.from_regex(r"\A[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?\Z")
LOCAL = st.lists(st.text(alphabet=ATEXT, min_size=1, max_size=12), min_size=1, max_size=3).map(
    ".".join)
DOMAIN = st.builds(lambda labels, tld: ".".join([*labels, tld]),
                   st.lists(LABEL, min_size=1, max_size=3),
                   st.from_regex(r"\A[a-z]{2,6}\Z"))
ADDRESS = st.builds(lambda lo, d: f"{lo}@{d}", LOCAL, DOMAIN).filter(lambda a: len(a) < 250)
NORMALIZED = re.compile(r"^[^@\s]+@[a-z0-9_-]+(\.[a-z0-9_-]+)+$")
NOV = Window(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


def assert_normalized(address: str) -> None:
    assert NORMALIZED.match(address) or address.startswith('"'), address
    assert address == address.lower() or not address.isascii(), address
    assert normalize_address(address) == address, address  # idempotent
    assert not any(ord(c) < 32 or ord(c) == 127 for c in address), repr(address)


# ---------------------------------------------------------------- addresses


@given(HEADERISH)
@example("a\x00b@example.com")
@example("<<a@b.com>>")
@example('"unterminated@x.com')
@example("a@xn--0.com")
def test_normalize_address_refuses_or_normalizes(raw: str) -> None:
    got = normalize_address(raw)
    if got is not None:
        assert_normalized(got)


@given(st.text(max_size=80))
def test_normalize_domain_refuses_or_normalizes(raw: str) -> None:
    got = normalize_domain(raw)
    if got is not None:
        assert got.isascii() and got == got.lower() and ".." not in got
        assert normalize_domain(got) == got


@given(ADDRESS, st.text(alphabet=string.ascii_letters + " ", max_size=20))
def test_address_round_trips_through_a_header(address: str, name: str) -> None:
    quoted = '"' + name.replace('"', "") + '"'
    for value in (address, f"<{address}>", f"{quoted} <{address}>", f" {address} ,"):
        found, invalid = parse_address_list(value, "to")
        assert [p.address for p in found] == [address.lower()], value
        assert invalid == 0


@given(st.lists(ADDRESS, min_size=1, max_size=30))
def test_address_lists_round_trip(addresses: list[str]) -> None:
    found, invalid = parse_address_list(", ".join(addresses), "cc")
    assert [p.address for p in found] == [a.lower() for a in addresses]
    assert invalid == 0 and {p.role for p in found} == {"cc"}


@given(HEADERISH)
@example('first(middle)last@example.com')
@example('"a@b.com" <c@d.com>')
@example("a@b.com, (x, y@z.com")
def test_address_header_never_raises_and_never_invents_a_mailbox(value: str) -> None:
    pairs = split_addresses(value)
    found, invalid = parse_address_list(value, "to")
    assert invalid >= 0
    if pairs is None:
        assert found == [] and invalid == 1
    for p in found:
        assert_normalized(p.address)
    # Never a *different* address: an unquoted ASCII local part and the domain are read
    # from the header as written (only case, quotes and CFWS may go).
    if value.isascii() and "\\" not in value and "=?" not in value:
        low = value.lower()
        for p in found:
            local, _, domain = p.address.rpartition("@")
            if not local.startswith('"'):
                assert local in low, (value, p.address)
            assert domain in low, (value, p.address)


# ---------------------------------------------------------------- dates


@given(HEADERISH)
@example("Fri, 31 Dec 9999 23:59:59 -1200")
@example("Mon, 1 Jan 0001 00:00:00 +1400")
@example("9999-12-31T23:59:59-23:59")
@example("Thu, 27 Dec 2001 16:46:34")
@example("31 Feb 2001 10:00 +0000")
def test_parse_date_never_raises_and_is_aware_utc(value: str) -> None:
    got = parse_date(value)
    if got is not None:
        assert got.tzinfo is UTC or got.utcoffset() == timedelta(0)
        assert got.year >= 1969  # a 1970-01-01 date with a positive offset lands in 1969


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30)),
       st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59))
def test_rfc5322_dates_round_trip(moment: datetime, offset_minutes: int) -> None:
    aware = moment.replace(microsecond=0, tzinfo=timezone(timedelta(minutes=offset_minutes)))
    assert parse_date(format_datetime(aware)) == aware.astimezone(UTC)
    assert parse_date(aware.isoformat()) == aware.astimezone(UTC)


def test_timezone_less_and_far_future_dates() -> None:
    assert parse_date("Tue, 17 Nov 2026 10:00:00") == datetime(2026, 11, 17, 10, tzinfo=UTC)
    assert parse_date("2026-11-17 10:00") == datetime(2026, 11, 17, 10, tzinfo=UTC)
    assert parse_date("Sat, 1 Jan 3000 00:00:00 +0000") == datetime(3000, 1, 1, tzinfo=UTC)
    # shifting to UTC would leave datetime's range: refused, not an OverflowError
    assert parse_date("Fri, 31 Dec 9999 23:59:59 -1200") is None
    assert parse_date("Sat, 1 Jan 10000 00:00:00 +0000") is None


# ---------------------------------------------------------------- identifiers


@given(st.one_of(st.none(), HEADERISH), st.one_of(st.none(), HEADERISH))
def test_message_ids_and_thread_roots_never_raise(a: str | None, b: str | None) -> None:
    for ident in (clean_message_id(a), thread_root(a, b)):
        # an identity key: never empty, never with the whitespace a fold leaves behind
        assert ident is None or (ident and not any(c in ident for c in " \t\r\n")), ident


# ---------------------------------------------------------------- whole messages


def _email(raw: bytes) -> EmailCopy | Quarantined:
    return parse_email(raw, source="eml", source_kind="eml", mailbox="ann@corp.example",
                       copy_id="x.eml")


def check_record(rec: EmailCopy | Quarantined) -> None:
    assert isinstance(rec, EmailCopy | Quarantined)
    if isinstance(rec, Quarantined):
        assert rec.reason and rec.locator == "x.eml"
        return
    assert rec.participants
    for p in rec.participants:
        assert_normalized(p.address)
    assert rec.occurred_at.utcoffset() == timedelta(0)
    assert rec.invalid_addresses >= 0


@given(st.binary(max_size=2000))
@example(b"From: a@b.com\x00\nDate: x\n\n")
@example(b"\xff\xfe\x00F\x00r\x00o\x00m\x00")
@example(b"From: \xc3\x28@b.com\nTo: b@c.com\nDate: Tue, 17 Nov 2026 10:00:00 +0000\n\n")
def test_raw_bytes_never_crash_the_header_parser(raw: bytes) -> None:
    read_headers(raw)
    check_record(_email(raw))


HEADER_NAMES = st.sampled_from(["From", "To", "Cc", "Bcc", "Date", "Message-ID", "References",
                                "In-Reply-To", "Subject", "Precedence", "List-Id", "X-Junk",
                                "Content-Type"])


@given(st.lists(st.tuples(HEADER_NAMES, HEADERISH), max_size=12),
       st.sampled_from([b"\n", b"\r\n"]), st.binary(max_size=200))
def test_header_blocks_never_crash_and_give_normalized_records(
        fields: list[tuple[str, str]], eol: bytes, body: bytes) -> None:
    raw = eol.join(f"{k}: {v}".encode("utf-8", "surrogatepass") for k, v in fields)
    check_record(_email(raw + eol + eol + body))


@given(ADDRESS, st.lists(ADDRESS, min_size=1, max_size=8),
       st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2999, 1, 1)),
       st.from_regex(r"\A[A-Za-z0-9.$%_-]{1,20}@[a-z0-9.-]{1,20}\Z"))
def test_a_written_header_block_reads_back(sender: str, to: list[str], when: datetime,
                                           msg_id: str) -> None:
    when = when.replace(microsecond=0, tzinfo=UTC)
    raw = (f"From: Sender <{sender}>\r\nTo: {', '.join(to)}\r\nDate: {format_datetime(when)}\r\n"
           f"Message-ID: <{msg_id}>\r\n\r\nbody").encode()
    rec = _email(raw)
    assert isinstance(rec, EmailCopy)
    assert rec.occurred_at == when and rec.message_id == msg_id
    assert [p.address for p in rec.participants if p.role == "from"] == [sender.lower()]
    want = list(dict.fromkeys(a.lower() for a in to))
    assert [p.address for p in rec.participants if p.role == "to"] == want


# ---------------------------------------------------------------- calendars

ICS_LINES = st.one_of(
    st.sampled_from([
        "BEGIN:VEVENT", "END:VEVENT", "BEGIN:VCALENDAR", "END:VCALENDAR", "UID:u1", "UID:u2",
        "DTSTART:20261117T100000Z", "DTSTART:20261117T100000", "DTSTART;VALUE=DATE:20261117",
        "DTSTART;TZID=Nowhere/Zone:20261117T100000", "DTSTART:99991231T235959Z",
        "DTEND:20261117T090000Z", "RRULE:FREQ=DAILY", "RRULE:FREQ=SECONDLY;COUNT=1000000",
        "RRULE:FREQ=WEEKLY;UNTIL=garbage", "RRULE:FREQ=YEARLY;BYMONTH=13",
        "EXDATE:20261118T100000Z", "RECURRENCE-ID:20261118T100000Z", "STATUS:CANCELLED",
        "METHOD:CANCEL", "ORGANIZER:mailto:boss@corp.example",
        "ATTENDEE;PARTSTAT=ACCEPTED;CN=\"<script>\":mailto:a@acme.example",
        "ATTENDEE;CUTYPE=ROOM:mailto:room@corp.example", "ATTENDEE:mailto:not an address",
        "ATTENDEE;EMAIL=x@acme.example:urn:uuid:1", "SUMMARY:hello", "BEGIN:VALARM",
        "END:VALARM", "BEGIN:VTIMEZONE", "END:VTIMEZONE", " folded continuation",
    ]),
    HEADERISH.map(lambda s: s.replace("\r", "").replace("\n", "")),
)


@given(st.lists(ICS_LINES, max_size=30))
def test_calendar_lines_never_crash(lines: list[str]) -> None:
    data = "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", *lines, "END:VCALENDAR"]).encode(
        "utf-8", "surrogatepass")
    _check_calendar(data)


@given(st.binary(max_size=1500))
@example(b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:\x00\r\nDTSTART:20261117T100000Z\r\n"
         b"END:VEVENT\r\nEND:VCALENDAR\r\n")
def test_calendar_bytes_never_crash(data: bytes) -> None:
    _check_calendar(data)


def _check_calendar(data: bytes) -> None:
    records = list(parse_calendar(data, "cal.ics", "ann@corp.example", NOV))
    assert len(records) < 10_000  # a SECONDLY rule is cut by the window, not enumerated forever
    for rec in records:
        assert isinstance(rec, MeetingCopy | Quarantined)
        if isinstance(rec, MeetingCopy):
            assert rec.occurred_at in NOV and rec.occurred_at.utcoffset() == timedelta(0)
            for p in rec.participants:
                assert_normalized(p.address)
        else:
            assert rec.reason and rec.locator.startswith("cal.ics")


@given(ADDRESS, st.lists(ADDRESS, max_size=5),
       st.datetimes(min_value=datetime(2026, 11, 1), max_value=datetime(2026, 11, 30)))
def test_a_written_calendar_reads_back(organizer: str, attendees: list[str], start: datetime) -> None:
    start = start.replace(microsecond=0, tzinfo=UTC)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "BEGIN:VEVENT", "UID:rt@x",
             f"DTSTART:{start:%Y%m%dT%H%M%SZ}", f"ORGANIZER:mailto:{organizer}",
             *[f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{a}" for a in attendees],
             "END:VEVENT", "END:VCALENDAR"]
    (rec,) = parse_calendar("\r\n".join(lines).encode(), "cal.ics", "ann@corp.example", NOV)
    assert isinstance(rec, MeetingCopy)
    assert rec.occurred_at == start == rec.original_start
    assert [p.address for p in rec.participants if p.role == "organizer"] == [organizer.lower()]
    assert [p.address for p in rec.participants if p.role == "attendee"] == list(
        dict.fromkeys(a.lower() for a in attendees))
