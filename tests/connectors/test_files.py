"""File sources on temporary folders: maildir, mbox, eml, mailbox folders, extract()."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.files import extract, mailbox_folders
from connectors.files.maildir import stable_copy_id
from connectors.records import EmailCopy, Quarantined, Window
from overlap.errors import InputError

NOV = Window(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
ME = "ann@corp.example"


def _msg(n: int, day: int = 16, body: str = "Hi\n") -> bytes:
    return (
        f"Message-ID: <m{n}@example.com>\n"
        f"Date: Mon, {day} Nov 2026 10:00:00 +0000\n"
        "From: ann@corp.example\n"
        "To: bob@acme.com\n"
        f"Subject: message {n}\n\n{body}"
    ).encode()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _ids(records: object) -> list[str]:
    return [r.copy_id for r in records if isinstance(r, EmailCopy)]  # type: ignore[attr-defined]


# ------------------------------------------------------------------ maildir

@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        ("cur/1700000000.M1P2.host:2,RS", "cur/1700000000.M1P2.host"),
        ("cur/1700000000.M1P2.host:2,", "cur/1700000000.M1P2.host"),
        (".Sent/cur/1700.host!2,S", ".Sent/cur/1700.host"),
        ("new/1700000000.M1P2.host", "new/1700000000.M1P2.host"),
    ],
)
def test_stable_copy_id(rel: str, expected: str) -> None:
    assert stable_copy_id(rel) == expected


def test_maildir_reads_cur_and_new_not_tmp(tmp_path: Path) -> None:
    _write(tmp_path / "cur" / "1.host:2,S", _msg(1))
    _write(tmp_path / "new" / "2.host", _msg(2))
    _write(tmp_path / "tmp" / "3.host", _msg(3))
    _write(tmp_path / ".Sent" / "cur" / "4.host:2,RS", _msg(4))
    _write(tmp_path / ".Sent" / "tmp" / "5.host", _msg(5))
    _write(tmp_path / "cur" / "6.host:2,", _msg(6, day=2))
    _write(tmp_path / "cur" / "7.host:2,", _msg(7, day=30).replace(b"Nov", b"Dec"))  # outside
    _write(tmp_path / "inbox.eml", _msg(8))  # not maildir
    records = list(extract("maildir", tmp_path, ME, NOV, source="mail"))
    assert _ids(records) == [".Sent/cur/4.host", "cur/1.host", "cur/6.host", "new/2.host"]
    assert all(r.source == "mail" and r.source_kind == "maildir" for r in records)


def test_maildir_flag_change_keeps_copy_id(tmp_path: Path) -> None:
    _write(tmp_path / "cur" / "1.host:2,", _msg(1))
    before = _ids(extract("maildir", tmp_path, ME, NOV, source="maildir"))
    (tmp_path / "cur" / "1.host:2,").rename(tmp_path / "cur" / "1.host:2,RS")
    assert _ids(extract("maildir", tmp_path, ME, NOV, source="maildir")) == before == ["cur/1.host"]


def test_maildir_quarantines_bad_file(tmp_path: Path) -> None:
    _write(tmp_path / "cur" / "1.host:2,", b"\x00\x01 binary junk")
    (rec,) = list(extract("maildir", tmp_path, ME, NOV, source="maildir"))
    assert isinstance(rec, Quarantined)
    assert (rec.locator, rec.reason) == ("cur/1.host", "not an email message")


# ------------------------------------------------------------------ mbox

MBOX = (
    b"From ann@corp.example Mon Nov 16 10:00:00 2026\n" + _msg(1, body="Line one\n>From the start, quoted\n\n")
    + b"From bob@acme.com Mon Nov 16 11:00:00 2026\n" + _msg(2, body="\n\nBody with blank lines\n\n")
    + b"From x Mon Nov 16 12:00:00 2026\nDate: Mon, 16 Nov 2026 12:00:00 +0000\nSubject: no people\n\nbody\n"
    + b"From y Mon Nov 16 12:00:00 2026\n" + _msg(4, day=2).replace(b"Nov", b"Oct")  # outside
    + b"From z Mon Nov 16 12:00:00 2026\nX-GM-THRID: 1234567\n" + _msg(5)
)


def test_mbox_several_messages_and_from_quoting(tmp_path: Path) -> None:
    _write(tmp_path / "Takeout" / "All mail.mbox", MBOX)
    _write(tmp_path / "old" / "mbox", MBOX[: MBOX.index(b"From bob")])
    records = list(extract("mbox", tmp_path, ME, NOV, source="mbox"))
    got = [(r.locator if isinstance(r, Quarantined) else r.copy_id, type(r).__name__) for r in records]
    assert got == [
        ("Takeout/All mail.mbox#1", "EmailCopy"),
        ("Takeout/All mail.mbox#2", "EmailCopy"),
        ("Takeout/All mail.mbox#3", "Quarantined"),
        ("Takeout/All mail.mbox#5", "EmailCopy"),
        ("old/mbox#1", "EmailCopy"),
    ]
    first = records[0]
    assert isinstance(first, EmailCopy) and first.message_id == "m1@example.com"
    assert isinstance(records[2], Quarantined) and records[2].reason == "no sender or recipients"
    last_takeout = records[3]
    assert isinstance(last_takeout, EmailCopy) and last_takeout.provider_thread_id == "1234567"


def test_mbox_numbering_matches_stdlib(tmp_path: Path) -> None:
    import mailbox

    path = tmp_path / "a.mbox"
    _write(path, MBOX)
    assert len(mailbox.mbox(str(path), create=False)) == 5


def test_not_an_mbox_is_quarantined(tmp_path: Path) -> None:
    _write(tmp_path / "x.mbox", b"hello, I am a text file\n")
    (rec,) = list(extract("mbox", tmp_path, ME, NOV, source="mbox"))
    assert isinstance(rec, Quarantined) and rec.reason == "not an mbox file"


# ------------------------------------------------------------------ eml

def test_eml_recursive(tmp_path: Path) -> None:
    _write(tmp_path / "a.eml", _msg(1))
    _write(tmp_path / "2026" / "11" / "b.EML", _msg(2))
    _write(tmp_path / "2026" / "c.txt", _msg(3))
    _write(tmp_path / "cur" / "d", _msg(4))
    assert sorted(_ids(extract("eml", tmp_path, ME, NOV, source="eml"))) == ["2026/11/b.EML", "a.eml"]


def test_eml_crlf_and_header_larger_than_a_chunk(tmp_path: Path) -> None:
    big = b"X-Long: " + b"y" * 40_000 + b"\r\n"
    _write(tmp_path / "a.eml", big + _msg(1).replace(b"\n", b"\r\n"))
    (rec,) = list(extract("eml", tmp_path, ME, NOV, source="eml"))
    assert isinstance(rec, EmailCopy) and rec.message_id == "m1@example.com"


# ------------------------------------------------------------------ folders and dispatch

def test_mailbox_folders(tmp_path: Path) -> None:
    (tmp_path / "Ann@Corp.Example").mkdir()
    (tmp_path / "bob@acme.com").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / "README.txt").write_text("not a folder")
    assert mailbox_folders(tmp_path) == [
        ("ann@corp.example", tmp_path / "Ann@Corp.Example"),
        ("bob@acme.com", tmp_path / "bob@acme.com"),
    ]


def test_mailbox_folders_rejects_non_address(tmp_path: Path) -> None:
    (tmp_path / "ann@corp.example").mkdir()
    (tmp_path / "shared stuff").mkdir()
    with pytest.raises(InputError, match="shared stuff"):
        mailbox_folders(tmp_path)


def test_mailbox_folders_rejects_duplicates(tmp_path: Path) -> None:
    (tmp_path / "ann@corp.example").mkdir()
    (tmp_path / "ANN@corp.example").mkdir()
    with pytest.raises(InputError, match="same mailbox"):
        mailbox_folders(tmp_path)


def test_extract_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="pst"):
        extract("pst", tmp_path, ME, NOV, source="x")


def test_extract_is_picklable_for_worker_processes() -> None:
    assert pickle.loads(pickle.dumps(extract)) is extract
