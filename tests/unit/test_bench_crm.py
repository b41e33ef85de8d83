"""benchmarks/crm.py's CRM change and result merge (the benchmark itself is `python -m
benchmarks.crm`, not a test)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from benchmarks.crm import change_crm, merge, restore_crm
from benchmarks.run import Result
from benchmarks.synth import SIZES, write_org
from overlap.config import load_config
from overlap.crm import load_crm


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_crm_change_reassigns_and_deactivates_one_percent(tmp_path: Path) -> None:
    config = write_org(tmp_path, SIZES["S"])  # 1,000 accounts, 50 reps
    before_a, before_r = _rows(tmp_path / "crm/accounts.csv"), _rows(tmp_path / "crm/reps.csv")
    assert change_crm(tmp_path) == (10, 1)
    after_a, after_r = _rows(tmp_path / "crm/accounts.csv"), _rows(tmp_path / "crm/reps.csv")
    # the same lines in the same order (which duplicate wins is an identity fact), the owner
    # of 10 accounts and the activity of 1 rep changed, nothing else
    assert [r["account_id"] for r in after_a] == [r["account_id"] for r in before_a]
    moved = [(b, a) for b, a in zip(before_a, after_a, strict=True) if b != a]
    assert len(moved) == 10
    assert all({k for k in b if b[k] != a[k]} == {"owner_email"} for b, a in moved)
    gone = [(b, a) for b, a in zip(before_r, after_r, strict=True) if b != a]
    assert [(b["active"], a["active"]) for b, a in gone] == [("true", "false")]
    load_crm(load_config(config))  # still a valid export
    restore_crm(tmp_path)
    assert _rows(tmp_path / "crm/accounts.csv") == before_a


def test_merge_replaces_rows_of_the_same_name_and_size(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    out.write_text(json.dumps({"machine": {"cpus": 2}, "results": [
        {"name": "a", "size": "M", "value": 1}, {"name": "b", "size": "M", "value": 2}]}))
    merge(out, [Result("a", "M", 3.0, "x", "<= 1.3", False), Result("c", "L", 4.0, "s",
                                                                    "info", True)])
    data = json.loads(out.read_text())
    assert data["machine"] == {"cpus": 2}
    assert [(r["name"], r["size"], r["value"]) for r in data["results"]] == [
        ("a", "M", 3.0), ("b", "M", 2), ("c", "L", 4.0)]
