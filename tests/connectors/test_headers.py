"""Header parsing: tables of cases for connectors.headers (pure functions, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.headers import (
    bulk_reason,
    clean_message_id,
    decode_words,
    parse_address_list,
    parse_date,
    parse_email,
    read_headers,
    thread_root,
)
from connectors.records import EmailCopy, Quarantined


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ---------------------------------------------------------------- address lists

ADDRESS_CASES = [
    # (header value, expected [(address, name)], expected invalid count)
    ("john@example.com", [("john@example.com", None)], 0),
    ("John Doe <John.Doe@Example.COM>", [("john.doe@example.com", "John Doe")], 0),
    ('"Doe, John" <jd@example.com>, b@example.org', [("jd@example.com", "Doe, John"), ("b@example.org", None)], 0),
    # RFC 2047 display names (Q and B encodings, adjacent encoded words)
    ("=?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jm@example.de>", [("jm@example.de", "Jürgen Müller")], 0),
    ("=?ISO-8859-1?B?SvxyZ2Vu?= <j@example.de>", [("j@example.de", "Jürgen")], 0),
    ("=?utf-8?q?A?= =?utf-8?q?B?= <ab@example.com>", [("ab@example.com", "AB")], 0),
    ("=?x-unknown?q?Bob?= <bob@example.com>", [("bob@example.com", "Bob")], 0),
    # group syntax: empty groups name nobody; members of a group are participants
    ("undisclosed-recipients:;", [], 0),
    ("Undisclosed recipients:;, a@example.com", [("a@example.com", None)], 0),
    ("team: a@example.com, B <b@example.com>;", [("a@example.com", None), ("b@example.com", "B")], 0),
    # addresses without @ are dropped and counted; leading dots (Enron) are kept as written
    ("jdoe", [], 1),
    ("jdoe, ann@example.com", [("ann@example.com", None)], 1),
    (".john@enron.com, e-mail <.jane@enron.com>", [(".john@enron.com", None), (".jane@enron.com", "e-mail")], 0),
    # comments, odd spacing
    ("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", [("pete@silly.test", "Pete (A nice ) chap his account his host)")], 0),
    ("jdoe@test   . example", [("jdoe@test.example", None)], 0),
    # refused as a whole rather than read as a different mailbox (CVE-2023-27043 shapes)
    ("alice@example.org(<bob@example.com>", [], 1),
    ("alice@example.org)<bob@example.com>", [], 1),
    ("alice@example.org@<bob@example.com>", [], 1),
    ('"qu@iana.org', [], 1),
    ("first(middle)last@iana.org", [], 1),
    # trailing and doubled commas are not addresses
    ("a@example.com,", [("a@example.com", None)], 0),
    ("a@example.com, , c@example.com", [("a@example.com", None), ("c@example.com", None)], 0),
    ("", [], 0),
    # IDN domain → punycode
    ("Ann <ann@Bücher.example>", [("ann@xn--bcher-kva.example", "Ann")], 0),
]


@pytest.mark.parametrize(("value", "expected", "invalid"), ADDRESS_CASES)
def test_parse_address_list(value: str, expected: list[tuple[str, str | None]], invalid: int) -> None:
    found, bad = parse_address_list(value, "to")
    assert [(p.address, p.name) for p in found] == expected
    assert bad == invalid
    assert all(p.role == "to" for p in found)


# ---------------------------------------------------------------- dates

DATE_CASES = [
    ("Thu, 27 Dec 2001 16:46:34 -0800 (PST)", _utc(2001, 12, 28, 0, 46, 34)),
    ("27 Dec 2001 16:46:34 +0000", _utc(2001, 12, 27, 16, 46, 34)),
    ("Thu, 27 Dec 2001 16:46:34 PST", _utc(2001, 12, 28, 0, 46, 34)),
    ("Thu, 27 Dec 2001 16:46:34 EDT", _utc(2001, 12, 27, 20, 46, 34)),
    ("Thu, 27 Dec 2001 16:46:34 GMT", _utc(2001, 12, 27, 16, 46, 34)),
    ("Thu, 27 Dec 2001 16:46:34 XYZ", _utc(2001, 12, 27, 16, 46, 34)),  # unknown zone = UTC
    ("Thu, 27 Dec 2001 16:46:34", _utc(2001, 12, 27, 16, 46, 34)),  # no zone = UTC
    ("Thu, 27 Dec 2001 16:46 +0100", _utc(2001, 12, 27, 15, 46)),  # no seconds
    ("Thursday, 27 December 2001 16:46:34 +01:00", _utc(2001, 12, 27, 15, 46, 34)),
    ("Thu, 27 Dec 01 16:46:34 +0000", _utc(2001, 12, 27, 16, 46, 34)),  # 2-digit year
    ("Thu, 27 Dec 99 16:46:34 +0000", _utc(1999, 12, 27, 16, 46, 34)),
    ("Thu, 27-Dec-2001 16.46.34 +0000", _utc(2001, 12, 27, 16, 46, 34)),
    ("Thu, 27 Dec 2001 4:46:34 PM -0000", _utc(2001, 12, 27, 16, 46, 34)),
    ("Thu, 27 Dec 2001 23:59:60 +0000", _utc(2001, 12, 27, 23, 59, 59)),  # leap second
    ("Thu Dec 27 16:46:34 2001", _utc(2001, 12, 27, 16, 46, 34)),  # asctime
    ("Thu Dec 27 16:46:34 PST 2001", _utc(2001, 12, 28, 0, 46, 34)),  # date(1)
    ("Dec 27, 2001 16:46:34 +0000", _utc(2001, 12, 27, 16, 46, 34)),
    ("2001-12-27T16:46:34Z", _utc(2001, 12, 27, 16, 46, 34)),
    ("2001-12-27 16:46:34+01:00", _utc(2001, 12, 27, 15, 46, 34)),
    # impossible or unusable → None
    ("Fri, 30 Feb 2001 10:00:00 +0000", None),
    ("Mon, 1 Jan 0000 10:00:00 +0000", None),
    ("Sat, 29 Oct 0001 13:30:34 -0800 (PST)", None),  # Enron clock error
    ("Thu, 27 Dec 2001 25:00:00 +0000", None),
    ("Thu, 27 Dec 2001 10:00:00 +9900", None),
    ("Thu, 27 Foo 2001 10:00:00 +0000", None),
    ("yesterday", None),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize(("value", "expected"), DATE_CASES)
def test_parse_date(value: str | None, expected: datetime | None) -> None:
    got = parse_date(value)
    assert got == expected
    if got is not None:
        assert got.tzinfo is UTC


# ---------------------------------------------------------------- ids, threads, words

@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<Abc.123@Host>", "Abc.123@Host"),
        ("  <abc@host>  ", "abc@host"),
        ("abc@host", "abc@host"),
        ("<abc@host> (added by postmaster)", "abc@host"),
        ("<abc@ho\n st>", "abc@host"),
        ("<>", None),
        ("", None),
        (None, None),
    ],
)
def test_clean_message_id(value: str | None, expected: str | None) -> None:
    assert clean_message_id(value) == expected


@pytest.mark.parametrize(
    ("references", "in_reply_to", "expected"),
    [
        ("<root@x> <mid@x> <parent@x>", "<parent@x>", "root@x"),
        ("<root@x>\n <parent@x>", None, "root@x"),
        (None, "<parent@x>", "parent@x"),
        (None, 'Your message of "Mon" <parent@x>', "parent@x"),
        (None, "parent@x", "parent@x"),
        (None, "Your message of Monday", None),
        ("", "", None),
        (None, None, None),
    ],
)
def test_thread_root(references: str | None, in_reply_to: str | None, expected: str | None) -> None:
    assert thread_root(references, in_reply_to) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "plain"),
        ("=?utf-8?b?w5xiZXI=?=", "Über"),
        ("Re: =?iso-8859-1?q?caf=E9?= time", "Re: café time"),
        ("=?broken", "=?broken"),
    ],
)
def test_decode_words(value: str, expected: str) -> None:
    assert decode_words(value) == expected


BULK_CASES = [
    ({"list-id": ["<dev.lists.example.org>"]}, "list-id"),
    ({"list-unsubscribe": ["<mailto:u@example.org>"]}, "list-unsubscribe"),
    ({"precedence": ["bulk"]}, "precedence:bulk"),
    ({"precedence": [" List "]}, "precedence:list"),
    ({"precedence": ["junk"]}, "precedence:junk"),
    ({"precedence": ["first-class"]}, None),
    ({"auto-submitted": ["auto-replied"]}, "auto-submitted:auto-replied"),
    ({"auto-submitted": ["auto-generated; type=dsn"]}, "auto-submitted:auto-generated"),
    ({"auto-submitted": ["no"]}, None),
    ({"auto-submitted": ["No (comment)"]}, None),
    ({}, None),
]


@pytest.mark.parametrize(("headers", "expected"), BULK_CASES)
def test_bulk_reason(headers: dict[str, list[str]], expected: str | None) -> None:
    assert bulk_reason(headers) == expected


# ---------------------------------------------------------------- header block

def test_read_headers_unfolds_and_stops_at_blank_line() -> None:
    raw = (
        b"From: a@example.com\r\n"
        b"To: b@example.com,\r\n"
        b"\tc@example.com\r\n"
        b"Subject: one\r\n"
        b"  two\r\n"
        b"\r\n"
        b"To: body@example.com\r\n"
    )
    h = read_headers(raw)
    assert h["to"] == ["b@example.com,\tc@example.com"]
    assert h["subject"] == ["one  two"]
    assert "body@example.com" not in str(h)


def test_read_headers_stops_at_a_non_header_line() -> None:
    h = read_headers(b"From: a@example.com\nthis is body text\nTo: b@example.com\n")
    assert h == {"from": ["a@example.com"]}


def test_read_headers_skips_mbox_from_line_and_keeps_repeated_fields() -> None:
    h = read_headers(b"From a@example.com Thu Dec 27 16:46:34 2001\nTo: a@x.com\nTo: b@x.com\n\n")
    assert h["to"] == ["a@x.com", "b@x.com"]


# ---------------------------------------------------------------- whole messages

def _msg(*lines: str, body: str = "Hello\n") -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8")


BASE = (
    "Message-ID: <m1@example.com>",
    "Date: Mon, 16 Nov 2026 10:00:00 +0000",
    "From: Ann Rep <ann@corp.example>",
    "To: bob@acme.com",
)


def _parse(raw: bytes, **kw: object) -> EmailCopy | Quarantined:
    return parse_email(raw, source="s", source_kind="eml", mailbox="ann@corp.example", copy_id="c1", **kw)  # type: ignore[arg-type]


def test_parse_email_full() -> None:
    raw = _msg(
        *BASE,
        "Cc: Carl <carl@acme.com>, bob@acme.com",
        "Bcc: secret@acme.com",
        "Sender: assistant@corp.example",
        "Reply-To: other@corp.example",
        "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=",
        "References: <root@x> <parent@x>",
        "In-Reply-To: <parent@x>",
    )
    rec = _parse(raw)
    assert isinstance(rec, EmailCopy)
    assert rec.message_id == "m1@example.com"
    assert rec.occurred_at == _utc(2026, 11, 16, 10) and rec.date_source == "header"
    assert [(p.address, p.role) for p in rec.participants] == [
        ("ann@corp.example", "from"),
        ("bob@acme.com", "to"),
        ("carl@acme.com", "cc"),
        ("bob@acme.com", "cc"),
        ("secret@acme.com", "bcc"),
    ]
    assert rec.subject == "Grüße"
    assert rec.thread_root == "root@x"
    assert rec.bulk_reason is None and rec.invalid_addresses == 0


def test_parse_email_dedupes_per_address_and_role_and_counts_invalid() -> None:
    rec = _parse(_msg(*BASE, "To: BOB@acme.com, nobody, <bob@ACME.com>"))
    assert isinstance(rec, EmailCopy)
    assert [(p.address, p.role) for p in rec.participants] == [
        ("ann@corp.example", "from"),
        ("bob@acme.com", "to"),
    ]
    assert rec.invalid_addresses == 1


def test_parse_email_8bit_headers_never_crash() -> None:
    raw = (
        b"Date: Mon, 16 Nov 2026 10:00:00 +0000\n"
        b"From: J\xfcrgen <j@example.de>\n"  # latin-1 byte, not UTF-8
        b"To: Zo\xc3\xab <zoe@example.com>\n"  # UTF-8 on another line
        b"Subject: caf\xe9\n\n"
    )
    rec = _parse(raw)
    assert isinstance(rec, EmailCopy)
    assert [(p.address, p.name) for p in rec.participants] == [
        ("j@example.de", "Jürgen"),
        ("zoe@example.com", "Zoë"),
    ]
    assert rec.subject == "café"


def test_parse_email_missing_message_id_and_subject_dropped() -> None:
    rec = _parse(_msg(*BASE[1:], "Subject: secret plans"), subject_wanted=False)
    assert isinstance(rec, EmailCopy)
    assert rec.message_id is None and rec.subject is None


def test_parse_email_provider_time_and_thread() -> None:
    t = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
    raw = _msg("From: a@example.com", "To: b@example.com", "X-GM-THRID: 1234")
    rec = _parse(raw, provider_time=t)
    assert isinstance(rec, EmailCopy)
    assert rec.occurred_at == t and rec.date_source == "provider"
    assert rec.provider_thread_id == "1234"
    rec = _parse(raw, provider_time=t, provider_thread_id="given")
    assert isinstance(rec, EmailCopy) and rec.provider_thread_id == "given"


def test_parse_email_bulk_header() -> None:
    rec = _parse(_msg(*BASE, "List-Id: <news.acme.com>", "Precedence: bulk"))
    assert isinstance(rec, EmailCopy) and rec.bulk_reason == "list-id"


QUARANTINE_CASES = [
    (_msg("From: a@example.com", "To: b@example.com"), "no usable Date header"),
    (_msg("Date: Fri, 30 Feb 2001 10:00:00 +0000", "From: a@example.com"), "no usable Date header"),
    (_msg("Date: Mon, 16 Nov 2026 10:00:00 +0000", "Subject: hi"), "no sender or recipients"),
    (_msg("Date: Mon, 16 Nov 2026 10:00:00 +0000", "From: nobody", "To: undisclosed-recipients:;"), "no valid sender or recipient address"),
    (b"", "not an email message"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not an email message"),
    (b"just some text\nwithout headers\n", "not an email message"),
]


@pytest.mark.parametrize(("raw", "reason"), QUARANTINE_CASES)
def test_parse_email_quarantines(raw: bytes, reason: str) -> None:
    rec = _parse(raw)
    assert isinstance(rec, Quarantined)
    assert rec.reason == reason and rec.locator == "c1"


def test_parse_email_reads_headers_only() -> None:
    # A body that is megabytes of garbage changes nothing and costs nothing to skip.
    raw = _msg(*BASE, body="From: evil@example.com\n" + "x" * 2_000_000)
    rec = _parse(raw)
    assert isinstance(rec, EmailCopy)
    assert "evil@example.com" not in {p.address for p in rec.participants}
