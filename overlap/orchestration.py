"""Plan, weeks and chunks for the Airflow DAG (dags/overlap_weekly.py); no Airflow import.

The DAG stays thin: each task calls one pipeline step, and what lies around it lives here so
it can be unit-tested without Airflow — where the config is, which week a run covers, how the
plan is chunked for dynamic task mapping (one extract group per kind group of the source
registry, overlap/sources.py), and which extract failures deserve a retry. Credentials from
Airflow connections are in overlap/connections.py, the SMTP digest sender in
overlap/digests.py.

What passes between tasks over XCom is small: paths, counts, labels. The plan and each
extract's outcome are JSON files in a per-run folder under the staging directory, keyed by
source and mailbox (never by map index), so a cleared and rerun task overwrites its own file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from overlap.config import Config
from overlap.errors import InputError
from overlap.fileio import read_json, write_json
from overlap.pipeline import ExtractOutcome, ExtractTask, RunPlan
from overlap.sources import EXTRACT_GROUPS, GROUPS_ENV, KINDS, group_of
from overlap.staging import safe_component
from overlap.weeks import iso_week_label, last_full_week, monday_of, parse_week

CONFIG_ENV = "OVERLAP_CONFIG"
CONFIG_VARIABLE = "overlap_config"  # Airflow Variable used when the env var is not set

# Up to this many extracts, one mapped task instance per source × mailbox; beyond it the
# extracts are packed into at most this many chunks (the scheduler slows with thousands of
# mapped instances, and [core] max_map_length is 1024).
MAX_MAPPED = int(os.environ.get("OVERLAP_MAX_MAPPED", "256"))

# Where the Airflow api-server serves report.out_dir, read-only, to logged-in users with read
# access to the DAG (plugins/overlap_reports.py); the report task's "Report" link points here.
REPORTS_URL_PREFIX = "/overlap-reports"


# --- config and weeks --------------------------------------------------------------------------

def config_path(variable_get: Callable[[str], str | None] | None = None) -> Path:
    """The overlap.toml a task works on: $OVERLAP_CONFIG, else the Airflow Variable
    ``overlap_config``. Called inside tasks only (never at DAG parse time)."""
    raw = os.environ.get(CONFIG_ENV)
    if not raw and variable_get is not None:
        raw = variable_get(CONFIG_VARIABLE)
    if not raw:
        raise InputError(f"set {CONFIG_ENV} (or the Airflow Variable {CONFIG_VARIABLE}) to the"
                         " path of overlap.toml", field=CONFIG_ENV)
    return Path(raw)


# The trigger form's fields (dags/overlap_weekly.py params) by key: errors name the title the
# operator sees, not a CLI flag or a JSON-schema path.
FORM_FIELDS = {"week_start": "Week", "mailboxes": "Only these mailboxes",
               "sources": "Only these sources", "crm_as_of": "CRM exported at"}


def form_error(key: str, message: str) -> InputError:
    return InputError(f'trigger form field "{FORM_FIELDS[key]}" ({key}): {message}')


def parse_week_param(text: str) -> date:
    """The trigger form's week: any day of it (``2026-11-18``) or an ISO week (``2026-W47``)
    → its Monday. Bad input raises an InputError naming the form field."""
    raw = text.strip()
    try:
        return monday_of(date.fromisoformat(raw))
    except ValueError:
        pass
    try:
        return parse_week(raw)
    except InputError as exc:
        raise form_error("week_start", f"{exc.message}; give any day of the week (2026-11-18)"
                         " or an ISO week (2026-W47)") from None


def resolve_weeks(week_start: str | None, *, data_interval_start: datetime | None,
                  data_interval_end: datetime | None, run_after: datetime | None,
                  tz: ZoneInfo) -> list[date]:
    """The week a run covers: the ``week_start`` param (any day of the week, or ``2026-W47``),
    else the last week fully ended at the end of the data interval (a scheduled run on Monday
    06:00 covers the week that just ended; a backfill run the week of its interval), else — a
    manual run without logical date has no data interval — the last full week before
    ``run_after``."""
    if week_start and str(week_start).strip():
        return [parse_week_param(str(week_start))]
    if (data_interval_start is not None and data_interval_end is not None
            and data_interval_end > data_interval_start):
        return [last_full_week(data_interval_end, tz)]
    if run_after is None:
        raise InputError("the run has neither week_start, a data interval nor run_after",
                         field="week_start")
    return [last_full_week(run_after, tz)]


def run_label(weeks: Iterable[date]) -> str:
    """What the Airflow UI shows as a run's note: the ISO week(s) it reports."""
    days = sorted(weeks)
    if not days:
        return ""
    first, last = days[0], days[-1] + timedelta(days=6)
    labels = ", ".join(iso_week_label(w) for w in days)
    return f"Week {labels} ({first:%a %d %b} – {last:%a %d %b %Y})"


