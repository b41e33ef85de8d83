"""The incremental build's engine: one loop over the models in build order that applies each
model's declared kind (``overlap.incremental.kinds``) with the named scopes
(``overlap.incremental.scopes``) and the models' scoped inputs (``overlap.incremental.models``).

* ``incremental``: delete the scope's rows (unless the scope is fresh), append the file's
  statement run over the scoped inputs (``Build.append``). With ``over``: when the wider scope
  is larger, compute over it into a temp table and keep the scope's rows.
* ``set``: add the keys the statement gives over the new input rows that are not yet present
  (``_inc_n_<table>``), remove the scope's keys.
* ``delta``: the scope's old contribution was computed with the scope; combine.
* ``full``: nothing — unless the CRM's assignment facts (or a rule parameter of these
  CRM-only models) changed: then the file runs in full, the old rows of the period tables kept
  (``_inc_old_<table>``) for the ``crm`` scope to compare.

After the loop, the tables of ``Changes.rerun`` (a rule parameter they use changed: weights →
score_weekly) run in full, in file order.

A scope is computed as soon as the models it ``needs`` are up to date, in ``SCOPES`` order.
"""

# Every identifier in the SQL below is a fixed name or a table of the shipped model files;
# values are bound. Hence no S608 (string-built SQL) findings here.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Mapping

import duckdb

from overlap.incremental import models as model_inputs
from overlap.incremental import scopes
from overlap.incremental.context import Build, Changes, Scope
from overlap.incremental.kinds import Model, models
from overlap.sqlfiles import SqlFile, bound


def build_incremental(con: duckdb.DuckDBPyConnection, params: Mapping[str, object],
                      files: list[SqlFile], steps: dict[str, float],
                      scope: dict[str, int], changes: Changes | None = None) -> bool:
    """Apply the changes since the last build. Returns False (having changed no model table)
    when the raw tables changed in a way the loader did not record; the caller then
    rebuilds in full. ``changes``: what changed beside the loads (default: read from the
    build state, ``state.changes``)."""
    if changes is None:
        from overlap.incremental import state

        changes = state.changes(con, state.fingerprint(con, params, files), files)
    b = Build(con, params, models(files), steps, scope, changes)
    done: set[str] = set()
    try:
        _compute_scopes(b, done)
    except scopes.Unexplained:
        return False
    for model in b.models.values():
        if model.kind.strategy != "full":
            apply(b, model)
            b.lap(model.table)
        elif b.changes.crm:
            _rebuild(b, model)
        done.add(model.table)
        _compute_scopes(b, done)
    # what the scoped audits read (audit_inputs): the events of scope E are exactly the rows
    # this build appended (_inc_d_overlap_event_facts), their participants _inc_e_mp
    b.rows_of("_inc_audit_interactions", "match_interactions", "_inc_e",
              "_inc_s_match_interactions", "_inc_r", exact=b.same("_inc_r", "_inc_e"),
              nested=True)
    for table in b.changes.rerun:
        _rebuild(b, b.models[table])
        for view in _RERUN_AUDITED.get(table, {table: f"_inc_d_{table}"}).items():
            _replace_view(b, *view)
    return True


# What the scoped audits read (audit_inputs) once a table was re-run in full: all of it.
_RERUN_AUDITED: dict[str, dict[str, str]] = {
    "overlap_event_facts": {"overlap_event_facts": "_inc_d_overlap_event_facts",
                            "match_participants": "_inc_e_mp",
                            "match_interactions": "_inc_audit_interactions"},
    "score_weekly": {"score_weekly": "_inc_d_score_weekly",
                     "overlap_event_facts": "_inc_s_events"},
}


def _rebuild(b: Build, model: Model) -> None:
    """Run ``model``'s file in full (as a full build does), keeping the old rows of a CRM
    period table for the ``crm`` scope."""
    if model.table in scopes.CRM_PERIODS:
        b.x(f"create or replace temp table _inc_old_{model.table} as"
            f" select * from {model.table}")
    b.x(model.file.text, bound(model.file, b.params), label=f"FULL {model.table}")
    b.lap(model.table)


