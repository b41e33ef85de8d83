"""Fast RFC 5322 header parsing into :class:`EmailCopy` records (metadata only).

Shared by the file sources (maildir, mbox, eml) and, through :func:`email_from_headers`, by
the API connectors, which receive header values rather than raw bytes.

Only the header block is read (up to the first blank line); bodies are never decoded. The
stdlib's ``email.policy.default`` header registry is deliberately avoided on the hot path (it
is an order of magnitude slower); the pieces used instead are:

* :func:`read_headers` — raw bytes → ``{lower-case name: [unfolded values]}``; 8-bit bytes are
  decoded as UTF-8, else cp1252, else latin-1, so it never fails on bad bytes.
* :func:`parse_address_list` — one header value → ``(participants, invalid_count)``.
* :func:`clean_message_id`, :func:`thread_root` — Message-ID / References / In-Reply-To.
* :func:`parse_date` — RFC 2822 dates and their common broken variants → aware UTC or None.
* :func:`bulk_reason` — header-level bulk/automated mail signals.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from email._parseaddr import AddressList as _AddressList  # compat32 parser, no registry
from email.header import decode_header, make_header
from functools import lru_cache

from connectors.addresses import normalize_address
from connectors.records import EmailCopy, Participant, Participants, Quarantined

__all__ = [
    "ADDRESS_HEADERS",
    "HeaderMap",
    "bulk_reason",
    "clean_message_id",
    "decode_words",
    "email_from_headers",
    "message_time",
    "parse_address_list",
    "parse_date",
    "parse_email",
    "read_headers",
    "split_addresses",
    "thread_root",
]

HeaderMap = Mapping[str, Sequence[str]]

# Header name → participant role. Sender and Reply-To are deliberately absent (not participants).
ADDRESS_HEADERS: tuple[tuple[str, str], ...] = (("from", "from"), ("to", "to"), ("cc", "cc"), ("bcc", "bcc"))

# Quarantine reasons: short and stable, data_quality groups by them.
REASON_NOT_MESSAGE = "not an email message"
REASON_NO_DATE = "no usable Date header"
REASON_NO_ADDRESSES = "no sender or recipients"
REASON_NO_VALID_ADDRESSES = "no valid sender or recipient address"

# A header field name: printable US-ASCII except colon (RFC 5322 3.6.8).
_FIELD_NAME = re.compile(r"^[!-9;-~]+$")


# --------------------------------------------------------------------------------------------
# Header block


def decode_bytes(raw: bytes) -> str:
    """Bytes → text without ever failing: UTF-8, else cp1252, else latin-1 (total)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _header_block(raw: bytes) -> bytes:
    """The bytes before the first empty line (the whole input if there is none)."""
    if raw.startswith(b"\n") or raw.startswith(b"\r\n"):
        return b""
    end = raw.find(b"\n\n")
    crlf = raw.find(b"\n\r\n")
    if end < 0 or (0 <= crlf < end):
        end = crlf
    return raw if end < 0 else raw[: end + 1]


