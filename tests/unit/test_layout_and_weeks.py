"""Tables of cases: how a mailbox folder's files are classified, when a maildir extract refuses
to read nothing, and which week strings name an ISO week."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from connectors.files.layout import LayoutError, check_readable, count_files, unread_message
from overlap.errors import InputError
from overlap.weeks import parse_week, weeks_in_year


def make(root: Path, files: list[str]) -> Path:
    folder = root / "jane@corp.example"
    folder.mkdir()
    for rel in files:
        path = folder / rel
        if rel.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"From: a@b.example\n\nbody\n")
    return folder


@pytest.mark.parametrize("files, refused", [
    (["inbox/1.", "inbox/2.", "sent/3."], "3 files under jane@corp.example/, none read"),
    (["1."], "1 file under jane@corp.example/, none read"),
    (["cur/1:2,S", "inbox/2."], None),  # a maildir; odd files beside it are not read
    (["cur/", "new/", "notes.txt"], None),  # an empty maildir: nothing to read, nothing wrong
    (["Sent/cur/1", "dovecot-uidlist"], None),  # maildir++ at depth
    (["a.eml", "b.EML"], None),  # mail for an eml source
    (["Takeout.mbox"], None),
    (["calendar.ics"], None),  # a calendar beside no mail: the ics source reads it
    ([".hidden", ".Trash/1."], None),
    ([], None),
])
def test_a_maildir_extract_refuses_a_folder_it_would_read_nothing_from(
        tmp_path: Path, files: list[str], refused: str | None) -> None:
    folder = make(tmp_path, files)
    if refused is None:
        check_readable("maildir", folder)
        assert unread_message("maildir", count_files(folder)) is None
        return
    with pytest.raises(LayoutError) as exc:
        check_readable("maildir", folder)
    assert str(exc.value).startswith(refused)
    assert "maildir needs cur/ or new/" in str(exc.value)


@pytest.mark.parametrize("kind", ["mbox", "eml", "ics"])
def test_other_kinds_never_refuse(tmp_path: Path, kind: str) -> None:
    check_readable(kind, make(tmp_path, ["inbox/1."]))


def test_files_are_counted_by_the_kind_that_reads_them(tmp_path: Path) -> None:
    folder = make(tmp_path, ["cur/1", "new/2", "tmp/3", "a.eml", "x/mbox", "b.mbox", "c.ics",
                             "notes.txt", ".dotfile"])
    counts = count_files(folder)
    assert dict(counts.files) == {"maildir": 2, "eml": 1, "mbox": 2, "ics": 1, "other": 1}
    assert counts.maildir_folders == 2


@pytest.mark.parametrize("text, monday", [
    ("2026-W47", date(2026, 11, 16)), ("2026W47", date(2026, 11, 16)),
    ("2026-w47", date(2026, 11, 16)), ("2026w47", date(2026, 11, 16)),
    (" 2026-W47 ", date(2026, 11, 16)), ("2026-11-16", date(2026, 11, 16)),
    ("2020-W53", date(2020, 12, 28)), ("2001-W01", date(2001, 1, 1)),
])
def test_week_strings(text: str, monday: date) -> None:
    assert parse_week(text) == monday


@pytest.mark.parametrize("text, words", [
    ("2001-W53", "2001-W53 is not an ISO week: 2001 has weeks W01 .. W52"),
    ("2026-W54", "2026 has weeks W01 .. W53"),
    ("2026-W00", "2026 has weeks W01 .. W53"),
    ("0000-W01", "not an ISO week like 2026-W47"),
    ("W47", "not an ISO week like 2026-W47"),
    ("2026-11-18", "is a Wednesday"),
])
def test_bad_week_strings(text: str, words: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_week(text)
    assert words in str(exc.value) and exc.value.field == "--week"


@pytest.mark.parametrize("year, weeks", [(2001, 52), (2004, 53), (2015, 53), (2020, 53),
                                         (2026, 53), (2027, 52)])
def test_weeks_in_year(year: int, weeks: int) -> None:
    assert weeks_in_year(year) == weeks
