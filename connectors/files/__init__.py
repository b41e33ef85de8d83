"""File sources: maildir, mbox, .eml folders and .ics calendars.

Layout (DESIGN.md, "Inputs"): the source's ``path`` holds one subfolder per mailbox, named by
the mailbox address; each kind reads that folder recursively for its own kind of file, so mail
and calendar files may sit side by side. Folders whose names start with a dot (``.git``,
``.Trash`` left by tools) are hidden and skipped; any other folder must be named by an address.

:func:`extract` is a module-level function taking only picklable arguments, so the pipeline
can run one mailbox per worker process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from connectors.addresses import normalize_address
from connectors.records import EmailCopy, MeetingCopy, Quarantined, Window
from overlap.errors import InputError

# The file kinds this package reads; the source registry (overlap/sources.py) takes them from here.
FILE_KINDS = ("maildir", "mbox", "eml", "ics")


def mailbox_folders(root: Path) -> list[tuple[str, Path]]:
    """``[(normalized mailbox address, folder)]`` for the subfolders of ``root``, sorted.

    Raises InputError naming the folder when a (non-hidden) subfolder's name is not an
    address, or when two folders normalize to the same address.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError("mailbox root folder does not exist", file=str(root))
    out: dict[str, Path] = {}
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        address = normalize_address(entry.name)
        if address is None:
            raise InputError(
                f"folder {entry.name!r} is not named by a mailbox address "
                "(one subfolder per mailbox, e.g. jane.doe@corp.example)",
                file=str(root),
            )
        if address in out:
            raise InputError(
                f"folders {out[address].name!r} and {entry.name!r} are the same mailbox {address}",
                file=str(root),
            )
        out[address] = Path(entry.path)
    return list(out.items())


def extract(
    kind: str, mailbox_dir: Path, mailbox: str, window: Window, *, source: str
) -> Iterator[EmailCopy | MeetingCopy | Quarantined]:
    """Records of one mailbox folder for one file kind, limited to ``window``.

    Raises :class:`~connectors.files.layout.LayoutError` when a mail kind would read nothing
    from a folder holding files no kind reads (a maildir export without ``cur/``/``new/``)."""
    from connectors.files.layout import check_readable

    mailbox_dir = Path(mailbox_dir)
    check_readable(kind, mailbox_dir)
    if kind == "maildir":
        from connectors.files import maildir

        return maildir.messages(mailbox_dir, mailbox, window, source=source)
    if kind == "mbox":
        from connectors.files import mbox

        return mbox.messages(mailbox_dir, mailbox, window, source=source)
    if kind == "eml":
        from connectors.files import eml

        return eml.messages(mailbox_dir, mailbox, window, source=source)
    if kind == "ics":
        from connectors.files import ics

        return ics.meetings(mailbox_dir, mailbox, window, source=source)
    raise InputError(f"unknown file source kind {kind!r} (expected one of {', '.join(FILE_KINDS)})")
