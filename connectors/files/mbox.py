"""mbox files (``*.mbox`` and files named ``mbox``, e.g. Google Takeout), read recursively.

Stream ``messages``: key (source, mailbox, copy_id) with copy_id ``f"{relpath}#{n}"``, n the
1-based position of the message in the file. Google Takeout's ``X-GM-THRID`` header becomes
``provider_thread_id``.

The file is streamed line by line: only the current message's header lines are held in
memory, bodies are skipped, so multi-gigabyte Takeout exports are fine. A message starts at
every line beginning with ``From `` — the same rule as the stdlib's ``mailbox.mbox``, so ``n``
matches its keys; writers quote body lines as ``>From `` (mboxo/mboxrd), which never starts a
message.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path

from connectors.files._walk import REASON_UNREADABLE, walk_files
from connectors.headers import parse_email
from connectors.records import EmailCopy, Quarantined, Window

REASON_NOT_MBOX = "not an mbox file"
_HEAD_LIMIT = 1 << 20  # bytes of header kept per message; the rest of a runaway block is dropped


def _is_mbox(_rel_dir: str, name: str) -> bool:
    low = name.lower()
    return (low.endswith(".mbox") or low == "mbox") and not name.startswith(".")


def split_heads(f: Iterable[bytes]) -> Iterator[bytes]:
    """Header blocks (without the ``From `` line) of the messages of an mbox byte stream."""
    head: list[bytes] | None = None
    size = 0
    in_head = False
    for line in f:
        if line.startswith(b"From "):
            if head is not None:
                yield b"".join(head)
            head, size, in_head = [], 0, True
            continue
        if not in_head:
            continue
        if line in (b"\n", b"\r\n"):
            in_head = False
            continue
        if head is not None and size < _HEAD_LIMIT:
            head.append(line)
            size += len(line)
    if head is not None:
        yield b"".join(head)


def messages(
    mailbox_dir: Path, mailbox: str, window: Window, *, source: str = "mbox"
) -> Iterator[EmailCopy | Quarantined]:
    """Email copies from every mbox file at any depth whose Date lies in ``window``."""
    for rel, path in walk_files(Path(mailbox_dir), _is_mbox):
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed below, after the generator is drained
        except OSError:
            yield Quarantined(source, "mbox", mailbox, rel, REASON_UNREADABLE)
            continue
        n = 0
        try:
            first = f.readline()
            if first.strip() and not first.startswith(b"From "):
                yield Quarantined(source, "mbox", mailbox, rel, REASON_NOT_MBOX)
                continue
            for n, head in enumerate(split_heads(itertools.chain([first], f)), 1):
                rec = parse_email(
                    head, source=source, source_kind="mbox", mailbox=mailbox, copy_id=f"{rel}#{n}"
                )
                if isinstance(rec, EmailCopy) and rec.occurred_at not in window:
                    continue
                yield rec
        except OSError:
            yield Quarantined(source, "mbox", mailbox, f"{rel}#{n + 1}", REASON_UNREADABLE)
        finally:
            f.close()
