"""Helpers the Airflow DAG (dags/overlap_weekly.py) calls; no Airflow import at module level.

The DAG stays thin: each task calls one pipeline step, and everything around it lives here so
it can be unit-tested without Airflow — where the config is, which week a run covers, how the
plan is chunked for dynamic task mapping, where credentials come from (Airflow connections,
read inside tasks only), which extract errors deserve a retry, and the SMTP digest sender.

What passes between tasks over XCom is small: paths, counts, labels. The plan and each
extract's outcome are JSON files in a per-run folder under the staging directory, keyed by
source and mailbox (never by map index), so a cleared and rerun task overwrites its own file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import smtplib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from overlap.config import FILE_KINDS, Config
from overlap.errors import InputError
from overlap.pipeline import ExtractOutcome, ExtractTask, RunPlan
from overlap.staging import safe_component
from overlap.weeks import last_full_week, monday_of, parse_week

CONFIG_ENV = "OVERLAP_CONFIG"
CONFIG_VARIABLE = "overlap_config"  # Airflow Variable used when the env var is not set

# Extract task groups: one mapped task (and one pool) per API, one for all file kinds.
EXTRACT_GROUPS = ("files", "gmail", "google_calendar", "msgraph")
DEFAULT_POOL_SLOTS = {"files": 4, "gmail": 8, "google_calendar": 8, "msgraph": 4}
WAREHOUSE_POOL = "overlap_warehouse"

# Default Airflow connection ids by API kind (a source may name its own: airflow_conn_id = "...").
DEFAULT_CONN_IDS = {"gmail": "overlap_google", "google_calendar": "overlap_google",
                    "msgraph": "overlap_msgraph"}
SMTP_CONN_ENV = "OVERLAP_SMTP_CONN_ID"
DEFAULT_SMTP_CONN_ID = "overlap_smtp"

# Up to this many extracts, one mapped task instance per source × mailbox; beyond it the
# extracts are packed into at most this many chunks (the scheduler slows with thousands of
# mapped instances, and [core] max_map_length is 1024).
MAX_MAPPED = int(os.environ.get("OVERLAP_MAX_MAPPED", "256"))

# Exception names (as pipeline.extract reports them: "Name: message") worth another try.
# Connectors retry HTTP 429/5xx themselves (connectors/retry.py) and re-raise ``Transient``
# when they give up; a dropped network is worth a later try too. Everything else — AuthError,
# InputError, a missing folder, a bad file — fails the mailbox at once.
def pool_name(group: str) -> str:
    return f"overlap_{group}"


def extract_group(kind: str) -> str:
    return "files" if kind in FILE_KINDS else kind


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


def resolve_weeks(week_start: str | None, *, data_interval_start: datetime | None,
                  data_interval_end: datetime | None, run_after: datetime | None,
                  tz: ZoneInfo) -> list[date]:
    """The week a run covers: the ``week_start`` param (a Monday or ``2026-W47``), else the
    last week fully ended at the end of the data interval (a scheduled run on Monday 06:00
    covers the week that just ended; a backfill run the week of its interval), else — a manual
    run without logical date has no data interval — the last full week before ``run_after``."""
    if week_start:
        return [parse_week(str(week_start))]
    if (data_interval_start is not None and data_interval_end is not None
            and data_interval_end > data_interval_start):
        return [last_full_week(data_interval_end, tz)]
    if run_after is None:
        raise InputError("the run has neither week_start, a data interval nor run_after",
                         field="week_start")
    return [last_full_week(run_after, tz)]


def check_mailboxes(plan: RunPlan, wanted: Iterable[str] | None) -> None:
    """A mailbox asked for in the trigger form that no source has is a typo: say so."""
    if not wanted:
        return
    have = {t.mailbox for t in plan.tasks}
    missing = sorted({m.strip().lower() for m in wanted} - have)
    if missing:
        raise InputError(f"no source has mailbox(es) {', '.join(missing)}", field="mailboxes")


def week_label(week: date) -> str:
    return monday_of(week).isoformat()


# --- the plan on disk, chunks for mapping -----------------------------------------------------

def run_dir(config: Config, run_id: str) -> Path:
    return config.staging_dir / "_airflow_runs" / safe_component(run_id)


def write_plan(config: Config, plan: RunPlan) -> Path:
    folder = run_dir(config, plan.run_id)
    (folder / "outcomes").mkdir(parents=True, exist_ok=True)
    path = folder / "plan.json"
    _write_json(path, plan.to_json())
    return path


def read_plan(path: str | Path) -> RunPlan:
    return RunPlan.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def chunk_label(tasks: list[ExtractTask]) -> str:
    """What the Airflow UI shows for a mapped extract: the mailbox, or first..last (n)."""
    if len(tasks) == 1:
        return tasks[0].mailbox if tasks[0].kind in DEFAULT_CONN_IDS else tasks[0].label
    return f"{tasks[0].mailbox}..{tasks[-1].mailbox} ({len(tasks)})"


def chunks(plan: RunPlan, plan_path: Path, max_mapped: int = MAX_MAPPED
           ) -> dict[str, list[dict[str, Any]]]:
    """Per extract group, the list of mapped-task arguments: {plan, indexes, label}.

    One extract per mapped instance up to ``max_mapped``; beyond it contiguous chunks of
    ceil(n / max_mapped) extracts of the same mailbox order (so labels read as ranges)."""
    by_group: dict[str, list[int]] = {g: [] for g in EXTRACT_GROUPS}
    for i, t in enumerate(plan.tasks):
        by_group[extract_group(t.kind)].append(i)
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


def write_chunks(plan: RunPlan, plan_path: Path, max_mapped: int = MAX_MAPPED
                 ) -> dict[str, list[dict[str, Any]]]:
    """Write the chunks beside the plan (the DAG maps each group's list) and return them."""
    out = chunks(plan, plan_path, max_mapped)
    _write_json(plan_path.with_name("chunks.json"), out)
    return out


def read_chunks(plan_path: str | Path, group: str) -> list[dict[str, Any]]:
    data = json.loads(Path(plan_path).with_name("chunks.json").read_text(encoding="utf-8"))
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
        _write_json(outcome_path(folder, plan, task), outcome.to_json())
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
            outcomes.append(ExtractOutcome.from_json(json.loads(path.read_text("utf-8"))))
        else:
            outcomes.append(ExtractOutcome(task, None, "extract task did not finish"
                                           " (see its Airflow log)"))
    return plan, outcomes


# --- credentials from Airflow connections -------------------------------------------------------

class ConnectionLike:
    """The fields of an Airflow Connection that credentials are built from."""

    conn_id: str
    host: str | None
    login: str | None
    password: str | None
    port: int | None
    extra_dejson: dict[str, Any]


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str) and value.strip().startswith("{"):
        return json.loads(value)
    return value


