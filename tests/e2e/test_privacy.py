"""Issue 19: retention, erasure (``overlap forget``) and the pseudonymised snapshot, on the
real pipeline over maildir folders (docs/privacy.md)."""

# SQL here is the test's own, over paths and constants it wrote. Hence no S608.
# ruff: noqa: S608

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from overlap import pipeline
from overlap.config import load_config
from overlap.privacy import retention
from overlap.privacy.forget import variants
from tests.e2e.tinyorg import WEEK, message, write_org

FIRST = WEEK - timedelta(weeks=7)  # eight weeks: FIRST … WEEK
CUSTOMER = "cto@acme.example"
IDN = "jürgen@münchen.example"


def _org(root: Path, weeks: int = 8, extra_config: str = "") -> Path:
    rep: list[tuple[str, bytes]] = []
    owner: list[tuple[str, bytes]] = []
    for w in range(weeks):
        day = FIRST + timedelta(weeks=w, days=1)
        stamp = f"{day:%a, %d %b %Y} 10:00:00 +0000"
        backdoor = message(msg_id=f"b{w}@acme.example", sender="rep@corp.example",
                           to=f"{CUSTOMER}, {IDN}", date_header=stamp)
        shared = message(msg_id=f"s{w}@acme.example", sender="rep@corp.example",
                         to="buyer@acme.example, owner@corp.example", date_header=stamp)
        rep += [(f"b{w}", backdoor), (f"s{w}", shared)]
        owner.append((f"s{w}", shared))
    cfg = write_org(root, messages={"rep@corp.example": rep, "owner@corp.example": owner})
    text = cfg.read_text().replace("dormant_days = 60", "dormant_days = 7")
    cfg.write_text(text + extra_config)
    return cfg


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _model(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    from overlap.sqlrunner import model_tables

    return {t: _rows(db, f"select * from {t} order by all") for t in model_tables()}  # noqa: S608


def test_retention_purges_everything_before_the_edge_and_keeps_the_weekly_rows(
        tmp_path: Path) -> None:
    config = load_config(_org(tmp_path, extra_config="[retention]\nraw_days = 35\n"))
    reported: dict[date, list[tuple[Any, ...]]] = {}
    for w in range(8):
        week = FIRST + timedelta(weeks=w)
        pipeline.run(config, [week], workers=1, now=datetime(2026, 12, 1, tzinfo=UTC))
        reported[week] = _rows(config.snapshot, "select * from overlap_weekly where week_start"
                                                f" = '{week}' order by all")
        assert reported[week], week
    edge = date(2026, 10, 19)  # WEEK's end (Nov 23) − 35 days, a Monday
    at = retention.edge_at(edge, config.tz)
    assert _rows(config.warehouse, "select edge_week from retention_state") == [(edge,)]
    con = duckdb.connect(str(config.warehouse), read_only=True)
    try:
        assert retention.stale_rows(con, at) == {}
    finally:
        con.close()
    # every staged file: nothing before the edge
    staged = sorted(config.staging_dir.rglob("*.copies.parquet"))
    assert staged
    for path in staged:
        oldest = _rows(config.warehouse, f"select min(occurred_at) from read_parquet('{path}')")
        assert oldest[0][0] is None or oldest[0][0] >= at, path
    # every week reads exactly as it was reported: frozen before the freeze line (the edge
    # + max(28, dormant_days)), and with all its evidence after it
    assert _rows(config.warehouse, "select frozen_week from retention_state") == [
        (edge + timedelta(weeks=4),)]
    for week, rows in reported.items():
        now = _rows(config.snapshot, f"select * from overlap_weekly where week_start = '{week}'"
                                     " order by all")
        assert now == rows, week
    purges = _rows(config.warehouse, "select emails, error from runs where scope = 'retention'")
    assert purges and all(n > 0 and e is None for n, e in purges)
    # incremental (what the runs did) == a full rebuild of what is left
    before = _model(config.warehouse)
    pipeline.model(config, full=True)
    assert _model(config.warehouse) == before


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "overlap.cli", *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})})


def _traces(config: Any, forms: list[str]) -> list[str]:
    """Every place an address form is still found: bytes of every file (warehouse, snapshot,
    marts, staged, reports; case-insensitive) and every text value of every table of the
    warehouse and the snapshot and every Parquet file (compressed: queried)."""
    found = []
    needles = [f.lower().encode("utf-8") for f in forms]
    roots = [config.warehouse.parent, config.out_dir, config.staging_dir]
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.suffix != ".lock":
                data = path.read_bytes().lower()
                found += [f"{path}: bytes" for n in needles if n in data]
    for db in (config.warehouse, config.snapshot):
        con = duckdb.connect(str(db), read_only=True)
        try:
            for (table,) in con.execute("select table_name from duckdb_tables()").fetchall():
                n = con.execute(f'select count(*) from "{table}" as t where'  # noqa: S608
                                " len(list_filter(?, lambda f: contains(lower(t::varchar), f))) > 0",
                                [forms]).fetchall()[0][0]
                found += [f"{db}:{table}"] if n else []
        finally:
            con.close()
    for root in (config.staging_dir, config.out_dir):
        for path in sorted(root.rglob("*.parquet")):
            n = _rows(config.warehouse, f"select count(*) from read_parquet('{path}') as t where"
                      f" len(list_filter({forms!r}, lambda f: contains(lower(t::varchar), f))) > 0")
            found += [str(path)] if n[0][0] else []
    return found


