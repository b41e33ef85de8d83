"""The CLI as a user meets it: exit codes, one-line errors, help, init, a real run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.tinyorg import WEEK, message, write_org

OVERLAP = [sys.executable, "-m", "overlap.cli"]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OVERLAP_DEBUG"}
    return subprocess.run([*OVERLAP, *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=300)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_help_lists_the_commands() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    for command in ("run", "report", "query", "init", "demo"):
        assert command in proc.stdout


def test_missing_config_is_one_line_exit_2(tmp_path: Path) -> None:
    assert_one_line_error(run_cli("run", "--config", str(tmp_path / "nope.toml")),
                          "nope.toml", "not found")


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "overlap.toml"
    cfg.write_text("[company\n", encoding="utf-8")
    assert_one_line_error(run_cli("run", "--config", str(cfg)), "overlap.toml", "TOML")


def test_bad_week_option(tmp_path: Path) -> None:
    cfg = write_org(tmp_path)
    assert_one_line_error(run_cli("run", "--config", str(cfg), "--week", "2026-W99"), "--week")
    assert_one_line_error(run_cli("run", "--config", str(cfg), "--week", "2026-11-18"),
                          "Wednesday")
    assert_one_line_error(run_cli("run", "--config", str(cfg), "--start", "2026-11-10",
                                  "--end", "2026-11-01"), "--end")


def test_bad_crm_changes_nothing(tmp_path: Path) -> None:
    cfg = write_org(tmp_path)
    ok = run_cli("run", "--config", str(cfg), "--week", "2026-W47", "-q")
    assert ok.returncode == 0, ok.stderr
    warehouse = tmp_path / "data" / "overlap.duckdb"
    before = warehouse.read_bytes()
    accounts = tmp_path / "crm" / "accounts.csv"
    accounts.write_text(accounts.read_text() + "A1,Duplicate,owner@corp.example,dup.example,\n")
    proc = run_cli("run", "--config", str(cfg), "--week", "2026-W47", "-q")
    assert_one_line_error(proc, "accounts.csv:3", "account_id")
    assert warehouse.read_bytes() == before


def test_run_prints_report_path_and_writes_outputs(tmp_path: Path) -> None:
    raw = message(msg_id="m1@acme.example", sender="Rex <rep@corp.example>",
                  to="buyer@acme.example", date_header="Tue, 17 Nov 2026 10:00:00 +0000")
    # The owner wrote to the account a month earlier: active, so the rep's mail is a backdoor.
    earlier = message(msg_id="m0@acme.example", sender="owner@corp.example",
                      to="buyer@acme.example", date_header="Tue, 20 Oct 2026 10:00:00 +0000")
    cfg = write_org(tmp_path, messages={"rep@corp.example": [("1", raw)],
                                        "owner@corp.example": [("1", earlier)]})
    proc = run_cli("run", "--config", str(cfg), "--week", "2026-W47")
    assert proc.returncode == 0, proc.stderr
    report = Path(proc.stdout.strip().splitlines()[-1])
    assert report.exists() and report.name == "overlap-2026-W47.html"
    assert "maildir rep@corp.example: 1 emails" in proc.stderr
    assert (tmp_path / "data" / "overlap-snapshot.duckdb").exists()
    assert (tmp_path / "out" / "marts" / "overlap_weekly.parquet").exists()
    query = run_cli("query", "--config", str(cfg), "--csv",
                    "select account_id, rep_email, category from overlap_events")
    assert query.returncode == 0, query.stderr
    assert query.stdout.splitlines() == ["account_id,rep_email,category",
                                         "A1,rep@corp.example,backdoor"]
    again = run_cli("report", "--config", str(cfg), "--week", WEEK.isoformat())
    assert again.returncode == 0 and Path(again.stdout.strip()) == report


def test_snapshot_opens_in_the_duckdb_shell_while_the_pipeline_reruns(tmp_path: Path) -> None:
    raw = message(msg_id="m1@acme.example", sender="rep@corp.example",
                  to="buyer@acme.example", date_header="Tue, 17 Nov 2026 10:00:00 +0000")
    cfg = write_org(tmp_path, messages={"rep@corp.example": [("1", raw)]})
    assert run_cli("run", "--config", str(cfg), "--week", "2026-W47", "-q").returncode == 0
    snapshot = tmp_path / "data" / "overlap-snapshot.duckdb"
    shell = Path(sys.executable).with_name("duckdb")  # the duckdb-cli the project installs
    proc = subprocess.run([str(shell), "-readonly", "-csv", str(snapshot), "-c",
                           "select account_id, category from overlap_events"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["account_id,category", "A1,coverage_gap"]
    # An analyst holding the snapshot open does not block the next run.
    import duckdb

    analyst = duckdb.connect(str(snapshot), read_only=True)
    try:
        assert run_cli("run", "--config", str(cfg), "--week", "2026-W47", "-q").returncode == 0
        assert analyst.execute("select count(*) from overlap_events").fetchone() == (1,)
    finally:
        analyst.close()


def test_query_error_is_one_line(tmp_path: Path) -> None:
    cfg = write_org(tmp_path)
    assert run_cli("run", "--config", str(cfg), "--week", "2026-W47", "-q").returncode == 0
    assert_one_line_error(run_cli("query", "--config", str(cfg), "select * from nope"),
                          "query failed")


def test_init_writes_templates_that_run(tmp_path: Path) -> None:
    dest = tmp_path / "org"
    proc = run_cli("init", str(dest))
    assert proc.returncode == 0, proc.stderr
    assert (dest / "overlap.toml").exists() and (dest / "exports").is_dir()
    first = run_cli("run", "--config", str(dest / "overlap.toml"), "--week", "2026-W47", "-q")
    assert first.returncode == 0, first.stderr
    assert "No overlap this week" in Path(first.stdout.strip()).read_text(encoding="utf-8")
    again = run_cli("init", str(dest))
    assert again.returncode == 2 and "Traceback" not in again.stderr


@pytest.mark.parametrize("argv", [["run"], ["bogus"]])
def test_usage_errors_exit_2(argv: list[str]) -> None:
    assert run_cli(*argv).returncode == 2


def test_demo_runs_twice_and_refuses_foreign_folders(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    for _ in range(2):
        proc = run_cli("demo", "--out", str(out), "-q")
        assert proc.returncode == 0, proc.stderr
        report = Path(proc.stdout.strip().splitlines()[0])
        assert report.exists() and "Pairs to look at" in report.read_text(encoding="utf-8")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me", encoding="utf-8")
    assert_one_line_error(run_cli("demo", "--out", str(foreign)), "not empty")
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_a_locked_warehouse_is_one_clear_line(tmp_path: Path) -> None:
    import duckdb

    cfg = write_org(tmp_path)
    assert run_cli("run", "--config", str(cfg), "--week", "2026-W47", "-q").returncode == 0
    holder = duckdb.connect(str(tmp_path / "data" / "overlap.duckdb"))  # another writer
    try:
        proc = run_cli("run", "--config", str(cfg), "--week", "2026-W47", "-q")
    finally:
        holder.close()
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    assert "open in another process" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
