"""Plain string templates for raw RFC 822 messages, mbox entries and iCalendar events.

Written by hand rather than through ``email.message``/``icalendar`` objects: the generator
must scale to millions of files, and hand-written text lets it plant real-world quirks
(RFC 2047 names, folded headers, odd header-name case, Date comments) on purpose.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from sandbox._model import Addr, Attendee, Mail, Meeting

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")

# Header quirk bits of Mail.style.
STYLE_DATE_COMMENT = 1  # "+0100 (CET)"
STYLE_DATE_NO_WEEKDAY = 2
STYLE_DATE_UTC = 4  # rendered in UTC "+0000"
STYLE_ODD_CASE = 8  # "CC:", "Message-Id:", "to:"
STYLE_FOLD = 16  # address headers folded one address per line
STYLE_B_ENCODING = 32  # RFC 2047 B instead of Q for non-ASCII
STYLE_OUTLOOK = 64  # Thread-Topic/Thread-Index, X-MS headers
STYLE_MID_SPACES = 128  # Message-ID value with surrounding whitespace
STYLE_SUBJECT_ENCODED = 256  # RFC 2047 subject even if ASCII-safe would do

VTIMEZONE_BERLIN = (
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n"
    "BEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\n"
    "DTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n"
    "BEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\n"
    "DTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\n"
    "END:VTIMEZONE\r\n"
)
BERLIN = ZoneInfo("Europe/Berlin")


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def q_encode(text: str) -> str:
    out = []
    for b in text.encode("utf-8"):
        if b == 0x20:
            out.append("_")
        elif b in _Q_SAFE:
            out.append(chr(b))
        else:
            out.append(f"={b:02X}")
    return "=?utf-8?q?" + "".join(out) + "?="


def b_encode(text: str) -> str:
    return "=?UTF-8?B?" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "?="


def header_address(name: str | None, written: str, b_encoding: bool = False) -> str:
    """A display-name + address as a header value: quoted, RFC 2047-encoded when needed."""
    if not name:
        return written
    if not name.isascii():
        enc = b_encode(name) if b_encoding else q_encode(name)
        return f"{enc} <{written}>"
    if any(c in name for c in ',.;:@"()<>[]\\'):
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}" <{written}>'
    return f"{name} <{written}>"


def rfc2822_date(t: datetime, tz: str, style: int) -> str:
    local = t.astimezone(UTC) if style & STYLE_DATE_UTC else t.astimezone(zone(tz))
    off = local.utcoffset() or timedelta(0)
    mins = int(off.total_seconds()) // 60
    sign = "+" if mins >= 0 else "-"
    mins = abs(mins)
    text = (f"{local.day} {_MONTHS[local.month - 1]} {local.year} "
            f"{local.hour:02d}:{local.minute:02d}:{local.second:02d} {sign}{mins // 60:02d}{mins % 60:02d}")
    if not style & STYLE_DATE_NO_WEEKDAY:
        text = f"{_DAYS[local.weekday()]}, {text}"
    if style & STYLE_DATE_COMMENT:
        text += f" ({local.tzname()})"
    return text


def _addr_list(addrs: tuple[Addr, ...], fold: bool, b_enc: bool) -> str:
    parts = [header_address(a.name, a.written, b_enc) if b_enc else a.hdr for a in addrs]
    return (",\n\t" if fold else ", ").join(parts)


def render_email(m: Mail, body: str) -> tuple[str, str]:
    """The message without and with its Bcc header (only the sender's copy shows Bcc)."""
    st = m.style
    odd = bool(st & STYLE_ODD_CASE)
    fold = bool(st & STYLE_FOLD)
    b_enc = bool(st & STYLE_B_ENCODING)
    h: list[str] = []
    if st & STYLE_OUTLOOK:
        h.append(f"Return-Path: <{m.sender.written}>")
    if m.mid is not None:
        pad = " " if st & STYLE_MID_SPACES else ""
        h.append(f"{'Message-Id' if odd else 'Message-ID'}: {pad}<{m.mid}>{pad}")
    h.append(f"Date: {rfc2822_date(m.t, m.sender.tz, st)}")
    sender = header_address(m.sender.name, m.sender.written, b_enc) if b_enc else m.sender.hdr
    h.append(f"From: {sender}")
    if m.to:
        h.append(f"{'to' if odd else 'To'}: {_addr_list(m.to, fold, b_enc)}")
    else:
        h.append("To: undisclosed-recipients:;")
    if m.cc:
        h.append(f"{'CC' if odd else 'Cc'}: {_addr_list(m.cc, fold, b_enc)}")
    subject = m.subject
    if st & STYLE_SUBJECT_ENCODED or not subject.isascii():
        subject = b_encode(subject) if b_enc else q_encode(subject)
    h.append(f"Subject: {subject}")
    if m.irt:
        h.append(f"In-Reply-To: <{m.irt}>")
    if m.refs:
        h.append("References: " + "\n ".join(f"<{r}>" for r in m.refs))
    if st & STYLE_OUTLOOK:
        h.append(f"Thread-Topic: {m.subject if m.subject.isascii() else 'Re'}")
        h.append("X-MS-Has-Attach: ")
        h.append("X-MS-Exchange-Organization-SCL: -1")
    h.extend(f"{k}: {v}" for k, v in m.extra)
    h.append("MIME-Version: 1.0")
    h.append('Content-Type: text/plain; charset="utf-8"')
    h.append("Content-Transfer-Encoding: 8bit")
    head = "\n".join(h)
    plain = f"{head}\n\n{body}"
    if not m.bcc:
        return plain, plain
    bcc = f"Bcc: {_addr_list(m.bcc, fold, b_enc)}"
    return plain, f"{head}\n{bcc}\n\n{body}"


def mbox_entry(m: Mail, text: str) -> str:
    """One mboxrd entry: the From_ line, the message with body '>From ' escaping, a blank line."""
    t = m.t.astimezone(UTC)
    from_line = (f"From {m.sender.norm} {_DAYS[t.weekday()]} {_MONTHS[t.month - 1]} "
                 f"{t.day:2d} {t.hour:02d}:{t.minute:02d}:{t.second:02d} {t.year}")
    lines = text.split("\n")
    for i, line in enumerate(lines):
        stripped = line.lstrip(">")
        if stripped.startswith("From "):
            lines[i] = ">" + line
    return from_line + "\n" + "\n".join(lines).rstrip("\n") + "\n\n"


# --- iCalendar -------------------------------------------------------------------------


def fold_ical(line: str) -> str:
    """Fold a content line at 75 octets without splitting a UTF-8 sequence (RFC 5545 3.1)."""
    raw = line.encode("utf-8")
    if len(raw) <= 75:
        return line + "\r\n"
    out: list[str] = []
    limit = 75
    while raw:
        cut = min(limit, len(raw))
        while cut < len(raw) and (raw[cut] & 0xC0) == 0x80:
            cut -= 1
        out.append(raw[:cut].decode("utf-8"))
        raw = raw[cut:]
        limit = 74
    return "\r\n ".join(out) + "\r\n"


def ical_text(value: str) -> str:
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\n", "\\n"))


def _utc(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _dt(prop: str, t: datetime, local: bool) -> str:
    if local:
        return f"{prop};TZID=Europe/Berlin:{t.astimezone(BERLIN).strftime('%Y%m%dT%H%M%S')}"
    return f"{prop}:{_utc(t)}"


def copy_partstat(m: Meeting, holder: str, att: Attendee) -> str:
    """What the PARTSTAT of ``att`` reads in ``holder``'s calendar copy of ``m``.

    An attendee's own copy is true; the organizer's copy is true unless the reply was not
    processed (``fresh`` false); everyone else's copy shows a stale NEEDS-ACTION.
    """
    if att.addr.rep is not None and att.addr.rep == holder:
        return att.status
    if m.organizer.rep is not None and m.organizer.rep == holder:
        return att.status if att.fresh else "NEEDS-ACTION"
    return "NEEDS-ACTION"


def _cn(name: str | None) -> str:
    return f';CN="{name}"' if name else ""


def vevent_copy(m: Meeting, holder: str, stamp: datetime) -> str:
    """Every VEVENT of ``m`` (master + overrides) as ``holder``'s calendar shows it."""
    status = "CANCELLED" if holder in m.cancelled_in else "CONFIRMED"
    att_lines: list[str] = []
    if m.organizer_listed:
        att_lines.append(f"ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=CHAIR;PARTSTAT=ACCEPTED"
                         f"{_cn(m.organizer.name)}:mailto:{m.organizer.written}")
    for a in m.attendees:
        role = "NON-PARTICIPANT" if a.cutype != "INDIVIDUAL" else "REQ-PARTICIPANT"
        att_lines.append(f"ATTENDEE;CUTYPE={a.cutype};ROLE={role};PARTSTAT="
                         f"{copy_partstat(m, holder, a)};RSVP=TRUE{_cn(a.addr.name)}"
                         f":mailto:{a.addr.written}")
    org = f"ORGANIZER{_cn(m.organizer.name)}:mailto:{m.organizer.written}"

    def event(start: datetime, end: datetime, extra: list[str], st: str) -> list[str]:
        if m.all_day:
            s = start.astimezone(BERLIN).date()
            times = [f"DTSTART;VALUE=DATE:{s.strftime('%Y%m%d')}",
                     f"DTEND;VALUE=DATE:{(s + timedelta(days=1)).strftime('%Y%m%d')}",
                     "TRANSP:TRANSPARENT"]
        else:
            times = [_dt("DTSTART", start, m.local), _dt("DTEND", end, m.local)]
        return (["BEGIN:VEVENT", f"UID:{m.uid}", f"DTSTAMP:{_utc(stamp)}", *times, *extra,
                 f"SUMMARY:{ical_text(m.summary)}", org, *att_lines, f"STATUS:{st}",
                 "SEQUENCE:0", "END:VEVENT"])

    master_extra: list[str] = []
    if m.until is not None:
        master_extra.append(f"RRULE:FREQ=WEEKLY;UNTIL={_utc(m.until)}")
        for x in m.exdates:
            master_extra.append(_dt("EXDATE", x, m.local))
    lines = event(m.start, m.end, master_extra, status)
    for ov in m.overrides:
        rid = [_dt("RECURRENCE-ID", ov.original, m.local)]
        lines += event(ov.start, ov.end, rid, "CANCELLED" if ov.cancelled else status)
    return "".join(fold_ical(x) for x in lines)


def calendar(events: list[str], name: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Overlap sandbox//generator//EN\r\n"
            f"CALSCALE:GREGORIAN\r\n{fold_ical('X-WR-CALNAME:' + ical_text(name))}"
            f"{VTIMEZONE_BERLIN}{''.join(events)}END:VCALENDAR\r\n")