def _state(config: Any) -> dict[str, Any]:
    files = {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
             for root in (config.out_dir, config.staging_dir) for p in sorted(root.rglob("*"))
             if p.is_file()}
    tables = {t: _rows(config.warehouse, f"select * from {t} order by all")  # noqa: S608
              for t in ("raw_copies", "raw_quarantine", "overlap_event_facts", "score_weekly",
                        "run_log")}
    return {"files": files, "tables": tables}


def test_forget_erases_every_trace_and_dry_run_changes_nothing(tmp_path: Path) -> None:
    cfg = _org(tmp_path, weeks=2)
    config = load_config(cfg)
    weeks = [FIRST, FIRST + timedelta(weeks=1)]
    pipeline.run(config, weeks, workers=1)
    forms = variants([CUSTOMER, IDN])
    assert len(forms) == 3  # the IDN address in punycode and in Unicode
    assert _traces(config, forms), "the fixture must name the addresses"
    events = _rows(config.warehouse, "select count(*) from overlap_events")[0][0]
    assert events == 2  # one backdoor email a week, to the CTO (and the unmatched IDN person)

    before = _state(config)
    dry = _cli("forget", "--config", str(cfg), "CTO@acme.example", IDN, "--dry-run", "-q")
    assert dry.returncode == 0, dry.stderr
    assert "would change: 2 raw copies" in dry.stdout
    assert _state(config) == before

    done = _cli("forget", "--config", str(cfg), "CTO@acme.example", IDN, "-q")
    assert done.returncode == 0, done.stderr
    assert "changed: 2 raw copies" in done.stdout
    assert _traces(config, forms) == []
    # the CTO was the backdoor emails' only customer person: their events are gone and the
    # weeks' rows recomputed; the shared emails with the buyer still count
    assert _rows(config.warehouse, "select count(*) from overlap_events")[0][0] == 0
    assert _rows(config.snapshot, "select count(*) from overlap_weekly")[0][0] == 0
    assert _rows(config.snapshot, "select count(*) from collaboration_weekly")[0][0] == 2
    logged = _rows(config.warehouse, "select emails, error from runs where scope = 'forget'")
    assert [n for n, _ in logged] == [2]
    assert not any(f in str(logged).lower() for f in forms)
    # the CRM is the CRM's business: forget warns that it still lists the address
    (tmp_path / "crm" / "contacts.csv").write_text(f"email,account_id\n{CUSTOMER},A1\n")
    pipeline.run(config, weeks[:1], workers=1)
    warned = _cli("forget", "--config", str(cfg), CUSTOMER, "-q")
    assert warned.returncode == 0, warned.stderr
    assert "still listed in" in warned.stderr and "contacts.csv" in warned.stderr


@pytest.mark.parametrize("point", ["forget:erased", "forget:committed", "forget:staged",
                                   "forget:reported"])
def test_forget_killed_midway_leaves_old_or_new_state_and_a_rerun_finishes(
        tmp_path: Path, point: str) -> None:
    cfg = _org(tmp_path, weeks=1)
    config = load_config(cfg)
    pipeline.run(config, [FIRST], workers=1)
    killed = _cli("forget", "--config", str(cfg), CUSTOMER, "-q",
                  env={"OVERLAP_TEST_KILL_AT": point})
    assert killed.returncode == -9, killed.stderr
    in_raw = _rows(config.warehouse, "select count(*) from raw_copies where list_contains("
                   f"list_transform(participants, lambda p: p.address), '{CUSTOMER}')")[0][0]
    in_model = _rows(config.warehouse, "select count(*) from match_participants"
                     f" where address = '{CUSTOMER}'")[0][0]
    assert (in_raw, in_model) in ((1, 1), (0, 0)), "the warehouse is half-forgotten"
    assert (in_raw == 1) == (point == "forget:erased")
    again = _cli("forget", "--config", str(cfg), CUSTOMER, "-q")
    assert again.returncode == 0, again.stderr
    assert _traces(config, [CUSTOMER]) == []


