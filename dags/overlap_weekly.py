"""
# overlap_weekly — the weekly Overlap job

Every Monday 06:00 (time zone `$OVERLAP_TIMEZONE`, default UTC) this DAG reports on the ISO week
that just ended: **plan** (sources × mailboxes) → **extract** (mapped, one instance per mailbox
or per chunk, one task and pool per API) → **load** (the only warehouse writer, pool
`overlap_warehouse` with one slot) → **model** → **report** → **finish** (closes the run row,
also when model or report failed) → **publish** (analyst snapshot) → **email_digests** (off unless
the SMTP connection `overlap_smtp` exists).

* The config is `$OVERLAP_CONFIG` (or the Variable `overlap_config`), read inside tasks.
* Trigger form: **Week** (any day of it, or `2026-W47`; empty = the data interval's week, or the
  last full week), **Only these mailboxes** and **Only these sources** (empty = all), **CRM
  exported at** (rule 10: the CRM snapshot's stamp; empty = the time of the load). A bad value
  fails the `plan` task at once with a message naming the field; nothing is written.
* Each run's note says which ISO week it reports; the warehouse `runs` view uses the Airflow
  run id. The report: the `report` task's **Report** link (served read-only by the Airflow
  web server at `/overlap-reports/`, also under Browse → Overlap reports), or
  `<report.out_dir>/<ISO week>/overlap-<ISO week>.html` on the data volume.
* Unpausing creates one scheduled run, for the latest week that has ended (catchup is off;
  earlier weeks by backfill). `OVERLAP_SCHEDULE=none` (as `make airflow` sets for its demo
  organisation, whose data lies in the past) leaves only manual runs.
* A failed mailbox does not fail the run: the report states the missing coverage and the run
  row says `partial`. Reruns (clear a mapped extract, load, …) and backfills are safe: staged
  files and warehouse rows are keyed by source, mailbox and week, never by task number.

Operating guide: `docs/airflow.md`.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import (
    Asset,
    BaseOperatorLink,
    BaseXCom,
    CronDataIntervalTimetable,
    ExceptionRetryPolicy,
    Param,
    RetryAction,
    RetryRule,
    dag,
    get_current_context,
    task,
)

from overlap.sources import GROUPS, WAREHOUSE_POOL, enabled_groups

# Parse time reads environment variables only: no files, connections or Variables.
TIMEZONE = os.environ.get("OVERLAP_TIMEZONE", "UTC")
RETRIES = int(os.environ.get("OVERLAP_RETRIES", "3"))
RETRY_DELAY = timedelta(seconds=float(os.environ.get("OVERLAP_RETRY_DELAY_SECONDS", "60")))
# Extract task groups and pools from the source registry (imports no I/O; see its docstring).
EXTRACT_GROUPS = enabled_groups()
# Cron of the weekly run (Monday 06:00); "none": manual runs only (a demo on past data).
SCHEDULE = os.environ.get("OVERLAP_SCHEDULE", "0 6 * * 1").strip()

WAREHOUSE_ASSET = Asset(name="overlap_warehouse", uri="overlap://warehouse/snapshot",
                        group="overlap")
REPORT_ASSET = Asset(name="overlap_weekly_report", uri="overlap://reports/weekly",
                     group="overlap")

# Bad input, failed audits and rejected credentials fail at once; anything else is retried
# with exponential backoff (extract tasks decide themselves which mailbox errors are transient).
RETRY_POLICY = ExceptionRetryPolicy(rules=[
    RetryRule(exception=["overlap.errors.InputError", "overlap.errors.AuditFailed",
                         "connectors.api.AuthError", "smtplib.SMTPAuthenticationError",
                         "smtplib.SMTPRecipientsRefused"],
              action=RetryAction.FAIL, reason="not transient: retrying will not help"),
])

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "overlap-platform",
    "retries": RETRIES,
    "retry_delay": RETRY_DELAY,
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=30),
    "retry_policy": RETRY_POLICY,
}


class ReportLink(BaseOperatorLink):
    """The report task's "Report" button: the week's report in the Airflow web server (the
    ``url`` the task returned; the link is computed by the worker when the task ends)."""

    name = "Report"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        value = BaseXCom.get_value(ti_key=ti_key, key="return_value")
        return str(value.get("url", "")) if isinstance(value, dict) else ""


def _config() -> Any:
    from airflow.sdk import Variable

    from overlap.config import load_config
    from overlap.orchestration import config_path

    return load_config(config_path(lambda key: Variable.get(key, default=None)))


def _get_connection(conn_id: str) -> Any:
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException:
        return None


# The tasks, each a few lines calling the core package; the DAG below wires them.


@task(pool=WAREHOUSE_POOL)
def plan() -> dict[str, Any]:
    """Resolve the week, validate the CRM, plan source × mailbox extracts (writes no data)."""
    from overlap import orchestration as orch
    from overlap.connections import crm_credentials
    from overlap.crm import load_crm
    from overlap.pipeline import start_run

    ctx = get_current_context()
    config = _config()
    params = ctx["params"]
    weeks = orch.resolve_weeks(params.get("week_start"),
                               data_interval_start=ctx.get("data_interval_start"),
                               data_interval_end=ctx.get("data_interval_end"),
                               run_after=ctx["dag_run"].run_after, tz=config.tz)
    sources = orch.check_sources(config, params.get("sources"))
    mailboxes = orch.check_mailbox_params(params.get("mailboxes"))
    crm_as_of = orch.check_crm_as_of(params.get("crm_as_of"), config.tz)
    # The warehouse's run id is Airflow's, so `runs` rows match the UI's runs.
    # An API CRM ([crm] kind) signs in with its Airflow connection (overlap_salesforce, …).
    crm = load_crm(config, credentials=crm_credentials(config, _get_connection))
    run_plan = replace(start_run(config, weeks, sources=sources, mailboxes=mailboxes, crm=crm),
                       run_id=ctx["run_id"])
    orch.check_mailboxes(run_plan, mailboxes)
    path = orch.write_plan(config, run_plan)
    chunks = orch.write_chunks(run_plan, path, groups=EXTRACT_GROUPS)
    print(f"run {run_plan.run_id}: {orch.run_label(weeks)}, {len(run_plan.tasks)} extracts")
    return {"plan": str(path), "run_id": run_plan.run_id, "extracts": len(run_plan.tasks),
            "week": orch.run_label(run_plan.weeks),
            "weeks": [w.isoformat() for w in run_plan.weeks], "crm_as_of": crm_as_of,
            "mapped": {g: len(c) for g, c in chunks.items()}}


def chunks_task(group: str) -> Any:
    @task(task_id=f"chunks_{group}", pool="default_pool")
    def chunks(planned: dict[str, Any]) -> list[dict[str, Any]]:
        """This group's extracts from the plan, as mapped-task arguments (paths only)."""
        from overlap import orchestration as orch

        return orch.read_chunks(planned["plan"], group)

    return chunks


