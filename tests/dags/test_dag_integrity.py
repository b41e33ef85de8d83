"""The DAG file as the dag-processor sees it, without a metadata database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dags.conftest import DAGS

EXPECTED_POOLS = {
    "plan": "overlap_warehouse", "load": "overlap_warehouse", "model": "overlap_warehouse",
    "report": "overlap_warehouse", "finish": "overlap_warehouse",
    "publish": "overlap_warehouse", "email_digests": "default_pool",
    "extract_files": "overlap_files", "extract_gmail": "overlap_gmail",
    "extract_google_calendar": "overlap_google_calendar",
    "extract_msgraph": "overlap_msgraph",
    "chunks_files": "default_pool", "chunks_gmail": "default_pool",
    "chunks_google_calendar": "default_pool", "chunks_msgraph": "default_pool",
}

_watching: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _watching is not None and event == "open" and isinstance(args[0], str | Path):
        _watching.append(str(args[0]))


sys.addaudithook(_audit)


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, float, list[str]]]:
    """Parse the DAG folder while recording every file opened and refusing connections."""
    global _watching
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import Connection, Variable

    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("connection or variable looked up at parse time")

    saved = (Connection.get, Variable.get)
    Connection.get, Variable.get = refuse, refuse  # type: ignore[method-assign]
    missing = tmp_path_factory.mktemp("cfg") / "absent.toml"
    os.environ["OVERLAP_CONFIG"] = str(missing)  # parse must not need it
    _watching = []
    try:
        DagBag(dag_folder=str(DAGS))  # warm: imports airflow.sdk and providers once
        _watching = []
        start = time.perf_counter()
        bag = DagBag(dag_folder=str(DAGS))
        seconds = time.perf_counter() - start
        opened = list(_watching)
    finally:
        _watching = None
        Connection.get, Variable.get = saved  # type: ignore[method-assign]
        os.environ.pop("OVERLAP_CONFIG", None)
    yield bag, seconds, opened


def test_no_import_errors_and_fast(parsed: tuple[Any, float, list[str]]) -> None:
    bag, seconds, _ = parsed
    assert bag.import_errors == {}
    assert "overlap_weekly" in bag.dags
    assert seconds < 1.0, f"parsing took {seconds:.2f}s"


def test_no_io_at_parse_time(parsed: tuple[Any, float, list[str]]) -> None:
    _, _, opened = parsed
    code = (".py", ".pyc", ".so", ".pth", ".typed")
    suspicious = [p for p in opened
                  if not p.endswith(code) and not p.startswith(sys.prefix)
                  and not p.startswith(sys.base_prefix) and "__pycache__" not in p
                  and not Path(p).is_dir() and "airflow.cfg" not in p]
    assert suspicious == [], suspicious


def test_schedule_and_run_settings(parsed: tuple[Any, float, list[str]]) -> None:
    from airflow.sdk import CronDataIntervalTimetable

    dag = parsed[0].dags["overlap_weekly"]
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.expression == "0 6 * * 1"
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.doc_md and "overlap_weekly" in dag.doc_md
    assert set(dag.tags) >= {"overlap"}
    assert dag.owner == "overlap-platform"
    assert set(dag.params) == {"week_start", "mailboxes", "sources", "crm_as_of"}


def test_every_task_has_retries_pool_and_policy(parsed: tuple[Any, float, list[str]]) -> None:
    from airflow.sdk import ExceptionRetryPolicy, RetryAction

    from connectors.api import AuthError
    from overlap.errors import AuditFailed, InputError

    dag = parsed[0].dags["overlap_weekly"]
    assert {t.task_id: t.pool for t in dag.tasks} == EXPECTED_POOLS
    for t in dag.tasks:
        assert t.retries >= 1, t.task_id
        assert t.retry_exponential_backoff > 0, t.task_id
        assert isinstance(t.retry_policy, ExceptionRetryPolicy), t.task_id
        for exc in (InputError("x"), AuthError("denied"), AuditFailed("a", 1, [])):
            decision = t.retry_policy.evaluate(exc, try_number=1, max_tries=3)
            assert decision.action == RetryAction.FAIL, (t.task_id, exc)
        retry = t.retry_policy.evaluate(ConnectionError("reset"), try_number=1, max_tries=3)
        assert retry.action == RetryAction.DEFAULT


def test_graph_and_trigger_rules(parsed: tuple[Any, float, list[str]]) -> None:
    dag = parsed[0].dags["overlap_weekly"]
    tasks = {t.task_id: t for t in dag.tasks}
    for group in ("files", "gmail", "google_calendar", "msgraph"):
        extract = tasks[f"extract_{group}"]
        assert extract.map_index_template == "{{ chunk_label }}"
        assert "load" in extract.downstream_task_ids
    assert tasks["load"].trigger_rule == "all_done"
    assert tasks["finish"].trigger_rule == "all_done_min_one_success"
    assert {"report", "plan"} <= tasks["finish"].upstream_task_ids
    assert {"report", "finish"} <= tasks["publish"].upstream_task_ids
    outlets = {t.task_id: [a.name for a in t.outlets] for t in dag.tasks if t.outlets}
    assert outlets == {"report": ["overlap_weekly_report"], "publish": ["overlap_warehouse"]}


def test_params_are_optional_and_checked_by_the_plan(
        parsed: tuple[Any, float, list[str]]) -> None:
    """Empty means all: no field is required in the form (its types admit null); the form
    checks types only, the plan task the values (tests/dags/test_orchestration.py), so an
    operator reads "trigger form field "Week" …", not a JSON-schema path."""
    from airflow.sdk.exceptions import ParamValidationError

    params = parsed[0].dags["overlap_weekly"].params
    for key in ("week_start", "mailboxes", "sources", "crm_as_of"):
        schema = params.get_param(key).schema
        assert "null" in schema["type"], key
        assert params.get_param(key).resolve(None) is None
    assert params.get_param("week_start").schema["title"] == "Week"
    for key, good in (("week_start", "2026-11-18"), ("week_start", "2026-W47"),
                      ("mailboxes", ["a@corp.example"]), ("sources", ["maildir"])):
        assert params.get_param(key).resolve(good) == good
    for key, bad in (("sources", "maildir"), ("mailboxes", [1])):
        with pytest.raises(ParamValidationError):
            params.get_param(key).resolve(bad)


def test_extract_groups_and_schedule_from_the_environment() -> None:
    """OVERLAP_EXTRACT_GROUPS drops the groups a config does not use (an API-only config shows
    no always-skipped extract_files); OVERLAP_SCHEDULE=none leaves manual runs only."""
    code = ("from airflow.dag_processing.dagbag import DagBag; import sys\n"
            f"dag = DagBag(dag_folder={str(DAGS)!r}).dags['overlap_weekly']\n"
            "print(sorted(t.task_id for t in dag.tasks if t.task_id.startswith('extract_')))\n"
            "print(type(dag.timetable).__name__)")
    env = {**os.environ, "OVERLAP_EXTRACT_GROUPS": "msgraph,gmail", "OVERLAP_SCHEDULE": "none"}
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, text=True,
                         capture_output=True, timeout=300).stdout.splitlines()
    assert out[-2:] == ["['extract_gmail', 'extract_msgraph']", "NullTimetable"]
