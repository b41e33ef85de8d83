"""Staged Parquet: one file set per source × mailbox × window (docs/architecture.md §2).

Paths are keyed by source, mailbox and window — never by a task number — so a rerun
overwrites its own files and can never duplicate them. Files are written to a temporary name
and renamed; the manifest is written last, so a crash mid-write leaves no half extract behind.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.records import EmailCopy, MeetingCopy, Quarantined, Record, Window
from overlap import fileio
from overlap.crashpoints import crash_point

PARTICIPANT = pa.struct(
    [
        ("address", pa.string()),
        ("name", pa.string()),
        ("role", pa.string()),
        ("response", pa.string()),
        ("is_resource", pa.bool_()),
    ]
)
TS = pa.timestamp("us", tz="UTC")
COPIES_SCHEMA = pa.schema(
    [
        ("kind", pa.string()),
        ("source", pa.string()),
        ("source_kind", pa.string()),
        ("mailbox", pa.string()),
        ("copy_id", pa.string()),
        ("message_id", pa.string()),
        ("ical_uid", pa.string()),
        ("original_start", TS),
        ("occurred_at", TS),
        ("ended_at", TS),
        ("date_source", pa.string()),
        ("thread_root", pa.string()),
        ("provider_thread_id", pa.string()),
        ("subject", pa.string()),
        ("bulk_reason", pa.string()),
        ("cancelled", pa.bool_()),
        ("invalid_addresses", pa.int32()),
        ("participants", pa.list_(PARTICIPANT)),
    ]
)
QUARANTINE_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("source_kind", pa.string()),
        ("mailbox", pa.string()),
        ("locator", pa.string()),
        ("reason", pa.string()),
    ]
)

_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")


@dataclass(frozen=True)
class StagedExtract:
    """What one extract left on disk; the manifest is its serialized form."""

    source: str
    source_kind: str
    mailbox: str
    window_start: datetime
    window_end: datetime
    copies_path: str
    quarantine_path: str
    emails: int
    meetings: int
    quarantined: int
    cursor: str | None = None
    reasons: dict[str, int] = field(default_factory=dict)
    mode: str = "window"  # window: replace the window's rows | incremental: upsert + removed
    removed: list[str] = field(default_factory=list)  # copy ids deleted upstream (incremental)
    stats: dict[str, int] = field(default_factory=dict)  # requests, retries, … of API pulls

    def to_json(self) -> dict[str, Any]:
        return fileio.to_json(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> StagedExtract:
        return fileio.from_json(cls, d)


def safe_component(text: str) -> str:
    """A path component for a source or mailbox name (addresses stay readable)."""
    cleaned = _UNSAFE.sub("_", text).strip(".") or "_"
    return cleaned[:200]


def stage_prefix(staging_dir: Path, source: str, mailbox: str, window: Window,
                 cursor_in: str | None = None) -> Path:
    """Where an extract stages its files. An incremental extract is keyed by the cursor it
    started from too, so its rerun overwrites it but never a full window extract."""
    name = window.key
    if cursor_in is not None:
        name += ".inc-" + hashlib.sha256(cursor_in.encode("utf-8")).hexdigest()[:16]
    return staging_dir / safe_component(source) / safe_component(mailbox) / name


def apply_subject_policy(subject: str | None, policy: str) -> str | None:
    """drop → NULL; hash → a stable digest (joins threads by subject without storing it)."""
    if subject is None or policy == "drop":
        return None
    if policy == "hash":
        return "sha256:" + hashlib.sha256(subject.strip().encode("utf-8", "replace")).hexdigest()[:32]
    return subject


def _atomic_parquet(table: pa.Table, path: Path) -> None:
    with fileio.replacing(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def write_staged(
    records: Iterable[Record],
    *,
    staging_dir: Path,
    source: str,
    source_kind: str,
    mailbox: str,
    window: Window,
    subjects: str = "drop",
    cursor: str | None = None,
    cursor_in: str | None = None,
    mode: str = "window",
    removed: Iterable[str] = (),
    stats: dict[str, int] | None = None,
) -> StagedExtract:
    """Consume ``records`` and stage them; returns the manifest that load() consumes."""
    cols: dict[str, list[Any]] = {name: [] for name in COPIES_SCHEMA.names}
    quarantine: dict[str, list[Any]] = {name: [] for name in QUARANTINE_SCHEMA.names}
    emails = meetings = 0
    reasons: dict[str, int] = {}
    for rec in records:
        if isinstance(rec, Quarantined):
            for name in QUARANTINE_SCHEMA.names:
                quarantine[name].append(getattr(rec, name))
            reasons[rec.reason] = reasons.get(rec.reason, 0) + 1
            continue
        parts = [
            {"address": p.address, "name": p.name, "role": p.role, "response": p.response,
             "is_resource": p.is_resource}
            for p in rec.participants
        ]
        cols["kind"].append(rec.kind)
        cols["source"].append(rec.source)
        cols["source_kind"].append(rec.source_kind)
        cols["mailbox"].append(rec.mailbox)
        cols["copy_id"].append(rec.copy_id)
        cols["occurred_at"].append(rec.occurred_at)
        cols["subject"].append(apply_subject_policy(rec.subject, subjects))
        cols["invalid_addresses"].append(rec.invalid_addresses)
        cols["participants"].append(parts)
        if isinstance(rec, EmailCopy):
            emails += 1
            cols["message_id"].append(rec.message_id)
            cols["ical_uid"].append(None)
            cols["original_start"].append(None)
            cols["ended_at"].append(None)
            cols["date_source"].append(rec.date_source)
            cols["thread_root"].append(rec.thread_root)
            cols["provider_thread_id"].append(rec.provider_thread_id)
            cols["bulk_reason"].append(rec.bulk_reason)
            cols["cancelled"].append(False)
        elif isinstance(rec, MeetingCopy):
            meetings += 1
            cols["message_id"].append(None)
            cols["ical_uid"].append(rec.ical_uid)
            cols["original_start"].append(rec.original_start)
            cols["ended_at"].append(rec.ended_at)
            cols["date_source"].append("provider")
            cols["thread_root"].append(None)
            cols["provider_thread_id"].append(None)
            cols["bulk_reason"].append(None)
            cols["cancelled"].append(rec.cancelled)
        else:  # pragma: no cover - the Record union is closed
            raise TypeError(f"unexpected record {type(rec).__name__}")

    if mode not in ("window", "incremental"):
        raise ValueError(f"unknown staging mode {mode!r}")
    prefix = stage_prefix(staging_dir, source, mailbox, window, cursor_in)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    fileio.remove_orphans(prefix.parent, prefix.name)  # what a killed extract of it left
    manifest_path = prefix.with_name(prefix.name + ".manifest.json")
    # An old manifest must not outlive the files it describes while they are rewritten.
    manifest_path.unlink(missing_ok=True)
    copies_path = prefix.with_name(prefix.name + ".copies.parquet")
    quarantine_path = prefix.with_name(prefix.name + ".quarantine.parquet")
    _atomic_parquet(pa.table(cols, schema=COPIES_SCHEMA), copies_path)
    _atomic_parquet(pa.table(quarantine, schema=QUARANTINE_SCHEMA), quarantine_path)
    staged = StagedExtract(
        source=source,
        source_kind=source_kind,
        mailbox=mailbox,
        window_start=window.start,
        window_end=window.end,
        copies_path=str(copies_path),
        quarantine_path=str(quarantine_path),
        emails=emails,
        meetings=meetings,
        quarantined=len(quarantine["reason"]),
        cursor=cursor,
        reasons=dict(sorted(reasons.items())),
        mode=mode,
        removed=sorted(set(removed)),
        stats=dict(stats or {}),
    )
    crash_point("stage:before_manifest")
    fileio.write_json(manifest_path, staged.to_json())
    return staged


def read_manifest(path: Path) -> StagedExtract:
    return StagedExtract.from_json(fileio.read_json(path))
