"""Shared helpers of the reliability tests: a small generated organisation, warehouse
fingerprints, and the loop bounds (OVERLAP_RELIABILITY_ITERATIONS, _SECONDS)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

from sandbox.generator import GeneratedOrg, generate

REPO = Path(__file__).resolve().parents[2]
# run_log (and the runs view, and data_quality's run ids) differ between runs by design;
# schema_migrations records when; sync_state.updated_at is a timestamp and its cursor an
# opaque provider token (compared separately where it matters). CRM history (rule 10): every
# import is recorded in crm_snapshots and stamped with the wall-clock time of the import by
# default, so the stamps differ between runs by design (an unchanged import adds no history).
SKIP = {"run_log", "runs", "schema_migrations", "crm_snapshots"}
SKIP_COLUMNS = {"sync_state": {"updated_at"}, "data_quality": {"run_id"},
                "reported_weeks": {"run_id"}, "crm_account_history": {"as_of"},
                "crm_rep_history": {"as_of"}}


def iterations(default: int) -> int:
    """Random iterations of a loop: OVERLAP_RELIABILITY_ITERATIONS, else ``default``."""
    return max(1, int(os.environ.get("OVERLAP_RELIABILITY_ITERATIONS", default)))


def time_budget(default: float) -> float:
    """Seconds a randomized loop may run (at least one iteration always runs)."""
    return float(os.environ.get("OVERLAP_RELIABILITY_SECONDS", default))


def small_org(path: Path, seed: int = 5) -> GeneratedOrg:
    return generate(path, seed=seed, weeks=3, reps=12, accounts=8, emails_per_week=60,
                    meetings_per_week=10, planted=False)


def tables(db: Path, *, skip_columns: dict[str, set[str]] | None = None
           ) -> dict[str, list[tuple[object, ...]]]:
    """Every table and view of ``db`` (but SKIP), rows sorted: what 'equal warehouses' means."""
    skip_cols = {**SKIP_COLUMNS, **(skip_columns or {})}
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = [r[0] for r in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'main'"
            " union select view_name from duckdb_views()"
            " where schema_name = 'main' and not internal").fetchall()]
        out = {}
        # model_build_*: the incremental model's bookkeeping (which run_log rows it saw).
        for name in sorted(n for n in set(names) - SKIP if not n.startswith("model_build_")):
            cols = [r[0] for r in con.execute(
                "select column_name from duckdb_columns() where table_name = ?"
                " and schema_name = 'main' order by column_index", [name]).fetchall()]
            keep = ", ".join(f'"{c}"' for c in cols if c not in skip_cols.get(name, set()))
            out[name] = con.execute(f'select {keep} from "{name}" order by all').fetchall()  # noqa: S608
        return out
    finally:
        con.close()


def diff(a: dict[str, list[tuple[object, ...]]], b: dict[str, list[tuple[object, ...]]]
         ) -> dict[str, tuple[int, int]]:
    """Tables that differ: name → (rows only in a, rows only in b)."""
    out = {}
    for name in sorted(set(a) | set(b)):
        ra, rb = a.get(name, []), b.get(name, [])
        if ra != rb:
            sa, sb = set(map(repr, ra)), set(map(repr, rb))
            out[name] = (len(sa - sb), len(sb - sa))
    return out


def copy_workspace(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def cli_run(config: Path, week: str, *, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`overlap run` for one ISO week in a child process (one extract worker)."""
    return subprocess.run(
        [sys.executable, "-m", "overlap.cli", "run", "--config", str(config), "--week", week,
         "--workers", "1", "-q"],
        cwd=REPO, env={**os.environ, **(env or {})}, capture_output=True, text=True,
        timeout=timeout, check=False)