def read_headers(raw: bytes, wanted: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Unfolded header fields of a raw message, keyed by lower-case name, in file order.

    Stops at the first blank line, or at the first line that is neither a field nor a
    continuation (as the stdlib parser does: the rest is body). A leading mbox ``From `` line
    is skipped. ``wanted`` limits the names kept (all when None). Decoding is per block:
    UTF-8 first, then cp1252/latin-1 line by line, so one bad byte never loses the block.
    """
    block = _header_block(raw)
    if not block:
        return {}
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        text = "\n".join(decode_bytes(line) for line in block.split(b"\n"))
    keep = None if wanted is None else frozenset(wanted)
    out: dict[str, list[str]] = {}
    name: str | None = None
    parts: list[str] = []
    first = True
    for line in text.split("\n"):
        if line.endswith("\r"):
            line = line[:-1]
        if not line:
            continue  # only the trailing newline of the block can be empty here
        if line[0] in " \t":
            if name is not None:
                parts.append(line)
            elif not first:
                break
            continue
        if first and line.startswith("From "):
            first = False
            continue  # mbox separator line
        first = False
        colon = line.find(":")
        fname = line[:colon] if colon > 0 else ""
        lname = _NAMES.get(fname)
        if lname is None:
            lname = _field_name(fname)
            if lname is None:
                break  # not a header line: the body starts here (no blank line before it)
        if name is not None:
            out.setdefault(name, []).append(_unfold(parts))
        name = lname if keep is None or lname in keep else None
        parts = [line[colon + 1 :]]
    if name is not None:
        out.setdefault(name, []).append(_unfold(parts))
    return out


_NAMES: dict[str, str] = {}  # raw field name → lower-case name, for names already validated


def _field_name(raw: str) -> str | None:
    name = raw.rstrip(" \t")  # obsolete syntax allows blanks before the colon
    if not name or not _FIELD_NAME.match(name):
        return None
    if len(_NAMES) < 4096:
        _NAMES[raw] = name.lower()
    return name.lower()


def _unfold(parts: list[str]) -> str:
    # RFC 5322 unfolding removes only the CRLF; the leading whitespace of the next line stays.
    return "".join(parts).strip() if len(parts) > 1 else parts[0].strip()


def _first(headers: HeaderMap, name: str) -> str | None:
    values = headers.get(name)
    if not values:
        return None
    for v in values:
        if v.strip():
            return v
    return None


# --------------------------------------------------------------------------------------------
# Encoded words and addresses


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words (``=?utf-8?q?J=C3=BCrgen?=``); never raises."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (LookupError, UnicodeError, ValueError, AssertionError):
        pass
    # Unknown charset or broken encoding: decode each piece leniently.
    try:
        out = []
        for chunk, charset in decode_header(value):
            if isinstance(chunk, str):
                out.append(chunk)
                continue
            try:
                out.append(chunk.decode(charset or "ascii", errors="replace"))
            except LookupError:
                out.append(decode_bytes(chunk))
        return "".join(out)
    except Exception:  # noqa: BLE001 - hostile input must never crash a run
        return value


def _iter_escaped(value: str) -> Iterable[tuple[int, str]]:
    escape = False
    for pos, ch in enumerate(value):
        if escape:
            yield pos, "\\" + ch
            escape = False
        elif ch == "\\":
            escape = True
        else:
            yield pos, ch


def _strip_quoted(value: str) -> str:
    """The value without its quoted strings (commas and parens inside quotes are not syntax)."""
    if '"' not in value:
        return value
    out: list[str] = []
    start = 0
    open_pos: int | None = None
    for pos, ch in _iter_escaped(value):
        if ch == '"':
            if open_pos is None:
                open_pos = pos
            else:
                out.append(value[start:open_pos])
                start = pos + 1
                open_pos = None
    if open_pos is not None:
        return value  # unbalanced quote: leave it for the parser (and the checks) to refuse
    out.append(value[start:])
    return "".join(out)


def _parens_balanced(value: str) -> bool:
    depth = 0
    for _, ch in _iter_escaped(value):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


# Characters that send a value to the full parser; anything else is split on commas directly.
_COMPLEX = re.compile(r'["()\\:;\[\]]|=\?')


def split_addresses(value: str) -> list[tuple[str, str]] | None:
    """One address-list header value → ``[(display name, addr-spec)]``; None if ambiguous.

    Simple lists (the vast majority) take a fast comma split. Anything with quotes, comments,
    groups or encoded words goes through the stdlib's compat32 address parser with the checks
    CPython 3.13 added in strict mode (CVE-2023-27043): unbalanced parentheses, a ``[`` left
    in a parsed address, or more addresses than the commas allow mean the value is refused
    as a whole rather than read as some *other* address.
    """
    if not _COMPLEX.search(value):
        pairs: list[tuple[str, str]] = []
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            lt = part.find("<")
            if lt < 0:
                if " " in part or "\t" in part or ">" in part:
                    break  # odd spacing: let the full parser decide
                pairs.append(("", part))
                continue
            gt = part.find(">", lt)
            if gt < 0 or part.find("<", lt + 1) >= 0 or gt != len(part) - 1 or "@" in part[:lt]:
                break  # an "@" in a bare display name is not a phrase: let the parser judge
            pairs.append((part[:lt].strip(), part[lt + 1 : gt].strip()))
        else:
            return pairs
    stripped = _strip_quoted(value)
    if stripped.count('"') or not _parens_balanced(stripped):
        return None  # an unbalanced quote or parenthesis: no reading of it is safe
    try:
        pairs = _AddressList(value).addresslist
    except Exception:  # noqa: BLE001 - the compat32 parser is not hardened against all input
        return None
    if len(pairs) > 1 + stripped.count(","):
        return None  # the parser split one mangled address into several
    out = []
    for name, addr in pairs:
        if not addr:
            continue
        if "[" in _strip_quoted(addr):
            return None  # a parse failure (or a domain literal, which no account can match)
        if not addr.startswith('"') and addr.rpartition("@")[0] not in value:
            # The parser glued atoms around a comment ("first(middle)last@x") into a local
            # part that is not in the header: that would be a different mailbox.
            return None
        out.append((name, addr))
    return out


@lru_cache(maxsize=1 << 16)
def _normalize(addr: str) -> str | None:
    return normalize_address(addr)


def parse_address_list(value: str, role: str) -> tuple[list[Participant], int]:
    """An address header value → (participants with ``role``, count of unusable addresses).

    Addresses that cannot be normalized (no ``@``, bad domain, ...) are dropped and counted;
    a value the parser refuses as a whole counts as one. Empty groups such as
    ``undisclosed-recipients:;`` yield nothing and count nothing.
    """
    pairs = split_addresses(value)
    if pairs is None:
        return [], 1
    out: list[Participant] = []
    invalid = 0
    for name, addr in pairs:
        norm = _normalize(addr)
        if norm is None:
            invalid += 1
            continue
        if name:
            name = decode_words(name).strip() if "=?" in name else name.strip()
        out.append(Participant(address=norm, name=name or None, role=role))
    return out, invalid


# --------------------------------------------------------------------------------------------
# Identifiers and threads

_ANGLE_ID = re.compile(r"<([^<>]*)>")


def clean_message_id(value: str | None) -> str | None:
    """``" <Abc@Host> "`` → ``"Abc@Host"`` (case kept); the first ``<...>`` if several; None if empty."""
    if not value:
        return None
    m = _ANGLE_ID.search(value)
    ident = m.group(1) if m else value
    ident = "".join(ident.split())  # a folded long id keeps the fold's whitespace: drop it
    return ident or None


def thread_root(references: str | None, in_reply_to: str | None) -> str | None:
    """Root Message-ID of References, else the In-Reply-To id (rule 6's thread key)."""
    if references:
        ids = _ANGLE_ID.findall(references)
        for ident in ids if ids else references.split():
            cleaned = clean_message_id(ident)
            if cleaned:
                return cleaned
    if in_reply_to:
        ids = _ANGLE_ID.findall(in_reply_to)
        if ids:
            for ident in ids:
                cleaned = clean_message_id(ident)
                if cleaned:
                    return cleaned
        else:
            parts = in_reply_to.split()
            # A bare id is accepted; free text ("Your message of ...") is not an id.
            if len(parts) == 1 and "@" in parts[0]:
                return parts[0]
    return None


# --------------------------------------------------------------------------------------------
# Dates

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
# RFC 5322 4.3 zone names; any other alphabetic zone is "unknown", read as UTC (-0000).
_ZONES = {
    "ut": 0, "utc": 0, "gmt": 0, "z": 0,
    "est": -5, "edt": -4, "cst": -6, "cdt": -5, "mst": -7, "mdt": -6, "pst": -8, "pdt": -7,
}  # fmt: skip

_TIME = r"(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?(?:[.,]\d+)?(?:\s*([ap])\.?m\.?\b)?"
_ZONE = r"(?:\s*(?:(?:GMT|UTC|UT)?([+-])(\d{1,2}):?(\d{2})\b|\b([a-z]{1,5})\b))?"
# "Thu, 27 Dec 2001 16:46:34 -0800 (PST)" and friends (day name optional, 2-4 digit year).
_RFC = re.compile(
    r"^\s*(?:[a-z]+\s*,?\s*)?(\d{1,2})[\s-]+([a-z]{3})[a-z]*\.?,?[\s-]+(\d{2,4}),?\s+"
    + _TIME + _ZONE,
    re.I,
)  # fmt: skip
# "Thu Dec 27 16:46:34 2001", "Thu Dec 27 16:46:34 PST 2001" (asctime / date(1)).
_ASCTIME = re.compile(
    r"^\s*(?:[a-z]+\s*,?\s*)?([a-z]{3})[a-z]*\.?\s+(\d{1,2}),?\s+" + _TIME + _ZONE + r"\s+(\d{4})\b",
    re.I,
)
# "Dec 27, 2001 16:46:34 -0800"
_MDY = re.compile(
    r"^\s*(?:[a-z]+\s*,?\s*)?([a-z]{3})[a-z]*\.?\s+(\d{1,2}),?\s+(\d{4}),?\s+" + _TIME + _ZONE,
    re.I,
)
# ISO 8601: "2001-12-27T16:46:34Z", "2001-12-27 16:46:34+01:00"
_ISO = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})[T ]" + r"(\d{2}):(\d{2})(?::(\d{2}))?(?:[.,]\d+)?"
    r"\s*(?:([+-])(\d{2}):?(\d{2})|(z|utc|gmt))?\s*$",
    re.I,
)


