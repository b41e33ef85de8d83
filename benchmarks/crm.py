"""The cost of CRM changes, of a rules change and of a long history (issue 14), measured on
benchmarks/synth.py's organisations like `make bench`'s history scenario:

    python -m benchmarks.crm [--size M|L] [--weeks 52] [--out benchmarks/results.json]

* ``week_with_crm_change_vs_plain_week`` — on 12 weeks of history, week 13's load + model
  with a CRM snapshot that reassigns 1% of the accounts and deactivates 1% of the reps,
  divided by the same run with the CRM unchanged (each the median of REPEATS runs on a copy
  of the 12-week warehouse). Target <= 1.3.
* ``weights_change_rebuild_vs_full`` — on the 12 weeks, the build after a change of the
  score weights (incremental: the scores are re-run) divided by a full rebuild. Target <= 0.2.
* ``history_week52_vs_week1`` — with ``--weeks 52``: the weekly runs go on to week 52 (each
  incremental); week 52's load + model divided by week 1's (medians). Target <= 1.3.

The rows are merged into ``--out``: a row of the same name and size is replaced, the others
are kept. Nothing here is a test: a missed target prints FAIL.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import duckdb

from benchmarks.run import (
    FIRST_WEEK,
    REPEATS,
    Result,
    at_most,
    keep_warehouse,
    load_model_median,
    step,
    table,
)
from benchmarks.synth import SIZES, Size, stage_week, week_window, write_org
from connectors.records import Window

WEIGHTS = "\n[rules.weights]\nemail = 2.0\nhigh = 6.0\n"


def change_crm(root: Path, share: float = 0.01) -> tuple[int, int]:
    """Rewrite the CRM export: ``share`` of the accounts (at least one) to the next rep of
    the list, ``share`` of the active reps (at least one) deactivated, picked by hash across
    the lists. Returns (accounts, reps) changed."""
    crm = root / "crm"
    accounts_csv, reps_csv = crm / "accounts.csv", crm / "reps.csv"
    con = duckdb.connect()
    # (the lines keep their order: which of two duplicates wins is an identity fact)
    con.execute("create table a as select row_number() over () as n, *"
                f" from read_csv('{accounts_csv}', all_varchar = true)")
    con.execute("create table r as select row_number() over () as n, *"
                f" from read_csv('{reps_csv}', all_varchar = true)")
    pick = ("qualify row_number() over (order by hash({key}))"
            " <= greatest(1, round(count(*) over () * {share}))")
    con.execute("create table moved as select account_id from a "
                + pick.format(key="account_id", share=share))
    con.execute("create table gone as select email from r where active = 'true' "
                + pick.format(key="email || 'x'", share=share))
    # owners are rep<n>@corp.example: the new owner is rep<n+1>
    con.execute(
        "copy (select a.* exclude (n) replace (case when m.account_id is null then a.owner_email else"
        "  'rep' || ((regexp_extract(a.owner_email, 'rep(\\d+)@', 1)::integer + 1)"
        "  % (select count(*) from r)) || '@corp.example' end as owner_email)"
        f" from a left join moved as m using (account_id) order by a.n)"
        f" to '{crm / 'accounts.new.csv'}'"
        " (header)")
    con.execute(
        "copy (select r.* exclude (n) replace (case when g.email is null then r.active else 'false' end"
        f" as active) from r left join gone as g using (email) order by r.n)"
        f" to '{crm / 'reps.new.csv'}'"
        " (header)")
    counts = (con.execute("select count(*) from moved").fetchall()[0][0],
              con.execute("select count(*) from gone").fetchall()[0][0])
    con.close()
    for name in ("accounts", "reps"):
        shutil.copyfile(crm / f"{name}.csv", crm / f"{name}.orig.csv")
        (crm / f"{name}.new.csv").replace(crm / f"{name}.csv")
    return int(counts[0]), int(counts[1])


def restore_crm(root: Path) -> None:
    for name in ("accounts", "reps"):
        (root / "crm" / f"{name}.orig.csv").replace(root / "crm" / f"{name}.csv")


def _median_on_copy(saved: Path, wh: Path, run: Callable[[], dict[str, float]],
                    key: Callable[[dict[str, float]], float],
                    repeats: int = REPEATS) -> tuple[float, list[float]]:
    """The median of ``repeats`` runs, each on a fresh copy of the warehouse ``saved``."""
    values = []
    for _ in range(repeats):
        shutil.copyfile(saved, wh)
        wh.with_name(wh.name + ".wal").unlink(missing_ok=True)
        values.append(key(run()))
    return sorted(values)[len(values) // 2], values


def _stage(root: Path, size: Size, k: int) -> Path:
    week = FIRST_WEEK + timedelta(weeks=k)
    ms = stage_week(root, size, week, seed=k + 1)
    mf = root / f"week{k + 1}.json"
    mf.write_text(json.dumps([str(m) for m in ms]))
    return mf


def _drop_parts(root: Path, k: int) -> None:
    """A loaded week's staged Parquet (52 weeks at M would not fit a small disk)."""
    start, end = week_window(FIRST_WEEK + timedelta(weeks=k))
    shutil.rmtree(root / "data" / "bench-parts" / Window(start, end).key, ignore_errors=True)


