"""Concurrent readers: analysts querying the published snapshot during a pipeline run.

Two analyst processes run queries over every mart view in a loop while `overlap run` loads,
models and publishes the next week: one holds a connection open the whole time (read-only,
or read-write as the `duckdb` CLI opens a file by default), one reconnects for every round of
queries. The run must succeed without waiting for them; the holder keeps seeing the old
snapshot, consistently; the reconnecting analyst sees the old snapshot, then the new one,
never anything else (no error, no half-written file, no mix).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from overlap.config import load_config
from overlap.pipeline import run
from tests.reliability.analyst import fingerprint
from tests.reliability.helpers import REPO, small_org

pytestmark = pytest.mark.reliability
ANALYST = Path(__file__).with_name("analyst.py")


def _fp(snapshot: Path) -> list[list[object]]:
    con = duckdb.connect(str(snapshot), read_only=True)
    try:
        return fingerprint(con)
    finally:
        con.close()


def _rounds(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]


@pytest.mark.parametrize("holder", ["ro", "rw"])
def test_analysts_never_block_the_run_nor_see_a_half_snapshot(holder: str,
                                                               tmp_path: Path) -> None:
    org = small_org(tmp_path / "org")
    config = load_config(org.config_path)
    run(config, [org.weeks[1]], workers=1)
    old = _fp(config.snapshot)
    stop = tmp_path / "stop"
    analysts = {"hold": (tmp_path / "hold.log", holder)}
    if holder == "ro":  # a read-write holder locks other processes out of the old file
        analysts["reopen"] = (tmp_path / "reopen.log", "ro")
    procs = [subprocess.Popen([sys.executable, str(ANALYST), str(config.snapshot), mode,
                               str(stop), str(log), ro], cwd=REPO)
             for mode, (log, ro) in analysts.items()]
    try:
        deadline = time.monotonic() + 30
        while not all(log.exists() and log.read_text().count("\n") >= 3
                      for log, _ in analysts.values()):
            assert time.monotonic() < deadline, "the analysts never started querying"
            time.sleep(0.05)
        started = time.monotonic()
        result = run(config, [org.weeks[2]], workers=1)
        seconds = time.monotonic() - started
        assert not result.failed
        new = _fp(config.snapshot)
        assert new != old, "the second week must change the snapshot"
        time.sleep(0.5)  # let the reconnecting analyst see the new snapshot
    finally:
        stop.touch()
        for p in procs:
            p.wait(timeout=30)
    hold = _rounds(analysts["hold"][0])
    assert [r for r in hold if "error" in r] == []
    assert all(r["fp"] == old for r in hold), "the open connection saw the snapshot change"
    assert len(hold) > 10
    if "reopen" in analysts:
        seen = _rounds(analysts["reopen"][0])
        assert [r for r in seen if "error" in r] == []
        states = ["old" if r["fp"] == old else "new" if r["fp"] == new else "other"
                  for r in seen]
        assert "other" not in states, "an analyst saw a snapshot that is neither old nor new"
        assert states[0] == "old" and states[-1] == "new"
        flips = sum(1 for a, b in zip(states, states[1:], strict=False) if a != b)
        assert flips == 1, "the analyst saw the new snapshot, then the old one again"
    print(f"run with analysts attached: {seconds:.1f} s, {len(hold)} query rounds on the "
          f"open connection")
