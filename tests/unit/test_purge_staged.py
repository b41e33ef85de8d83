"""retention.purge_staged: which staged extracts a retention edge deletes, rewrites or keeps.
The names sort most of them out (a staged file's name starts with its window's start); a
manifest whose name does not is read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq

from connectors.records import EmailCopy, Participant, Window
from overlap.privacy.retention import purge_staged
from overlap.staging import read_manifest, write_staged

MONDAY = datetime(2026, 11, 2, tzinfo=UTC)


def _stage(staging: Path, mailbox: str, start: datetime, days: int, hour: int = 12) -> Path:
    """One extract of ``days`` days from ``start`` with one email a day at ``hour``; its
    manifest's path."""
    window = Window(start, start + timedelta(days=days))
    mails = [EmailCopy("mail", "maildir", mailbox, f"m{d}", f"<m{d}@x.example>",
                       start + timedelta(days=d, hours=hour), "header",
                       (Participant(mailbox, None, "from"),)) for d in range(days)]
    staged = write_staged(mails, staging_dir=staging, source="mail", source_kind="maildir",
                          mailbox=mailbox, window=window)
    return Path(staged.copies_path).with_name(
        Path(staged.copies_path).name.replace(".copies.parquet", ".manifest.json"))


def test_before_the_edge_deleted_straddling_rewritten_after_kept(tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    before = _stage(staging, "a@corp.example", MONDAY - timedelta(weeks=2), 7)
    straddling = _stage(staging, "a@corp.example", MONDAY - timedelta(days=3), 7)
    after = _stage(staging, "a@corp.example", MONDAY, 7)
    # a manifest whose name does not start with its window (renamed by hand): read, not
    # skipped by its name
    odd = _stage(staging, "b@corp.example", MONDAY - timedelta(weeks=2), 7)
    renamed = odd.with_name("old-" + odd.name)
    odd.rename(renamed)
    assert purge_staged(staging, MONDAY) == 3
    assert not before.exists() and not renamed.exists()
    assert after.exists() and read_manifest(after).emails == 7
    kept = read_manifest(straddling)
    assert kept.emails == 4  # Mon, Tue, Wed, Thu of the window starting the Friday before
    times = pq.read_table(kept.copies_path).column("occurred_at").to_pylist()
    assert min(times) >= MONDAY
    assert purge_staged(staging, MONDAY) == 0  # nothing left to do


def test_an_edge_between_whole_seconds(tmp_path: Path) -> None:
    """A window starting in the same second as the edge, but before it, is read: the names
    have whole seconds. Its email at the window's start is before the edge."""
    staging = tmp_path / "staging"
    manifest = _stage(staging, "a@corp.example", MONDAY, 2, hour=0)
    assert purge_staged(staging, MONDAY + timedelta(microseconds=500)) == 1
    assert read_manifest(manifest).emails == 1
