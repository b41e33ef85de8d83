"""Deterministic recursive file listing shared by the file sources."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from connectors.headers import parse_email
from connectors.records import EmailCopy, Quarantined, Window

REASON_UNREADABLE = "unreadable file"


def walk_files(root: Path, keep: Callable[[str, str], bool]) -> Iterator[tuple[str, Path]]:
    """``(relative posix path, path)`` of files under ``root`` where ``keep(dir_rel, name)``,
    in sorted order (stable copy order across runs). Symlinked folders are not followed."""
    root = Path(root)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        for name in sorted(filenames):
            if keep(rel_dir, name):
                rel = f"{rel_dir}/{name}" if rel_dir else name
                yield rel, Path(dirpath, name)


def email_file(
    path: Path, copy_id: str, mailbox: str, window: Window, *, source: str, source_kind: str
) -> EmailCopy | Quarantined | None:
    """One file holding one raw message → its copy, a quarantine, or None outside the window."""
    try:
        raw = read_head(path)
    except OSError:
        return Quarantined(source, source_kind, mailbox, copy_id, REASON_UNREADABLE)
    rec = parse_email(raw, source=source, source_kind=source_kind, mailbox=mailbox, copy_id=copy_id)
    if isinstance(rec, EmailCopy) and rec.occurred_at not in window:
        return None
    return rec


# Headers only: read until the blank line that ends them, in chunks, never the whole body.
_CHUNK = 1 << 14
_HEAD_LIMIT = 1 << 20  # a header block larger than this is pathological: parse what we have


def read_head(path: Path) -> bytes:
    """The start of a file up to (at least) the end of its header block."""
    with open(path, "rb") as f:
        buf = f.read(_CHUNK)
        if len(buf) < _CHUNK:
            return buf
        while b"\n\n" not in buf and b"\n\r\n" not in buf and len(buf) < _HEAD_LIMIT:
            more = f.read(_CHUNK)
            if not more:
                break
            buf += more
        return buf
