"""What a mailbox folder holds, by file kind: the layout checks behind ``overlap check``, the
run's warnings and the extract's refusal to read nothing silently.

Every file under a mailbox folder is classified once (hidden files and folders are skipped,
as the readers skip them):

* ``maildir`` — a file in a ``cur/`` or ``new/`` folder (not under ``tmp/``)
* ``mbox`` / ``eml`` / ``ics`` — by name, as their readers match them
* ``other`` — a file no file kind reads (the Enron export's ``inbox/1.``, a ``notes.txt``)

A maildir extract raises :class:`LayoutError` (the extract fails, so the report's coverage,
``data_quality`` and the CLI name it) when its mailbox folder holds files of kind ``other`` and
no mail any kind reads (no ``cur/``/``new/`` folder, no mbox, no .eml): exports usually arrive
as folders of raw messages without maildir's ``cur/``/``new/``, and reading 0 emails with exit
0 looked like a quiet week. A folder holding mail of another kind is not an error (one folder
per mailbox may hold several kinds, each read by its own source), nor are odd files beside real
mail (dovecot's index files). mbox and eml extracts do not raise: their files are named for
them, and a config listing every kind (as ``overlap init`` writes it) would otherwise fail each
mailbox three times over one cause. Files no configured source reads are warned about by
:func:`overlap.check.layout_warnings` (``overlap check`` and every ``overlap run``).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

MAIL_KINDS = ("maildir", "mbox", "eml")
OTHER = "other"


class LayoutError(ValueError):
    """A mailbox folder whose files the source's kind cannot read (nothing would be read)."""


def file_kind(rel_dir: str, name: str) -> str:
    """The file kind that reads ``rel_dir/name`` (a path inside a mailbox folder), or ``other``."""
    low = name.lower()
    parts = rel_dir.split("/") if rel_dir else []
    if parts and parts[-1] in ("cur", "new") and "tmp" not in parts[:-1]:
        return "maildir"
    if low.endswith(".mbox") or low == "mbox":
        return "mbox"
    if low.endswith(".eml"):
        return "eml"
    if low.endswith(".ics"):
        return "ics"
    return OTHER


@dataclass(frozen=True)
class FolderCounts:
    """Files under one mailbox folder, by the kind that reads them."""

    folder: Path
    files: Counter[str]
    maildir_folders: int = 0  # cur/ and new/ folders, empty ones included

    @property
    def total(self) -> int:
        return sum(self.files.values())


def count_files(folder: Path) -> FolderCounts:
    """Classify every visible file under ``folder`` (recursively, symlinked folders not
    followed, ``tmp/`` of a maildir not counted: it holds half-delivered mail)."""
    counts: Counter[str] = Counter()
    maildir_folders = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        rel_dir = os.path.relpath(dirpath, folder)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        dirnames[:] = [d for d in dirnames if not d.startswith(".")
                       and not (d == "tmp" and _is_maildir_parent(dirpath))]
        maildir_folders += sum(1 for d in dirnames if d in ("cur", "new"))
        for name in filenames:
            if not name.startswith("."):
                counts[file_kind(rel_dir, name)] += 1
    return FolderCounts(Path(folder), counts, maildir_folders)


def _is_maildir_parent(dirpath: str) -> bool:
    return os.path.isdir(os.path.join(dirpath, "cur")) or os.path.isdir(
        os.path.join(dirpath, "new"))


def unread_message(kind: str, counts: FolderCounts) -> str | None:
    """Why a maildir extract of this folder would read nothing although it holds files no
    kind reads; None when the folder is fine for ``kind``."""
    if kind != "maildir" or not counts.files[OTHER] or counts.maildir_folders:
        return None
    if any(counts.files[k] for k in MAIL_KINDS):
        return None  # mail another source reads (an .eml folder beside a maildir source)
    n = counts.files[OTHER]
    return (f"{n:,} file{'s' if n != 1 else ''} under {counts.folder.name}/, none read: "
            f"maildir needs cur/ or new/ (move the messages into {counts.folder.name}/cur/, "
            "or name them *.eml and use kind = \"eml\")")


def has_maildir_folder(folder: Path) -> bool:
    """Whether a ``cur/`` or ``new/`` folder exists at any depth (stops at the first: a real
    maildir answers at its top level)."""
    for _dirpath, dirnames, _filenames in os.walk(folder):
        if "cur" in dirnames or "new" in dirnames:
            return True
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
    return False


def check_readable(kind: str, folder: Path) -> None:
    """Raise :class:`LayoutError` when a ``kind`` extract of ``folder`` would silently read
    nothing (see the module docstring)."""
    if kind != "maildir" or has_maildir_folder(folder):
        return
    counts = count_files(folder)
    message = unread_message(kind, counts)
    if message is not None:
        raise LayoutError(message)


def stray_files(root: Path) -> list[str]:
    """Visible files directly in a source's root, beside the mailbox folders: never read
    (each mailbox needs its own folder)."""
    return sorted(e.name for e in os.scandir(root)
                  if e.is_file() and not e.name.startswith("."))
