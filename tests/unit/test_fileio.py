"""overlap.fileio: atomic writes under one temporary-name scheme, orphan cleanup, the JSON codec."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from overlap import fileio
from overlap.pipeline import ExtractOutcome, ExtractTask, RunPlan
from overlap.staging import StagedExtract

START = datetime(2026, 9, 17, tzinfo=UTC)
END = datetime(2026, 11, 23, tzinfo=UTC)


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_write_atomic_replaces_and_leaves_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "report.html"
    fileio.write_atomic(target, "old")
    fileio.write_atomic(target, [b"ne", b"w"], durable=True, mode=0o640)
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path: Path) -> None:
    target = tmp_path / "plan.json"
    fileio.write_json(target, {"a": 1})

    def chunks() -> Iterator[bytes]:
        yield b"half"
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        fileio.write_atomic(target, chunks())
    assert fileio.read_json(target) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


def test_the_temporary_name_is_the_one_orphan_cleanup_knows(tmp_path: Path) -> None:
    target = tmp_path / "overlap.duckdb"
    assert fileio.temp_path(target).name == f"overlap.duckdb.tmp{os.getpid()}"
    dead = _dead_pid()
    orphans = [tmp_path / f"overlap.duckdb.tmp{dead}", tmp_path / f"overlap.duckdb.tmp{dead}.wal",
               tmp_path / f"x.parquet.tmp{dead}"]
    alive = [fileio.temp_path(target), tmp_path / f"overlap.duckdb.tmp{os.getppid()}"]
    other = [tmp_path / "overlap.duckdb", tmp_path / "notes.tmpl", tmp_path / "a.tmp"]
    for path in orphans + alive + other:
        path.write_text("x")
    assert sorted(fileio.remove_orphans(tmp_path, "overlap.duckdb")) == sorted(orphans[:2])
    assert sorted(fileio.remove_orphans(tmp_path)) == [orphans[2]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in alive + other)


def _task(**extra: object) -> ExtractTask:
    return ExtractTask("mail", "maildir", "rep@corp.example", "/m/rep", START, END, "drop",
                       "/staging", **extra)  # type: ignore[arg-type]


def test_plan_json_is_the_format_earlier_versions_wrote_and_read() -> None:
    task = _task(cursor="c1", options={"mailboxes": ["a@b.example"]})
    plan = RunPlan("run-1", START, [date(2026, 11, 16)], START, END, [task])
    task_json = {"source": "mail", "kind": "maildir", "mailbox": "rep@corp.example",
                 "path": "/m/rep", "window_start": "2026-09-17T00:00:00+00:00",
                 "window_end": "2026-11-23T00:00:00+00:00", "subjects": "drop",
                 "staging_dir": "/staging", "cursor": "c1",
                 "options": {"mailboxes": ["a@b.example"]}}
    expected = {"run_id": "run-1", "started_at": "2026-09-17T00:00:00+00:00",
                "weeks": ["2026-11-16"], "window_start": "2026-09-17T00:00:00+00:00",
                "window_end": "2026-11-23T00:00:00+00:00", "tasks": [task_json]}
    assert plan.to_json() == expected
    assert RunPlan.from_json(expected) == plan
    outcome = ExtractOutcome(task, None, "OSError: boom", transient=True)
    assert ExtractOutcome.from_json(outcome.to_json()) == outcome
    assert outcome.to_json()["task"] == task_json


def test_manifest_round_trip_keeps_aware_datetimes() -> None:
    staged = StagedExtract("mail", "maildir", "rep@corp.example", START, END, "c.parquet",
                           "q.parquet", 3, 1, 0, cursor=None, reasons={"bad": 2})
    data = staged.to_json()
    assert data["window_start"] == "2026-09-17T00:00:00+00:00" and data["cursor"] is None
    back = StagedExtract.from_json(data)
    assert back == staged and back.window_end.tzinfo is not None
