"""A full disk, for real: the warehouse folder on a small tmpfs that fills up during the model
step. The CLI says so in one line (the file, the space left, what is needed) with exit code 4;
after freeing space a rerun equals a clean run.

Mounting needs root (CI runs as root): in CI a failed mount fails the test; elsewhere it skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from overlap.config import load_config
from overlap.pipeline import run
from overlap.weeks import iso_week_label
from tests.reliability.helpers import cli_run, copy_workspace, diff, small_org, tables

pytestmark = pytest.mark.reliability

# 4 MB: room for the extracts and the load, not for the model's rewrite (warehouse ~8 MB);
# 64 kB: not even for the staged Parquet of the extracts.
MODEL_STEP, EXTRACT_STEP = 4 * 2**20, 64 * 2**10


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MB tmpfs mounted for this test and unmounted after it."""
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        why = f"cannot mount a tmpfs (uid {os.geteuid()}): {proc.stderr.strip()}"
        if os.environ.get("CI") or os.geteuid() == 0:
            pytest.fail(why)
        pytest.skip(why)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def _fill(folder: Path, leave: int) -> Path:
    filler = folder / "filler"
    with open(filler, "wb") as fh:
        remaining = shutil.disk_usage(folder).free - leave
        while remaining > 0:
            remaining -= fh.write(b"\0" * min(remaining, 2**20))
    return filler


@pytest.mark.parametrize("free", [MODEL_STEP, EXTRACT_STEP], ids=["model", "extract"])
def test_disk_full_is_one_line_and_a_rerun_after_freeing_space_equals_a_clean_run(
        free: int, tmp_path: Path, small_disk: Path) -> None:
    org = small_org(tmp_path / "base")
    run(load_config(org.config_path), [org.weeks[1]], workers=1)
    week = iso_week_label(org.weeks[2])
    clean = copy_workspace(tmp_path / "base", tmp_path / "clean")
    assert cli_run(clean / org.config_path.name, week).returncode == 0
    clean_config = load_config(clean / org.config_path.name)

    # The same workspace, its data folder (warehouse, snapshot, staging) on the small disk.
    ws = copy_workspace(tmp_path / "base", tmp_path / "ws")
    shutil.copytree(ws / "data", small_disk, dirs_exist_ok=True)
    shutil.rmtree(ws / "data")
    (ws / "data").symlink_to(small_disk)
    filler = _fill(small_disk, free)
    config_path = ws / org.config_path.name
    before = tables(load_config(config_path).warehouse)

    proc = cli_run(config_path, week)
    assert proc.returncode == 4, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith(f"overlap: disk full: could not write {small_disk}/"), line
    assert "rollback" not in line and "internal error" not in line, line
    after = tables(load_config(config_path).warehouse)
    assert tables(clean_config.warehouse)["overlap_events"] != before["overlap_events"]
    assert after["overlap_events"] == before["overlap_events"]
    if free == MODEL_STEP:
        # The model step failed: the load committed, the model did not (one transaction each).
        assert line.startswith(f"overlap: disk full: could not write {small_disk}/overlap."), line
        assert "MB free, at least" in line and "MB needed" in line, line
        assert after["raw_copies"] != before["raw_copies"]
    else:
        # An extract failed (pyarrow does not name its file: the staging folder is named),
        # and the run stopped there instead of recording every mailbox as failed.
        assert line.startswith(f"overlap: disk full: could not write {small_disk}/staging ("), line
        assert " MB free)" in line, line
        assert after == before

    filler.unlink()
    again = cli_run(config_path, week)
    assert again.returncode == 0, again.stderr
    config = load_config(config_path)
    assert diff(tables(config.warehouse), tables(clean_config.warehouse)) == {}
    assert diff(tables(config.snapshot), tables(clean_config.snapshot)) == {}
    assert [p.name for p in small_disk.rglob("*") if ".tmp" in p.name] == []