def check_crm_as_of(text: str | None, tz: ZoneInfo) -> str | None:
    """The trigger form's CRM stamp (rule 10) as an ISO timestamp, or None: the load stamps
    the CRM with its own time (never the week's, so a backfill does not restamp today's CRM
    with an old date)."""
    from overlap.crm import parse_moment

    if text is None or not str(text).strip():
        return None
    moment = parse_moment(str(text), tz)
    if moment is None:
        raise form_error("crm_as_of", f"{text!r} is not a date (2026-11-18) or an ISO timestamp"
                                      " with an offset (2026-11-18T09:00:00+01:00)")
    return moment.isoformat()


def check_sources(config: Config, wanted: Iterable[str] | None) -> list[str] | None:
    """The trigger form's source names, checked against the config (None: every source)."""
    names = [str(n).strip() for n in wanted or () if str(n).strip()]
    if not names:
        return None
    known = {s.name for s in config.sources}
    unknown = sorted(set(names) - known)
    if unknown:
        raise form_error("sources", f"no source named {', '.join(map(repr, unknown))} in"
                         f" {config.path.name} (its sources: {', '.join(sorted(known))})")
    return names


def check_mailbox_params(wanted: Iterable[str] | None) -> list[str] | None:
    """The trigger form's mailboxes as normalized addresses (None: every mailbox)."""
    from connectors.addresses import normalize_address

    out: list[str] = []
    for raw in wanted or ():
        if not str(raw).strip():
            continue
        address = normalize_address(str(raw))
        if address is None:
            raise form_error("mailboxes", f"{str(raw).strip()!r} is not an email address"
                             " (one address per line)")
        out.append(address)
    return out or None


def check_mailboxes(plan: RunPlan, wanted: Iterable[str] | None) -> None:
    """A mailbox asked for in the trigger form that no source has is a typo: say so."""
    if not wanted:
        return
    have = {t.mailbox for t in plan.tasks}
    missing = sorted({m.strip().lower() for m in wanted} - have)
    if missing:
        raise form_error("mailboxes", f"no source has mailbox(es) {', '.join(missing)}")


# --- the plan on disk, chunks for mapping -----------------------------------------------------

def run_dir(config: Config, run_id: str) -> Path:
    return config.staging_dir / "_airflow_runs" / safe_component(run_id)


def write_plan(config: Config, plan: RunPlan) -> Path:
    folder = run_dir(config, plan.run_id)
    (folder / "outcomes").mkdir(parents=True, exist_ok=True)
    path = folder / "plan.json"
    write_json(path, plan.to_json())
    return path


def read_plan(path: str | Path) -> RunPlan:
    return RunPlan.from_json(read_json(Path(path)))


def chunk_label(tasks: list[ExtractTask]) -> str:
    """What the Airflow UI shows for a mapped extract: the mailbox, or first..last (n)."""
    if len(tasks) == 1:
        return tasks[0].label if KINDS[tasks[0].kind].is_file_kind else tasks[0].mailbox
    return f"{tasks[0].mailbox}..{tasks[-1].mailbox} ({len(tasks)})"


def chunks(plan: RunPlan, plan_path: Path, max_mapped: int = MAX_MAPPED,
           groups: Iterable[str] = EXTRACT_GROUPS) -> dict[str, list[dict[str, Any]]]:
    """Per extract group, the list of mapped-task arguments: {plan, indexes, label}.

    One extract per mapped instance up to ``max_mapped``; beyond it contiguous chunks of
    ceil(n / max_mapped) extracts of the same mailbox order (so labels read as ranges).
    ``groups`` are the extract groups the DAG has; a planned extract of another group is an
    InputError (the DAG would never run it)."""
    by_group: dict[str, list[int]] = {g: [] for g in groups}
    for i, t in enumerate(plan.tasks):
        group = group_of(t.kind)
        if group not in by_group:
            raise InputError(f"source {t.source!r} ({t.kind}) needs the extract group {group!r},"
                             f" which {GROUPS_ENV} leaves out of the DAG", field=GROUPS_ENV)
        by_group[group].append(i)
    out: dict[str, list[dict[str, Any]]] = {}
    for group, idx in by_group.items():
        idx.sort(key=lambda i: (plan.tasks[i].mailbox, plan.tasks[i].source))
        size = max(1, math.ceil(len(idx) / max(1, max_mapped)))
        out[group] = [
            {"plan": str(plan_path), "indexes": part,
             "label": chunk_label([plan.tasks[i] for i in part])}
            for part in (idx[k:k + size] for k in range(0, len(idx), size))
        ]
    return out


def write_chunks(plan: RunPlan, plan_path: Path, max_mapped: int = MAX_MAPPED,
                 groups: Iterable[str] = EXTRACT_GROUPS) -> dict[str, list[dict[str, Any]]]:
    """Write the chunks beside the plan (the DAG maps each group's list) and return them."""
    out = chunks(plan, plan_path, max_mapped, groups)
    write_json(plan_path.with_name("chunks.json"), out)
    return out


