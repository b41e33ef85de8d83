"""One measured step in a fresh process (so peak RSS is the step's own), printing JSON.

    python -m benchmarks.steps pipeline CONFIG MANIFESTS.json WEEK
    python -m benchmarks.steps load_model CONFIG MANIFESTS.json WEEK
    python -m benchmarks.steps floor GLOB
    python -m benchmarks.steps full_model CONFIG
    python -m benchmarks.steps model CONFIG
    python -m benchmarks.steps model_split CONFIG
    python -m benchmarks.steps extract CONFIG SOURCE
    python -m benchmarks.steps read GLOB_ROOT SOURCE_KIND
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path


def _rss_mb() -> float:
    # ru_maxrss is KiB on Linux; children count too for the extract pool.
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def pipeline(config_path: str, manifests_file: str, week: str, *,
             report: bool = True) -> dict[str, float]:
    from overlap import pipeline as p
    from overlap.config import load_config
    from overlap.staging import read_manifest

    config = load_config(config_path)
    manifests = [Path(m) for m in json.loads(Path(manifests_file).read_text())]
    monday = date.fromisoformat(week)
    staged = [read_manifest(m) for m in manifests]
    tasks = [p.ExtractTask(s.source, "maildir", s.mailbox, None, s.window_start, s.window_end,
                           "drop", str(config.staging_dir)) for s in staged]
    outcomes = [p.ExtractOutcome(t, str(m), None, s.emails, s.meetings, 0)
                for t, m, s in zip(tasks, manifests, staged, strict=True)]
    now = datetime.now(UTC)
    plan = p.RunPlan(p.new_run_id(now), now, [monday], staged[0].window_start,
                     staged[0].window_end, tasks)
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    p.load(config, plan, outcomes)
    t1 = time.perf_counter()
    stats = p.model(config)
    t2 = time.perf_counter()
    out.update(load_s=t1 - t0, model_s=t2 - t1, incremental=float(stats.mode == "incremental"))
    if not report:
        return out
    paths = p.report(config, [monday], now=now)[monday]
    t3 = time.perf_counter()
    out.update(report_s=t3 - t2, total_s=t3 - t0,
               report_main_s=paths.seconds["main"], report_csv_s=paths.seconds["csv"],
               report_digests_s=paths.seconds["digests"], digests=float(len(paths.digests)),
               build_s=stats.seconds, audits_s=stats.steps.get("audits", 0.0),
               html_mb=paths.html.stat().st_size / 1e6, peak_rss_mb=_rss_mb())
    return out


def load_model(config_path: str, manifests_file: str, week: str) -> dict[str, float]:
    """The same week's load and model again, without the report (the history benchmark's
    repeats)."""
    return pipeline(config_path, manifests_file, week, report=False)


def full_model(config_path: str) -> dict[str, float]:
    """The reference for the history benchmark: a full rebuild of every week loaded."""
    from overlap import pipeline as p
    from overlap.config import load_config

    t0 = time.perf_counter()
    stats = p.model(load_config(config_path), full=True)
    return {"model_s": time.perf_counter() - t0, "audits_s": stats.steps.get("audits", 0.0),
            "peak_rss_mb": _rss_mb()}


def model(config_path: str) -> dict[str, float]:
    """The build alone, incremental where it can be (after a CRM or rules change)."""
    from overlap import pipeline as p
    from overlap.config import load_config

    t0 = time.perf_counter()
    stats = p.model(load_config(config_path))
    return {"model_s": time.perf_counter() - t0, "incremental": float(stats.mode == "incremental"),
            "peak_rss_mb": _rss_mb()}


def floor(glob: str) -> dict[str, float]:
    """The floor: DuckDB scanning the staged Parquet once — a count and a group-by over
    participants — which any correct model must at least do."""
    import duckdb

    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute(
        "select count(*), count(distinct address) from (select unnest(participants).address"
        " as address from read_parquet(?))", [glob]).fetchall()
    con.execute(
        "select address, count(*) from (select unnest(participants).address as address"
        " from read_parquet(?)) group by address", [glob]).fetchall()
    return {"floor_s": time.perf_counter() - t0, "peak_rss_mb": _rss_mb()}


def extract(config_path: str, source: str) -> dict[str, float]:
    from overlap import pipeline as p
    from overlap.config import load_config
    from overlap.crm import load_crm
    from overlap.weeks import weeks_window

    config = load_config(config_path)
    crm = load_crm(config)
    weeks = [date.fromisoformat(w) for w in os.environ["BENCH_WEEKS"].split(",")]
    window = weeks_window(weeks, config.tz, history_days=config.rules.dormant_days)
    tasks = p.plan(config, window, crm, sources=[source])
    t0 = time.perf_counter()
    outcomes = p.extract_all(tasks, workers=2)
    seconds = time.perf_counter() - t0
    emails = sum(o.emails for o in outcomes)
    return {"seconds": seconds, "emails": emails, "per_s": emails / seconds,
            "peak_rss_mb": _rss_mb()}


def _read_all(paths: list[str]) -> int:
    n = 0
    for path in paths:
        with open(path, "rb") as f:
            n += len(f.read())
    return n


def model_split(config_path: str) -> dict[str, float]:
    """Where a full build's time goes, on copies of the week's warehouse (the original is not
    touched): the same build on disk, the same build in memory (no file, no compression), and
    writing the finished model tables into a fresh warehouse file, nothing else — the part of
    the build that no change to the SQL removes while the model keeps its tables."""
    import tempfile

    import duckdb

    from overlap import sqlrunner, warehouse
    from overlap.config import load_config

    config = load_config(config_path)
    params = sqlrunner.params_from_config(config)
    with tempfile.TemporaryDirectory(dir=config.warehouse.parent) as tmp:
        disk = Path(tmp) / "copy.duckdb"
        shutil.copyfile(config.warehouse, disk)
        con = warehouse.connect(disk)
        t0 = time.perf_counter()
        sqlrunner.build(con, params)
        disk_s = time.perf_counter() - t0
        con.close()

        mem = duckdb.connect(":memory:")
        mem.execute("set TimeZone = 'UTC'")  # as warehouse.connect pins it
        mem.execute(f"attach '{disk}' as src (read_only)")  # our own temp path
        mem.execute("copy from database src to memory")
        mem.execute("detach src")
        t0 = time.perf_counter()
        sqlrunner.build(mem, params)
        memory_s = time.perf_counter() - t0

        mem.execute(f"attach '{Path(tmp) / 'tables.duckdb'}' as out")
        t0 = time.perf_counter()
        mem.begin()
        for table in sqlrunner.model_tables():
            mem.execute(f"create table out.{table} as select * from memory.main.{table}")
        mem.commit()
        write_s = time.perf_counter() - t0
        mem.close()
    return {"disk_s": disk_s, "memory_s": memory_s, "write_s": write_s}


def read(root: str, kind: str) -> dict[str, float]:
    """Reference for extract: reading the same files' bytes in 2 processes, no parsing."""
    files = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            if (kind == "mbox" and name.endswith(".mbox")) or (
                    kind == "maildir" and Path(dirpath).name in ("cur", "new")):
                files.append(os.path.join(dirpath, name))
    t0 = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        total = sum(pool.map(_read_all, [files[0::2], files[1::2]]))
    return {"seconds": time.perf_counter() - t0, "files": len(files), "bytes": total}


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    steps: dict[str, Callable[..., object]] = {"pipeline": pipeline, "load_model": load_model, "floor": floor,
              "extract": extract, "read": read, "full_model": full_model,
              "model": model,
              "model_split": model_split}
    result = steps[command](*args)
    print(json.dumps(result))
