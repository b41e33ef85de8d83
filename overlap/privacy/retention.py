"""Retention: ``[retention] raw_days`` bounds how long interaction-level data is kept.

The *edge* is a Monday 00:00 in the company time zone: the first one at or after (the
reference − raw_days), the reference being the earliest of the end of the latest reported
week, the newest raw copy and now. The clock is the data, not the machine: a warehouse that
reports week W keeps the interactions of the raw_days before W's end, so a backfill, a test or
a replay gives the same result on any day (a pipeline run weekly reports last week: the same
thing); the newest copy keeps an empty run of a recent week from purging an old export loaded
next, and now keeps a far-future date from purging the present. The edge only moves forward. At each load, inside its transaction (``purge``):

* the weekly aggregates (score_weekly, score_collaboration_weekly) of the weeks before the
  *freeze line* — the edge + the evidence horizon, ``horizon_days`` (the pipeline passes
  max(28, dormant_days): persistence counts the 4 weeks before, dormancy looks
  dormant_days back), rounded up to whole weeks — are copied into ``retained_*`` unless
  frozen already, and unless the run reports them for the first time (not built yet: they
  are frozen at the next purge, as this run builds them). Those weeks are *frozen*: the ``overlap_weekly`` / ``collaboration_weekly``
  views read them from there and no build recomputes them — before the edge their
  interactions are gone, and up to the freeze line part of their evidence is. By induction
  every frozen row is the row as it was reported (a week at or after the previous freeze line
  had all its evidence until now), threads aside (a thread has no horizon);
* raw copies that happened before the edge, quarantine rows of windows that ended by it and
  ``sync_state`` rows whose data ended by it are deleted;
* when that deleted anything, the build state is cleared, so the next model build is a full
  one: every interaction-level model row before the edge goes, and the weeks after it are
  recomputed from the evidence that is left (docs/privacy.md says how dormancy, threads,
  heads-ups and persistence degrade there) — an incremental build after a purge *is* a full
  rebuild, so the two cannot differ.

Staged Parquet is files, not rows: after the load commits, ``purge_staged`` deletes the
extracts whose window ended by the edge and rewrites the ones straddling it without the older
copies (idempotent; every load repeats it for the current edge).
"""

# Every identifier in the SQL below is a fixed name; values are bound. Hence no S608.
# ruff: noqa: S608

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from connectors.records import KEY_STAMP
from overlap import fileio
from overlap.incremental import STATE
from overlap.staging import StagedExtract, read_manifest

#: model table → its frozen copy (same columns as sql/schema/006_retention.sql declares)
FROZEN = {"score_weekly": "retained_score_weekly",
          "score_collaboration_weekly": "retained_collaboration_weekly"}


@dataclass(frozen=True)
class Purged:
    """What one purge removed (counts only; logged in ``runs`` with scope ``retention``)."""

    edge_week: date | None
    frozen_week: date | None = None
    emails: int = 0
    meetings: int = 0
    quarantined: int = 0
    sync_states: int = 0

    @property
    def rows(self) -> int:
        return self.emails + self.meetings + self.quarantined + self.sync_states


