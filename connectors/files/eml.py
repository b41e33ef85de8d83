"""Folders of ``.eml`` files (one raw RFC 822 message each), read recursively.

Stream ``messages``: key (source, mailbox, copy_id); copy_id is the file's path inside the
mailbox folder. The extension is matched case-insensitively (``.EML`` from Windows tools).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from connectors.files._walk import email_file, walk_files
from connectors.records import EmailCopy, Quarantined, Window


def _is_eml(_rel_dir: str, name: str) -> bool:
    return name.lower().endswith(".eml") and not name.startswith(".")


def messages(
    mailbox_dir: Path, mailbox: str, window: Window, *, source: str = "eml"
) -> Iterator[EmailCopy | Quarantined]:
    """Email copies from ``*.eml`` files at any depth whose Date lies in ``window``."""
    for rel, path in walk_files(Path(mailbox_dir), _is_eml):
        rec = email_file(path, rel, mailbox, window, source=source, source_kind="eml")
        if rec is not None:
            yield rec
