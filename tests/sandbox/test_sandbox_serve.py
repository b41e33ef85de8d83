"""`overlap sandbox serve --apis google|microsoft|mixed`: serves a file config's mailboxes,
writes a config that `overlap run` reads, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from overlap.config import load_config
from sandbox.generator import generate

KINDS = {"google": {"gmail", "google_calendar"}, "microsoft": {"msgraph"},
         "mixed": {"gmail", "google_calendar", "msgraph"}}
URLS = {"google": ["http://127.0.0.1:"], "microsoft": ["https://127.0.0.1:"],
        "mixed": ["http://127.0.0.1:", "https://127.0.0.1:"]}


@pytest.mark.parametrize("apis", ["google", "microsoft", "mixed"])
def test_serve_writes_a_runnable_config_and_stops_on_sigterm(tmp_path: Path, apis: str) -> None:
    org = generate(tmp_path / "org", weeks=3, accounts=4, emails_per_week=20,
                   meetings_per_week=4)
    target = tmp_path / "sandbox.toml"
    proc = subprocess.Popen([sys.executable, "-m", "overlap.cli", "sandbox", "serve",
                             "--config", str(org.config_path), "--apis", apis,
                             "--write-config", str(target)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not target.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert target.exists(), proc.stderr.read() if proc.poll() is not None else "timeout"
        config = load_config(target)
        assert {s.kind for s in config.sources} == KINDS[apis]
        assert config.warehouse.name == "overlap-sandbox.duckdb"
        year, number, _ = org.weeks[-1].isocalendar()
        env = {k: v for k, v in os.environ.items() if k != "OVERLAP_DEBUG"}
        ran = subprocess.run([sys.executable, "-m", "overlap.cli", "run", "--config",
                              str(target), "--week", f"{year}-W{number:02d}", "-q"],
                             capture_output=True, text=True, env=env, timeout=300)
        assert ran.returncode == 0, ran.stderr
        assert Path(ran.stdout.strip().splitlines()[0]).exists()
        assert "failed" not in ran.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert all(url in out for url in URLS[apis]) and "sandbox stopped" in err


def test_serve_selects_the_shapes_and_refuses_unknown_ones(tmp_path: Path) -> None:
    org = generate(tmp_path / "org", weeks=3, accounts=4, emails_per_week=5, meetings_per_week=1)
    base = [sys.executable, "-m", "overlap.cli", "sandbox", "serve", "--config",
            str(org.config_path), "--apis", "microsoft", "--write-config"]
    bad = subprocess.run(base + [str(tmp_path / "bad.toml"), "--ideal", "trimmed"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "unknown sandbox shape 'trimmed'" in bad.stderr
    assert not (tmp_path / "bad.toml").exists()
    target = tmp_path / "sandbox.toml"
    proc = subprocess.Popen(base + [str(target), "--ideal", "all", "--real", "exchange_uids"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not target.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert target.exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    shapes = next(line for line in err.splitlines() if line.startswith("shapes: "))
    assert shapes.startswith("shapes: ideal: trimmed_occurrences, sent_items_without_headers")
    assert "exchange_uids" not in shapes
