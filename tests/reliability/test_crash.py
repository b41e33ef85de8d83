"""Crash consistency: SIGKILL `overlap run` at every step, then rerun; nothing is lost,
nothing is duplicated, nothing half-written is ever visible.

The child process is the real CLI. It dies at a named crash point (OVERLAP_TEST_KILL_AT, see
overlap/crashpoints.py: a point, or a delay after one for a kill in the middle of the next
step) or at a random moment. After each kill the warehouse still opens and holds either the
state before the run or the state after its load (never a mix), the analyst snapshot is
either the old or the new one, and a rerun gives a warehouse equal to an uninterrupted run's
(every table and view; run_log differs by design).
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from overlap.config import load_config
from overlap.crashpoints import ENV
from overlap.pipeline import run
from overlap.weeks import iso_week_label
from sandbox.seed import seed_from_config
from sandbox.serve import start_sandboxes, write_sandbox_config
from tests.reliability.helpers import (
    REPO,
    cli_run,
    copy_workspace,
    diff,
    iterations,
    small_org,
    tables,
    time_budget,
)

pytestmark = pytest.mark.reliability

RAW = ("raw_copies", "raw_quarantine", "sync_state", "crm_accounts", "crm_account_domains",
       "crm_account_team", "crm_reps", "crm_rep_aliases", "crm_contacts")
# Deterministic kill points through extract, load, model, report and publish; "+s" kills
# s seconds after the point, in the middle of the step that follows it.
KILL_POINTS = (
    "extract:staged@3", "stage:before_manifest@2", "load:before_commit", "load:after_commit",
    "model:before", "model:before+0.3", "finish:before", "publish:start+0.01",
    "publish:before_replace", "publish:after_replace",
)


@dataclass
class Base:
    """A workspace after week 1, and the tables an uninterrupted week-2 run leaves."""

    workspace: Path
    config_name: str
    week: str
    week_date: object
    reference: dict[str, list[tuple[object, ...]]]
    reference_snapshot: dict[str, list[tuple[object, ...]]]
    seconds: float  # how long the uninterrupted week-2 child run took


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    root = tmp_path_factory.mktemp("crash")
    org = small_org(root / "base")
    config = load_config(org.config_path)
    run(config, [org.weeks[1]], workers=1)
    ref = copy_workspace(root / "base", root / "ref")
    week = iso_week_label(org.weeks[2])
    started = time.monotonic()
    proc = cli_run(ref / org.config_path.name, week)
    seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    ref_config = load_config(ref / org.config_path.name)
    return Base(root / "base", org.config_path.name, week, org.weeks[2],
                tables(ref_config.warehouse), tables(ref_config.snapshot), seconds)


def _state(config_path: Path) -> tuple[dict[str, list[tuple[object, ...]]],
                                       dict[str, list[tuple[object, ...]]] | None]:
    config = load_config(config_path)
    snap = tables(config.snapshot) if config.snapshot.exists() else None
    return tables(config.warehouse), snap


def _check_after_kill(before: tuple[dict, dict | None], after: tuple[dict, dict | None],
                      base: Base) -> None:
    """The warehouse holds the old raw state or the new one; the snapshot is old or new."""
    wh_before, snap_before = before
    wh_after, snap_after = after
    raw_after = {t: wh_after[t] for t in RAW}
    assert raw_after in ({t: wh_before[t] for t in RAW}, {t: base.reference[t] for t in RAW}), (
        "the load was half-applied", diff(raw_after, {t: base.reference[t] for t in RAW}))
    assert snap_after is not None, "the analyst snapshot disappeared"
    assert snap_after in (snap_before, base.reference_snapshot), (
        "the snapshot is neither the old nor the new one",
        diff(snap_after, base.reference_snapshot))


def _rerun_and_compare(config_path: Path, base: Base) -> None:
    config = load_config(config_path)
    result = run(config, [base.week_date], workers=1)  # type: ignore[list-item]
    assert not result.failed
    assert diff(tables(config.warehouse), base.reference) == {}
    assert diff(tables(config.snapshot), base.reference_snapshot) == {}
    leftovers = [p.name for p in config.snapshot.parent.iterdir() if ".tmp" in p.name]
    leftovers += [p.name for p in (config.out_dir / "marts").iterdir() if ".tmp" in p.name]
    assert leftovers == [], "a killed run's temporary files were never cleaned up"


@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_at_a_step_then_rerun(point: str, base: Base, tmp_path: Path) -> None:
    ws = copy_workspace(base.workspace, tmp_path / "ws")
    config_path = ws / base.config_name
    before = _state(config_path)
    proc = cli_run(config_path, base.week, env={ENV: point})
    assert proc.returncode == -signal.SIGKILL, (point, proc.returncode, proc.stderr[-2000:])
    _check_after_kill(before, _state(config_path), base)
    _rerun_and_compare(config_path, base)


def test_kill_at_random_moments_then_rerun(base: Base, tmp_path: Path) -> None:
    """OVERLAP_RELIABILITY_ITERATIONS kills (default 3) at uniformly random moments of a run,
    within OVERLAP_RELIABILITY_SECONDS (default 90); each followed by the same checks."""
    rng = random.Random(20261126)
    deadline = time.monotonic() + time_budget(90)
    killed = 0
    for i in range(iterations(3)):
        if i and time.monotonic() > deadline:
            break
        ws = copy_workspace(base.workspace, tmp_path / f"ws{i}")
        config_path = ws / base.config_name
        before = _state(config_path)
        child = subprocess.Popen(
            [sys.executable, "-m", "overlap.cli", "run", "--config", str(config_path),
             "--week", base.week, "--workers", "1", "-q"], cwd=REPO,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, base.seconds))
        child.send_signal(signal.SIGKILL)
        killed += child.wait() == -signal.SIGKILL
        _check_after_kill(before, _state(config_path), base)
        _rerun_and_compare(config_path, base)
    assert killed, "no run was killed: the random moments all fell after the run ended"


# --- with API sources: cursors never advance without their data --------------------------

@pytest.fixture(scope="module")
def api_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, object, object]]:
    root = tmp_path_factory.mktemp("crash-api")
    org = small_org(root / "org")
    config = load_config(org.config_path)
    servers = start_sandboxes(seed_from_config(config), "mixed", secrets_dir=root / "secrets")
    sources = [src for server, boxes in servers for src in server.sources(boxes)]
    try:
        yield org.config_path, org.weeks, sources
    finally:
        for server, _ in servers:
            server.stop()


def _api_workspace(api_base: tuple[Path, object, object], dst: Path) -> Path:
    config_path, weeks, sources = api_base
    copy_workspace(config_path.parent, dst)
    config = load_config(dst / config_path.name)
    out = write_sandbox_config(config, sources, dst / "sandbox.toml")  # type: ignore[arg-type]
    run(load_config(out), [weeks[1]], workers=1)  # type: ignore[index]
    return out


@pytest.mark.parametrize("point", ["extract:staged@2", "load:before_commit",
                                   "load:after_commit"])
def test_api_cursors_never_advance_without_their_data(
        point: str, api_base: tuple[Path, object, object], tmp_path: Path) -> None:
    weeks = api_base[1]
    ref_cfg = load_config(_api_workspace(api_base, tmp_path / "ref"))
    run(ref_cfg, [weeks[2]], workers=1)  # type: ignore[index]
    reference = tables(ref_cfg.warehouse)

    sandbox_toml = _api_workspace(api_base, tmp_path / "ws")
    config = load_config(sandbox_toml)
    before = tables(config.warehouse)
    assert before["sync_state"], "the API sources must have stored cursors"
    proc = cli_run(sandbox_toml, iso_week_label(weeks[2]), env={ENV: point})  # type: ignore[index]
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    after = tables(config.warehouse)
    if point == "load:after_commit":
        new = {t: after[t] for t in ("raw_copies", "sync_state")}
        assert new == {t: reference[t] for t in ("raw_copies", "sync_state")}
    else:  # the old cursors, and the old data with them
        assert after["sync_state"] == before["sync_state"]
        assert after["raw_copies"] == before["raw_copies"]
    result = run(config, [weeks[2]], workers=1)  # type: ignore[index]
    assert not result.failed
    assert diff(tables(config.warehouse), reference) == {}