def read_chunks(plan_path: str | Path, group: str) -> list[dict[str, Any]]:
    data = read_json(Path(plan_path).with_name("chunks.json"))
    return list(data.get(group, []))


def outcome_path(config_or_dir: Config | Path, plan: RunPlan, task: ExtractTask) -> Path:
    folder = (run_dir(config_or_dir, plan.run_id) if isinstance(config_or_dir, Config)
              else config_or_dir)
    name = f"{safe_component(task.source)}__{safe_component(task.mailbox)}.json"
    return folder / "outcomes" / name


class TransientExtractError(Exception):
    """Raised by an extract task so Airflow retries it later with exponential backoff."""


@dataclass
class ChunkResult:
    extracts: int = 0
    failed: int = 0
    emails: int = 0
    meetings: int = 0
    quarantined: int = 0

    def as_xcom(self, label: str) -> dict[str, Any]:
        return {"label": label, "extracts": self.extracts, "failed": self.failed,
                "emails": self.emails, "meetings": self.meetings,
                "quarantined": self.quarantined}


def extract_chunk(chunk: Mapping[str, Any], *, final_try: bool,
                  credentials: Callable[[ExtractTask], Any],
                  extract: Callable[[ExtractTask, Any], ExtractOutcome] | None = None,
                  log: Callable[[str], None] = print) -> ChunkResult:
    """Extract every source × mailbox of a chunk and write each outcome beside the plan.

    A mailbox that fails is recorded as failed (the run goes on, the report states the gap).
    A transient failure raises :class:`TransientExtractError` instead unless this is the last
    try, so Airflow retries the chunk later (staged files are keyed by mailbox and window: a
    retry overwrites them)."""
    from overlap.pipeline import extract as pipeline_extract

    run_extract = extract or pipeline_extract
    plan_path = Path(chunk["plan"])
    plan = read_plan(plan_path)
    folder = plan_path.parent
    result = ChunkResult()
    transient: list[str] = []
    for i in chunk["indexes"]:
        task = plan.tasks[i]
        try:
            creds = credentials(task)
        except InputError as exc:
            outcome = ExtractOutcome(task, None, f"InputError: {exc}")
        else:
            outcome = run_extract(task, creds)
        if outcome.error and outcome.transient and not final_try:
            transient.append(f"{task.label}: {outcome.error}")
            continue
        write_json(outcome_path(folder, plan, task), outcome.to_json())
        result.extracts += 1
        result.emails += outcome.emails
        result.meetings += outcome.meetings
        result.quarantined += outcome.quarantined
        if outcome.error:
            result.failed += 1
            log(f"{task.label}: FAILED {outcome.error}")
        else:
            log(f"{task.label}: {outcome.emails} emails, {outcome.meetings} meetings,"
                f" {outcome.quarantined} quarantined")
    if transient:
        raise TransientExtractError("; ".join(transient))
    return result


def collect_outcomes(plan_path: str | Path) -> tuple[RunPlan, list[ExtractOutcome]]:
    """Every planned extract's outcome; one whose extract task never wrote it (the task
    failed or was not run) counts as a failed mailbox, so the report states the gap."""
    plan = read_plan(plan_path)
    folder = Path(plan_path).parent
    outcomes = []
    for task in plan.tasks:
        path = outcome_path(folder, plan, task)
        if path.exists():
            outcomes.append(ExtractOutcome.from_json(read_json(path)))
        else:
            outcomes.append(ExtractOutcome(task, None, "extract task did not finish"
                                           " (see its Airflow log)"))
    return plan, outcomes


def require_plan(planned: Mapping[str, Any] | None, step: str) -> Mapping[str, Any]:
    """The plan task's XCom for a task that runs whatever its upstream did (trigger rule
    all_done): when the plan failed there is nothing to do, and retrying will not change it."""
    if not planned or "plan" not in planned:
        raise InputError(f"{step}: the plan task did not succeed (its log says why); nothing to"
                         f" {step}")
    return planned


def report_url(config: Config, html: Path, base_url: str = "") -> str:
    """The report's address in the Airflow web server (``base_url`` = [api] base_url)."""
    from urllib.parse import quote

    rel = Path(html).resolve().relative_to(config.out_dir.resolve()).as_posix()
    return f"{base_url.rstrip('/')}{REPORTS_URL_PREFIX}/{quote(rel)}"


# --- small utilities ---------------------------------------------------------------------------

def write_digest_index(config: Config, run_id: str,
                       digests: Mapping[date, Mapping[str, Path]]) -> Path:
    """Write the run's digest index (week → owner → digest HTML path) for the email task."""
    path = run_dir(config, run_id) / "digests.json"
    write_json(path, {w.isoformat(): {o: str(p) for o, p in owners.items()}
                      for w, owners in sorted(digests.items())})
    return path