def credentials_from_connection(kind: str, conn: ConnectionLike) -> dict[str, Any]:
    """The ``credentials`` connectors/api.py expects, built from an Airflow connection.

    gmail / google_calendar: the service-account key as a dict, from the connection's extra
    ``keyfile_dict`` (or the Google provider's ``extra__google_cloud_platform__keyfile_dict``),
    else the password holding the key JSON.  msgraph: ``login`` = client id, ``password`` =
    client secret, extra ``tenant_id`` (required), ``authority``, or ``certificate_pem`` +
    ``thumbprint`` instead of a secret."""
    extra = dict(conn.extra_dejson or {})
    if kind in ("gmail", "google_calendar"):
        key = (extra.get("keyfile_dict")
               or extra.get("extra__google_cloud_platform__keyfile_dict")
               or conn.password)
        key = _maybe_json(key)
        if not isinstance(key, dict) or "private_key" not in key:
            raise InputError(f"connection {conn.conn_id!r}: put the service-account key JSON in"
                             " extra keyfile_dict (or the password)", field=conn.conn_id)
        return key
    if kind == "msgraph":
        tenant = extra.get("tenant_id") or extra.get("tenantId")
        client = conn.login or extra.get("client_id")
        if not tenant or not client:
            raise InputError(f"connection {conn.conn_id!r}: needs login (client id) and extra"
                             " tenant_id", field=conn.conn_id)
        creds: dict[str, Any] = {"tenant_id": tenant, "client_id": client}
        if extra.get("certificate_pem"):
            creds["certificate_pem"] = extra["certificate_pem"]
            creds["thumbprint"] = extra.get("thumbprint")
        elif conn.password:
            creds["client_secret"] = conn.password
        else:
            raise InputError(f"connection {conn.conn_id!r}: needs a client secret (password) or"
                             " extra certificate_pem + thumbprint", field=conn.conn_id)
        authority = extra.get("authority") or conn.host
        if authority:
            creds["authority"] = authority
        return creds
    raise InputError(f"source kind {kind!r} takes no credentials", field="kind")


