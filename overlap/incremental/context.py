"""What every step of an incremental build works with: ``Build`` (the connection, the model
files, timing, and the few statement shapes every step uses) and ``Scope`` (a computed scope).

Temporary tables and views of a build are named ``_inc_*`` (``cleanup`` drops them):
``_inc_d_<table>`` the rows a step appended to ``<table>``, ``_inc_s_<table>`` a scope's rows
of ``<table>``, ``_inc_old_*`` rows as they were before the build changed them.
"""

# Every identifier in the SQL below is a fixed name or a table of the shipped model files;
# values are bound. Hence no S608 (string-built SQL) findings here.
# ruff: noqa: S608

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb

from overlap.incremental.kinds import Model
from overlap.sqlfiles import TRACE, bound, scoped

# The model tables with 64-bit hashes of id columns — the first 16 hex digits of the md5
# ids, written by their model files — by table and id column: ``Build.history_rows``.
HASHED: dict[str, dict[str, str]] = {
    "match_interactions": {"interaction_id": "interaction_hash", "thread_id": "thread_hash"},
    "match_participants": {"interaction_id": "interaction_hash"},
}


def hash64(column: str) -> str:
    """SQL: the first 64 bits of an md5 id (the ``HASHED`` columns)."""
    return f"cast('0x' || left({column}, 16) as ubigint)"


@dataclass(frozen=True)
class Scope:
    """A computed scope: ``table`` holds its keys (the key columns of the models declaring
    it). ``fresh``: no model row of any of its keys exists yet — nothing to delete or read
    back. ``since``: the first changed value of a model's ``since`` column. ``empty``: no
    key at all — the models declaring the scope are left alone."""

    name: str
    table: str
    fresh: bool = False
    since: Any = None  # a week (date) or None
    empty: bool = False


@dataclass(frozen=True)
class Changes:
    """What changed since the last build that an incremental build handles beyond the loads
    (``overlap.incremental.state.changes``): ``crm`` — the CRM-only (``full``) models are
    rebuilt and the interactions their changes touch are scoped (``scopes.crm``); ``rerun``
    — model tables re-run in full after the incremental pass, in file order (a rule
    parameter they use changed, or one of a table they read)."""

    crm: bool = False
    rerun: tuple[str, ...] = ()