def bench(size: Size, work: Path, weeks: int, progress: Callable[[str], None]) -> list[Result]:
    root = work / size.name
    config = write_org(root, size)
    n = size.name
    out: list[Result] = []
    progress(f"{n}: week 1")
    mf = _stage(root, size, 0)
    keep_warehouse(root)
    first = step("load_model", str(config), str(mf), FIRST_WEEK.isoformat())
    if weeks >= 52:  # (the history ratio's medians)
        progress(f"{n}: week 1 again ({REPEATS - 1} more runs, for the median)")
        w1_load, w1_model, w1_runs = load_model_median(root, config, mf, FIRST_WEEK, first)
    for k in range(1, max(weeks, 13)):
        week = FIRST_WEEK + timedelta(weeks=k)
        mf = _stage(root, size, k)
        if k == 12:
            out += crm_and_weights(root, config, mf, week.isoformat(), n, progress)
        progress(f"{n}: week {k + 1}")
        if k == weeks - 1:
            keep_warehouse(root)
        last = step("load_model", str(config), str(mf), week.isoformat())
        _drop_parts(root, k - 1)
    if weeks >= 52:
        progress(f"{n}: week {weeks} again ({REPEATS - 1} more runs, for the median)")
        wk_load, wk_model, wk_runs = load_model_median(root, config, mf, week, last)
        base, final = w1_load + w1_model, wk_load + wk_model
        out.append(Result(f"week{weeks}_load_model_s", n, final, "s", "info",
                          bool(last.get("incremental"))))
        out.append(at_most(f"history_week{weeks}_vs_week1", n, final / max(base, 1e-9), "x",
                           1.3))
        progress(f"{n}: week 1 runs {w1_runs}; week {weeks} runs {wk_runs}")
    return out


def crm_and_weights(root: Path, config: Path, mf: Path, week: str, n: str,
                    progress: Callable[[str], None]) -> list[Result]:
    """Week 13 with and without a CRM change, and a weights change, each on a copy of the
    12-week warehouse (kept as ``w12.duckdb``; the warehouse ends as it was)."""
    wh = root / "data" / "overlap.duckdb"
    saved = root / "data" / "w12.duckdb"
    shutil.copyfile(wh, saved)

    def week13() -> dict[str, float]:
        return step("load_model", str(config), str(mf), week)

    def total(r: dict[str, float]) -> float:
        return r["load_s"] + r["model_s"]

    # plain and changed runs alternate, so that a shared machine's load shifts both alike
    plain_runs: list[float] = []
    changed_runs: list[float] = []
    for i in range(REPEATS):
        progress(f"{n}: week 13, CRM unchanged (run {i + 1}/{REPEATS})")
        plain_runs.append(_median_on_copy(saved, wh, week13, total, 1)[0])
        accounts, reps = change_crm(root)
        try:
            progress(f"{n}: week 13, CRM snapshot: {accounts} accounts reassigned, {reps} reps"
                     f" deactivated (run {i + 1}/{REPEATS})")
            changed_runs.append(_median_on_copy(saved, wh, week13, total, 1)[0])
        finally:
            restore_crm(root)
    plain = sorted(plain_runs)[REPEATS // 2]
    changed = sorted(changed_runs)[REPEATS // 2]
    progress(f"{n}: week 13 plain {plain_runs}, with the CRM change {changed_runs}")
    out = [Result("week13_plain_load_model_s", n, plain, "s", "info", True),
           Result("week13_crm_change_load_model_s", n, changed, "s", "info", True),
           at_most("week_with_crm_change_vs_plain_week", n, changed / max(plain, 1e-9), "x",
                   1.3)]
    if n == "M":
        text = config.read_text(encoding="utf-8")
        config.write_text(text + WEIGHTS, encoding="utf-8")
        try:
            progress(f"{n}: weights change: the build after it ({REPEATS} runs)")
            rebuild, runs = _median_on_copy(saved, wh, lambda: step("model", str(config)),
                                            lambda r: r["model_s"])
        finally:
            config.write_text(text, encoding="utf-8")
        progress(f"{n}: weights change runs {runs}; full rebuild (reference)")
        shutil.copyfile(saved, wh)
        full = step("full_model", str(config))["model_s"]
        out += [Result("weights_change_rebuild_s", n, rebuild, "s", "info", True),
                Result("weights_change_full_rebuild_s", n, full, "s", "info", True),
                at_most("weights_change_rebuild_vs_full", n, rebuild / max(full, 1e-9), "x",
                        0.2)]
    shutil.copyfile(saved, wh)
    wh.with_name(wh.name + ".wal").unlink(missing_ok=True)
    saved.unlink()
    return out


def merge(out: Path, results: list[Result]) -> None:
    """Replace the rows of ``results`` (same name and size) in ``out``, keep the others."""
    data = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {"results": []}
    new = {(r.name, r.size): r.as_json() for r in results}
    rows = [new.pop((r["name"], r["size"]), r) for r in data["results"]]
    data["results"] = rows + list(new.values())
    out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.crm", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="M", choices=["S", "M", "L"])
    parser.add_argument("--weeks", type=int, default=13,
                        help="weekly runs (>= 13; 52 also gives history_week52_vs_week1)")
    parser.add_argument("--out", default="benchmarks/results.json")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    start = time.monotonic()

    def progress(msg: str) -> None:
        print(f"[{time.monotonic() - start:7.1f}s] {msg}", file=sys.stderr, flush=True)

    work = Path(tempfile.mkdtemp(prefix="overlap-bench-crm-"))
    try:
        results = bench(SIZES[args.size], work, args.weeks, progress)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    merge(Path(args.out), results)
    print(table(results))
    print(f"\nmerged into: {args.out}  ({time.monotonic() - start:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
