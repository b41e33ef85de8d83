"""Airflow plugin: Overlap's reports in the Airflow web server, and each run's week as its note.

* ``/overlap-reports/`` (Browse → Overlap reports): the weeks with a report, newest first;
  ``/overlap-reports/<ISO week>/<file>`` serves the report, its CSV and the owner digests
  from ``[report] out_dir`` of ``$OVERLAP_CONFIG`` (the api-server needs that variable, as the
  workers do). Read-only; only for logged-in users allowed to read the DAG; only files under
  out_dir; no listing of the digests. The report task's "Report" link points here.
* A listener in the scheduler writes the ISO week a run reports as the run's note when the run
  starts (unless someone wrote a note already): the UI's run list then says which week each
  run covers. The week is resolved as the plan task resolves it.

Install: put this file in Airflow's plugins folder (``[core] plugins_folder``; the local
scripts point it at this directory, the image copies it to /opt/airflow/plugins).
"""

from __future__ import annotations

import html
import logging
import os
import re
from pathlib import Path
from typing import Any

from airflow.api_fastapi.core_api.security import requires_access_dag
from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

from overlap.orchestration import REPORTS_URL_PREFIX

DAG_ID = "overlap_weekly"
PREFIX = REPORTS_URL_PREFIX
_WEEK = re.compile(r"^\d{4}-W\d{2}$")
_SERVED = {".html": "text/html; charset=utf-8", ".csv": "text/csv; charset=utf-8"}
log = logging.getLogger(__name__)

app = FastAPI(title="Overlap reports", docs_url=None, redoc_url=None, openapi_url=None)
_READ_DAG = [Depends(requires_access_dag("GET", param_dag_id=DAG_ID))]


def _out_dir() -> Path:
    from overlap.config import load_config
    from overlap.errors import InputError
    from overlap.orchestration import config_path

    try:
        return load_config(config_path()).out_dir.resolve()
    except InputError as exc:
        raise HTTPException(503, f"Overlap reports: the web server cannot read its config"
                                 f" ({exc}); set OVERLAP_CONFIG for the api-server") from None


@app.get("/", dependencies=_READ_DAG, response_class=HTMLResponse)
def index() -> HTMLResponse:
    """The weeks that have a report, newest first."""
    out = _out_dir()
    weeks = sorted((p.name for p in out.iterdir() if p.is_dir() and _WEEK.match(p.name)),
                   reverse=True) if out.is_dir() else []
    items = "".join(
        f'<li><a href="{PREFIX}/{w}/overlap-{w}.html">{w}</a></li>' for w in weeks
        if (out / w / f"overlap-{w}.html").is_file())
    body = f"<ul>{items}</ul>" if items else "<p>No reports yet.</p>"
    return HTMLResponse(f"<!doctype html><meta charset=utf-8><title>Overlap reports</title>"
                        f"<h1>Overlap reports</h1><p>{html.escape(str(out))}</p>{body}")


@app.get("/{week}/{name}", dependencies=_READ_DAG)
def report_file(week: str, name: str) -> FileResponse:
    return _serve(week, name)


@app.get("/{week}/digests/{name}", dependencies=_READ_DAG)
def digest_file(week: str, name: str) -> FileResponse:
    return _serve(week, name, "digests")


def _serve(week: str, name: str, *sub: str) -> FileResponse:
    suffix = Path(name).suffix.lower()
    if not _WEEK.match(week) or suffix not in _SERVED or "/" in name or name.startswith("."):
        raise HTTPException(404, "not found")
    out = _out_dir()
    path = out.joinpath(week, *sub, name).resolve()
    if not path.is_relative_to(out) or not path.is_file():
        raise HTTPException(404, "not found")
    return FileResponse(path, media_type=_SERVED[suffix],
                        headers={"X-Content-Type-Options": "nosniff",
                                 "Cache-Control": "no-store"})


class _RunNote:
    """Scheduler listener: a starting overlap_weekly run gets its ISO week as note."""

    @hookimpl
    def on_dag_run_running(self, dag_run: Any, msg: str) -> None:
        if dag_run.dag_id != DAG_ID or dag_run.note:
            return
        try:
            dag_run.note = _week_note(dag_run)
        except Exception as exc:  # a note must never disturb the scheduler
            log.warning("overlap: no week note for run %s: %s", dag_run.run_id, exc)


def _week_note(dag_run: Any) -> str:
    from zoneinfo import ZoneInfo

    from overlap.config import load_config
    from overlap.errors import InputError
    from overlap.orchestration import config_path, resolve_weeks, run_label

    week = (dag_run.conf or {}).get("week_start")
    try:  # the plan task's time zone: the config's, else the schedule's
        tz = load_config(config_path()).tz
    except InputError:
        tz = ZoneInfo(os.environ.get("OVERLAP_TIMEZONE", "UTC"))
    try:
        weeks = resolve_weeks(week, data_interval_start=dag_run.data_interval_start,
                              data_interval_end=dag_run.data_interval_end,
                              run_after=dag_run.run_after, tz=tz)
    except InputError as exc:
        return f"Bad trigger: {exc}"
    return run_label(weeks)


class OverlapReportsPlugin(AirflowPlugin):
    name = "overlap_reports"
    fastapi_apps = [{"app": app, "url_prefix": PREFIX, "name": "Overlap reports"}]
    external_views = [{"name": "Overlap reports", "href": f"{PREFIX}/", "destination": "nav",
                       "category": "browse"}]
    listeners = [_RunNote()]
