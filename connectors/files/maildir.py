"""Maildir (and Maildir++) folders: one raw message per file under ``cur/`` and ``new/``.

Stream ``messages``: key (source, mailbox, copy_id); copy_id is the file's path inside the
mailbox folder without the maildir info suffix (``:2,FLAGS``), so a copy keeps its id when the
mail client changes its flags. ``tmp/`` holds half-delivered files and is never read.
Partitioned by mailbox; no cursor (a rerun re-reads the folder; staging makes it idempotent).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from connectors.files._walk import email_file, walk_files
from connectors.records import EmailCopy, Quarantined, Window

# ":2,FLAGS" (standard) or "!2,FLAGS" / ";2,FLAGS" (where ":" is not allowed in file names).
_INFO = re.compile(r"[:!;]2,[^/]*$")


def _in_cur_or_new(rel_dir: str, name: str) -> bool:
    parts = rel_dir.split("/") if rel_dir else []
    return bool(parts) and parts[-1] in ("cur", "new") and "tmp" not in parts[:-1] and not name.startswith(".")


def stable_copy_id(rel_path: str) -> str:
    """``cur/1700000000.M1P2.host:2,RS`` → ``cur/1700000000.M1P2.host``."""
    return _INFO.sub("", rel_path)


def messages(
    mailbox_dir: Path, mailbox: str, window: Window, *, source: str = "maildir"
) -> Iterator[EmailCopy | Quarantined]:
    """Email copies in ``cur/`` and ``new/`` at any depth whose Date lies in ``window``."""
    for rel, path in walk_files(Path(mailbox_dir), _in_cur_or_new):
        rec = email_file(path, stable_copy_id(rel), mailbox, window, source=source, source_kind="maildir")
        if rec is not None:
            yield rec
