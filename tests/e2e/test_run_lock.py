"""Two overlap processes on one warehouse: the second is told at once, by the run lock, which
process holds it (exit code 3), reads nothing and changes nothing; a holder that dies
(SIGKILL) leaves no stale lock."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from overlap import runlock
from tests.e2e.test_cli import run_cli
from tests.e2e.tinyorg import message, write_org

HOLD = """
import sys, time
from pathlib import Path
from overlap import runlock
with runlock.hold(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(600)
"""


def _holder(warehouse: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(warehouse)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_run_fails_at_once_naming_the_holder(tmp_path: Path) -> None:
    raw = message(msg_id="m1@acme.example", sender="rep@corp.example",
                  to="buyer@acme.example", date_header="Tue, 17 Nov 2026 10:00:00 +0000")
    cfg = write_org(tmp_path, messages={"rep@corp.example": [("1", raw)]})
    warehouse = tmp_path / "data" / "overlap.duckdb"
    holder = _holder(warehouse)
    try:
        started = time.monotonic()
        proc = run_cli("run", "--config", str(cfg), "--week", "2026-W47")
        assert time.monotonic() - started < 60
        assert_locked(proc, holder.pid, warehouse)
        assert not (tmp_path / "data" / "staging").exists(), "the loser read mail"
        assert not warehouse.exists()
    finally:
        holder.send_signal(signal.SIGKILL)  # flock dies with its process: no stale lock
        holder.wait()
    proc = run_cli("run", "--config", str(cfg), "--week", "2026-W47", "-q")
    assert proc.returncode == 0, proc.stderr
    before = warehouse.read_bytes()
    # A finished run leaves the lock free; `report` writes the warehouse too and takes it.
    holder = _holder(warehouse)
    try:
        for command in ("run", "report"):
            proc = run_cli(command, "--config", str(cfg), "--week", "2026-W47")
            assert_locked(proc, holder.pid, warehouse)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert warehouse.read_bytes() == before


def assert_locked(proc: subprocess.CompletedProcess[str], pid: int, warehouse: Path) -> None:
    assert proc.returncode == 3, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"overlap: another overlap run (pid {pid} on "), lines[0]
    assert ", started 20" in lines[0] and f"holds this warehouse: {warehouse};" in lines[0]


def test_the_lock_is_reentrant_in_a_process_and_released_after(tmp_path: Path) -> None:
    warehouse = tmp_path / "data" / "overlap.duckdb"
    with runlock.hold(warehouse), runlock.hold(warehouse):  # a step inside `run`
        probe = subprocess.run([sys.executable, "-c", HOLD.replace("time.sleep(600)", "pass"),
                                str(warehouse)], capture_output=True, text=True, timeout=60)
        assert probe.returncode != 0 and "another overlap run" in probe.stderr
    assert runlock.lock_path(warehouse).read_text() == ""  # released and emptied
    holder = _holder(warehouse)  # another process can take it now
    holder.send_signal(signal.SIGKILL)
    holder.wait()
