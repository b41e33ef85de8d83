"""The overlap_forget DAG: parsed like the weekly one, and run with dag.test() (issue 19)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from overlap import pipeline
from overlap.config import load_config
from tests.dags.conftest import DAGS
from tests.e2e.test_privacy import CUSTOMER, FIRST, _org, _traces


@pytest.fixture(scope="module")
def migrated_db() -> None:
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], env=os.environ.copy(), check=True,
                   capture_output=True, timeout=600)


def _count(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return int(con.execute("select count(*) from overlap_events").fetchall()[0][0])
    finally:
        con.close()


def test_forget_dag_dry_run_then_erases(tmp_path: Path, migrated_db: None) -> None:
    from airflow.dag_processing.dagbag import DagBag

    cfg = _org(tmp_path, weeks=1)
    config = load_config(cfg)
    pipeline.run(config, [FIRST], workers=1)
    assert _count(config.snapshot) == 1
    os.environ["OVERLAP_CONFIG"] = str(cfg)
    try:
        bag = DagBag(dag_folder=str(DAGS))
        assert bag.import_errors == {}
        dag = bag.dags["overlap_forget"]
        assert set(dag.params) == {"addresses", "dry_run"} and dag.schedule is None
        assert [t.pool for t in dag.tasks] == ["overlap_warehouse"]
        dry = dag.test(run_conf={"addresses": CUSTOMER})  # dry run by default
        assert str(dry.state) in ("success", "DagRunState.SUCCESS")
        assert _count(config.snapshot) == 1 and _traces(config, [CUSTOMER])
        done = dag.test(run_conf={"addresses": f" {CUSTOMER.upper()} ,", "dry_run": False})
        assert str(done.state) in ("success", "DagRunState.SUCCESS")
    finally:
        os.environ.pop("OVERLAP_CONFIG", None)
    assert _count(config.snapshot) == 0
    assert _traces(config, [CUSTOMER]) == []
