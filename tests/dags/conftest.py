"""Airflow for the DAG tests: a private AIRFLOW_HOME per test process, set before anything
imports airflow (Airflow reads its configuration at import time)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"

_home = Path(tempfile.mkdtemp(prefix="overlap-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_home)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_home}/airflow.db"
os.environ.setdefault("OVERLAP_RETRY_DELAY_SECONDS", "1")
