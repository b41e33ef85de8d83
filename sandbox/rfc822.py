"""The sandbox's own reading of raw RFC 822 header blocks (stdlib ``email`` only).

The sandboxes are an independent witness of the connectors: they must not share the
product's parsers (``connectors.headers``), or "the API path equals the file path" would hold
by construction. So this module reads what a mail server would read — header fields in
order, addresses, dates, message ids — with the standard library's compat32 parser, and
makes no attempt to repair broken input beyond what that parser does (a real server does not
repair it either; the connectors do, on both paths).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

_FOLD = re.compile(r"\r?\n(?=[ \t])")
_ANGLE_ID = re.compile(r"<([^<>]+)>")


def text_of(head: bytes) -> str:
    """Bytes of a header block → text: UTF-8, else latin-1 (total, never fails)."""
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError:
        return head.decode("latin-1")


def header_fields(head: bytes) -> list[tuple[str, str]]:
    """Every header field of a raw block in order: (name as written, unfolded value)."""
    parsed = HeaderParser(policy=compat32).parsestr(text_of(head), headersonly=True)
    out: list[tuple[str, str]] = []
    for name, value in parsed.items():
        out.append((name, _FOLD.sub("", str(value)).strip()))
    return out


def header_map(head: bytes) -> dict[str, list[str]]:
    """``{lower-case name: [values in order]}`` of a raw header block."""
    out: dict[str, list[str]] = {}
    for name, value in header_fields(head):
        out.setdefault(name.lower(), []).append(value)
    return out


def first(headers: dict[str, list[str]], name: str) -> str | None:
    """The first non-empty value of a header, else None."""
    return next((v for v in headers.get(name, ()) if v.strip()), None)


def decode_words(value: str) -> str:
    """RFC 2047 encoded words decoded (the value as is when they are malformed)."""
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        return value


def addresses(values: list[str]) -> list[tuple[str, str]]:
    """(display name, address) of every mailbox named in some address header values."""
    out: list[tuple[str, str]] = []
    for name, addr in getaddresses(values):
        if addr and "@" in addr:
            out.append((decode_words(name).strip(), addr.strip()))
    return out


def message_date(value: str | None) -> datetime | None:
    """An RFC 5322 Date value → aware UTC (None when the stdlib cannot read it)."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # "-0000": UTC with no zone information
    return moment.astimezone(UTC)


def message_ids(value: str | None) -> list[str]:
    """The ``<id>`` tokens of a Message-ID, In-Reply-To or References value, brackets off."""
    if not value:
        return []
    return ["".join(m.split()) for m in _ANGLE_ID.findall(value) if m.strip()]
