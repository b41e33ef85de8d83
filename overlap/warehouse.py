"""The DuckDB warehouse: open + migrate, the single-writer load, run bookkeeping, publish.

Only this module writes raw tables. ``load`` applies a whole run's staged extracts, the CRM
snapshot and the new cursors in ONE transaction: a crash leaves the previous state intact,
and loading the same window twice gives identical tables (delete the window, insert the
staged rows).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from overlap import fileio, sqlrunner
from overlap.crashpoints import crash_point
from overlap.crm import CRM_TABLES, CrmSnapshot
from overlap.errors import rollback
from overlap.staging import StagedExtract

# raw_copies.copy_hash (sql/schema/007): the key (source, mailbox, kind, copy_id) hashed to 64
# bits, the narrow column the load finds a loaded key's older copies by
COPY_HASH = "md5_number_lower(concat_ws(chr(31), source, mailbox, kind, copy_id))"

MART_VIEWS = (
    "interactions",
    "interaction_participants",
    "overlap_events",
    "overlap_weekly",
    "collaboration_weekly",
    "account_owners",
    "data_quality",
    "runs",
)


@dataclass(frozen=True)
class ExtractFailure:
    """A source × mailbox whose extract failed or was skipped; the run goes on without it."""

    source: str
    source_kind: str
    mailbox: str
    window_start: datetime
    window_end: datetime
    status: str  # failed | skipped
    error: str


class WarehouseBusy(Exception):
    """Another process holds the warehouse file (DuckDB allows one writer, no other reader)."""


def _open(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise WarehouseBusy(
                f"{path} is open in another process (one writer at a time; analysts should "
                "open the snapshot instead)") from None
        raise


def connect(path: Path) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) and migrate the warehouse. The caller is the only writer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _open(path)
    # Interval arithmetic on TIMESTAMPTZ follows the session zone; pin it so that
    # "60 days before" is 60 × 24 h on every machine (weeks use the company zone explicitly).
    con.execute("set TimeZone = 'UTC'")
    sqlrunner.migrate(con)
    # DuckDB's checkpoint merges each commit's new row groups into the existing ones ("vacuum
    # tasks"), which rewrote whole tables on every weekly append: at benchmark size S, week
    # 12's model commit rewrote 40 of 184 MB and took 2.1 of its 3.6 s. Off, a week's rows
    # stay row groups of their own and a row group a reload emptied is still dropped; rows
    # deleted from a row group that keeps others stay on disk. When those reach
    # COMPACT_SHARE of the stored rows, this connection leaves vacuuming on, so its
    # checkpoints rewrite the tables it changes without them.
    if deleted_share(con) < COMPACT_SHARE:
        con.execute("set max_vacuum_tasks = 0")
    return con


COMPACT_SHARE = 0.2  # vacuum while deleted rows are this share of the stored rows
COMPACT_MIN_ROWS = 100_000  # … and at least this many


def deleted_share(con: duckdb.DuckDBPyConnection, min_rows: int = COMPACT_MIN_ROWS) -> float:
    """The share of the stored rows that are deleted ones (0 below ``min_rows`` of them)."""
    stored = deleted = 0
    for name, estimated in con.execute(
            "select table_name, estimated_size from duckdb_tables()"
            " where database_name = current_database() and schema_name = 'main'"
            " and not temporary").fetchall():
        live = int(con.execute(f'select count(*) from main."{name}"').fetchall()[0][0])  # noqa: S608
        stored += int(estimated)
        deleted += max(int(estimated) - live, 0)
    return deleted / stored if deleted >= min_rows else 0.0


def load(
    con: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    started_at: datetime,
    window_start: datetime,
    window_end: datetime,
    crm: CrmSnapshot,
    staged: Iterable[StagedExtract],
    failures: Iterable[ExtractFailure] = (),
    weeks: Iterable[date] = (),
    purge: Callable[[duckdb.DuckDBPyConnection], object] | None = None,
) -> None:
    """Apply CRM, staged extracts, cursors and the run's bookkeeping in one transaction.

    ``weeks`` are the weeks the run reports (the views show only reported weeks); ``purge``
    (retention, ``overlap.privacy.retention``) runs last, inside the same transaction."""
    now = datetime.now(UTC)
    con.execute("begin transaction")
    try:
        # Loading the same run again (an Airflow retry or a cleared task) replaces its rows.
        con.execute("delete from run_log where run_id = ?", [run_id])
        for week in weeks:  # (a week reported before keeps its first run)
            con.execute("insert into reported_weeks values (?, ?) on conflict do nothing",
                        [week, run_id])
        load_crm_snapshot(con, crm, run_id, now)
        con.execute(
            "insert into run_log (run_id, scope, source, mailbox, window_start,"
            " window_end, started_at, finished_at, status, emails, meetings, quarantined, error)"
            " values (?, 'run', null, null, ?, ?, ?, null, 'running', 0, 0, 0, null)",
            [run_id, window_start, window_end, started_at],
        )
        _load_extracts(con, list(staged), run_id, now)
        for f in failures:
            con.execute(
                "insert into run_log (run_id, scope, source, mailbox, window_start,"
                " window_end, started_at, finished_at, status, emails, meetings, quarantined,"
                " error) values (?, 'extract', ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, ?)",
                [run_id, f.source, f.mailbox, f.window_start, f.window_end, started_at, now,
                 f.status, f.error],
            )
        if purge is not None:
            purge(con)
        crash_point("load:before_commit")
        con.execute("commit")
    except BaseException:
        rollback(con)  # never masks the error (a full disk fails the rollback too)
        raise
    crash_point("load:after_commit")


def load_crm_snapshot(con: duckdb.DuckDBPyConnection, crm: CrmSnapshot, run_id: str | None,
                      now: datetime) -> bool:
    """Record the snapshot ``crm`` (inside the caller's transaction). The latest snapshot by
    stamp replaces the ``crm_*`` tables (identity facts, ownership.csv); every snapshot's
    assignment facts go into the history, unless they equal those of the snapshot before it.
    Returns whether the history changed."""
    latest = con.execute("select max(as_of) from crm_snapshots").fetchall()[0][0]
    if latest is None or crm.as_of >= latest:
        for name in CRM_TABLES:
            con.register("crm_batch", crm.tables[name])
            con.execute(f"delete from {name}")  # noqa: S608 (fixed identifier)
            con.execute(f"insert into {name} by name select * from crm_batch")  # noqa: S608
            con.unregister("crm_batch")
        changed = record_crm_snapshot(con, crm.as_of)
    else:  # an older snapshot imported late: only its assignment facts, slotted by stamp
        for name in ("crm_accounts", "crm_account_team", "crm_reps"):
            con.register(f"old_{name}", crm.tables[name])
        try:
            changed = record_crm_snapshot(con, crm.as_of, accounts="old_crm_accounts",
                                          team="old_crm_account_team", reps="old_crm_reps")
        finally:
            for name in ("crm_accounts", "crm_account_team", "crm_reps"):
                con.unregister(f"old_{name}")
    con.execute("delete from crm_snapshots where as_of = ?", [crm.as_of])
    con.execute("insert into crm_snapshots values (?, ?, ?, ?)", [crm.as_of, now, run_id, changed])
    return changed


#: The tables ``record_crm_snapshot`` may read a snapshot from (fixed identifiers).
_SNAPSHOT_SOURCES = frozenset({"crm_accounts", "crm_account_team", "crm_reps", "old_crm_accounts",
                               "old_crm_account_team", "old_crm_reps"})


_ACCOUNT_FACTS = (
    "create or replace temp table _crm_acc as select a.account_id, any_value(a.owner_email)"
    " as owner_email, coalesce(list_sort(list_distinct(list(t.rep_email)"
    "  filter (where t.rep_email is not null))), []::varchar[]) as team_emails"
    " from ACCOUNTS as a left join TEAM as t using (account_id) group by a.account_id")
_REP_FACTS = (
    "create or replace temp table _crm_rep as select email, any_value(manager_email)"
    " as manager_email, coalesce(bool_and(active), true) as active from REPS group by email")


def record_crm_snapshot(con: duckdb.DuckDBPyConnection, as_of: datetime, *,
                        accounts: str = "crm_accounts", team: str = "crm_account_team",
                        reps: str = "crm_reps") -> bool:
    """Write the assignment facts (owner, team, manager, active) of the snapshot in the given
    tables into the history at ``as_of``, replacing that stamp's rows; nothing when they equal
    the facts of the latest recorded snapshot before ``as_of`` (an unchanged snapshot adds
    nothing). Returns whether it wrote rows."""
    assert {accounts, team, reps} <= _SNAPSHOT_SOURCES
    account_facts = _ACCOUNT_FACTS.replace("ACCOUNTS", accounts).replace("TEAM", team)
    rep_facts = _REP_FACTS.replace("REPS", reps)
    con.execute(account_facts)
    con.execute(rep_facts)
    con.execute("delete from crm_account_history where as_of = ?", [as_of])
    con.execute("delete from crm_rep_history where as_of = ?", [as_of])
    previous = con.execute(
        "select max(as_of) from (select as_of from crm_account_history union all"
        " select as_of from crm_rep_history) where as_of < ?", [as_of]).fetchall()[0][0]
    differs = con.execute(
        "select exists (select * from _crm_acc except select account_id, owner_email,"
        "  team_emails from crm_account_history where as_of = $p)"
        " or exists (select account_id, owner_email, team_emails from crm_account_history"
        "  where as_of = $p except select * from _crm_acc)"
        " or exists (select * from _crm_rep except select email, manager_email, active"
        "  from crm_rep_history where as_of = $p)"
        " or exists (select email, manager_email, active from crm_rep_history where as_of = $p"
        "  except select * from _crm_rep)", {"p": previous}).fetchall()[0][0]
    if previous is None or differs:
        con.execute("insert into crm_account_history select ?, * from _crm_acc", [as_of])
        con.execute("insert into crm_rep_history select ?, * from _crm_rep", [as_of])
    con.execute("drop table _crm_acc")
    con.execute("drop table _crm_rep")
    return bool(previous is None or differs)


def _delete_older_versions(con: duckdb.DuckDBPyConnection) -> None:
    """Delete every stored copy under a key of ``load_copies`` (its older versions)."""
    # Found by copy_hash first — the row ids only, from one 8-byte column of all of
    # history (with the key columns in the same scan DuckDB decompressed their vectors
    # wherever the hash's Bloom filter let a row through: 0.9 s at M after 51 weeks) —
    # then those rows' keys, then by the key.
    con.execute(
        "create or replace temp table load_stale_ids as select r.rowid as row_id"
        " from raw_copies as r semi join load_copies as n on n.copy_hash = r.copy_hash")
    con.execute(
        "create or replace temp table load_stale as select r.rowid as row_id, r.source,"
        " r.mailbox, r.kind, r.copy_id from raw_copies as r"
        " semi join load_stale_ids as s on s.row_id = r.rowid")
    con.execute(
        "delete from raw_copies where rowid in (select s.row_id from load_stale as s"
        " semi join load_copies as n on n.source = s.source and n.mailbox = s.mailbox"
        " and n.kind = s.kind and n.copy_id = s.copy_id)")
    con.execute("drop table load_stale")
    con.execute("drop table load_stale_ids")


def _load_extracts(con: duckdb.DuckDBPyConnection, staged: list[StagedExtract], run_id: str,
                   now: datetime) -> None:
    """Apply every staged extract set-based: one delete and one insert for all of them, so
    the cost does not grow with mailboxes × history (a per-extract delete scans raw_copies
    once per mailbox). (source, mailbox, kind, copy_id) stays unique because every stored
    copy under a loaded key is deleted first — raw_copies has no primary key, whose index
    made each deleted key cost ~20 µs at commit (sql/schema/002)."""
    if not staged:
        return
    extracts = pa.table({
        "source": [s.source for s in staged],
        "mailbox": [s.mailbox for s in staged],
        "window_start": pa.array([s.window_start for s in staged], pa.timestamp("us", "UTC")),
        "window_end": pa.array([s.window_end for s in staged], pa.timestamp("us", "UTC")),
        "mode": [s.mode for s in staged],
        "copies_path": [s.copies_path for s in staged],
        "quarantine_path": [s.quarantine_path for s in staged],
        "emails": pa.array([s.emails for s in staged], pa.int64()),
        "meetings": pa.array([s.meetings for s in staged], pa.int64()),
        "quarantined": pa.array([s.quarantined for s in staged], pa.int64()),
    })
    removed = pa.table({
        "source": [s.source for s in staged for _ in s.removed],
        "mailbox": [s.mailbox for s in staged for _ in s.removed],
        "copy_id": [c for s in staged for c in s.removed],
    }, schema=pa.schema([("source", pa.string()), ("mailbox", pa.string()),
                         ("copy_id", pa.string())]))
    con.register("load_extracts", extracts)
    con.register("load_removed", removed)
    try:
        # A window extract is the whole truth about its window: replace it. An incremental
        # one deletes only what the provider reported deleted; the rest is upserted.
        con.execute(
            "delete from raw_copies as r using load_extracts as e"
            " where e.mode = 'window' and r.source = e.source and r.mailbox = e.mailbox"
            " and r.occurred_at >= e.window_start and r.occurred_at < e.window_end")
        con.execute(
            "delete from raw_copies as r using load_removed as d"
            " where r.source = d.source and r.mailbox = d.mailbox and r.copy_id = d.copy_id")
        # An upsert: the copies' older versions (same key, anywhere in time: an incremental
        # extract's changed message, or one whose date moved it to another window) make way,
        # then a plain insert — 4x faster than `insert or replace` at 1.6M copies.
        con.execute(  # (COPY_HASH: a fixed expression; the paths are bound)
            f"create or replace temp table load_copies as select *, {COPY_HASH} as copy_hash"  # noqa: S608
            " from (select c.* exclude (filename), e.window_start, e.window_end"
            " from read_parquet(?, filename = true) as c"
            " join load_extracts as e on e.copies_path = c.filename)",
            [[s.copies_path for s in staged]])
        # A key twice in what was staged (a maildir message in both cur/ and new/) is kept
        # once, the same one every time; checked first (0.2 s at L), as the dedupe costs 2 s.
        if con.execute("select count(*) - count(distinct (source, mailbox, kind, copy_id))"
                       " from load_copies").fetchall()[0][0]:
            con.execute(
                "create or replace temp table load_copies as select * from load_copies"
                " qualify row_number() over (partition by source, mailbox, kind, copy_id"
                "  order by occurred_at, message_id, ical_uid) = 1")
        _delete_older_versions(con)
        con.execute("insert into raw_copies by name select * from load_copies")
        con.execute("drop table load_copies")
        # Quarantine has no timestamp (often that is the problem): replace what an earlier
        # window extract inside this one recorded, and any entry for the same locator.
        con.execute(
            "create or replace temp table load_quarantine as"
            " select q.* exclude (filename), e.window_start, e.window_end"
            " from read_parquet(?, filename = true) as q"
            " join load_extracts as e on e.quarantine_path = q.filename",
            [[s.quarantine_path for s in staged]])
        con.execute(
            "delete from raw_quarantine as r using load_extracts as e"
            " where r.source = e.source and r.mailbox = e.mailbox and e.mode = 'window'"
            " and r.window_start >= e.window_start and r.window_end <= e.window_end")
        con.execute(
            "delete from raw_quarantine as r using load_quarantine as q"
            " where r.source = q.source and r.mailbox = q.mailbox and r.locator = q.locator")
        con.execute("insert into raw_quarantine by name select * from load_quarantine")
        con.execute("drop table load_quarantine")
        # one statement for all extracts (executemany costs ~1 ms a row: 2 s for 2,000
        # mailboxes)
        con.execute(
            "insert into run_log (run_id, scope, source, mailbox, window_start, window_end,"
            " started_at, finished_at, status, emails, meetings, quarantined, error)"
            " select ?, 'extract', source, mailbox, window_start, window_end, ?, ?,"
            " 'succeeded', emails, meetings, quarantined, null from load_extracts",
            [run_id, now, now])
    finally:
        # (in a transaction a failed statement aborted, the rollback drops them)
        with contextlib.suppress(duckdb.TransactionException):
            con.unregister("load_extracts")
            con.unregister("load_removed")
    for s in staged:
        if s.cursor is not None:
            # A window sync establishes the cursor for its window; an incremental one
            # extends it.
            con.execute(
                "insert into sync_state as t"
                " (source, mailbox, cursor, window_start, window_end, updated_at)"
                " values (?, ?, ?, ?, ?, ?)"
                " on conflict (source, mailbox) do update set cursor = excluded.cursor,"
                "   window_start = case when ? = 'incremental'"
                "     then least(t.window_start, excluded.window_start)"
                "     else excluded.window_start end,"
                "   window_end = case when ? = 'incremental'"
                "     then greatest(t.window_end, excluded.window_end)"
                "     else excluded.window_end end,"
                "   updated_at = excluded.updated_at",
                [s.source, s.mailbox, s.cursor, s.window_start, s.window_end, now, s.mode,
                 s.mode],
            )


def read_cursors(path: Path) -> dict[tuple[str, str], tuple[str, datetime, datetime]]:
    """(source, mailbox) → (cursor, window_start, window_end) from ``sync_state``.

    Opened read-only and closed at once: extract workers are forked after this.
    """
    if not path.exists():
        return {}
    con = _open(path, read_only=True)
    try:
        tables = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
        if "sync_state" not in tables:
            return {}
        rows = con.execute("select source, mailbox, cursor, window_start, window_end"
                           " from sync_state where cursor is not null").fetchall()
    finally:
        con.close()
    return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, status: str,
               error: str | None = None) -> None:
    """Close the run's row with its totals (its own small transaction)."""
    con.execute(
        "update run_log set finished_at = ?, status = ?, error = ?,"
        " emails = (select coalesce(sum(emails), 0) from run_log"
        "           where run_id = ? and scope = 'extract'),"
        " meetings = (select coalesce(sum(meetings), 0) from run_log"
        "             where run_id = ? and scope = 'extract'),"
        " quarantined = (select coalesce(sum(quarantined), 0) from run_log"
        "                where run_id = ? and scope = 'extract')"
        " where run_id = ? and scope = 'run'",
        [datetime.now(UTC), status, error, run_id, run_id, run_id, run_id],
    )


# The snapshot is written in a storage format that DuckDB 1.4 and later read, so analysts can
# open it with the `duckdb` CLI from PyPI (duckdb-cli, still at 1.5) as well as DuckDB 2.x.
SNAPSHOT_STORAGE_VERSION = "v1.4.0"


def publish(warehouse: Path, snapshot: Path, marts_dir: Path,
            rewrite: Callable[[duckdb.DuckDBPyConnection, str], None] | None = None) -> None:
    """Atomically replace the analysts' read-only snapshot and the Parquet exports of the marts.

    The warehouse must be closed by the caller. Analysts open the snapshot, so their queries
    never hold a lock on the file the pipeline writes; an analyst who has the old snapshot
    open keeps reading the old file until they reconnect (os.replace swaps the name only).
    ``rewrite(con, catalog)`` (the pseudonymised snapshot, ``overlap.privacy.pseudonymise``)
    changes a staging copy of the warehouse first, and the snapshot is copied from that one,
    so it never holds an unrewritten row's bytes.
    """
    crash_point("publish:start")
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    # A publish that was killed left its whole-warehouse copy behind under its own pid.
    fileio.remove_orphans(snapshot.parent, snapshot.name)
    fileio.remove_orphans(marts_dir)
    # scratch, named like a temporary file so that a killed publish's is removed as an orphan
    stage = fileio.temp_path(snapshot.with_name(snapshot.name + ".stage"))
    with fileio.replacing(snapshot) as tmp:
        con = duckdb.connect()
        try:
            # ATTACH takes no bound parameters; both paths are ours, quotes doubled.
            con.execute(f"attach '{_sql_path(warehouse)}' as src (read_only)")
            source = "src"
            if rewrite is not None:
                con.execute(f"attach '{_sql_path(stage)}' as stage")
                con.execute("copy from database src to stage")
                rewrite(con, "stage")
                source = "stage"
            con.execute(f"attach '{_sql_path(tmp)}' as snap"
                        f" (storage_version '{SNAPSHOT_STORAGE_VERSION}')")
            con.execute(f"copy from database {source} to snap")
            con.execute("detach snap")
        finally:
            con.close()
            for scratch in (stage, stage.with_name(stage.name + ".wal")):
                scratch.unlink(missing_ok=True)
        crash_point("publish:before_replace")
    crash_point("publish:after_replace")
    marts_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(snapshot), read_only=True)
    try:
        for view in MART_VIEWS:
            with fileio.replacing(marts_dir / f"{view}.parquet") as part:
                # Fixed identifier and our own path: COPY's target cannot be a bound parameter.
                sql = f"copy (select * from {view}) to '{_sql_path(part)}' (format parquet)"  # noqa: S608
                con.execute(sql)
    finally:
        con.close()


def _sql_path(path: Path) -> str:
    # COPY ... TO takes no bound parameter for its target; the path is ours, quotes doubled.
    return str(path).replace("'", "''")
