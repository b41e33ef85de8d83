"""Disk-full detection in the error shapes DuckDB and pyarrow raise, and a failed rollback
that must not replace the error that caused it."""

from __future__ import annotations

import errno
import pickle
from pathlib import Path

import duckdb
import pytest

from overlap.errors import DiskFull, WarehouseLocked, disk_full_path, rollback

WAL = "/data/overlap.duckdb.wal"


def _chained(first: BaseException, then: BaseException) -> BaseException:
    """``then`` raised while handling ``first`` (what a failing rollback looks like)."""
    try:
        try:
            raise first
        except BaseException:
            raise then  # noqa: B904 (chained implicitly, as in the real case)
    except BaseException as exc:
        return exc


@pytest.mark.parametrize(("exc", "path"), [
    (duckdb.TransactionException(f'Failed to commit: Could not write file "{WAL}": No space '
                                 "left on device"), WAL),
    (_chained(duckdb.IOException(f'Could not write file "{WAL}": No space left on device'),
              duckdb.TransactionException("cannot rollback - no transaction is active")), WAL),
    (OSError(errno.ENOSPC, "No space left on device", "/out/x.html"), "/out/x.html"),
    (OSError(28, "Error writing bytes to file. Detail: [errno 28] No space left on device"), ""),
    (OSError(errno.EDQUOT, "Disk quota exceeded", "/q/f"), "/q/f"),
    (duckdb.IOException('Could not write file "/x": Permission denied'), None),
    (ValueError("no space here"), None),
])
def test_disk_full_is_found_in_the_error_or_what_it_hides(exc: BaseException,
                                                          path: str | None) -> None:
    assert disk_full_path(exc) == path


def test_disk_full_names_the_folder_when_the_error_does_not(tmp_path: Path) -> None:
    full = DiskFull.of(OSError(28, "[errno 28] No space left on device"), where=tmp_path)
    assert full is not None and full.path == str(tmp_path) and full.free is not None
    assert str(full).startswith(f"disk full: could not write {tmp_path} (")
    assert pickle.loads(pickle.dumps(full)).path == full.path  # crosses process pools


def test_messages() -> None:
    full = DiskFull(WAL, 150_000, 8_100_000, ": the analyst snapshot is a copy of the warehouse")
    assert str(full) == (f"disk full: could not write {WAL} (0.1 MB free, at least 8.1 MB "
                         "needed: the analyst snapshot is a copy of the warehouse); each step "
                         "is one transaction, so nothing was half-written: free some space "
                         "and rerun")
    locked = WarehouseLocked("/d/overlap.duckdb", 42, "host1", "2026-12-05T01:02:03+00:00")
    assert str(locked).startswith("another overlap run (pid 42 on host1, started "
                                  "2026-12-05T01:02:03+00:00) holds this warehouse: "
                                  "/d/overlap.duckdb;")
    assert "pid unknown" in str(WarehouseLocked("/d/w"))


def test_a_failed_rollback_does_not_mask_the_error() -> None:
    con = duckdb.connect()  # no transaction is active: its rollback fails, as after ENOSPC
    with pytest.raises(ValueError, match="the original") as info:
        try:
            raise ValueError("the original")
        except ValueError:
            rollback(con)
            raise
    assert any("the rollback failed too" in note for note in info.value.__notes__)
    con.execute("begin transaction")
    con.execute("create table t (x int)")
    with pytest.raises(RuntimeError):
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            rollback(con)  # a working rollback still rolls back
            raise
    assert con.execute("select count(*) from duckdb_tables() where table_name = 't'"
                       ).fetchone() == (0,)