def edge(con: duckdb.DuckDBPyConnection, raw_days: int, tz: ZoneInfo) -> date | None:
    """The retention edge (a Monday) for the warehouse as it is, or None (keep everything:
    ``raw_days = 0``, or nothing reported or loaded yet). Never earlier than a previous
    purge's edge. The reference time is the newest data the warehouse reports on: the
    earliest of the end of the latest reported week, the newest raw copy and now (a
    far-future Date header or a mistyped ``--week`` never purges the present)."""
    if raw_days <= 0:
        return None
    latest = con.execute("select max(week_start) from reported_weeks").fetchall()[0][0]
    before = con.execute("select max(edge_week) from retention_state").fetchall()[0][0]
    if latest is None:
        return before
    # The newest raw copy: looked for from the latest week's start first, where DuckDB reads
    # only the newest row groups (by their min/max; all of history took 0.15 s at M after a
    # year, inside the load's transaction) — if there is one, it is the newest of all.
    newest = con.execute("select max(occurred_at) from raw_copies where occurred_at >= ?",
                         [edge_at(latest, tz)]).fetchall()[0][0]
    if newest is None:
        newest = con.execute("select max(occurred_at) from raw_copies").fetchall()[0][0]
    if newest is None:
        return before
    reference = min(edge_at(latest + timedelta(days=7), tz), newest, datetime.now(UTC))
    limit = (reference - timedelta(days=raw_days)).astimezone(tz)
    monday = limit.date() - timedelta(days=limit.weekday())
    if limit > datetime.combine(monday, time(0), tz):
        monday += timedelta(weeks=1)  # the first Monday 00:00 at or after the limit
    return max(monday, before) if before is not None else monday


def edge_at(week: date, tz: ZoneInfo) -> datetime:
    """Monday 00:00 of ``week`` in the company zone, as UTC."""
    return datetime.combine(week, time(0), tz).astimezone(UTC)


