"""
# overlap_forget — erase people from Overlap (GDPR Art. 17)

Manual runs only. Trigger with **Addresses** (one or more, comma- or line-separated) and
**Dry run** (default on: the task log says what would change, nothing changes). It does what
`overlap forget --config … ADDRESS…` does (docs/privacy.md): removes the addresses from the
warehouse (raw copies' participants, quarantine, frozen weekly rows; the model rebuilt without
them, in one transaction), rewrites the staged Parquet, re-renders the reports and digests
that named them, and republishes the analyst snapshot and marts. The `runs` view gets a row
(scope `forget`) with the counts, never the addresses; the task log and XCom carry counts only.

* The config is `$OVERLAP_CONFIG` (or the Variable `overlap_config`), read inside the task.
* It takes the `overlap_warehouse` pool (one slot): it never runs beside a weekly run's
  load, model, report or publish.
* A pseudonymised snapshot (`[publish] pseudonymise`) takes its key from the connection
  `overlap_pseudonym` (password) or the environment, as the weekly DAG's publish does.
* CRM rows are the CRM's business: a warning in the log says when an address is still listed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task

from overlap.sources import WAREHOUSE_POOL


@task(pool=WAREHOUSE_POOL, retries=0)
def forget() -> dict[str, Any]:
    """Erase the addresses of the trigger form (or count what would change)."""
    import logging
    import re

    from airflow.sdk import Variable

    from overlap.config import load_config
    from overlap.errors import InputError
    from overlap.orchestration import config_path
    from overlap.privacy.forget import forget as forget_step

    params = get_current_context()["params"]
    addresses = [a for a in re.split(r"[\s,;]+", str(params.get("addresses") or "")) if a]
    if not addresses:
        raise InputError("give at least one address", field="addresses")
    config = load_config(config_path(lambda key: Variable.get(key, default=None)))
    done = forget_step(config, addresses, dry_run=bool(params.get("dry_run", True)),
                       pseudonym_key=_pseudonym_key())
    log = logging.getLogger(__name__)
    for line in done.warnings:
        log.warning(line)
    return {"dry_run": done.dry_run, "copies": done.copies, "emails": done.emails,
            "meetings": done.meetings, "quarantined": done.quarantined,
            "frozen_weekly": done.frozen_weekly, "staged_files": len(done.staged_files),
            "report_files": len(done.reports), "weeks": [w.isoformat() for w in done.weeks]}


def _pseudonym_key() -> str | None:
    """The password of the connection ``overlap_pseudonym``, if it exists."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return Connection.get("overlap_pseudonym").password or None
    except AirflowNotFoundException:
        return None


@dag(
    dag_id="overlap_forget",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["overlap", "privacy"],
    default_args={"owner": "overlap-platform"},
    params={
        "addresses": Param("", type="string", title="Addresses",
                           description="one or more addresses, comma- or line-separated"),
        "dry_run": Param(True, type="boolean", title="Dry run",
                         description="only say what would change"),
    },
)
def overlap_forget() -> None:
    forget()


overlap_forget()