def _replace_view(b: Build, table: str, name: str) -> None:
    for kind, in b.x("select 'view' from duckdb_views() where temporary and view_name = ?"
                     " union all select 'table' from duckdb_tables() where temporary"
                     " and table_name = ?", [name, name]):
        b.x(f"drop {kind} temp.{name}")
    b.x(f"create temp view {name} as select * from {table}")


def _compute_scopes(b: Build, done: set[str]) -> None:
    """Compute every scope not yet computed whose needed models are done; then, for each,
    the old contribution of the ``delta`` models maintained by it."""
    for name, sd in scopes.SCOPES.items():
        if name in b.scopes or not all(n in done for n in sd.needs):
            continue
        sd.compute(b)
        for model in b.models.values():
            if model.kind.strategy == "delta" and model.kind.scope == name:
                delta = model_inputs.DELTAS[model.table]
                b.run(model.table, delta.old_inputs(b), into=f"_inc_old_{model.table}")
        b.lap("scope")


def apply(b: Build, model: Model) -> None:
    """Bring one model table up to date, as its kind declares."""
    kind = model.kind
    if kind.strategy == "full":
        return
    if kind.scope not in b.scopes:
        raise RuntimeError(f"incremental build: scope {kind.scope!r} of {model.table} is not"
                           " computed before it (overlap.incremental.scopes.SCOPES needs)")
    scope = b.scopes[kind.scope]
    inputs = model_inputs.INPUTS[model.table](b)
    if kind.strategy == "incremental":
        _replace(b, model, scope, inputs)
    elif kind.strategy == "set":
        _set(b, model, scope, inputs)
    else:  # delta
        model_inputs.DELTAS[model.table].combine(b, b.run(model.table, inputs))


def _replace(b: Build, model: Model, scope: Scope, inputs: Mapping[str, str]) -> None:
    table, kind = model.table, model.kind
    if scope.empty:  # nothing changed: the later steps read no appended rows
        b.x(f"create or replace temp table _inc_d_{table} as select * from {table} limit 0")
        return
    if not scope.fresh:
        on = " and ".join(f"{table}.{key} = k.{key}" for key in kind.keys)
        # (per key: the scope table holds each key's first changed value; the constant
        # bound, the smallest of them, lets the scan skip older row groups)
        since = (f" and {table}.{kind.since} >= k.{kind.since} and {table}.{kind.since} >= ?"
                 if kind.since else "")
        b.x(f"delete from {table} using {scope.table} as k where {on}{since}",
            [scope.since] if kind.since else None)
    if kind.over and not b.same(scope.table, b.scopes[kind.over].table):
        computed = b.run(table, inputs)
        b.top(table)
        b.x(f"insert into {table} select * from {computed}"
            f" semi join {scope.table} using ({', '.join(kind.keys)})")
    else:  # every row computed is kept: written once
        b.append(table, inputs)


def _set(b: Build, model: Model, scope: Scope, inputs: Mapping[str, str]) -> None:
    table, (key,) = model.table, model.kind.keys
    computed = b.run(table, inputs)
    b.x(f"create or replace temp table _inc_n_{table} as select n.* from {computed} as n"
        f" anti join {table} as m on m.{key} = n.{key}")
    b.x(f"insert into {table} select * from _inc_n_{table}")
    if not scope.fresh:
        b.x(f"delete from {table} using {scope.table} as g where {table}.{key} = g.{key}")


def audit_inputs(audit: SqlFile) -> dict[str, str]:
    """The scoped inputs of one audit after an incremental build: the rows the build wrote
    (events, participants and interactions of scope E; score rows of the changed pairs from
    the earliest changed week on, with their events). Rows outside the scopes did not change
    and passed the earlier audits."""
    if "score_weekly" in audit.text:  # (rows of the changed weeks on)
        return {"overlap_event_facts": "_inc_s_events",
                "score_weekly": "_inc_d_score_weekly"}
    return {"overlap_event_facts": "_inc_d_overlap_event_facts",
            "match_participants": "_inc_e_mp",
            "match_interactions": "_inc_audit_interactions"}