def connection_id(task: ExtractTask) -> tuple[str | None, bool]:
    """(connection id, whether the source named it explicitly) for an extract task."""
    explicit = task.options.get("airflow_conn_id") or task.options.get("conn_id")
    if explicit:
        return str(explicit), True
    return DEFAULT_CONN_IDS.get(task.kind), False


def credentials_for(task: ExtractTask, get_connection: Callable[[str], ConnectionLike | None]
                    ) -> Any:
    """Credentials for one extract (None for file sources).

    A connection the source names (``airflow_conn_id = "..."`` in its [[sources]] table) must exist.
    Without one, the kind's default connection (overlap_google / overlap_msgraph) is used when
    it exists; else None, and the connector resolves credentials from the source's options
    (how the sandbox and the CLI work)."""
    if task.kind in FILE_KINDS:
        return None
    conn_id, explicit = connection_id(task)
    if conn_id is None:
        return None
    conn = get_connection(conn_id)
    if conn is None:
        if explicit:
            raise InputError(f"Airflow connection {conn_id!r} not found", field="airflow_conn_id")
        return None
    return credentials_from_connection(task.kind, conn)


# --- owner digests by email --------------------------------------------------------------------

@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    login: str | None
    password: str | None
    sender: str
    security: str  # starttls | ssl | none
    timeout: float = 30.0

    @classmethod
    def from_connection(cls, conn: ConnectionLike) -> SmtpSettings:
        extra = dict(conn.extra_dejson or {})
        if not conn.host:
            raise InputError(f"SMTP connection {conn.conn_id!r} has no host", field=conn.conn_id)
        sender = extra.get("from_email") or conn.login
        if not sender:
            raise InputError(f"SMTP connection {conn.conn_id!r}: set extra from_email",
                             field=conn.conn_id)
        if extra.get("ssl"):
            security = "ssl"
        elif extra.get("starttls", extra.get("disable_tls") is not True):
            security = "starttls"
        else:
            security = "none"
        security = extra.get("security", security)
        port = conn.port or {"ssl": 465, "starttls": 587}.get(security, 25)
        return cls(conn.host, int(port), conn.login, conn.password, str(sender), security,
                   float(extra.get("timeout", 30)))


def _digest_message(settings: SmtpSettings, owner: str, week: date, html: str,
                    title: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = owner
    msg["Subject"] = f"{title}: your accounts, week of {week.isoformat()}"
    msg.set_content("Your weekly Overlap digest is attached as HTML; open it in a browser.")
    msg.add_alternative(html, subtype="html")
    return msg


def send_digests(digests: Mapping[str, Mapping[str, str]], settings: SmtpSettings, *,
                 title: str = "Overlap", state_file: Path | None = None,
                 smtp_factory: Callable[..., Any] | None = None) -> dict[str, int]:
    """Mail each owner their digest: ``digests`` maps week (ISO date) → owner → HTML path.

    ``state_file`` remembers what was sent (week, owner, content hash) so a rerun of the task
    does not mail an unchanged digest twice. Returns counts {sent, unchanged}."""
    sent_before: dict[str, str] = {}
    if state_file is not None and state_file.exists():
        sent_before = json.loads(state_file.read_text(encoding="utf-8"))
    todo = []
    for week_iso, owners in sorted(digests.items()):
        for owner, path in sorted(owners.items()):
            html = Path(path).read_text(encoding="utf-8")
            digest = hashlib.sha256(html.encode("utf-8")).hexdigest()
            key = f"{week_iso}|{owner}"
            if sent_before.get(key) != digest:
                todo.append((key, digest, owner, date.fromisoformat(week_iso), html))
    counts = {"sent": 0, "unchanged": sum(len(o) for o in digests.values()) - len(todo)}
    if not todo:
        return counts
    if smtp_factory is None:
        smtp_factory = smtplib.SMTP_SSL if settings.security == "ssl" else smtplib.SMTP
    with smtp_factory(settings.host, settings.port, timeout=settings.timeout) as smtp:
        if settings.security == "starttls":
            smtp.starttls()
        if settings.login and settings.password:
            smtp.login(settings.login, settings.password)
        for key, digest, owner, week, html in todo:
            smtp.send_message(_digest_message(settings, owner, week, html, title))
            sent_before[key] = digest
            counts["sent"] += 1
            if state_file is not None:  # after each mail: a crash mid-way resends none twice
                _write_json(state_file, sent_before)
    return counts


# --- small utilities ---------------------------------------------------------------------------

def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