# Earlier years are clock errors (Enron has "0001" and "0002"): no usable date. The stdlib's
# parsedate reads a 4-digit "0001" as 2001; the weekday in those headers fits neither year.
_MIN_YEAR = 1970


def _year(text: str) -> int | None:
    y = int(text)
    if len(text) == 4:
        return y if y >= _MIN_YEAR else None
    if len(text) == 2:
        return y + (2000 if y < 50 else 1900)  # RFC 5322 4.3
    return y + 1900  # three digits: RFC 5322 obs-year


def _build(
    year: int | None,
    month: int | None,
    day: str,
    hour: str,
    minute: str,
    second: str | None,
    ampm: str | None,
    sign: str | None,
    zh: str | None,
    zm: str | None,
    zname: str | None,
) -> datetime | None:
    if year is None or month is None:
        return None
    h = int(hour)
    if ampm:
        if not 1 <= h <= 12:
            return None
        h = h % 12 + (12 if ampm.lower() == "p" else 0)
    sec = int(second) if second else 0
    if sec == 60:
        sec = 59  # a leap second; datetime cannot hold it
    if sign:
        oh, om = int(zh or 0), int(zm or 0)
        if oh > 23 or om > 59:
            return None
        offset = timedelta(hours=oh, minutes=om)
        tz = timezone(-offset if sign == "-" else offset)
    elif zname:
        tz = timezone(timedelta(hours=_ZONES.get(zname.lower(), 0)))
    else:
        tz = UTC  # no zone at all: taken as UTC
    try:
        return datetime(year, month, int(day), h, int(minute), sec, tzinfo=tz).astimezone(UTC)
    except (ValueError, OverflowError):
        return None  # Feb 30, hour 25, year 1 shifted below datetime.min, ...


