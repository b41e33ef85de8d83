"""Run the SQL shipped in the ``sql`` package: migrations, models, views and audits.

* ``sql/schema/NNN_*.sql`` — numbered migrations of the raw tables. ``migrate`` applies the ones
  not yet in ``schema_migrations``, each in its own transaction, then (re)creates the views.
* ``sql/model/*.sql`` — one ``create or replace table <name> as …`` per file, run in file-name
  order by ``build`` inside ONE transaction, followed by the audits; any failure rolls the whole
  build back, so readers never see half a model. Each file's header declares how an
  incremental build maintains it (``-- kind:``; ``overlap.incremental`` applies it).
* ``sql/views/*.sql`` — the analyst contract (docs/architecture.md §5): ``create or replace
  view``. DuckDB binds a view when it is created, so the model tables must exist first: on a
  fresh warehouse ``migrate`` builds the (empty) models once before creating the views, and
  every ``build`` re-creates the views in its transaction, so views and models never disagree.
* ``sql/audits/*.sql`` — queries that must return no rows; the first that returns rows raises
  ``AuditFailed(<file stem>, rows, sample)``.

Parameters: values are always bound, never formatted into SQL. DuckDB 2.0 accepts named
parameters (``$dormant_days``) inside ``CREATE TABLE … AS``, including in recursive CTEs, so
each model binds them directly. DuckDB rejects a parameter the statement does not use, so each
file is given only the names it references (found by a regex over the file with comments and
string literals removed). Identifiers never come from input: table names are those of the files
shipped in the package. Reading the files (``overlap.sqlfiles``) is shared with
``overlap.incremental``, which this module calls and which does not import it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import duckdb

from overlap import incremental as inc
from overlap.config import Config, Rules
from overlap.errors import AuditFailed, rollback
from overlap.sqlfiles import (
    LINE_COMMENT,
    TRACE,
    SqlFile,
    bound,
    model_tables,
    sql_files,
    substitute,
    target,
)

__all__ = ["BuildStats", "SqlFile", "build", "create_views", "default_params", "migrate",
           "model_tables", "params_from_config", "params_from_rules", "run_audits", "sql_files"]

AUDIT_SAMPLE = 5

_VIEW = re.compile(r"create\s+or\s+replace\s+view\s+([a-z_][a-z0-9_]*)\s", re.IGNORECASE)
_MIGRATION = re.compile(r"^(\d+)_[A-Za-z0-9_-]+\.sql$")


@dataclass(frozen=True)
class BuildStats:
    """What a build did: rows per model table (in build order), audits passed, seconds taken,
    ``mode`` (``full`` or ``incremental``, with ``reason`` when a full build was chosen),
    seconds per step (model file, ``scope``, ``views``, ``audits``) and, for an incremental
    build, the size of its scopes (``scope``: copies, interactions, events, …)."""

    tables: dict[str, int] = field(default_factory=dict)
    audits: int = 0
    seconds: float = 0.0
    mode: str = "full"
    reason: str = ""
    steps: dict[str, float] = field(default_factory=dict)
    scope: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def params_from_rules(rules: Rules, timezone: str) -> dict[str, object]:
    """Bound parameters for the models: ``$dormant_days``, ``$management_chain``, ``$handoff_days``,
    ``$heads_up_days``, ``$heads_up_max_people``, ``$broadcast_recipients``, ``$timezone`` and ``$w_<field>`` for every field of ``Weights``."""
    params: dict[str, object] = {
        "dormant_days": int(rules.dormant_days),
        "management_chain": bool(rules.management_chain),
        "handoff_days": int(rules.handoff_days),
        "heads_up_days": int(rules.heads_up_days),
        "heads_up_max_people": int(rules.heads_up_max_people),
        "broadcast_recipients": int(rules.broadcast_recipients),
        "timezone": timezone,
    }
    for name, value in asdict(rules.weights).items():
        params[f"w_{name}"] = float(value)
    return params


def params_from_config(config: Config) -> dict[str, object]:
    """Bound parameters for the models from a loaded ``overlap.toml``."""
    return params_from_rules(config.rules, config.timezone)


def default_params() -> dict[str, object]:
    """The parameters of the default rules in UTC (used to create empty models on a fresh DB)."""
    return params_from_rules(Rules(), "UTC")


def _table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    found = con.execute(
        "select count(*) from duckdb_tables() where table_name = ? and schema_name = 'main'",
        [name],
    ).fetchall()
    return bool(found[0][0])


def applied_migrations(con: duckdb.DuckDBPyConnection) -> set[int]:
    """Versions recorded in ``schema_migrations`` (empty on a fresh database)."""
    if not _table_exists(con, "schema_migrations"):
        return set()
    return {int(v) for (v,) in con.execute("select version from schema_migrations").fetchall()}


def migrate(con: duckdb.DuckDBPyConnection, params: Mapping[str, object] | None = None) -> list[int]:
    """Apply pending ``sql/schema`` migrations (one transaction each), make sure the model
    tables exist, and (re)create the views. Returns the versions applied now.

    The models are built (with ``params``, default rules if None) only when a model table is
    missing or a view no longer binds to them — a fresh warehouse, or new SQL after an upgrade.
    """
    done = applied_migrations(con)
    applied: list[int] = []
    for f in sql_files("schema"):
        match = _MIGRATION.match(f.name)
        if match is None:
            raise ValueError(f"sql/schema/{f.name}: migrations are named NNN_description.sql")
        version = int(match.group(1))
        if version in done:
            continue
        con.begin()
        try:
            con.execute(f.text)
            con.execute(
                "insert into schema_migrations (version, applied_at) values (?, ?)",
                [version, datetime.now(UTC)],
            )
            con.commit()
        except BaseException:
            rollback(con)
            raise
        applied.append(version)

    build_params = params if params is not None else default_params()
    if not all(_table_exists(con, t) for t in model_tables()):
        build(con, build_params)  # also creates the views
        return applied
    try:
        con.begin()
        try:
            create_views(con)
            con.commit()
        except BaseException:
            rollback(con)
            raise
    except (duckdb.BinderException, duckdb.CatalogException):
        # a view names a column the existing model tables lack: rebuild them from the new SQL
        build(con, build_params)
    return applied


def create_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    """(Re)create every view of ``sql/views``; returns their names. No transaction of its own."""
    names = []
    for f in sql_files("views"):
        match = _VIEW.search(LINE_COMMENT.sub("", f.text))
        if match is None:
            raise ValueError(f"sql/views/{f.name}: expected 'create or replace view <name> as'")
        con.execute(f.text)
        names.append(match.group(1).lower())
    return names


def run_audits(con: duckdb.DuckDBPyConnection, params: Mapping[str, object] | None = None,
               scoped: Callable[[SqlFile], Mapping[str, str]] | None = None) -> int:
    """Run every ``sql/audits`` query; raise AuditFailed for the first that returns rows.
    Returns the number of audits that passed. ``scoped`` (an incremental build) maps an
    audit to the scoped tables its unqualified table references are replaced with."""
    files = sql_files("audits")
    for f in files:
        text = f.text
        for name, scope in (scoped(f) if scoped else {}).items():
            text = substitute(text, name, scope)
        t0 = time.perf_counter()
        cursor = con.execute(text, bound(f, params or {}))
        sample = cursor.fetchmany(AUDIT_SAMPLE)
        if TRACE:
            print(f"{time.perf_counter() - t0:6.3f} AUDIT {f.stem}")
        if sample:
            rows = len(sample)
            while batch := cursor.fetchmany(10_000):
                rows += len(batch)
            raise AuditFailed(f.stem, rows, [tuple(r) for r in sample])
    return len(files)


def build(con: duckdb.DuckDBPyConnection, params: Mapping[str, object], *,
          incremental: bool = False,
          prepare: Callable[[duckdb.DuckDBPyConnection], object] | None = None) -> BuildStats:
    """Build the model tables (file-name order), re-create the views and run the audits, all
    in one transaction: on any error, AuditFailed included, nothing changes.

    ``incremental=True`` (what the pipeline asks for) recomputes only what the loads since the
    last build can have changed (``overlap.incremental``); it falls back to a full rebuild when
    there is no build state yet, or the CRM snapshot, the rule parameters or the model SQL
    changed. Either way the tables are identical to a full rebuild's, and every audit runs over
    the whole model. ``prepare`` changes raw tables first, in the same transaction
    (``overlap forget``: the erasure and the model without it commit together)."""
    started = time.perf_counter()
    steps: dict[str, float] = {}
    scope: dict[str, int] = {}
    con.begin()
    try:
        if prepare is not None:
            prepare(con)
        t0 = time.perf_counter()
        inc.ensure_state(con)
        fingerprint = inc.fingerprint(con, params, sql_files("model"))
        fingerprint_s = time.perf_counter() - t0
        reason = "requested" if not incremental else inc.full_build_reason(con, fingerprint)
        if reason is None:
            done = inc.build_incremental(con, params, sql_files("model"), steps, scope)
            if not done:
                reason = "raw tables changed outside the loader"
        if reason is not None:
            steps.clear()
            scope.clear()
            for f in sql_files("model"):
                t0 = time.perf_counter()
                con.execute(f.text, bound(f, params))
                steps[target(f)] = time.perf_counter() - t0
        steps["fingerprint"] = fingerprint_s
        t0 = time.perf_counter()
        inc.save_state(con, fingerprint)
        tables = {t: int(con.table(t).aggregate("count(*)").fetchall()[0][0])
                  for t in model_tables()}
        steps["state"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        create_views(con)
        steps["views"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        # An incremental build audits the rows it wrote; a full build audits everything.
        audits = (run_audits(con, params) if reason is not None
                  else run_audits(con, params, scoped=inc.audit_inputs))
        steps["audits"] = time.perf_counter() - t0
        inc.cleanup(con)
        t0 = time.perf_counter()
        con.commit()
        steps["commit"] = time.perf_counter() - t0
    except BaseException:
        rollback(con)
        raise
    return BuildStats(tables=tables, audits=audits, seconds=time.perf_counter() - started,
                      mode="full" if reason is not None else "incremental",
                      reason=reason or "", steps=steps, scope=scope)
