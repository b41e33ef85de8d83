"""What the incremental build remembers between builds, and when it must rebuild in full.

The fingerprint has parts (docs/crm-history.md "Incremental builds"):

* ``identity`` — the CRM's identity facts (accounts and their names, reps and their names,
  domains, contacts, aliases, internal and free-mail domains; the latest snapshot, applied to
  all time): a change is a full rebuild. An identity correction can change the parties of
  every interaction of all time (rules 1-4), it is rare, and the full rebuild is the checked
  reference — a domain-scoped rebuild is not worth its risk.
* ``assignment`` — the effective-dated facts (owner, team, manager, active; the history
  tables and ownership.csv): a change is an incremental build that rebuilds the CRM-only
  models and the interactions whose facts changed, from the earliest moment the change takes
  effect (``overlap.incremental.scopes.crm``).
* ``params`` — the rule parameters, each compared alone: a parameter of a CRM-only model
  (``management_chain``) is handled like an assignment change; any other is an incremental
  build that then re-runs in full the model files that use it and every file downstream
  (weights → the scores only), see ``Changes``.
* ``sql`` — the model files: a change is a full rebuild.
"""

# Every identifier in the SQL below is a fixed name; values are bound. Hence no S608.
# ruff: noqa: S608

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

import duckdb

from overlap.crm import CRM_INPUTS as CRM_TABLES_AND_HISTORY
from overlap.incremental.context import Changes
from overlap.incremental.kinds import models, reads
from overlap.incremental.scopes import BUILT, EXTRACT_COLS
from overlap.sqlfiles import SqlFile, model_tables

STATE = "model_build_state"  # one row: the fingerprint (JSON of its parts) of the last build

# Inputs of the model that are not raw copies (the latest snapshot and the history, rule 10).
CRM_INPUTS = CRM_TABLES_AND_HISTORY

# The columns of each CRM table that are identity facts; every other column (and every
# other CRM input) is an assignment fact. `line` decides which of two duplicate rows wins.
IDENTITY: dict[str, str] = {
    "crm_accounts": "account_id, account_name, line",
    "crm_account_domains": "*",
    "crm_reps": "email, name, team, line",
    "crm_rep_aliases": "*",
    "crm_contacts": "*",
    "company_domains": "*",
    "freemail_domains": "*",
    # approvals.csv (rule 6): an approval recategorises the events of its (account, rep) over
    # its interval, of any time — a manager's rare act; decided: a full rebuild, like an
    # identity correction, rather than a scope of its own
    "crm_approvals": "*",
}
# CRM inputs no model reads: what an API CRM's import said about itself (data_quality only)
NOT_READ = ("crm_notes",)
ASSIGNMENT: dict[str, str] = {
    "crm_accounts": "account_id, owner_email",
    "crm_account_team": "*",
    "crm_reps": "email, manager_email, active",
    "crm_ownership": "*",
    "crm_account_history": "*",
    "crm_rep_history": "*",
}
assert set(IDENTITY) | set(ASSIGNMENT) | set(NOT_READ) == set(CRM_INPUTS), \
    "a CRM input in no part"


def ensure_state(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create table if not exists {STATE} (fingerprint varchar, built_at timestamptz)")
    con.execute(f"create table if not exists {BUILT} (run_id varchar, source varchar,"
                " mailbox varchar, window_start timestamptz, window_end timestamptz,"
                " finished_at timestamptz)")


def _hash_tables(con: duckdb.DuckDBPyConnection, columns: Mapping[str, str]) -> str:
    h = hashlib.sha256()
    for name, cols in columns.items():
        row = con.execute(f"select count(*), coalesce(sum(hash(t)), 0)::varchar"
                          f" from (select {cols} from {name}) as t").fetchone()
        h.update(f"{name}:{row}\n".encode())
    return h.hexdigest()


def fingerprint(con: duckdb.DuckDBPyConnection, params: Mapping[str, object],
                files: Iterable[SqlFile]) -> str:
    """The parts (JSON): hashes of the CRM's identity and assignment facts (row count and
    order-free sum of row hashes per table), the bound parameters, a hash of the model SQL."""
    sql = hashlib.sha256()
    for f in files:
        sql.update(f.name.encode() + b"\0" + f.text.encode())
    return json.dumps({"identity": _hash_tables(con, IDENTITY),
                       "assignment": _hash_tables(con, ASSIGNMENT),
                       "params": {k: str(v) for k, v in sorted(params.items())},
                       "sql": sql.hexdigest()}, sort_keys=True)


def _previous(con: duckdb.DuckDBPyConnection) -> dict | None:
    rows = con.execute(f"select fingerprint from {STATE}").fetchall()
    try:
        parts = json.loads(rows[0][0]) if rows else None
    except (TypeError, ValueError):
        return {}  # a state from before the fingerprint had parts
    return parts if isinstance(parts, dict) else {}


def full_build_reason(con: duckdb.DuckDBPyConnection, fp: str) -> str | None:
    """Why the build must be a full rebuild, or None when an incremental one is exact."""
    before = _previous(con)
    if before is None:
        return "no previous build"
    now = json.loads(fp)
    if set(before) != set(now) or set(before.get("params", {})) != set(now["params"]):
        return "build state from an older version"
    if before["sql"] != now["sql"]:
        return "model SQL changed"
    if before["identity"] != now["identity"]:
        return "CRM identity facts changed (accounts, reps, domains, contacts, aliases)"
    if not all(_exists(con, t) for t in model_tables()):
        return "model table missing"
    return None


def changes(con: duckdb.DuckDBPyConnection, fp: str, files: list[SqlFile]) -> Changes:
    """What an incremental build (``full_build_reason`` gave None) has to do beyond the
    loads: the CRM-only models when an assignment fact or one of their parameters changed,
    and the model files using a changed parameter, with everything downstream of them."""
    before, now = _previous(con) or {}, json.loads(fp)
    changed = {k for k, v in now["params"].items() if before["params"].get(k) != v}
    crm = before["assignment"] != now["assignment"]
    rerun: set[str] = set()
    for m in models(files):
        uses = any(f"${p}" in m.file.text for p in changed)
        if m.kind.strategy == "full":
            crm = crm or uses
        elif uses or reads(m.file) & rerun:
            rerun.add(m.table)
    return Changes(crm=crm, rerun=tuple(m.table for m in models(files) if m.table in rerun))


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