def parse_date(value: str | None) -> datetime | None:
    """An RFC 2822 ``Date`` value (or a common broken variant) → aware UTC, else None.

    Accepted: day name optional, full or abbreviated month names, 2-, 3- or 4-digit years
    (RFC 5322 windowing), missing seconds, ``.`` as time separator, AM/PM, numeric zones with
    or without a colon, the RFC zone names (unknown names read as UTC, as RFC 5322 says),
    trailing comments; asctime/date(1) and ISO 8601 forms. A date without a zone is taken as
    UTC. Impossible dates (Feb 30, year 0, 25:00) give None.
    """
    if not value:
        return None
    m = _RFC.match(value)
    if m:
        day, mon, yr, hh, mi, ss, ap, sg, zh, zm, zn = m.groups()
        return _build(_year(yr), _MONTHS.get(mon.lower()), day, hh, mi, ss, ap, sg, zh, zm, zn)
    m = _ASCTIME.match(value)
    if m:
        mon, day, hh, mi, ss, ap, sg, zh, zm, zn, yr = m.groups()
        return _build(_year(yr), _MONTHS.get(mon.lower()), day, hh, mi, ss, ap, sg, zh, zm, zn)
    m = _MDY.match(value)
    if m:
        mon, day, yr, hh, mi, ss, ap, sg, zh, zm, zn = m.groups()
        return _build(_year(yr), _MONTHS.get(mon.lower()), day, hh, mi, ss, ap, sg, zh, zm, zn)
    m = _ISO.match(value)
    if m:
        yr, mo, day, hh, mi, ss, sg, zh, zm, zn = m.groups()
        return _build(_year(yr), int(mo), day, hh, mi, ss, None, sg, zh, zm, zn)
    return None


def message_time(date_header: str | None,
                 provider_time: datetime | None) -> tuple[datetime, str] | None:
    """Rule 8, the one "message time" rule of every mail source: the ``Date`` header when it
    is usable (``"header"``), else the provider's timestamp (``"provider"``: Gmail
    internalDate, Graph sentDateTime/receivedDateTime); None when neither is there."""
    moment = parse_date(date_header)
    if moment is not None:
        return moment, "header"
    if provider_time is not None:
        return provider_time.astimezone(UTC), "provider"
    return None


# --------------------------------------------------------------------------------------------
# Bulk


def _token(value: str) -> str:
    return value.split(";", 1)[0].split("(", 1)[0].strip().lower()


