"""Random API faults in both sandboxes across a three-week incremental run.

A mixed company (half the mailboxes in the Google sandbox, half in the Microsoft one) runs
week by week — a full window sync first, incremental syncs after — once against fault-free
sandboxes and once against sandboxes that fail a seeded share of requests with every kind
of fault (sandbox/chaos.py: 429, 500, 503, slow answers, timeouts, dropped
connections, truncated bodies, revoked tokens, expired cursors). The final warehouses must be
equal (cursors are opaque provider tokens: a resync legitimately gets a new one) and every
run must succeed. The figures (requests, faults, retries, rows lost) are printed and written
to $OVERLAP_RELIABILITY_FIGURES when set.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from overlap.config import load_config
from overlap.pipeline import run
from overlap.staging import read_manifest
from sandbox.seed import seed_from_config
from sandbox.serve import start_sandboxes, write_sandbox_config
from tests.reliability.helpers import copy_workspace, diff, iterations, small_org, tables

pytestmark = pytest.mark.reliability
RATE = 0.08  # share of requests that fail
# Fast retries and a short client timeout so the loop stays quick; the policy is the same.
CLIENT_OPTIONS = {"retry_base_seconds": 0.02, "retry_cap_seconds": 0.5, "retry_attempts": 10,
                  "timeout_seconds": 1.0}


def _three_weeks(org_dir: Path, config_name: str, weeks: list[Any], root: Path, rate: float,
                 seed: int) -> dict[str, Any]:
    ws = copy_workspace(org_dir, root / "ws")
    config = load_config(ws / config_name)
    servers = start_sandboxes(seed_from_config(config), "mixed", secrets_dir=root / "secrets")
    try:
        chaos = [server.chaos(rate, seed + n, hang=1.5)  # type: ignore[attr-defined]
                 for n, (server, _) in enumerate(servers)] if rate else []
        sources = [{**src, **CLIENT_OPTIONS} for server, boxes in servers
                   for src in server.sources(boxes)]
        api_config = load_config(write_sandbox_config(config, sources, ws / "sandbox.toml"))
        for week in sorted(weeks):
            result = run(api_config, [week], workers=1)
            assert not result.failed, result.failed
        google, microsoft = servers[0][0], servers[1][0]
        requests = sum(google.counts.values()) + len(microsoft.requests)  # type: ignore[attr-defined]
    finally:
        for server, _ in servers:
            server.stop()
    manifests = [read_manifest(p) for p in api_config.staging_dir.rglob("*.manifest.json")]
    injected: dict[str, int] = {}
    for c in chaos:
        for kind, n in c.injected.items():
            injected[kind] = injected.get(kind, 0) + n
    # Provenance, not data: which extract window last wrote a row, and what a cursor covers.
    # An expired cursor means a window resync, which legitimately rewrites both.
    window = {"window_start", "window_end"}
    skip = {"sync_state": {"updated_at", "cursor"} | window, "raw_copies": window}
    return {"tables": tables(api_config.warehouse, skip_columns=skip),
            "requests": requests, "faults": injected,
            "client_requests": sum(m.stats.get("requests", 0) for m in manifests),
            "retries": sum(m.stats.get("retries", 0) for m in manifests)}


def test_random_faults_lose_nothing(tmp_path: Path) -> None:
    org = small_org(tmp_path / "org")
    name = org.config_path.name
    clean = _three_weeks(org.out_dir, name, org.weeks, tmp_path / "clean", 0.0, 0)
    assert clean["tables"]["raw_copies"], "the fixture must hold data"
    figures = []
    for i in range(iterations(1)):
        faulty = _three_weeks(org.out_dir, name, org.weeks, tmp_path / f"faulty{i}", RATE,
                              1000 + i)
        lost = sum(a for a, _ in diff(clean["tables"], faulty["tables"]).values())
        extra = sum(b for _, b in diff(clean["tables"], faulty["tables"]).values())
        figures.append({"seed": 1000 + i, "requests": faulty["requests"],
                        "faults": sum(faulty["faults"].values()),
                        "by_kind": dict(sorted(faulty["faults"].items())),
                        "retries": faulty["retries"], "rows_lost": lost, "rows_extra": extra,
                        "fault_free_requests": clean["requests"]})
        assert diff(clean["tables"], faulty["tables"]) == {}, figures[-1]
        assert sum(faulty["faults"].values()) > 0
    print("RELIABILITY-FIGURES", json.dumps(figures))
    out = os.environ.get("OVERLAP_RELIABILITY_FIGURES")
    if out:
        Path(out).write_text(json.dumps(figures, indent=1), encoding="utf-8")
