"""The contract between the pipeline and an API connector (gmail, google_calendar, msgraph).

An API connector module exposes one function::

    def sync(request: SyncRequest) -> SyncResult

It reads one mailbox for one window. With ``request.cursor`` set (the cursor a previous sync
returned, stored in ``sync_state`` together with its data) it may sync incrementally and
return ``mode="incremental"``: the records are then upserted and ``removed`` copy ids deleted.
Without a cursor, or when the provider says the cursor expired, it syncs the whole window and
returns ``mode="window"``: the window's rows of that source × mailbox are replaced.

Secrets: ``credentials`` is handed in by the caller (the CLI resolves it from the environment,
the Airflow task from a connection) and must never be logged, put in an exception message or
returned. When it is None the connector resolves it from ``options`` itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from connectors.records import Record, Window

SyncMode = Literal["window", "incremental"]


@dataclass(frozen=True)
class SyncRequest:
    source: str  # the source's name in overlap.toml
    source_kind: str  # gmail | google_calendar | msgraph
    mailbox: str  # normalized address
    window: Window
    cursor: str | None = None
    subjects: bool = False  # request Subject only when the policy keeps or hashes it
    options: dict[str, Any] = field(default_factory=dict)  # the [[sources]] table, minus kind
    credentials: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Stream:
    """A connector stream's identity, declared in code where the stream is defined (STYLE.md):
    what it yields, the key of one record, what ``copy_id`` is, what its cursor is and what it
    is partitioned by."""

    name: str
    yields: str  # email | meeting
    copy_id: str  # what the provider calls the key
    cursor: str  # what the stored cursor holds
    key: tuple[str, ...] = ("source", "mailbox", "copy_id")
    partition: str = "mailbox"


@dataclass
class SyncStats:
    requests: int = 0  # HTTP requests sent (a batch counts once)
    calls: int = 0  # API calls (a batch of 50 gets counts 50)
    retries: int = 0
    quota_units: int = 0


@dataclass
class SyncResult:
    records: list[Record]
    mode: SyncMode
    cursor: str | None
    removed: list[str] = field(default_factory=list)  # copy ids deleted upstream
    stats: SyncStats = field(default_factory=SyncStats)


class SourceError(Exception):
    """A connector failure with a message safe to show (no secret, carries the request id)."""

    def __init__(self, message: str, *, request_id: str | None = None,
                 transient: bool = False) -> None:
        self.request_id = request_id
        self.transient = transient
        super().__init__(f"{message} (request id {request_id})" if request_id else message)


class AuthError(SourceError):
    """Authentication or permission denied: retrying will not help."""


class CursorExpired(SourceError):
    """The stored cursor is no longer valid: the caller must run a full window sync."""


def log_summary(api: str, request: SyncRequest, result: SyncResult,
                paced: float | None = None) -> SyncResult:
    """Every connector's one summary line per sync (window, mode, counts, requests, retries,
    and for a paced API the seconds spent waiting for quota), so operators read the same line
    in every extract task's log."""
    window = f"{request.window.start:%Y-%m-%d} .. {request.window.end:%Y-%m-%d}"
    pacing = f", {paced:.0f} s paced" if paced is not None else ""
    logging.getLogger(f"connectors.{api}").info(
        "%s %s: %s, %s sync, %d records, %d removed, %d requests, %d retries%s", api,
        request.mailbox, window, result.mode, len(result.records), len(result.removed),
        result.stats.requests, result.stats.retries, pacing)
    return result

