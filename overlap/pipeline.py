"""Pipeline steps: plan → extract → load → model → report → publish.

Each step is a function the CLI and the Airflow DAG call the same way. Extract workers never
touch DuckDB; only ``load`` and ``model`` write the warehouse, inside one connection that this
module opens after extraction (a DuckDB file has a single writer, and forking a process that
holds a connection is unsafe).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from connectors.records import Window
from overlap import sqlrunner, warehouse
from overlap.config import FILE_KINDS, Config, Source
from overlap.crm import CrmSnapshot, load_crm
from overlap.errors import InputError
from overlap.staging import StagedExtract, write_staged
from overlap.weeks import iso_week_label, weeks_window

if TYPE_CHECKING:
    from reports.render import ReportPaths

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class ExtractTask:
    """One unit of extract work: a source × mailbox × window. Keys, never task numbers."""

    source: str
    kind: str
    mailbox: str
    path: Path | None
    window: Window
    subjects: str
    staging_dir: Path

    @property
    def label(self) -> str:
        return f"{self.source} {self.mailbox}"


@dataclass(frozen=True)
class ExtractOutcome:
    task: ExtractTask
    staged: StagedExtract | None
    error: str | None = None


@dataclass
class RunResult:
    run_id: str
    weeks: list[date]
    reports: dict[date, ReportPaths] = field(default_factory=dict)
    extracts: int = 0
    failed: list[str] = field(default_factory=list)
    emails: int = 0
    meetings: int = 0
    quarantined: int = 0


def plan(config: Config, window: Window, sources: list[str] | None = None,
         mailboxes: list[str] | None = None) -> list[ExtractTask]:
    """Every source × mailbox to extract for ``window`` (optionally a subset)."""
    from connectors.files import mailbox_folders

    tasks: list[ExtractTask] = []
    wanted_sources = set(sources) if sources else None
    wanted_mailboxes = {m.lower() for m in mailboxes} if mailboxes else None
    for src in config.sources:
        if wanted_sources is not None and src.name not in wanted_sources:
            continue
        for mailbox, path in _mailboxes(src, mailbox_folders):
            if wanted_mailboxes is not None and mailbox not in wanted_mailboxes:
                continue
            tasks.append(ExtractTask(src.name, src.kind, mailbox, path, window,
                                     config.rules.subjects, config.staging_dir))
    return tasks


def _mailboxes(src: Source, mailbox_folders: Callable[[Path], list[tuple[str, Path]]]
               ) -> list[tuple[str, Path | None]]:
    if src.kind in FILE_KINDS:
        assert src.path is not None
        if not src.path.is_dir():
            raise InputError(f"source {src.name!r}: folder not found: {src.path}", field="path")
        return list(mailbox_folders(src.path))
    raise InputError(
        f"source {src.name!r}: kind {src.kind!r} needs its API connector, which this version"
        " does not include yet; use a file export (maildir, mbox, eml, ics)",
        field="kind",
    )


def extract(task: ExtractTask) -> ExtractOutcome:
    """Run one extract into staging. Never raises: a failure is reported, not fatal."""
    from connectors.files import extract as extract_files

    try:
        assert task.path is not None
        records = extract_files(task.kind, task.path, task.mailbox, task.window,
                                source=task.source)
        staged = write_staged(records, staging_dir=task.staging_dir, source=task.source,
                              source_kind=task.kind, mailbox=task.mailbox, window=task.window,
                              subjects=task.subjects)
        return ExtractOutcome(task, staged)
    except Exception as exc:  # one broken mailbox must not stop the run
        return ExtractOutcome(task, None, f"{type(exc).__name__}: {exc}")


def extract_all(tasks: list[ExtractTask], *, workers: int | None = None,
                progress: Progress = _quiet) -> list[ExtractOutcome]:
    """Extract in parallel processes (one mailbox per process), reporting progress."""
    workers = workers or min(len(tasks), os.cpu_count() or 1)
    outcomes: list[ExtractOutcome] = []

    def done(outcome: ExtractOutcome) -> None:
        outcomes.append(outcome)
        n = f"[extract {len(outcomes)}/{len(tasks)}]"
        if outcome.staged is None:
            progress(f"{n} {outcome.task.label}: FAILED {outcome.error}")
        else:
            s = outcome.staged
            progress(f"{n} {outcome.task.label}: {s.emails:,} emails, {s.meetings:,} meetings,"
                     f" {s.quarantined:,} quarantined")

    if workers <= 1:
        for task in tasks:
            done(extract(task))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for future in as_completed([pool.submit(extract, t) for t in tasks]):
                done(future.result())
    # Deterministic order for loading, whatever order the workers finished in.
    outcomes.sort(key=lambda o: (o.task.source, o.task.mailbox))
    return outcomes


def new_run_id(now: datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def run(config: Config, weeks: list[date], *, progress: Progress = _quiet,
        workers: int | None = None, now: datetime | None = None) -> RunResult:
    """The whole job for ``weeks``: extract (with dormant_days of history), load, model,
    report every week, publish. Bad input raises InputError before anything is written."""
    started = datetime.now(UTC)
    now = now or started
    crm = load_crm(config)
    progress(f"CRM: {crm.counts.get('accounts', 0):,} accounts, {crm.counts.get('reps', 0):,}"
             f" reps, {crm.counts.get('contacts', 0):,} contacts")
    window = weeks_window(weeks, config.tz, history_days=config.rules.dormant_days)
    tasks = plan(config, window)
    progress(f"window {window.start:%Y-%m-%d} .. {window.end:%Y-%m-%d} (UTC), "
             f"{len(tasks)} source × mailbox extracts")
    outcomes = extract_all(tasks, workers=workers, progress=progress)
    result = RunResult(run_id=new_run_id(started), weeks=weeks, extracts=len(tasks))
    failures = []
    staged = []
    for o in outcomes:
        if o.staged is None:
            result.failed.append(f"{o.task.label}: {o.error}")
            failures.append(warehouse.ExtractFailure(
                o.task.source, o.task.kind, o.task.mailbox, window.start, window.end,
                "failed", o.error or "unknown error"))
        else:
            staged.append(o.staged)
            result.emails += o.staged.emails
            result.meetings += o.staged.meetings
            result.quarantined += o.staged.quarantined
    con = warehouse.connect(config.warehouse)
    try:
        progress("load: one transaction")
        load_step(con, config, crm, staged, failures, result.run_id, started, window)
        progress("model: rules 1-9 and audits")
        model_step(con, config)
        for week in weeks:
            paths = report_step(con, config, week, generated_at=now)
            result.reports[week] = paths
            progress(f"report {iso_week_label(week)}: {paths.html}")
        warehouse.finish_run(con, result.run_id,
                             "succeeded" if not failures else "partial",
                             f"{len(failures)} extract(s) failed" if failures else None)
        con.execute("checkpoint")
    except BaseException as exc:
        try:
            warehouse.finish_run(con, result.run_id, "failed", f"{type(exc).__name__}: {exc}")
        except Exception:  # noqa: S110 - the original error matters more
            pass
        raise
    finally:
        con.close()
    publish_step(config)
    progress(f"snapshot for analysts: {config.snapshot}")
    return result


def load_step(con: duckdb.DuckDBPyConnection, config: Config, crm: CrmSnapshot,
              staged: list[StagedExtract], failures: list[warehouse.ExtractFailure], run_id: str, started: datetime,
              window: Window) -> None:
    warehouse.load(con, run_id=run_id, started_at=started, window_start=window.start,
                   window_end=window.end, crm=crm, staged=staged, failures=failures)


def model_step(con: duckdb.DuckDBPyConnection, config: Config) -> None:
    sqlrunner.build(con, sqlrunner.params_from_config(config))


def report_step(con: duckdb.DuckDBPyConnection, config: Config, week: date, *,
                generated_at: datetime) -> ReportPaths:
    from reports.render import render_week

    return render_week(con, week, config.out_dir, generated_at=generated_at,
                       title=config.title, subjects=config.rules.subjects == "keep",
                       timezone=config.timezone)


def publish_step(config: Config) -> None:
    warehouse.publish(config.warehouse, config.snapshot, config.out_dir / "marts")


def report_only(config: Config, weeks: list[date], *, now: datetime | None = None
                ) -> dict[date, ReportPaths]:
    """Re-render reports from the warehouse without extracting (``overlap report``)."""
    if not config.warehouse.exists():
        raise InputError("no warehouse yet: run `overlap run` first", file=str(config.warehouse))
    con = warehouse.connect(config.warehouse)
    try:
        return {w: report_step(con, config, w, generated_at=now or datetime.now(UTC))
                for w in weeks}
    finally:
        con.close()


