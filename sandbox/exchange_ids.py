"""Exchange's Global Object Id, as Graph shows it in ``event.iCalUId`` (hex, upper case).

Byte layout (MS-OXOCAL 2.2.1.27 PidLidGlobalObjectId and its example in 4.1.1; MS-ASEMAIL
2.2.2.37 GlobalObjId and 4.3 "Converting a GlobalObjId to a UID"; MS-OXCICAL 2.1.3.1.1.20.26
"Property: UID")::

    offset size  field
     0     16    class id 04 00 00 00 82 00 E0 00 74 C5 B7 10 1A 82 E0 08
    16      2    instance year, BIG-endian (YH YL) ┐ the original date of one occurrence;
    18      1    instance month                   │ all zero on a series master or single
    19      1    instance day                     ┘ event (then it is the "clean" GOID)
    20      8    creation time, FILETIME little-endian (zero in vCal-Uid ids, MS-ASEMAIL ex. 2)
    28      8    reserved, zero
    36      4    data size, uint32 little-endian
    40      n    data: either an Outlook id (16 opaque bytes, a meeting created in Exchange)
                 or "vCal-Uid" 01 00 00 00 <UID bytes> 00 (a meeting that arrived as an
                 iCalendar invitation: the external organiser's UID, kept verbatim)

Exchange imports an iCalendar UID that is itself a hex Global Object Id (an invitation that
left Exchange earlier and came back, MS-OXCICAL "EncodedGlobalId") as that id; any other UID
("ThirdPartyGlobalId") is wrapped as vCal-Uid data. Graph's ``iCalUId`` is the clean id for a
single event or series master and the id with the instance date for an occurrence or
exception ("different for each occurrence in a recurring series", Graph event resource).
"""

from __future__ import annotations

import re
import struct
from datetime import datetime

CLASS_ID = bytes.fromhex("040000008200E00074C5B7101A82E008")
VCAL_MARK = b"vCal-Uid"
_ENCODED = re.compile(r"^040000008200E00074C5B7101A82E008(?:[0-9A-F]{2})+$", re.I)


def _body(uid: str) -> bytes:
    """Bytes 20.. of the GOID Exchange stores for an event with iCalendar ``uid``."""
    if _ENCODED.match(uid) and len(uid) >= 80:
        raw = bytes.fromhex(uid)
        return raw[20:]
    data = VCAL_MARK + struct.pack("<I", 1) + uid.encode("utf-8") + b"\x00"
    return bytes(8) + bytes(8) + struct.pack("<I", len(data)) + data


def global_object_id(uid: str, instance: datetime | None = None) -> str:
    """The hex id Graph shows for ``uid``: clean (no ``instance``) or for one occurrence
    whose original start is ``instance`` (its date, in the event's time zone: UTC here)."""
    date = b"\x00\x00\x00\x00"
    if instance is not None:
        date = struct.pack(">HBB", instance.year, instance.month, instance.day)
    return (CLASS_ID + date + _body(uid)).hex().upper()


def vcal_uid(goid_hex: str) -> str | None:
    """The iCalendar UID wrapped in a hex GOID, or None when it holds an Outlook id."""
    raw = bytes.fromhex(goid_hex)
    (size,) = struct.unpack("<I", raw[36:40])
    data = raw[40:40 + size]
    if not data.startswith(VCAL_MARK):
        return None
    return data[len(VCAL_MARK) + 4:].rstrip(b"\x00").decode("utf-8")
