"""`make bench`: measure Overlap against its targets and the floor, side by side.

    python -m benchmarks.run [--size S|M|L|all] [--out benchmarks/results.json]

Every figure is measured in the same run as its reference (the floor scan, the raw file read),
so ratios hold on a noisy machine. Each step runs in a fresh process so its peak RSS is its
own. Nothing here is a test: a missed target prints FAIL, it does not fail the command.

Scenarios (issue #6): S = 50 reps, 1k accounts, 20k emails and 2k meetings a week; M = 500,
10k, 250k, 25k; L = 2,000, 50k, 1M, 100k. Load, model and report run on staged Parquet written
by benchmarks/synth.py; file extract speed is measured on raw maildir and mbox files from the
organisation generator at S's weekly volume. API pulls (Gmail, Graph) run against the sandboxes
with 30 ms per request and a scaled Google quota window (benchmarks/api.py; --no-api skips).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

from benchmarks.synth import SIZES, Size, stage_week, write_org

FIRST_WEEK = date(2026, 8, 31)  # a Monday; history weeks follow it

# Before issue 6's fixes (same harness, same machine, 2026-11-26): the model was a full rebuild
# of all history every run, the report uncapped, the load an `insert or replace`, the Gmail
# pacer a fixed margin. Kept in results.json beside the new figures.
BEFORE = {
    ("week_load_model_report_s", "S"): 3.9,
    ("model_vs_floor", "S"): 13.0,  # 13-16x over several runs
    ("history_week12_vs_week1", "S"): 5.3,
    ("week_load_model_report_s", "M"): 42.1,
    ("report_render_s", "M"): 7.7,  # the main report alone (the whole step: 27.9 s)
    ("report_html_mb", "M"): 9.4,
    ("report_render_s", "L"): 33.0,  # the whole step: 119 s
    ("report_html_mb", "L"): 37.2,
    ("week_load_s", "L"): 14.8,
    ("gmail_rate_vs_quota_ceiling", "S"): 89.8,
}


@dataclass
class Result:
    name: str
    size: str
    value: float
    unit: str
    target: str
    passed: bool

    def as_json(self) -> dict[str, object]:
        d = asdict(self)
        d["pass"] = d.pop("passed")
        d["value"] = round(self.value, 3)
        return d


def step(*args: str, env: dict[str, str] | None = None) -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.steps", *args], check=True,
                          capture_output=True, text=True, env={**os.environ, **(env or {})})
    return json.loads(proc.stdout.strip().splitlines()[-1])


REPEATS = 3  # the history ratio: median of this many runs of week 1 and of week 12


def load_model_median(root: Path, config: Path, manifests: Path, week: date,
                      first: dict[str, float]) -> tuple[float, float, list[float]]:
    """(load s, model s) of the median of ``first`` (a pipeline step just run) and REPEATS - 1
    more runs of the same week's load + model, each on the warehouse as it was before
    ``first`` (kept as a copy; no copy means there was no warehouse yet). The warehouse ends
    as after one run. One week's figures move by ±10% between runs on a shared machine; a
    ratio of two single runs moved by as much."""
    runs = [first]
    saved = root / "data" / "before-week.duckdb"
    wh = root / "data" / "overlap.duckdb"
    for _ in range(REPEATS - 1):
        if saved.exists():
            shutil.copyfile(saved, wh)
        else:
            wh.unlink(missing_ok=True)
        wh.with_name(wh.name + ".wal").unlink(missing_ok=True)
        runs.append(step("load_model", str(config), str(manifests), week.isoformat()))
    saved.unlink(missing_ok=True)
    runs.sort(key=lambda r: r["load_s"] + r["model_s"])
    mid = runs[len(runs) // 2]
    return mid["load_s"], mid["model_s"], [r["load_s"] + r["model_s"] for r in runs]


def keep_warehouse(root: Path) -> None:
    """Copy the warehouse before a week that load_model_median will repeat."""
    wh = root / "data" / "overlap.duckdb"
    if wh.exists():
        shutil.copyfile(wh, root / "data" / "before-week.duckdb")


def at_most(name: str, size: str, value: float, unit: str, limit: float) -> Result:
    return Result(name, size, value, unit, f"<= {limit:g}", value <= limit)


def at_least(name: str, size: str, value: float, unit: str, floor: float) -> Result:
    return Result(name, size, value, unit, f">= {floor:g}", value >= floor)


def bench_extract(work: Path, progress: Callable[[str], None]) -> list[Result]:
    from sandbox.generator import generate

    s = SIZES["S"]
    progress(f"extract: generating {s.emails:,} emails of raw mail (maildir + mbox)")
    org = generate(work / "files", seed=3, weeks=1, planted=False, reps=s.reps,
                   accounts=s.accounts, emails_per_week=s.emails, meetings_per_week=0,
                   history_rate=0.0)
    env = {"BENCH_WEEKS": ",".join(w.isoformat() for w in org.weeks)}
    _maildir_to_mbox(org.out_dir / "mail", org.out_dir / "mbox-all")
    config = org.out_dir / "bench.toml"
    config.write_text(org.config_path.read_text(encoding="utf-8").split("[[sources]]")[0]
                      + '[[sources]]\nkind = "maildir"\npath = "mail"\n'
                      + '[[sources]]\nkind = "mbox"\npath = "mbox-all"\n', encoding="utf-8")
    out = []
    for kind, folder in (("maildir", "mail"), ("mbox", "mbox-all")):
        got = step("extract", str(config), kind, env=env)
        ref = step("read", str(org.out_dir / folder), kind)
        out.append(at_least(f"extract_{kind}_messages_per_s", "S", got["per_s"], "msg/s",
                            10_000))
        out.append(Result(f"extract_{kind}_vs_raw_read", "S",
                          got["seconds"] / max(ref["seconds"], 1e-9), "x", "info", True))
    return out


def _maildir_to_mbox(maildir_root: Path, mbox_root: Path) -> None:
    """The same messages as one mbox per mailbox (mboxrd quoting), so both formats are
    measured on identical mail."""
    for mailbox in sorted(p for p in maildir_root.iterdir() if p.is_dir()):
        target = mbox_root / mailbox.name
        target.mkdir(parents=True, exist_ok=True)
        with open(target / "all.mbox", "wb") as out:
            for sub in ("cur", "new"):
                folder = mailbox / sub
                if not folder.is_dir():
                    continue
                for msg in sorted(folder.iterdir()):
                    out.write(b"From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n")
                    for line in msg.read_bytes().splitlines(keepends=True):
                        out.write(b">" + line if line.lstrip(b">").startswith(b"From ")
                                  else line)
                    out.write(b"\n")


def bench_size(size: Size, work: Path, history: bool, progress: Callable[[str], None]) -> list[Result]:
    root = work / size.name
    config = write_org(root, size)
    progress(f"{size.name}: staging week 1 ({size.emails:,} emails, {size.meetings:,} meetings)")
    manifests = stage_week(root, size, FIRST_WEEK, seed=1)
    mfile = root / "week1.json"
    mfile.write_text(json.dumps([str(m) for m in manifests]))
    glob = str(root / "data" / "bench-parts" / "*" / "*" / "*.parquet")
    progress(f"{size.name}: floor scan")
    fl = step("floor", glob)
    progress(f"{size.name}: load + model + report, week 1")
    if history:
        keep_warehouse(root)
    w1 = step("pipeline", str(config), str(mfile), FIRST_WEEK.isoformat())
    n = size.name
    out = [
        at_most("week_load_model_report_s", n, w1["total_s"], "s", 60),
        Result("week_load_s", n, w1["load_s"], "s", "info", True),
        Result("week_model_s", n, w1["model_s"], "s", "info", True),
        at_most("week_peak_rss_mb", n, w1["peak_rss_mb"], "MB", 4096),
        Result("floor_scan_s", n, fl["floor_s"], "s", "info", True),
        at_most("model_vs_floor", n, w1["model_s"] / max(fl["floor_s"], 1e-9), "x", 5),
        # the main report (ranked and capped tables) against the target; the whole report
        # step also writes the complete CSV and one digest per owner
        at_most("report_render_s", n, w1["report_main_s"], "s", 5),
        at_most("report_html_mb", n, w1["html_mb"], "MB", 5),
        Result("report_step_s", n, w1["report_s"], "s", "info", True),
        Result("report_csv_s", n, w1["report_csv_s"], "s", "info", True),
        Result("report_digests_s", n, w1["report_digests_s"], "s", "info", True),
        Result("report_digests", n, w1["digests"], "owners", "info", True),
    ]
    # where the model's time goes (benchmarks.steps.model_split): a full rebuild of the same
    # week on disk, the same in memory, and writing its finished tables alone
    progress(f"{size.name}: model split (the same build on disk, in memory; the writes alone)")
    sp = step("model_split", str(config))
    floor_s = max(fl["floor_s"], 1e-9)
    out += [
        Result("model_rebuild_disk_s", n, sp["disk_s"], "s", "info", True),
        Result("model_rebuild_memory_s", n, sp["memory_s"], "s", "info", True),
        Result("model_memory_vs_floor", n, sp["memory_s"] / floor_s, "x", "info", True),
        Result("model_tables_write_s", n, sp["write_s"], "s", "info", True),
        Result("model_tables_write_vs_floor", n, sp["write_s"] / floor_s, "x", "info", True),
    ]
    if history:
        progress(f"{size.name}: week 1 again ({REPEATS - 1} more runs, for the median)")
        w1_load, w1_model, w1_runs = load_model_median(root, config, mfile, FIRST_WEEK, w1)
        for k in range(1, 12):
            week = FIRST_WEEK + timedelta(weeks=k)
            progress(f"{size.name}: history week {k + 1}/12")
            ms = stage_week(root, size, week, seed=k + 1)
            mf = root / f"week{k + 1}.json"
            mf.write_text(json.dumps([str(m) for m in ms]))
            if k == 11:
                keep_warehouse(root)
            wk = step("pipeline", str(config), str(mf), week.isoformat())
        progress(f"{size.name}: week 12 again ({REPEATS - 1} more runs, for the median)")
        wk_load, wk_model, wk_runs = load_model_median(root, config, mf, week, wk)
        progress(f"{size.name}: full rebuild of the 12 weeks (reference)")
        full = step("full_model", str(config))
        base = w1_load + w1_model
        last = wk_load + wk_model
        out.append(Result("week1_load_model_s", n, base, "s", "info", True))
        out.append(Result("week12_load_s", n, wk_load, "s", "info", True))
        out.append(Result("week12_model_s", n, wk_model, "s", "info",
                          bool(wk.get("incremental"))))
        out.append(Result("week12_full_rebuild_model_s", n, full["model_s"], "s", "info", True))
        out.append(Result("week12_load_model_s", n, last, "s", "info", True))
        out.append(at_most("history_week12_vs_week1", n, last / max(base, 1e-9), "x", 1.3))
        progress(f"{size.name}: history runs (load + model, s): week 1"
                 f" {', '.join(f'{v:.2f}' for v in w1_runs)}; week 12"
                 f" {', '.join(f'{v:.2f}' for v in wk_runs)}")
    return out


def bench_api(work: Path, progress: Callable[[str], None]) -> list[Result]:
    """Gmail and Graph pulls through the sandboxes (benchmarks/api.py)."""
    from benchmarks.api import bench_gmail, bench_graph

    rows = bench_gmail(work, progress, messages=3_000, per_mailbox=100, points=(1, 10, 50, 200))
    rows += bench_graph(work, progress)
    return [Result(name, "S", value, unit, target, True if ok is None else ok)
            for name, value, unit, target, ok in rows]


def machine() -> dict[str, object]:
    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)}


def table(results: list[Result]) -> str:
    lines = [f"{'benchmark':34} {'size':4} {'value':>12} {'unit':6} {'target':>10}  result",
             "-" * 80]
    for r in results:
        verdict = "" if r.target == "info" else ("PASS" if r.passed else "FAIL")
        lines.append(f"{r.name:34} {r.size:4} {r.value:12,.3f} {r.unit:6} {r.target:>10}  "
                     f"{verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="S", choices=["S", "M", "L", "all"])
    parser.add_argument("--out", default="benchmarks/results.json")
    parser.add_argument("--history", default="S,M", metavar="SIZES",
                        help="sizes that also run the 12-week history scenario (default S,M;"
                             " L's takes about 21 minutes more on 2 cores)")
    parser.add_argument("--no-history", action="store_true", help="skip the 12-week scenario")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--no-api", action="store_true", help="skip the API pull benchmarks")
    args = parser.parse_args(argv)
    start = time.monotonic()

    def progress(msg: str) -> None:
        print(f"[{time.monotonic() - start:7.1f}s] {msg}", file=sys.stderr, flush=True)

    work = Path(tempfile.mkdtemp(prefix="overlap-bench-"))
    results: list[Result] = []
    try:
        results += bench_extract(work, progress)
        if not args.no_api:
            results += bench_api(work, progress)
        sizes = ["S", "M", "L"] if args.size == "all" else [args.size]
        for name in sizes:
            history = not args.no_history and name in args.history.split(",")
            results += bench_size(SIZES[name], work, history, progress)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    rows = []
    for r in results:
        row = r.as_json()
        if (r.name, r.size) in BEFORE:
            row["before"] = BEFORE[(r.name, r.size)]
        rows.append(row)
    Path(args.out).write_text(json.dumps(
        {"machine": machine(), "results": rows}, indent=1) + "\n", encoding="utf-8")
    print(table(results))
    print(f"\nwritten: {args.out}  ({time.monotonic() - start:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
