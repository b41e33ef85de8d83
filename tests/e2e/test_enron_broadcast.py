"""Issue 16's first finding on real Enron mail: an outside consultant's mailing to 55 people
(real message buy-r/inbox/883, 2001-09-13) named Enron's Rick Buy beside people of several
insurers. Read as "Rick working Guy Carpenter, Aon, Towers Perrin and HypoVereinsbank", it made
four overlap rows "someone else started"; it is a broadcast (rule 5): no event, and the data
quality section counts it."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from overlap.config import load_config
from overlap.pipeline import run

MESSAGE = "buy-r/inbox/883."  # From ecreighton@ggfp.com, 55 To addresses, no Cc
WEEK = date(2001, 9, 10)
ACCOUNTS = {"GC": ("Guy Carpenter", "guycarp.com"), "AON": ("Aon", "arw.aon.com"),
            "TP": ("Towers Perrin", "towers.com"),
            "HVB": ("HypoVereinsbank", "america.hypovereinsbank.com")}


def _org(root: Path, shared_data: Path, broadcast_recipients: int) -> Path:
    (root / "crm").mkdir(parents=True)
    (root / "overlap.toml").write_text(f"""\
[company]
internal_domains = ["enron.com"]
timezone = "America/Chicago"
[crm]
accounts = "crm/accounts.csv"
reps = "crm/reps.csv"
[warehouse]
path = "data/overlap.duckdb"
[report]
out_dir = "out"
[rules]
broadcast_recipients = {broadcast_recipients}
[[sources]]
kind = "maildir"
path = "exports"
""", encoding="utf-8")
    (root / "crm" / "reps.csv").write_text(
        "email,name,manager_email,team,aliases\n"
        "rick.buy@enron.com,Rick Buy,,Risk,rbuy@ect.enron.com\n"
        "sally.beck@enron.com,Sally Beck,,Operations,\n", encoding="utf-8")
    (root / "crm" / "accounts.csv").write_text(
        "account_id,account_name,owner_email,domains,team_emails\n"
        + "".join(f"{a},{name},sally.beck@enron.com,{domain},\n"
                  for a, (name, domain) in ACCOUNTS.items()), encoding="utf-8")
    cur = root / "exports" / "rick.buy@enron.com" / "cur"
    cur.mkdir(parents=True)
    shutil.copy(shared_data / "enron-maildir" / MESSAGE, cur / "883.")
    return root / "overlap.toml"


def _rows(config: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(load_config(config).snapshot), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize(("threshold", "events"), [(20, 0), (60, 4)])
def test_a_consultants_mailing_is_a_broadcast_not_four_backdoor_rows(
        tmp_path: Path, shared_data: Path, threshold: int, events: int) -> None:
    config = _org(tmp_path, shared_data, threshold)
    result = run(load_config(config), [WEEK], workers=1)
    assert not result.failed
    found = _rows(config, "select account_id, rep_email, initiated_by from overlap_events")
    assert len(found) == events
    assert {(r, i) for _, r, i in found} <= {("rick.buy@enron.com", "other")}
    broadcasts = _rows(config, "select item, detail, volume from data_quality"
                               " where kind = 'broadcast_ignored'")
    assert broadcasts == ([("ecreighton@ggfp.com", "2001-09-10", 1)] if not events else [])
    html = next((tmp_path / "out").glob("*/overlap-2001-W37.html")).read_text("utf-8")
    assert ("ecreighton@ggfp.com (1)" in html) == (not events)
