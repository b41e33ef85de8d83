"""What the incremental build remembers between builds, and when it must rebuild in full."""

# Every identifier in the SQL below is a fixed name; values are bound. Hence no S608.
# ruff: noqa: S608

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

import duckdb

from overlap.crm import CRM_INPUTS as CRM_TABLES_AND_HISTORY
from overlap.incremental.scopes import BUILT, EXTRACT_COLS
from overlap.sqlfiles import SqlFile, model_tables

STATE = "model_build_state"  # one row: the fingerprint of the last build

# Inputs of the model that are not raw copies: a change to any of them means a full rebuild.
CRM_INPUTS = CRM_TABLES_AND_HISTORY  # the latest snapshot and the history (rule 10)


def ensure_state(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create table if not exists {STATE} (fingerprint varchar, built_at timestamptz)")
    con.execute(f"create table if not exists {BUILT} (run_id varchar, source varchar,"
                " mailbox varchar, window_start timestamptz, window_end timestamptz,"
                " finished_at timestamptz)")


def fingerprint(con: duckdb.DuckDBPyConnection, params: Mapping[str, object],
                files: Iterable[SqlFile]) -> str:
    """Hash of the CRM snapshot (row count and order-free sum of row hashes per table), the
    bound parameters and the model SQL."""
    h = hashlib.sha256()
    for name in CRM_INPUTS:
        row = con.execute(
            f"select count(*), coalesce(sum(hash(t)), 0)::varchar from {name} as t").fetchone()
        h.update(f"{name}:{row}\n".encode())
    h.update(json.dumps({k: str(v) for k, v in params.items()}, sort_keys=True).encode())
    for f in files:
        h.update(f.name.encode() + b"\0" + f.text.encode())
    return h.hexdigest()


def full_build_reason(con: duckdb.DuckDBPyConnection, fp: str) -> str | None:
    """Why the build must be a full rebuild, or None when an incremental one is exact."""
    rows = con.execute(f"select fingerprint from {STATE}").fetchall()
    if not rows:
        return "no previous build"
    if rows[0][0] != fp:
        return "CRM, rule parameters or model SQL changed"
    if not all(_exists(con, t) for t in model_tables()):
        return "model table missing"
    return None


def save_state(con: duckdb.DuckDBPyConnection, fp: str) -> None:
    con.execute(f"delete from {STATE}")
    con.execute(f"insert into {STATE} values (?, now())", [fp])
    con.execute(f"delete from {BUILT}")
    con.execute(f"insert into {BUILT} select {EXTRACT_COLS} from run_log"
                " where scope = 'extract' and status = 'succeeded'")


def cleanup(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the build's temporary tables and views."""
    for kind, name in con.execute(
            "select 'view', view_name from duckdb_views() where temporary"
            " and starts_with(view_name, '_inc_') union all select 'table', table_name"
            " from duckdb_tables() where temporary and starts_with(table_name, '_inc_')"
            " order by 1 desc").fetchall():
        con.execute(f"drop {kind} temp.{name}")


def _exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(con.execute("select count(*) from duckdb_tables() where table_name = ?"
                            " and schema_name = 'main'", [name]).fetchall()[0][0])
