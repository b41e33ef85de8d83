"""One meeting identity across providers: Exchange's Global Object Id → the iCalendar UID.

Exchange identifies a meeting by its *Global Object Id* (PidLidGlobalObjectId, [MS-OXOCAL]
2.2.1.27); Graph's ``iCalUId`` is that binary id in hex: ``040000008200E00074C5B7101A82E008``
(the class id), 4 bytes of instance date (year high, year low, month, day — zero except on an
exception or an occurrence), 8 bytes creation time, 8 reserved, a 4-byte little-endian data
size, then the data. When the meeting came from outside Exchange (a Google invite), the data
is ``vCal-Uid`` + ``01 00 00 00`` + the original UID + ``00`` ([MS-ASEMAIL] 2.2.2.37, example 2
of 4.3). When Exchange sends an invite, the iCalendar UID it writes is the hex of the id with
the instance date zeroed — the *clean* Global Object Id ([MS-OXCICAL] 2.1.3.1.1.20.26,
[MS-ASEMAIL] 4.3 example 1) — and that is the ``iCalUID`` the Google copy carries.

:func:`canonical_uid` maps every form to the UID the other side sees: a wrapped external UID
is unwrapped; an Exchange id is cleaned and upper-cased; anything else is returned unchanged.
Every calendar connector (Graph, Google Calendar, .ics files) applies it, so a meeting held in
an Outlook calendar and a Google calendar is one interaction (rule 4). Evidence:
docs/microsoft.md, "Meeting identity across providers".
"""

from __future__ import annotations

import binascii

CLASS_ID = "040000008200E00074C5B7101A82E008"
_HEADER = 40  # bytes before the data: class id 16, instance date 4, time 8, reserved 8, size 4
_VCAL = b"vCal-Uid\x01\x00\x00\x00"
_HEX = frozenset("0123456789abcdefABCDEF")


def canonical_uid(uid: str) -> str:
    """The meeting's UID as both providers can agree on it (see the module docstring)."""
    text = uid.strip()
    if (len(text) < 2 * _HEADER + 2 or len(text) % 2 or not text[:32].upper() == CLASS_ID
            or not set(text) <= _HEX):
        return uid  # a third-party UID (RFC 5545 text): already what everyone sees
    raw = bytearray(binascii.unhexlify(text))
    size = int.from_bytes(raw[36:40], "little")
    data = bytes(raw[_HEADER:_HEADER + size])
    if size == len(raw) - _HEADER and data.startswith(_VCAL):
        inner = data[len(_VCAL):].rstrip(b"\x00")
        try:
            decoded = inner.decode("utf-8").strip()
        except UnicodeDecodeError:
            decoded = ""
        if decoded:
            return decoded
    raw[16:20] = b"\x00\x00\x00\x00"  # the instance date: the series' id, not this occurrence's
    return raw.hex().upper()