def extract_task(group: str) -> Any:
    @task(task_id=f"extract_{group}", pool=GROUPS[group].pool,
          map_index_template="{{ chunk_label }}")
    def extract(chunk: dict[str, Any]) -> dict[str, Any]:
        """Extract a chunk of source × mailbox into staging; failures are recorded."""
        from overlap import orchestration as orch
        from overlap.connections import credentials_for

        ctx = get_current_context()
        ctx["chunk_label"] = chunk["label"]  # type: ignore[typeddict-unknown-key]
        ti = ctx["ti"]
        result = orch.extract_chunk(
            chunk, final_try=ti.try_number > ti.max_tries,
            credentials=lambda t: credentials_for(t, _get_connection))
        return result.as_xcom(chunk["label"])

    return extract

# all_done: an extract task that crashed must not stop the run (its mailboxes are
# recorded as failed and the report states the gap); skipped API groups are fine too.
@task(pool=WAREHOUSE_POOL, trigger_rule="all_done")
def load(planned: dict[str, Any] | None) -> dict[str, Any]:
    """Apply every staged extract in one transaction (the only warehouse writer)."""
    from overlap import orchestration as orch
    from overlap.connections import crm_credentials
    from overlap.crm import load_crm
    from overlap.pipeline import load as load_step

    plan_xcom = orch.require_plan(planned, "load")  # no plan: fail now, no retry
    config = _config()
    run_plan, outcomes = orch.collect_outcomes(plan_xcom["plan"])
    as_of = plan_xcom.get("crm_as_of")  # rule 10: the CRM's stamp; None: now
    crm = load_crm(config, datetime.fromisoformat(as_of) if as_of else None,
                   credentials=crm_credentials(config, _get_connection))
    load_step(config, run_plan, outcomes, crm=crm)
    failed = [o.task.label for o in outcomes if o.manifest is None]
    return {"loaded": len(outcomes) - len(failed), "failed": len(failed)}


@task(pool=WAREHOUSE_POOL)
def model(_loaded: dict[str, Any]) -> dict[str, Any]:
    """Rebuild the model (rules 1-9) and run the audits."""
    from overlap.pipeline import model as model_step

    stats = model_step(_config())
    return {"tables": stats.tables, "audits": stats.audits}