def bulk_reason(headers: HeaderMap) -> str | None:
    """Header-level bulk signal (rule 5): list-id, list-unsubscribe, precedence:<v>,
    auto-submitted:<v>; None for personal mail. Sender-based rules live in SQL."""
    if _first(headers, "list-id"):
        return "list-id"
    if _first(headers, "list-unsubscribe"):
        return "list-unsubscribe"
    precedence = _first(headers, "precedence")
    if precedence:
        v = _token(precedence)
        if v in ("bulk", "list", "junk"):
            return f"precedence:{v}"
    auto = _first(headers, "auto-submitted")
    if auto:
        v = _token(auto)
        if v and v != "no":
            return f"auto-submitted:{v}"
    return None


# --------------------------------------------------------------------------------------------
# Records

_WANTED = frozenset(
    {
        "from", "to", "cc", "bcc", "date", "message-id", "references", "in-reply-to", "subject",
        "list-id", "list-unsubscribe", "precedence", "auto-submitted", "x-gm-thrid",
    }
)  # fmt: skip


def email_from_headers(
    headers: HeaderMap,
    *,
    source: str,
    source_kind: str,
    mailbox: str,
    copy_id: str,
    subject_wanted: bool = True,
    provider_time: datetime | None = None,
    provider_thread_id: str | None = None,
) -> EmailCopy | Quarantined:
    """Header values (lower-case names → values) → an :class:`EmailCopy`, or why not.

    Participants are From/To/Cc/Bcc, normalized and deduplicated per (address, role).
    ``occurred_at`` is the Date header, else ``provider_time``; neither → quarantined.
    """

    def quarantine(reason: str) -> Quarantined:
        return Quarantined(source, source_kind, mailbox, copy_id, reason)

    if not any(_first(headers, h) for h, _ in ADDRESS_HEADERS):
        return quarantine(REASON_NO_ADDRESSES)
    found = Participants()
    for header, role in ADDRESS_HEADERS:
        for value in headers.get(header, ()):
            parsed, bad = parse_address_list(value, role)
            found.invalid += bad
            for p in parsed:
                found.add(p.address, p.name, role)
    if not found.people:
        return quarantine(REASON_NO_VALID_ADDRESSES)

    when = message_time(_first(headers, "date"), provider_time)
    if when is None:
        return quarantine(REASON_NO_DATE)
    occurred_at, date_source = when

    subject = None
    if subject_wanted:
        raw_subject = _first(headers, "subject")
        if raw_subject is not None:
            subject = decode_words(raw_subject)

    return EmailCopy(
        source=source,
        source_kind=source_kind,
        mailbox=mailbox,
        copy_id=copy_id,
        message_id=clean_message_id(_first(headers, "message-id")),
        occurred_at=occurred_at,
        date_source=date_source,
        participants=tuple(found.people),
        thread_root=thread_root(_first(headers, "references"), _first(headers, "in-reply-to")),
        provider_thread_id=provider_thread_id,
        subject=subject,
        bulk_reason=bulk_reason(headers),
        invalid_addresses=found.invalid,
    )


def parse_email(
    raw: bytes,
    *,
    source: str,
    source_kind: str,
    mailbox: str,
    copy_id: str,
    subject_wanted: bool = True,
    provider_time: datetime | None = None,
    provider_thread_id: str | None = None,
) -> EmailCopy | Quarantined:
    """Raw RFC 822 bytes → an :class:`EmailCopy`, or a :class:`Quarantined` with the reason.

    Reads the header block only. ``X-GM-THRID`` (Google Takeout) fills ``provider_thread_id``
    when the caller does not pass one. Never raises on message content.
    """
    try:
        headers = read_headers(raw, _WANTED)
    except Exception:  # noqa: BLE001 - defensive: a record must never stop a run
        headers = {}
    if not headers and not _looks_like_header_block(raw):
        return Quarantined(source, source_kind, mailbox, copy_id, REASON_NOT_MESSAGE)
    if provider_thread_id is None:
        thrid = _first(headers, "x-gm-thrid")
        provider_thread_id = thrid.strip() if thrid else None
    return email_from_headers(
        headers,
        source=source,
        source_kind=source_kind,
        mailbox=mailbox,
        copy_id=copy_id,
        subject_wanted=subject_wanted,
        provider_time=provider_time,
        provider_thread_id=provider_thread_id,
    )


def _looks_like_header_block(raw: bytes) -> bool:
    """True when the input starts with at least one header field (even an unwanted one)."""
    return bool(read_headers(raw[:4096]))
