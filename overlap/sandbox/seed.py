"""What the API sandboxes serve: the mailboxes of a file-based configuration.

The seed is the same format the file sources read — one folder per mailbox with raw messages
(maildir, mbox, .eml) and .ics calendars — so the same export can be read through the file
connectors and through the sandboxed APIs, and the two paths must agree. Only header blocks
are kept: the APIs Overlap uses never return bodies.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from connectors.files import mailbox_folders
from connectors.files._walk import read_head, walk_files
from connectors.files.eml import _is_eml
from connectors.files.ics import _is_ics
from connectors.files.maildir import _in_cur_or_new, stable_copy_id
from connectors.files.mbox import _is_mbox, split_heads
from connectors.headers import parse_date, read_headers
from overlap.config import Config


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


def _message(key: str, head: bytes, mailbox: str, fallback: datetime) -> SeedMessage:
    headers = read_headers(head, ("date", "from"))
    dates = headers.get("date") or []
    when = (parse_date(dates[0]) if dates else None) or fallback
    sender = " ".join(headers.get("from", [])).lower()
    return SeedMessage(key, head, when.astimezone(UTC), mailbox in sender)


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def seed_from_folder(root: Path, kinds: tuple[str, ...], into: dict[str, MailboxSeed]) -> None:
    """Add the mailboxes under ``root`` for the given file kinds (maildir, mbox, eml, ics)."""
    for mailbox, folder in mailbox_folders(root):
        seed = into.setdefault(mailbox, MailboxSeed(mailbox))
        if "maildir" in kinds:
            for rel, path in walk_files(folder, _in_cur_or_new):
                seed.messages.append(_message(f"maildir:{stable_copy_id(rel)}", read_head(path),
                                              mailbox, _mtime(path)))
        if "eml" in kinds:
            for rel, path in walk_files(folder, _is_eml):
                seed.messages.append(_message(f"eml:{rel}", read_head(path), mailbox,
                                              _mtime(path)))
        if "mbox" in kinds:
            for rel, path in walk_files(folder, _is_mbox):
                with open(path, "rb") as f:
                    first = f.readline()
                    if first.strip() and not first.startswith(b"From "):
                        continue
                    for n, head in enumerate(split_heads(itertools.chain([first], f)), 1):
                        seed.messages.append(_message(f"mbox:{rel}#{n}", head, mailbox,
                                                      _mtime(path)))
        if "ics" in kinds:
            for rel, path in walk_files(folder, _is_ics):
                seed.calendars.append(SeedCalendar(rel, path.read_bytes()))


def seed_from_config(config: Config) -> dict[str, MailboxSeed]:
    """Every mailbox of the file sources of ``config``, merged by address."""
    seeds: dict[str, MailboxSeed] = {}
    by_root: dict[Path, set[str]] = {}
    for src in config.sources:
        if src.path is not None and src.kind in ("maildir", "mbox", "eml", "ics"):
            by_root.setdefault(src.path, set()).add(src.kind)
    for root, kinds in sorted(by_root.items()):
        seed_from_folder(root, tuple(sorted(kinds)), seeds)
    for seed in seeds.values():
        seed.messages.sort(key=lambda m: (m.internal_date, m.key))
        seed.calendars.sort(key=lambda c: c.key)
    return dict(sorted(seeds.items()))