def freeze_line(edge_week: date, horizon_days: int) -> date:
    """The first Monday whose weekly rows a rebuild after a purge at ``edge_week`` computes
    with all their evidence: the edge + the horizon in whole weeks."""
    return edge_week + timedelta(weeks=-(-horizon_days // 7))


def purge(con: duckdb.DuckDBPyConnection, raw_days: int, tz: ZoneInfo,
          run_id: str | None = None, horizon_days: int = 28) -> Purged:
    """Freeze the weekly rows before the freeze line and delete the interaction-level rows
    before the edge, inside the caller's transaction (``warehouse.load``). Logs one ``runs``
    row (scope ``retention``) with the counts when it deleted anything."""
    week = edge(con, raw_days, tz)
    if week is None:
        return Purged(None)
    at = edge_at(week, tz)
    frozen_week = freeze_line(week, horizon_days)
    for table, frozen in FROZEN.items():
        cols = ", ".join(c for (c,) in con.execute(
            "select column_name from duckdb_columns() where table_name = ?"
            " and schema_name = 'main' order by column_index", [frozen]).fetchall())
        # a week frozen once stays as it was: only weeks not yet frozen are copied
        con.execute(f"insert into {frozen} ({cols}) select {cols} from {table}"
                    f" where week_start < ? and week_start not in"
                    f" (select week_start from {frozen}) and week_start not in"
                    f" (select week_start from reported_weeks where run_id = ?)",
                    [frozen_week, run_id])
    emails, meetings = con.execute(
        "select count(*) filter (where kind = 'email'), count(*) filter (where kind <> 'email')"
        " from raw_copies where occurred_at < ?", [at]).fetchall()[0]
    con.execute("delete from raw_copies where occurred_at < ?", [at])
    quarantined = con.execute("select count(*) from raw_quarantine where window_end <= ?",
                              [at]).fetchall()[0][0]
    con.execute("delete from raw_quarantine where window_end <= ?", [at])
    states = con.execute("select count(*) from sync_state where window_end <= ?",
                         [at]).fetchall()[0][0]
    con.execute("delete from sync_state where window_end <= ?", [at])
    done = Purged(week, frozen_week, int(emails), int(meetings), int(quarantined), int(states))
    con.execute("delete from retention_state")
    con.execute("insert into retention_state (edge_week, edge_at, frozen_week)"
                " values (?, ?, ?)", [week, at, frozen_week])
    if done.rows:
        con.execute(f"delete from {STATE}")  # the next build is a full one (module docstring)
        now = datetime.now(UTC)
        con.execute(
            "insert into run_log (run_id, scope, source, mailbox, window_start, window_end,"
            " started_at, finished_at, status, emails, meetings, quarantined, error)"
            " values (?, 'retention', null, null, null, ?, ?, ?, 'succeeded', ?, ?, ?, null)",
            [run_id or f"retention-{now:%Y%m%dT%H%M%SZ}", at, now, now, done.emails,
             done.meetings, done.quarantined])
    return done


def purge_staged(staging_dir: Path, at: datetime) -> int:
    """Delete the staged extracts whose window ended by ``at``; rewrite those straddling it
    without the copies before it (their quarantine rows have no time: they go with the
    window). Returns the number of extracts deleted or rewritten.

    Runs after every load over every staged file kept (``raw_days``: at M a year is ~27,000
    manifests), so the names do the sorting out: a staged file's name starts with its
    window's start (``stage_prefix``), compared as text with ``at`` in the same format —
    only the manifests of windows that start before ``at`` are read. (Parsing each name and
    sorting the paths took 0.34 s at M after a year, reading each manifest 2.8 s.)"""
    changed = 0
    if not staging_dir.is_dir():
        return 0
    whole = at.astimezone(UTC)  # (a name has whole seconds: round ``at`` up to one)
    whole = whole.replace(microsecond=0) + timedelta(seconds=1 if whole.microsecond else 0)
    edge = whole.strftime(KEY_STAMP)
    candidates = []
    for folder, _, names in os.walk(staging_dir):
        for name in names:
            if not name.endswith(".manifest.json"):
                continue
            if _STAMP_RE.match(name) and name[:16] >= edge:
                continue  # the window starts at or after ``at``
            candidates.append(Path(folder) / name)
    for manifest in sorted(candidates):
        staged = read_manifest(manifest)
        if staged.window_end <= at:
            for path in (staged.copies_path, staged.quarantine_path):
                Path(path).unlink(missing_ok=True)
            manifest.unlink(missing_ok=True)
            changed += 1
        elif staged.window_start < at and _drop_before(staged, manifest, at):
            changed += 1
    return changed


_STAMP_RE = re.compile(r"\d{8}T\d{6}Z")  # a KEY_STAMP


def _drop_before(staged: StagedExtract, manifest: Path, at: datetime) -> bool:
    path = Path(staged.copies_path)
    if not path.exists():
        return False
    table = pq.read_table(path)
    keep = pc.greater_equal(table.column("occurred_at"),
                            pa.scalar(at, type=table.schema.field("occurred_at").type))
    kept = table.filter(keep)
    if kept.num_rows == table.num_rows:
        return False
    with fileio.replacing(path) as tmp:
        pq.write_table(kept, tmp, compression="zstd")
    kinds = kept.column("kind").to_pylist()
    counts = {"emails": kinds.count("email"), "meetings": len(kinds) - kinds.count("email")}
    fileio.write_json(manifest, {**staged.to_json(), **counts})
    return True


def stale_rows(con: duckdb.DuckDBPyConnection, at: datetime) -> dict[str, int]:
    """Rows older than ``at`` in any table holding interaction-level data, by table and
    column (every column named occurred_at or week_start, quarantine and sync windows);
    the frozen weekly tables excepted. What a purge plus a full build must leave empty."""
    week = at.date()
    found: dict[str, int] = {}
    for table, column in con.execute(
            "select table_name, column_name from duckdb_columns() where schema_name = 'main'"
            " and column_name in ('occurred_at', 'week_start') and table_name not in"
            " (select view_name from duckdb_views()) and table_name not in ?"
            " order by all", [[*FROZEN.values(), "reported_weeks"]]).fetchall():
        bound = week if column == "week_start" else at
        n = con.execute(f'select count(*) from "{table}" where "{column}" < ?',
                        [bound]).fetchall()[0][0]
        if n:
            found[f"{table}.{column}"] = int(n)
    for table in ("raw_quarantine", "sync_state"):
        n = con.execute(f"select count(*) from {table} where window_end <= ?", [at]).fetchall()[0][0]
        if n:
            found[f"{table}.window_end"] = int(n)
    return found
