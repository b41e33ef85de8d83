"""What the API sandboxes serve: the mailboxes of a folder of exported mail and calendars.

The seed is the same format the file sources read — one folder per mailbox, named by its
address, with raw messages (maildir ``cur/``/``new/``, mbox, ``.eml``) and ``.ics`` calendars —
so one export can be read through the file connectors and through the sandboxed APIs, and
the two paths must agree. The folders are walked here with the sandbox's own code (never the
connectors': the sandbox is an independent witness); only header blocks are kept, as the APIs
Overlap uses never return bodies.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import idna

from sandbox.rfc822 import addresses, first, header_map, message_date

FILE_KINDS = ("maildir", "mbox", "eml", "ics")
_MAILDIR_INFO = re.compile(r"[:!;]2,[^/]*$")  # the flags suffix a maildir rename changes
_HEAD_LIMIT = 1 << 20


@dataclass(frozen=True)
class SeedMessage:
    """One mailbox's copy of a message: its header block and when the mailbox got it."""

    key: str  # unique within the mailbox: "<kind>:<path inside the mailbox folder>[#n]"
    head: bytes  # the raw header block (RFC 822), never a body
    internal_date: datetime  # Date header, else the file's modification time (aware, UTC)
    sent: bool  # From is the mailbox holder: the copy lives in Sent, not Inbox


@dataclass(frozen=True)
class SeedCalendar:
    key: str  # path inside the mailbox folder
    data: bytes  # the .ics file


@dataclass
class MailboxSeed:
    address: str
    messages: list[SeedMessage] = field(default_factory=list)
    calendars: list[SeedCalendar] = field(default_factory=list)


def mailbox_address(name: str) -> str:
    """A mailbox folder's name → its address (lower case, IDN domain in punycode)."""
    local, at, domain = name.strip().lower().rpartition("@")
    if not at or not local or "." not in domain:
        raise ValueError(f"folder {name!r} is not named by a mailbox address")
    if not domain.isascii():
        domain = idna.encode(domain, uts46=True).decode("ascii")
    return f"{local}@{domain}"


def _files(root: Path) -> Iterator[tuple[str, Path]]:
    """(relative posix path, path) of every file under ``root``, sorted, hidden ones skipped."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel = Path(dirpath).relative_to(root).as_posix()
        for name in sorted(filenames):
            if not name.startswith("."):
                yield (name if rel == "." else f"{rel}/{name}"), Path(dirpath, name)


def _head(data: bytes) -> bytes:
    """The header block of a raw message (up to the first empty line)."""
    ends = [i for i in (data.find(b"\n\n"), data.find(b"\n\r\n")) if i >= 0]
    return data[:min(ends) + 1] if ends else data[:_HEAD_LIMIT]


def mbox_heads(lines: Iterable[bytes]) -> Iterator[bytes]:
    """Header blocks of the messages of an mbox (split at ``From `` lines)."""
    head: list[bytes] | None = None
    in_head = False
    for line in lines:
        if line.startswith(b"From "):
            if head is not None:
                yield b"".join(head)
            head, in_head = [], True
        elif head is not None and in_head:
            if line in (b"\n", b"\r\n"):
                in_head = False
            else:
                head.append(line)
    if head is not None:
        yield b"".join(head)


def _message(key: str, head: bytes, mailbox: str, fallback: datetime) -> SeedMessage:
    headers = header_map(head)
    when = message_date(first(headers, "date")) or fallback
    senders = {addr.lower() for _, addr in addresses(headers.get("from", []))}
    return SeedMessage(key, head, when.astimezone(UTC), mailbox in senders)


def _mailbox_files(folder: Path, mailbox: str, kinds: tuple[str, ...]
                   ) -> tuple[list[SeedMessage], list[SeedCalendar]]:
    messages: list[SeedMessage] = []
    calendars: list[SeedCalendar] = []
    for rel, path in _files(folder):
        low = path.name.lower()
        mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        parents = rel.split("/")[:-1]
        if "maildir" in kinds and parents and parents[-1] in ("cur", "new") \
                and "tmp" not in parents:
            key = "maildir:" + _MAILDIR_INFO.sub("", rel)
            messages.append(_message(key, _head(path.read_bytes()), mailbox, mtime))
        if "eml" in kinds and low.endswith(".eml"):
            messages.append(_message(f"eml:{rel}", _head(path.read_bytes()), mailbox, mtime))
        if "mbox" in kinds and (low.endswith(".mbox") or low == "mbox"):
            with open(path, "rb") as f:
                for n, head in enumerate(mbox_heads(f), 1):
                    messages.append(_message(f"mbox:{rel}#{n}", head, mailbox, mtime))
        if "ics" in kinds and low.endswith(".ics"):
            calendars.append(SeedCalendar(rel, path.read_bytes()))
    return messages, calendars


def seed_from_folder(root: Path, kinds: tuple[str, ...], into: dict[str, MailboxSeed]) -> None:
    """Add the mailboxes under ``root`` for the given file kinds (maildir, mbox, eml, ics)."""
    for entry in sorted(Path(root).iterdir()):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        mailbox = mailbox_address(entry.name)
        seed = into.setdefault(mailbox, MailboxSeed(mailbox))
        messages, calendars = _mailbox_files(entry, mailbox, kinds)
        seed.messages += messages
        seed.calendars += calendars


def seed_from_folders(folders: Iterable[tuple[Path, str]]) -> dict[str, MailboxSeed]:
    """Every mailbox of some (root folder, file kind) pairs, merged by address."""
    by_root: dict[Path, set[str]] = {}
    for root, kind in folders:
        if kind in FILE_KINDS:
            by_root.setdefault(Path(root), set()).add(kind)
    seeds: dict[str, MailboxSeed] = {}
    for root, kinds in sorted(by_root.items()):
        seed_from_folder(root, tuple(sorted(kinds)), seeds)
    for seed in seeds.values():
        seed.messages.sort(key=lambda m: (m.internal_date, m.key))
        seed.calendars.sort(key=lambda c: c.key)
    return dict(sorted(seeds.items()))


def seed_from_config(config: Any) -> dict[str, MailboxSeed]:
    """Every mailbox of the file sources of an ``overlap.config.Config``, merged by address."""
    return seed_from_folders((s.path, s.kind) for s in config.sources if s.path is not None)