class Build:
    """One incremental build in progress (inside the caller's transaction)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, params: Mapping[str, object],
                 models: list[Model], steps: dict[str, float], scope: dict[str, int],
                 changes: Changes | None = None) -> None:
        self.con = con
        self.changes = changes or Changes()
        self.params = params
        self.models = {m.table: m for m in models}
        self.steps = steps
        self.sizes = scope  # the sizes of the scopes, reported in BuildStats.scope
        self.scopes: dict[str, Scope] = {}
        # per model table this build inserted into: its largest row id before (``top``)
        self.tops: dict[str, int] = {}
        self._clock = time.perf_counter()

    def x(self, sql: str, args: object = None, label: str = "") -> list[Any]:
        """Run one statement; its rows (traced with OVERLAP_TRACE_INCREMENTAL=1)."""
        t0 = time.perf_counter()
        rows = self.con.execute(sql, args).fetchall()
        if TRACE:
            print(f"{time.perf_counter() - t0:6.3f} {label or sql[:90]}")
        return rows

    def value(self, sql: str, args: object = None) -> Any:
        """The one value a query returns."""
        return self.con.execute(sql, args).fetchall()[0][0]

    def lap(self, name: str) -> None:
        """Add the time since the last lap to step ``name``."""
        now = time.perf_counter()
        self.steps[name] = self.steps.get(name, 0.0) + now - self._clock
        self._clock = now

    def count(self, table: str) -> int:
        return int(self.value(f"select count(*) from {table}"))

    def count_from(self, table: str, week: object) -> int:
        """Rows of ``table`` from ``week`` on (a constant bound: older row groups skipped)."""
        return int(self.value(f"select count(*) from {table} where week_start >= ?", [week]))

    def same(self, a: str, b: str) -> bool:
        """Key sets ``a`` and ``b`` (distinct keys), one a subset of the other by construction,
        are equal: their sizes tell, no join needed."""
        return self.count(a) == self.count(b)

    def run(self, table: str, inputs: Mapping[str, str], into: str = "") -> str:
        """Run ``table``'s model file over ``inputs`` into temp table ``into`` (default
        ``_inc_d_<table>``); returns its name."""
        f = self.models[table].file
        into = into or f"_inc_d_{table}"
        self.x(scoped(f, f"create or replace temp table {into} as ", inputs),
               bound(f, self.params), label=f"RUN {table}")
        return into

    def top(self, table: str) -> int:
        """The largest row id of ``table`` before this build appends to it (-1: empty),
        kept in ``tops``: the rows it appends are numbered above it."""
        (top,), = self.x(f"select coalesce(max(rowid), -1) from {table}")
        self.tops[table] = int(top)
        return int(top)

    def append(self, table: str, inputs: Mapping[str, str]) -> str:
        """Run the file straight into its model table — written once, as a full build's
        ``create table as`` writes it, not into a scratch table and then copied — and return
        ``_inc_d_<table>``: a view of the rows it appended, which the later scopes read. DuckDB
        numbers the rows a transaction appends past every row id the table had (its deletes
        leave the numbers of the other rows alone), so they are the rows above the largest
        row id before the insert, a filter its scan applies per row group; the view's size is
        checked against the insert's."""
        f = self.models[table].file
        top = self.top(table)
        (appended,), = self.x(scoped(f, f"insert into {table} by name ", inputs),
                              bound(f, self.params), label=f"APPEND {table}")
        view = f"_inc_d_{table}"
        self.x(f"create or replace temp view {view} as select * from {table}"
               f" where rowid > {top}")
        if self.count(view) != appended:
            raise RuntimeError(f"incremental build: {table} has {self.count(view)} rows past"
                               f" row id {top}, the insert appended {appended}")
        return view

    def history_rows(self, into: str, table: str, select: str, ids: str,
                     column: str = "interaction_id", where: str = "true") -> None:
        """``into`` := ``select`` of the rows of ``table`` whose ``column`` is one of the ids
        of query ``ids`` (one column, ``id``), in three statements (docs/architecture.md,
        "History lookups by narrow keys"): the row ids whose 64-bit hash of ``column``
        (``HASHED``) matches, reading that one column of all of history; those rows'
        columns, by row id; the rows whose id itself matches. ``where`` may name only
        ``i.rowid``. At M after 51 weeks (14M interactions): the 32-character id column
        scanned took 0.9 s; the hash with the other columns in the same scan 0.3-0.4 s
        (DuckDB decompresses a column's whole vector for one row that passes, and the
        hash's Bloom filter passes ~0.6% of all rows); the hash alone 0.04 s. The distinct
        ids stay in ``_inc_ids`` until the next lookup (the thread step reads them again)."""
        self.x(f"create or replace temp table _inc_ids as select distinct id, {hash64('id')}"
               f" as h from ({ids}) where id is not null")
        self.x("create or replace temp table _inc_hash_rowids as select i.rowid as row_id"
               f" from {table} as i semi join _inc_ids as k on k.h = i.{HASHED[table][column]}"
               f" where {where}")
        self.x(f"create or replace temp table _inc_hash_rows as select {select},"
               f" i.{column} as _id from {table} as i"
               " semi join _inc_hash_rowids as r on r.row_id = i.rowid")
        self.x(f"create or replace temp table {into} as select * exclude (_id)"
               " from _inc_hash_rows semi join _inc_ids as k on k.id = _id")

    def of_interactions(self, into: str, table: str, keys: str, *,
                        create: bool = True) -> None:
        """``into`` := (``create``) or += the rows of model table ``table`` of the
        interactions of query ``keys`` (one column, ``interaction_id``): by the hash where
        ``table`` has one (``history_rows``), else by the id."""
        if table in HASHED:
            found = into if create else f"{into}_found"
            self.history_rows(found, table, "i.*", f"select interaction_id as id from ({keys})")
            if not create:
                self.x(f"insert into {into} select * from {found}")
            return
        rows = f"select * from {table} semi join ({keys}) using (interaction_id)"
        self.x((f"create or replace temp table {into} as " if create
                else f"insert into {into} ") + rows)

    def rows_of(self, into: str, table: str, keys: str, known: str, known_keys: str, *,
                exact: bool, within: bool = False, nested: bool = False) -> None:
        """``into`` := the rows of model table ``table`` of the interactions in ``keys``.
        ``known`` holds all of ``table``'s rows of the interactions in ``known_keys`` (rows
        this build just computed or fetched and will not change; it may hold rows of other
        interactions too), so ``table`` itself — all of history — is read only for the
        interactions of ``keys`` outside ``known_keys``, and not at all when ``within``
        (``keys`` is a subset of ``known_keys`` by construction). ``exact``: ``known`` holds
        exactly the rows wanted — the caller knows it from the sizes of nested key sets
        (``same``) — and ``into`` is a view of it: no copy, and no filter to run again at
        every use. ``nested``: ``known`` holds exactly the rows of ``known_keys``, a subset of
        ``keys`` by construction: ``into`` is a view of ``known`` and the history rows of the
        other keys (no copy of ``known``)."""
        if exact:
            self.x(f"create or replace temp view {into} as select * from {known}")
            return
        others = (f"select interaction_id from {keys}"
                  f" except select interaction_id from {known_keys}")
        if nested:
            self.of_interactions(f"{into}_more", table, others)
            self.x(f"create or replace temp view {into} as select * from {known}"
                   f" union all select * from {into}_more")
            return
        part = f"select * from {known} semi join {keys} using (interaction_id)"
        if keys != known_keys:
            part += f" semi join {known_keys} using (interaction_id)"
        self.x(f"create or replace temp table {into} as {part}")
        if not within:
            self.of_interactions(into, table, others, create=False)
