"""Pipeline steps: plan → extract → load → model → report → finish → publish.

Each step is a function the CLI (``run`` composes them) and the Airflow DAG (one task per
step) call the same way; what passes between steps is small and JSON-serialisable (a plan of
source × mailbox tasks, manifest paths, counts), never data. Extract workers never touch
DuckDB; only ``load`` and ``model`` write the warehouse (a DuckDB file has a single writer).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from connectors.api import SyncRequest
from connectors.records import Record, Window
from overlap import fileio, runlock, sqlrunner, warehouse
from overlap.config import Config, Source
from overlap.crashpoints import crash_point
from overlap.crm import CrmSnapshot, load_crm
from overlap.errors import DiskFull, InputError
from overlap.privacy import retention
from overlap.sources import KINDS
from overlap.staging import StagedExtract, read_manifest, write_staged
from overlap.weeks import iso_week_label, weeks_window

if TYPE_CHECKING:
    from reports.render import ReportPaths

Progress = Callable[[str], None]

# API source kinds → the module implementing ``sync(SyncRequest) -> SyncResult``.
API_CONNECTORS = {k: s.connector for k, s in KINDS.items() if not s.is_file_kind}


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class ExtractTask:
    """One unit of extract work: a source × mailbox × window. Keyed by names, never by a
    task number, so a retried or rerun task writes the same staged files."""

    source: str
    kind: str
    mailbox: str
    path: str | None  # file sources: the mailbox folder
    window_start: datetime
    window_end: datetime
    subjects: str
    staging_dir: str
    cursor: str | None = None  # API sources: the stored cursor when it covers the window
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def window(self) -> Window:
        return Window(self.window_start, self.window_end)

    @property
    def label(self) -> str:
        return f"{self.source} {self.mailbox}"

    def to_json(self) -> dict[str, Any]:
        return fileio.to_json(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ExtractTask:
        return fileio.from_json(cls, d)


@dataclass(frozen=True)
class ExtractOutcome:
    """What an extract left: the manifest of its staged files, or why it failed."""

    task: ExtractTask
    manifest: str | None
    error: str | None = None
    emails: int = 0
    meetings: int = 0
    quarantined: int = 0
    transient: bool = False  # the failure may pass on a retry (rate limit, 5xx, network)

    def to_json(self) -> dict[str, Any]:
        return fileio.to_json(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ExtractOutcome:
        return fileio.from_json(cls, d)


@dataclass(frozen=True)
class RunPlan:
    run_id: str
    started_at: datetime
    weeks: list[date]
    window_start: datetime
    window_end: datetime
    tasks: list[ExtractTask]

    def to_json(self) -> dict[str, Any]:
        return fileio.to_json(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunPlan:
        return fileio.from_json(cls, d)


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


# --- plan ------------------------------------------------------------------------------------

def new_run_id(now: datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def active_reps(crm: CrmSnapshot) -> list[str]:
    reps = crm.tables["crm_reps"]
    emails = reps.column("email").to_pylist()
    active = reps.column("active").to_pylist()
    return sorted(e for e, a in zip(emails, active, strict=True) if a is not False)


def _api_mailboxes(src: Source, crm: CrmSnapshot) -> list[str]:
    from connectors.addresses import normalize_address

    listed = src.options.get("mailboxes")
    if listed is None:
        return active_reps(crm)  # default: every active rep's mailbox
    if not isinstance(listed, list):
        raise InputError(f"source {src.name!r}: mailboxes must be a list of addresses",
                         field="mailboxes")
    out = []
    for raw in listed:
        address = normalize_address(str(raw))
        if address is None:
            raise InputError(f"source {src.name!r}: not an address: {raw!r}", field="mailboxes")
        out.append(address)
    return sorted(set(out))


def plan(config: Config, window: Window, crm: CrmSnapshot, *,
         sources: list[str] | None = None, mailboxes: list[str] | None = None,
         cursors: dict[tuple[str, str], tuple[str, datetime, datetime]] | None = None,
         ) -> list[ExtractTask]:
    """Every source × mailbox to extract for ``window`` (optionally a subset).

    An API source's stored cursor is used only when its data covers the window's start and
    the window does not end before it (a backfill of past weeks is a full window sync)."""
    from connectors.files import mailbox_folders

    known = {s.name for s in config.sources}
    for name in sources or ():
        if name not in known:
            raise InputError(f"unknown source {name!r} (known: {', '.join(sorted(known))})",
                             field="sources")
    wanted_mailboxes = {m.strip().lower() for m in mailboxes} if mailboxes else None
    cursors = cursors or {}
    tasks: list[ExtractTask] = []
    for src in config.sources:
        if sources and src.name not in sources:
            continue
        if KINDS[src.kind].is_file_kind:
            assert src.path is not None
            if not src.path.is_dir():
                raise InputError(f"source {src.name!r}: folder not found: {src.path}",
                                 field="path")
            boxes: list[tuple[str, str | None]] = [
                (m, str(p)) for m, p in mailbox_folders(src.path)]
        elif src.kind in API_CONNECTORS:
            boxes = [(m, None) for m in _api_mailboxes(src, crm)]
        else:  # pragma: no cover - config validates kinds
            raise InputError(f"unknown source kind {src.kind!r}", field="kind")
        for mailbox, path in boxes:
            if wanted_mailboxes is not None and mailbox not in wanted_mailboxes:
                continue
            cursor = None
            stored = cursors.get((src.name, mailbox))
            if stored is not None and stored[1] <= window.start and stored[2] <= window.end:
                cursor = stored[0]
            tasks.append(ExtractTask(src.name, src.kind, mailbox, path, window.start,
                                     window.end, config.rules.subjects, str(config.staging_dir),
                                     cursor, dict(src.options)))
    return tasks


def start_run(config: Config, weeks: list[date], *, sources: list[str] | None = None,
              mailboxes: list[str] | None = None, now: datetime | None = None,
              crm: CrmSnapshot | None = None) -> RunPlan:
    """Validate the CRM, read the cursors and plan the extracts. Writes nothing."""
    started = now or datetime.now(UTC)
    crm = crm or load_crm(config)
    window = weeks_window(weeks, config.tz, history_days=config.rules.dormant_days)
    tasks = plan(config, window, crm, sources=sources, mailboxes=mailboxes,
                 cursors=warehouse.read_cursors(config.warehouse))
    return RunPlan(new_run_id(started), started, sorted(weeks), window.start, window.end, tasks)


# --- extract ---------------------------------------------------------------------------------

def extract(task: ExtractTask, credentials: Any = None) -> ExtractOutcome:
    """Run one extract into staging. Never raises: a failure is reported, not fatal."""
    try:
        staged = _extract(task, credentials)
    except Exception as exc:  # one broken mailbox must not stop the run
        full = DiskFull.of(exc, where=Path(task.staging_dir))
        if full is not None:  # … but a full disk stops every mailbox: say so, once
            raise full from exc
        return ExtractOutcome(task, None, f"{type(exc).__name__}: {exc}",
                              transient=is_transient(exc))
    return ExtractOutcome(task, _manifest_path(staged), None, staged.emails, staged.meetings,
                          staged.quarantined)


def is_transient(exc: BaseException) -> bool:
    """Whether a failed extract is worth retrying later: what the connectors classify as
    transient (after their own retries ran out), and network-level failures."""
    from connectors.api import AuthError, CursorExpired, SourceError
    from connectors.retry import Transient

    if isinstance(exc, AuthError | CursorExpired):
        return False
    if isinstance(exc, SourceError):
        return exc.transient
    return isinstance(exc, Transient | ConnectionError | TimeoutError) or type(
        exc).__name__ in _NETWORK_ERRORS


# Network failures of the HTTP stacks the connectors use (httplib2, requests, urllib3),
# matched by name so this module need not import them.
_NETWORK_ERRORS = frozenset({"RemoteDisconnected", "IncompleteRead", "ServerNotFoundError",
                             "TransportError", "ReadTimeout", "ConnectTimeout", "SSLError",
                             "ProtocolError", "ChunkedEncodingError"})


def _manifest_path(staged: StagedExtract) -> str:
    return staged.copies_path.removesuffix(".copies.parquet") + ".manifest.json"


def _extract(task: ExtractTask, credentials: Any) -> StagedExtract:
    if KINDS[task.kind].is_file_kind:
        from connectors.files import extract as extract_files

        assert task.path is not None
        records = extract_files(task.kind, Path(task.path), task.mailbox, task.window,
                                source=task.source)
        return _stage(task, records)
    module = importlib.import_module(API_CONNECTORS[task.kind])
    result = module.sync(SyncRequest(
        source=task.source, source_kind=task.kind, mailbox=task.mailbox, window=task.window,
        cursor=task.cursor, subjects=task.subjects != "drop", options=task.options,
        credentials=credentials))
    incremental = result.mode == "incremental"
    return _stage(task, result.records, cursor=result.cursor, mode=result.mode,
                  removed=result.removed, cursor_in=task.cursor if incremental else None,
                  stats=asdict(result.stats))


def _stage(task: ExtractTask, records: Iterable[Record], **extra: Any) -> StagedExtract:
    return write_staged(records, staging_dir=Path(task.staging_dir), source=task.source,
                        source_kind=task.kind, mailbox=task.mailbox, window=task.window,
                        subjects=task.subjects, **extra)


def extract_all(tasks: list[ExtractTask], *, workers: int | None = None,
                progress: Progress = _quiet) -> list[ExtractOutcome]:
    """Extract in parallel processes (one mailbox per process), reporting progress."""
    workers = workers or min(len(tasks), os.cpu_count() or 1)
    outcomes: list[ExtractOutcome] = []

    def done(outcome: ExtractOutcome) -> None:
        outcomes.append(outcome)
        crash_point("extract:staged")
        n = f"[extract {len(outcomes)}/{len(tasks)}]"
        if outcome.manifest is None:
            progress(f"{n} {outcome.task.label}: FAILED {outcome.error}")
        else:
            progress(f"{n} {outcome.task.label}: {outcome.emails:,} emails,"
                     f" {outcome.meetings:,} meetings, {outcome.quarantined:,} quarantined")

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


# --- load, model, report, finish, publish ----------------------------------------------------

def load(config: Config, run_plan: RunPlan, outcomes: list[ExtractOutcome],
         crm: CrmSnapshot | None = None, crm_as_of: datetime | None = None) -> None:
    """Apply the CRM, every staged extract and its cursor, and the run's bookkeeping, in one
    transaction. Failed extracts are recorded; their mailboxes keep their earlier data.
    The CRM is read again unless the caller validated it already (the CLI's one process)."""
    crm = crm or load_crm(config, crm_as_of)
    staged: list[StagedExtract] = []
    failures: list[warehouse.ExtractFailure] = []
    for o in sorted(outcomes, key=lambda o: (o.task.source, o.task.mailbox)):
        if o.manifest is None:
            failures.append(warehouse.ExtractFailure(
                o.task.source, o.task.kind, o.task.mailbox, o.task.window_start,
                o.task.window_end, "failed", o.error or "unknown error"))
        else:
            staged.append(read_manifest(Path(o.manifest)))
    with writing(config):
        con = warehouse.connect(config.warehouse)
        try:
            warehouse.load(con, run_id=run_plan.run_id, started_at=run_plan.started_at,
                           window_start=run_plan.window_start, window_end=run_plan.window_end,
                           crm=crm, staged=staged, failures=failures, weeks=run_plan.weeks,
                           purge=_retention(config, run_plan.run_id))
            edge = con.execute("select max(edge_at) from retention_state").fetchall()[0][0]
        finally:
            con.close()
        if edge is not None:  # files are no transaction: after the commit, idempotently
            retention.purge_staged(config.staging_dir, edge)


def _retention(config: Config, run_id: str) -> Callable[[duckdb.DuckDBPyConnection], object]:
    """The load's retention step (``[retention] raw_days``; docs/privacy.md)."""
    def purge(con: duckdb.DuckDBPyConnection) -> object:
        return retention.purge(con, config.privacy.raw_days, config.tz, run_id,
                               horizon_days=max(28, config.rules.dormant_days))
    return purge


def model(config: Config, *, full: bool = False) -> sqlrunner.BuildStats:
    """Build the model tables (rules 1-9) and run the audits, in one transaction: only what
    the loads since the last build changed (a full rebuild when the CRM, the rules or the
    model SQL changed, or when ``full``); the result is the same either way."""
    with writing(config):
        con = warehouse.connect(config.warehouse)
        crash_point("model:before")
        try:
            return sqlrunner.build(con, sqlrunner.params_from_config(config),
                                   incremental=not full)
        finally:
            con.close()


def report(config: Config, weeks: list[date], *, now: datetime | None = None,
           progress: Progress = _quiet) -> dict[date, ReportPaths]:
    """Render the weekly report, digests and CSV of every week from the warehouse."""
    if not config.warehouse.exists():
        raise InputError("no warehouse yet: run `overlap run` first", file=str(config.warehouse))
    with writing(config):
        con = warehouse.connect(config.warehouse)
        try:
            return {w: _render(con, config, w, now or datetime.now(UTC), progress)
                    for w in weeks}
        finally:
            con.close()


def _render(con: duckdb.DuckDBPyConnection, config: Config, week: date, now: datetime,
            progress: Progress) -> ReportPaths:
    from reports.render import render_week

    paths = render_week(con, week, config.out_dir, generated_at=now, title=config.title,
                        subjects=config.rules.subjects == "keep", timezone=config.timezone,
                        config_path=str(config.path),
                        min_group=config.privacy.min_group)
    progress(f"report {iso_week_label(week)}: {paths.html}")
    return paths


def finish(config: Config, run_plan: RunPlan, outcomes: list[ExtractOutcome],
           error: str | None = None) -> str:
    """Close the run's row: succeeded, partial (some extracts failed) or failed."""
    failed = sum(1 for o in outcomes if o.manifest is None)
    status = "failed" if error else ("partial" if failed else "succeeded")
    crash_point("finish:before")
    with writing(config):
        con = warehouse.connect(config.warehouse)
        try:
            warehouse.finish_run(con, run_plan.run_id, status,
                                 error or (f"{failed} extract(s) failed" if failed else None))
            con.execute("checkpoint")
        finally:
            con.close()
    return status


def publish(config: Config, *, pseudonym_key: str | None = None) -> None:
    """Replace the analysts' snapshot and the Parquet marts — pseudonymised when
    ``[publish] pseudonymise`` says so (key: ``pseudonym_key`` or the environment)."""
    from overlap.privacy import pseudonymise

    key = pseudonymise.secret(config, pseudonym_key)
    rewrite = None
    if key is not None:
        def rewrite(con: duckdb.DuckDBPyConnection, catalog: str) -> None:
            pseudonymise.apply(con, catalog, config, key)
    with writing(config):
        warehouse.publish(config.warehouse, config.snapshot, config.out_dir / "marts", rewrite)


@contextlib.contextmanager
def writing(config: Config) -> Iterator[None]:
    """Around a step that writes the warehouse (or the files made from it): hold the run lock
    (``overlap.runlock``; WarehouseLocked at once if another process has it), and turn a full
    disk into DiskFull: one line with the path, the space left and at least what is needed."""
    with runlock.hold(config.warehouse):
        try:
            yield
        except Exception as exc:
            full = DiskFull.of(exc)
            if full is None or full is exc:
                raise
            raise DiskFull(full.path, full.free, *_space_needed(config, full.path)) from exc


def _space_needed(config: Config, failed: str) -> tuple[int | None, str]:
    """A lower bound of the space a rerun needs, when the disk that filled up holds the
    analyst snapshot: a whole copy of the warehouse (which only grows while a run writes)."""
    try:
        same_disk = Path(failed).parent.stat().st_dev == config.snapshot.parent.stat().st_dev
        size = config.warehouse.stat().st_size
    except OSError:
        return None, ""
    if not same_disk:
        return None, ""
    return size, ": the analyst snapshot is a copy of the warehouse"


# --- the whole job ---------------------------------------------------------------------------

def run(config: Config, weeks: list[date], *, progress: Progress = _quiet,
        workers: int | None = None, now: datetime | None = None,
        sources: list[str] | None = None, mailboxes: list[str] | None = None,
        crm_as_of: datetime | None = None) -> RunResult:
    """The whole job for ``weeks``: extract (with dormant_days of history), load, model,
    report every week, publish. Bad input raises InputError before anything is written;
    another run holding the warehouse raises WarehouseLocked before anything is read.
    ``crm_as_of`` stamps the CRM snapshot (rule 10; default: now, never the window)."""
    with writing(config):  # held for the whole job; the steps below find it held
        return _run(config, weeks, progress=progress, workers=workers, now=now,
                    sources=sources, mailboxes=mailboxes, crm_as_of=crm_as_of)


def _run(config: Config, weeks: list[date], *, progress: Progress, workers: int | None,
         now: datetime | None, sources: list[str] | None,
         mailboxes: list[str] | None, crm_as_of: datetime | None = None) -> RunResult:
    crm = load_crm(config, crm_as_of)  # validated once, before anything is written
    run_plan = start_run(config, weeks, sources=sources, mailboxes=mailboxes, crm=crm)
    crm_counts = crm.counts
    progress(f"CRM: {crm_counts.get('accounts', 0):,} accounts, {crm_counts.get('reps', 0):,}"
             f" reps, {crm_counts.get('contacts', 0):,} contacts")
    for note in crm.notes:  # an API CRM: history tracking off, or failed (previous in force)
        progress(f"CRM: {note}")
    progress(f"window {run_plan.window_start:%Y-%m-%d} .. {run_plan.window_end:%Y-%m-%d} (UTC),"
             f" {len(run_plan.tasks)} source × mailbox extracts")
    outcomes = extract_all(run_plan.tasks, workers=workers, progress=progress)
    result = RunResult(run_id=run_plan.run_id, weeks=run_plan.weeks,
                       extracts=len(run_plan.tasks))
    for o in outcomes:
        if o.manifest is None:
            result.failed.append(f"{o.task.label}: {o.error}")
        result.emails += o.emails
        result.meetings += o.meetings
        result.quarantined += o.quarantined
    progress("load: one transaction")
    load(config, run_plan, outcomes, crm)
    try:
        progress("model: rules 1-9 and audits")
        model(config)
        result.reports = report(config, run_plan.weeks, now=now, progress=progress)
    except BaseException as exc:
        try:
            finish(config, run_plan, outcomes, error=f"{type(exc).__name__}: {exc}")
        except Exception as also:  # (a full disk fails this too) — the first error is the news
            exc.add_note(f"(closing the run's row failed too: {type(also).__name__}: {also})")
        raise
    finish(config, run_plan, outcomes)
    publish(config)
    progress(f"snapshot for analysts: {config.snapshot}")
    return result
