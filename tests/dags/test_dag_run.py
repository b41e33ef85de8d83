"""dag.test(): one week of a generated organisation through the DAG, compared with the CLI's
pipeline.run for the same week on an identical copy of the organisation."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from overlap.config import load_config
from overlap.pipeline import run
from sandbox.generator import generate
from tests.dags.conftest import DAGS

ORG = {"seed": 11, "weeks": 3, "reps": 12, "accounts": 10, "emails_per_week": 80,
       "meetings_per_week": 10}
VIEWS = {
    "overlap_weekly": "select * from overlap_weekly order by all",
    "overlap_events": "select * from overlap_events order by all",
    "collaboration_weekly": "select * from collaboration_weekly order by all",
    "interactions": "select count(*), count(distinct interaction_id) from interactions",
    "participants": "select count(*) from interaction_participants",
    "data_quality": "select * exclude (run_id) from data_quality order by all",
    "runs": "select scope, source, mailbox, status, emails, meetings, quarantined from runs"
            " order by all",
}


def _views(snapshot: Path) -> dict[str, list[tuple[object, ...]]]:
    con = duckdb.connect(str(snapshot), read_only=True)
    try:
        return {name: con.execute(sql).fetchall() for name, sql in VIEWS.items()}
    finally:
        con.close()


def _html(path: Path) -> str:
    # (the `overlap approve` line beside each risk row names the run's own config file)
    text = re.sub(r"overlap approve --config \S+", "overlap approve --config CONFIG",
                  path.read_text(encoding="utf-8"))
    return re.sub(r'<p class="generated">.*?</p>', "", text)


@pytest.fixture(scope="module")
def migrated_db() -> None:
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], env=os.environ.copy(), check=True,
                   capture_output=True, timeout=600)


def test_dag_test_matches_the_cli(tmp_path: Path, migrated_db: None) -> None:
    from airflow.dag_processing.dagbag import DagBag

    via_dag = generate(tmp_path / "dag", **ORG)  # type: ignore[arg-type]
    via_cli = generate(tmp_path / "cli", **ORG)  # type: ignore[arg-type]
    week = max(via_dag.weeks)
    os.environ["OVERLAP_CONFIG"] = str(via_dag.config_path)
    try:
        dag = DagBag(dag_folder=str(DAGS)).dags["overlap_weekly"]
        dag_run = dag.test(run_conf={"week_start": week.isoformat()})
    finally:
        os.environ.pop("OVERLAP_CONFIG", None)
    assert str(dag_run.state) in ("success", "DagRunState.SUCCESS")

    cli_config = load_config(via_cli.config_path)
    expected = run(cli_config, [week], workers=1).reports[week]
    dag_config = load_config(via_dag.config_path)
    got = dag_config.out_dir / expected.html.relative_to(cli_config.out_dir)
    assert got.is_file(), "the DAG wrote no report"
    assert _html(got) == _html(expected.html)
    assert (got.with_name(expected.csv.name).read_bytes() == expected.csv.read_bytes())
    assert sorted(p.name for p in (got.parent / "digests").iterdir()) == sorted(
        p.name for p in expected.digests.values())
    dag_views, cli_views = _views(dag_config.snapshot), _views(cli_config.snapshot)
    assert dag_views["overlap_events"], "the week has overlap events"
    assert dag_views == cli_views
    assert dag_views["runs"][-1][3] == "succeeded" or any(
        r[0] == "run" and r[3] == "succeeded" for r in dag_views["runs"])
    con = duckdb.connect(str(dag_config.snapshot), read_only=True)
    try:
        run_ids = con.execute("select distinct run_id from runs where scope = 'run'").fetchall()
    finally:
        con.close()
    assert run_ids == [(dag_run.run_id,)], "the warehouse's run id is Airflow's"


def test_bad_week_fails_fast_naming_the_form_field(tmp_path: Path, migrated_db: None,
                                                    capfd: pytest.CaptureFixture[str]) -> None:
    """A week the plan cannot read fails plan at once; load (trigger rule all_done) fails
    without retrying instead of crashing on the missing plan; nothing is written."""
    from airflow.dag_processing.dagbag import DagBag

    from tests.e2e.tinyorg import write_org

    config_path = write_org(tmp_path / "org", messages={"rep@corp.example": []})
    os.environ["OVERLAP_CONFIG"] = str(config_path)
    os.environ["OVERLAP_RETRY_DELAY_SECONDS"] = "600"  # a retry would hang this test
    try:
        dag = DagBag(dag_folder=str(DAGS)).dags["overlap_weekly"]
        started = time.monotonic()
        dag_run = dag.test(run_conf={"week_start": "2026-11-31"})
        seconds = time.monotonic() - started
    finally:
        os.environ.pop("OVERLAP_CONFIG", None)
        os.environ["OVERLAP_RETRY_DELAY_SECONDS"] = "1"
    assert str(dag_run.state) in ("failed", "DagRunState.FAILED")
    assert seconds < 60, f"the bad week took {seconds:.0f} s to fail"
    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    assert states["plan"].endswith("failed") and states["load"].endswith("failed"), states
    assert all(not s.endswith("success") for s in states.values()), states
    err = capfd.readouterr()
    assert 'trigger form field "Week" (week_start)' in err.out + err.err
    assert "not subscriptable" not in err.out + err.err
    assert not load_config(config_path).warehouse.exists()