@task(pool=WAREHOUSE_POOL, outlets=[REPORT_ASSET])
def report(planned: dict[str, Any], _modelled: dict[str, Any]) -> dict[str, Any]:
    """Render the week's report, CSV and owner digests."""
    from airflow.sdk.configuration import conf

    from overlap import orchestration as orch
    from overlap.pipeline import report as report_step

    config = _config()
    run_plan = orch.read_plan(planned["plan"])
    paths = report_step(config, run_plan.weeks)
    html: dict[str, Any] = {w.isoformat(): str(p.html) for w, p in sorted(paths.items())}
    index = orch.write_digest_index(config, run_plan.run_id,
                                    {w: p.digests for w, p in paths.items()})
    get_current_context()["outlet_events"][REPORT_ASSET].extra = {"html": html}
    base_url = conf.get("api", "base_url", fallback="") or ""
    urls = [orch.report_url(config, p.html, base_url) for _, p in sorted(paths.items())]
    for path, url in zip(html.values(), urls, strict=True):
        print(f"report: {path}  (in Airflow: {url})")
    return {"html": html, "digests": str(index), "url": urls[-1] if urls else ""}


@task(pool=WAREHOUSE_POOL, trigger_rule="all_done_min_one_success")
def finish(planned: dict[str, Any]) -> str:
    """Close the run row: succeeded, partial (mailboxes failed) or failed (a step failed)."""
    from overlap import orchestration as orch
    from overlap.pipeline import finish as finish_step

    ti = get_current_context()["ti"]
    error = None
    for step in ("load", "model", "report"):
        if ti.xcom_pull(task_ids=step) is None:
            error = f"{step} did not succeed (see its Airflow log)"
            break
    run_plan, outcomes = orch.collect_outcomes(planned["plan"])
    return finish_step(_config(), run_plan, outcomes, error=error)


@task(pool=WAREHOUSE_POOL, outlets=[WAREHOUSE_ASSET])
def publish(_report: dict[str, Any], status: str) -> dict[str, Any]:
    """Replace the analysts' read-only snapshot and the Parquet marts."""
    from overlap.pipeline import publish as publish_step

    config = _config()
    key = _get_connection("overlap_pseudonym")  # [publish] pseudonymise's key (docs/privacy.md)
    publish_step(config, pseudonym_key=key.password if key is not None else None)
    get_current_context()["outlet_events"][WAREHOUSE_ASSET].extra = {
        "snapshot": str(config.snapshot), "status": status}
    return {"snapshot": str(config.snapshot), "status": status}


@task(pool="default_pool")
def email_digests(report_out: dict[str, Any], _published: dict[str, Any]) -> dict[str, Any]:
    """Mail each account owner their digest through the SMTP connection (off without it)."""
    import os as _os
    from pathlib import Path

    from overlap import digests as dig
    from overlap.fileio import read_json

    conn_id = _os.environ.get(dig.SMTP_CONN_ENV, dig.DEFAULT_SMTP_CONN_ID)
    conn = _get_connection(conn_id)
    if conn is None:
        print(f"owner digests by email are off (no Airflow connection {conn_id!r})")
        return {"enabled": False, "sent": 0}
    config = _config()
    index = Path(report_out["digests"])
    digests = read_json(index)
    counts = dig.send_digests(digests, dig.SmtpSettings.from_connection(conn),
                               title=config.title,
                               state_file=config.out_dir / ".digests-sent.json")
    return {"enabled": True, **counts}


@dag(
    dag_id="overlap_weekly",
    schedule=(None if SCHEDULE.lower() in ("", "none")
              else CronDataIntervalTimetable(SCHEDULE, timezone=TIMEZONE)),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["overlap", "weekly"],
    default_args=DEFAULT_ARGS,
    # Types admit null, so the form marks no field required (empty means all), and values are
    # checked by the plan task, whose errors name the field (JSON-schema errors read poorly).
    params={
        "week_start": Param(None, type=["null", "string"], title="Week",
                            description="Any day of the week to report (2026-11-18) or an ISO"
                                        " week (2026-W47). Empty: the week that ended before"
                                        " this run."),
        "mailboxes": Param(None, type=["array", "null"], items={"type": "string"},
                           title="Only these mailboxes",
                           description="One address per line; empty: every mailbox."),
        "sources": Param(None, type=["array", "null"], items={"type": "string"},
                         title="Only these sources",
                         description="Source names from overlap.toml, one per line; empty:"
                                     " every source."),
        "crm_as_of": Param(None, type=["null", "string"], title="CRM exported at",
                           description="When the CRM files were exported (rule 10): a date"
                                       " (2026-11-18) or an ISO timestamp with offset. Empty:"
                                       " the time of the load, never the week's date."),
    },
)
def overlap_weekly() -> None:
    # Calling a task returns an XComArg that stands for its result at run time; typed Any
    # because the task functions are typed by what they receive then.
    planned: Any = plan()
    extracts = [extract_task(g).expand(chunk=chunks_task(g)(planned)) for g in EXTRACT_GROUPS]
    loaded: Any = load(planned)
    for extracted in extracts:
        extracted >> loaded
    modelled: Any = model(loaded)
    reported: Any = report(planned, modelled)
    reported.operator.operator_extra_links = [ReportLink()]
    status: Any = finish(planned)
    reported >> status
    published: Any = publish(reported, status)
    email_digests(reported, published)


overlap_weekly()
