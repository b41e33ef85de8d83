"""The registry of source kinds: the one place a kind of source is declared.

Each kind (``kind = "..."`` in an ``[[sources]]`` table) names its extract group (one mapped
Airflow task and one pool per group: all file kinds share ``files``, each API has its own),
the connector module that reads it, the Airflow connection its credentials come from by
default, and the API sandbox that emulates it. Everything else is derived from here: config
validation (overlap/config.py), the pipeline's connector dispatch (overlap/pipeline.py), the
plan's chunks and credentials (overlap/orchestration.py, overlap/connections.py), the DAG's
extract task groups (dags/overlap_weekly.py) and the pools the local scripts create
(``python -m overlap.sources_cli pools``; docker-compose.yml lists them by hand and
tests/dags/test_compose.py fails when it drifts from this file).

The file kinds are the readers connectors/files/ has (its ``FILE_KINDS``), so a new reader
there is a new kind here. Adding an API: a connector module with ``sync(SyncRequest)``, one
``SourceKind`` and, for a new group, one ``ExtractGroup`` below.

This module imports only the standard library and connectors.files' kind list (no I/O): the
DAG file imports it at parse time.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from connectors.files import FILE_KINDS as _FILE_READERS


@dataclass(frozen=True)
class ExtractGroup:
    """One extract task group of the DAG and the Airflow pool that caps its concurrency."""

    name: str
    default_slots: int
    description: str

    @property
    def pool(self) -> str:
        return f"overlap_{self.name}"

    @property
    def slots_env(self) -> str:
        """The environment variable that overrides the pool's slots (scripts, compose .env)."""
        return f"OVERLAP_POOL_{self.name.upper()}_SLOTS"


@dataclass(frozen=True)
class SourceKind:
    """A kind of source: how it is extracted, throttled, authorised and emulated."""

    kind: str
    group: str  # an ExtractGroup name
    connector: str  # module: connectors.files (extract(kind, …)) or an API's sync(SyncRequest)
    conn_id: str | None = None  # default Airflow connection for its credentials
    api: str | None = None  # API family: google | microsoft (credential shape, its sandbox)

    @property
    def is_file_kind(self) -> bool:
        return self.group == FILES


FILES = "files"
WAREHOUSE_POOL = "overlap_warehouse"  # one slot: DuckDB has a single writer
WAREHOUSE_POOL_DESCRIPTION = "DuckDB warehouse: its only writer"

GROUPS: dict[str, ExtractGroup] = {g.name: g for g in (
    ExtractGroup(FILES, 4, "file-source extracts"),
    ExtractGroup("gmail", 8, "Gmail API extracts"),
    ExtractGroup("google_calendar", 8, "Google Calendar API extracts"),
    ExtractGroup("msgraph", 4, "Microsoft Graph extracts"),
)}

KINDS: dict[str, SourceKind] = {k.kind: k for k in (
    *(SourceKind(kind, FILES, "connectors.files") for kind in _FILE_READERS),
    SourceKind("gmail", "gmail", "connectors.gmail", "overlap_google", "google"),
    SourceKind("google_calendar", "google_calendar", "connectors.google_calendar",
               "overlap_google", "google"),
    SourceKind("msgraph", "msgraph", "connectors.msgraph", "overlap_msgraph", "microsoft"),
)}



@dataclass(frozen=True)
class CrmKind:
    """A CRM read through its API (``[crm] kind``; docs/crm.md): its connector module (with
    ``fetch(options, credentials)``), the default Airflow connection for its credentials and
    its sandbox. Not an extract group: the CRM is read whole, once per run, before the load."""

    kind: str
    connector: str
    conn_id: str
    sandbox: str


CRM_KINDS: dict[str, CrmKind] = {k.kind: k for k in (
    CrmKind("salesforce", "connectors.crm.salesforce", "overlap_salesforce",
            "sandbox.salesforce"),
    CrmKind("hubspot", "connectors.crm.hubspot", "overlap_hubspot", "sandbox.hubspot"),
)}

FILE_KINDS: tuple[str, ...] = tuple(k for k, s in KINDS.items() if s.is_file_kind)
API_KINDS: tuple[str, ...] = tuple(k for k, s in KINDS.items() if not s.is_file_kind)
SOURCE_KINDS: tuple[str, ...] = tuple(KINDS)
EXTRACT_GROUPS: tuple[str, ...] = tuple(GROUPS)

# The DAG builds one extract task group per name listed here (comma-separated; default: all).
# A deployment with API sources only sets it to e.g. "gmail,google_calendar" so the UI shows
# no always-skipped extract_files; `python -m overlap.sources_cli groups CONFIG` prints the value
# a config needs. Read at DAG parse time (an environment variable, no I/O).
GROUPS_ENV = "OVERLAP_EXTRACT_GROUPS"


def group_of(kind: str) -> str:
    return KINDS[kind].group


def enabled_groups(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The extract groups the DAG builds: ``$OVERLAP_EXTRACT_GROUPS``, else all, in registry
    order. An unknown name is an error (a typo must not silently drop a source's extracts)."""
    raw = (os.environ if environ is None else environ).get(GROUPS_ENV, "").strip()
    if not raw:
        return EXTRACT_GROUPS
    wanted = {g.strip() for g in raw.split(",") if g.strip()}
    unknown = sorted(wanted - set(GROUPS))
    if unknown:
        raise ValueError(f"{GROUPS_ENV}: unknown extract group(s) {', '.join(unknown)}"
                         f" (known: {', '.join(EXTRACT_GROUPS)})")
    return tuple(g for g in EXTRACT_GROUPS if g in wanted)


def groups_for(kinds: Iterable[str]) -> tuple[str, ...]:
    """The extract groups sources of these kinds need, in registry order."""
    needed = {group_of(k) for k in kinds}
    return tuple(g for g in EXTRACT_GROUPS if g in needed)


def pools(environ: Mapping[str, str] | None = None) -> dict[str, dict[str, object]]:
    """Overlap's Airflow pools in ``airflow pools import`` format; each extract pool's slots
    from its ``OVERLAP_POOL_<GROUP>_SLOTS`` variable when set, else the default."""
    env = os.environ if environ is None else environ
    out: dict[str, dict[str, object]] = {
        WAREHOUSE_POOL: {"slots": 1, "description": WAREHOUSE_POOL_DESCRIPTION}}
    for group in GROUPS.values():
        raw = env.get(group.slots_env, "").strip()
        if raw and not (raw.isdigit() and int(raw) > 0):
            raise ValueError(f"{group.slots_env} must be a positive integer, got {raw!r}")
        out[group.pool] = {"slots": int(raw) if raw else group.default_slots,
                           "description": group.description}
    return out