def test_pseudonymised_snapshot_hides_addresses_stably_and_depends_on_the_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _org(tmp_path, weeks=1, extra_config=(
        '[publish]\npseudonymise = ["customer_addresses", "rep_addresses"]\n'))
    config = load_config(cfg)
    monkeypatch.delenv("OVERLAP_PSEUDONYM_KEY", raising=False)
    with pytest.raises(Exception, match="needs a key"):
        pipeline.run(config, [FIRST], workers=1)
    monkeypatch.setenv("OVERLAP_PSEUDONYM_KEY", "k1")
    pipeline.run(config, [FIRST], workers=1)
    plain = [CUSTOMER, "buyer@acme.example", "rep@corp.example", "owner@corp.example",
             *variants([IDN]), "Rex Rep", "Olivia Owner"]
    snapshot_traces = [t for t in _traces_snapshot(config, plain)]
    assert snapshot_traces == []
    # the warehouse is unchanged: it still has them
    assert _rows(config.warehouse, "select count(*) from raw_copies where list_contains("
                 f"list_transform(participants, lambda p: p.address), '{CUSTOMER}')")[0][0] == 1
    first = _rows(config.snapshot, "select rep_email, owner_email, account_id from overlap_events")
    assert first and all(r[0].endswith("@rep.pseudonym.invalid") for r in first)
    # the load's unkeyed hash of (source, mailbox, kind, copy_id) would let a reader check a
    # guessed mailbox: not in the snapshot (the warehouse keeps it)
    assert _rows(config.snapshot, "select count(*), count(copy_hash) from raw_copies") == [
        (_rows(config.warehouse, "select count(copy_hash) from raw_copies")[0][0], 0)]
    pipeline.publish(config)  # another run: the same hashes
    assert _rows(config.snapshot,
                 "select rep_email, owner_email, account_id from overlap_events") == first
    monkeypatch.setenv("OVERLAP_PSEUDONYM_KEY", "k2")
    pipeline.publish(config)
    other = _rows(config.snapshot, "select rep_email, owner_email, account_id from overlap_events")
    assert other[0][0] != first[0][0] and other[0][2] == first[0][2]


def _traces_snapshot(config: Any, needles: list[str]) -> list[str]:
    found = []
    con = duckdb.connect(str(config.snapshot), read_only=True)
    try:
        for (table,) in con.execute("select table_name from duckdb_tables()").fetchall():
            n = con.execute(f'select count(*) from "{table}" as t where'  # noqa: S608
                            " len(list_filter(?, lambda f: contains(lower(t::varchar), lower(f)))) > 0",
                            [needles]).fetchall()[0][0]
            found += [table] if n else []
    finally:
        con.close()
    data = config.snapshot.read_bytes().lower()
    found += [f"bytes {n}" for n in needles if n.lower().encode() in data]
    for path in sorted((config.out_dir / "marts").glob("*.parquet")):
        n = _rows(config.snapshot, f"select count(*) from read_parquet('{path}') as t where"
                  f" len(list_filter({needles!r}, lambda f: contains(lower(t::varchar), lower(f)))) > 0")
        found += [str(path)] if n[0][0] else []
    return found


def test_forget_cli_refuses_a_mailbox_and_a_bad_address(tmp_path: Path) -> None:
    cfg = _org(tmp_path, weeks=1)
    pipeline.run(load_config(cfg), [FIRST], workers=1)
    held = _cli("forget", "--config", str(cfg), "rep@corp.example")
    assert held.returncode == 2 and "mailbox" in held.stderr
    bad = _cli("forget", "--config", str(cfg), "not an address")
    assert bad.returncode == 2 and "not an address" in bad.stderr
    shutil.rmtree(tmp_path / "data")
    gone = _cli("forget", "--config", str(cfg), CUSTOMER)
    assert gone.returncode == 2


def test_min_group_aggregates_small_owners_and_reps_in_the_company_report(
        tmp_path: Path) -> None:
    from reports.data import load_week

    cfg = _org(tmp_path, weeks=1, extra_config="")
    cfg.write_text(cfg.read_text().replace('out_dir = "out"', 'out_dir = "out"\nmin_group = 2'))
    config = load_config(cfg)
    assert config.privacy.min_group == 2
    result = pipeline.run(config, [FIRST], workers=1)
    con = duckdb.connect(str(config.snapshot), read_only=True)
    try:
        plain = load_week(con, FIRST)
        grouped = load_week(con, FIRST, min_group=2)
        exact = load_week(con, FIRST, min_group=1)  # one event is enough: nothing changes
    finally:
        con.close()
    assert [o.email for o in plain.owners] == ["owner@corp.example"] and plain.pairs
    assert exact.owners == plain.owners and exact.pairs == plain.pairs
    (owners,), (reps,) = grouped.owners, grouped.reps
    assert owners.email == "" and owners.pairs == () and owners.total_events == 1
    assert reps.email == "" and reps.total_events == 1
    assert grouped.pairs == () and grouped.pairs_total == plain.pairs_total
    html = result.reports[FIRST].html.read_text(encoding="utf-8")
    assert "Others: 1 owner with fewer than 2 events each" in html
    assert "Others: 1 rep with fewer than 2 events each" in html
