"""API pull benchmarks through the sandboxes (issue 6, items 6 and 7).

Every request to a sandbox waits ``LATENCY`` (30 ms) before it is answered, like a real API
round trip. Google's quotas are on, their window scaled from 60 s to ``QUOTA_WINDOW`` s with
the units scaled the same way: the per-user 6,000 units per minute become ``QUOTA_UNITS``
(1,000) per second, ~200 messages/s per mailbox, so a 3,000-message mailbox spans 15 windows
in seconds; the app-wide (per-project) 1,200,000 units per minute, 200 users' worth, becomes
``PROJECT_UNITS`` per second. The connector is given the same window. One cost does not
scale: the connector counts a call's units until a window after its answer (it cannot see
when Google counted them), so each window costs it one round trip — ~35 ms, 3.5% of a 1-s
window, 0.06% of Google's 60 s. The per-mailbox figure is a lower bound of a real minute's.

Many mailboxes (``points``: 1, 10, 50, 200 at once, ``per_mailbox`` messages each, fresh
mailboxes every time) are spread over one worker process per core, as the extract step
spreads them, with a thread per mailbox in each. A 100-message mailbox (501 units) fits in
one window's quota, so one mailbox alone is bound by its round trips (~0.4 s a sync);
together they are bound by this machine's two cores (the connectors' batch encoding, HTTP and
parsing, and the sandbox): the curve flattens there, far below the app-wide quota (40,000
messages/s at Google's ratio), which two cores cannot reach. A second run lowers the app-wide
quota below what the cores can do (``CAPPED_PROJECT_UNITS``) to show the curve flattening at
it instead: the syncs of a process share one pacer for it (each worker process is given its
share), and no request is refused.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

LATENCY = 0.03
QUOTA_WINDOW = 1.0  # seconds (Google: 60); units per window scaled below
QUOTA_UNITS = 1_000  # per user per QUOTA_WINDOW: a ceiling of ~200 messages/s per mailbox
PROJECT_UNITS = 200 * QUOTA_UNITS  # app-wide per QUOTA_WINDOW (Gmail: 1,200,000 a minute)
CAPPED_PROJECT_UNITS = 4_000  # app-wide, lowered below what 2 cores can do (~780 msg/s)
GET_UNITS, LIST_UNITS, LIST_PAGE = 5, 5, 500
WINDOW_START = datetime(2026, 8, 31, tzinfo=UTC)
WINDOW_END = WINDOW_START + timedelta(days=7)

Row = tuple[str, float, str, str, bool | None]


def _floor_units(messages: int) -> int:
    """5 units per message plus one list call per 500."""
    return GET_UNITS * messages + LIST_UNITS * max(1, -(-messages // LIST_PAGE))


def _gmail_request(sb: Any, mailbox: str, cursor: str | None = None,
                   window_end: datetime = WINDOW_END, project_units: int = PROJECT_UNITS) -> Any:
    from connectors.api import SyncRequest
    from connectors.records import Window

    opts = {**sb.sources([mailbox])[0], "quota_units_per_minute": QUOTA_UNITS,
            "project_quota_units_per_minute": project_units,
            "quota_window_seconds": QUOTA_WINDOW}
    return SyncRequest("gmail", "gmail", mailbox, Window(WINDOW_START, window_end),
                       cursor=cursor, options=opts)


def _sync_all(requests: list[Any]) -> tuple[int, int, float]:
    """In a worker process: each request in a thread of its own; (messages, quota units,
    CPU seconds of this process)."""
    from connectors import gmail

    cpu = time.process_time()
    with ThreadPoolExecutor(len(requests)) as pool:
        results = list(pool.map(gmail.sync, requests))
    return (sum(len(r.records) for r in results), sum(r.stats.quota_units for r in results),
            time.process_time() - cpu)


def _warm(_: int) -> int:
    import connectors.gmail  # noqa: F401 - imports are not part of what is measured

    return os.getpid()


def _in_parallel(pool: ProcessPoolExecutor, workers: int,
                 requests: Sequence[Any]) -> tuple[int, int, float, float]:
    """All ``requests`` at once, spread over the workers; (messages, units, seconds, CPU
    cores busy in the workers and this process — the sandbox's)."""
    parts = [list(requests[i::workers]) for i in range(workers) if requests[i::workers]]
    cpu = time.process_time()
    t0 = time.perf_counter()
    done = list(pool.map(_sync_all, parts))
    seconds = time.perf_counter() - t0
    busy = sum(d[2] for d in done) + time.process_time() - cpu
    return sum(d[0] for d in done), sum(d[1] for d in done), seconds, busy / seconds


def bench_gmail(work: Path, progress: Callable[[str], None], messages: int = 3_000,
                per_mailbox: int = 100, points: Sequence[int] = (1, 10, 50, 200),
                capped_per_mailbox: int = 50) -> list[Row]:
    """Rows of (name, value, unit, target, pass) — pass None for information."""
    from connectors import gmail
    from sandbox import google
    from sandbox.google import Fault
    from sandbox.google_seed import mail_seed

    out: list[Row] = []
    rep = "rep0@corp.example"
    seeds = {rep: mail_seed(rep, messages, WINDOW_START, WINDOW_END)}
    # Fresh mailboxes for every run: each starts with its quota unspent.
    runs = [[f"rep{n}x{i}@corp.example" for i in range(n)] for n in points]
    capped = [f"capped{i}@corp.example" for i in range(max(points))]
    for m in (m for run in runs for m in run):
        seeds[m] = mail_seed(m, per_mailbox, WINDOW_START, WINDOW_END)
    for m in capped:
        seeds[m] = mail_seed(m, capped_per_mailbox, WINDOW_START, WINDOW_END)
    with google.start(seeds, secrets_dir=work / "google-secrets",
                      quota_units_per_minute=QUOTA_UNITS,
                      project_quota_units_per_minute=PROJECT_UNITS,
                      quota_window_seconds=QUOTA_WINDOW) as sb:
        # the round trip of each HTTP request: a batch once (Google answers its parts in
        # parallel; a "*" fault would delay every part in turn), list/history/profile calls
        for api in ("batch", "token", "gmail.messages.list", "gmail.history.list",
                    "gmail.profile"):
            sb.inject(Fault(api=api, status=0, delay=LATENCY, times=10**9))
        progress(f"gmail: one mailbox, {messages:,} messages, quota {QUOTA_UNITS:,} units"
                 f" per {QUOTA_WINDOW:g} s, {LATENCY * 1000:.0f} ms latency")
        t0 = time.perf_counter()
        full = gmail.sync(_gmail_request(sb, rep))
        seconds = time.perf_counter() - t0
        n = len(full.records)
        ceiling = QUOTA_UNITS / QUOTA_WINDOW / (_floor_units(n) / n)
        rate = n / seconds
        out.append(("gmail_msgs_per_s_per_mailbox", rate, "msg/s", "info", None))
        out.append(("gmail_quota_ceiling_msgs_per_s", ceiling, "msg/s", "info", None))
        out.append(("gmail_rate_vs_quota_ceiling", 100 * rate / ceiling, "%", ">= 90",
                    100 * rate / ceiling >= 90))
        out.append(("gmail_requests_per_1000_msgs", 1000 * full.stats.requests / n, "req",
                    "info", None))
        units_ratio = full.stats.quota_units / _floor_units(n)
        out.append(("gmail_quota_units_vs_floor", units_ratio, "x", "<= 1.05",
                    units_ratio <= 1.05))
        out.append(("gmail_quota_rejections", float(sb.quota_rejections), "429s", "info", None))

        # an incremental week: 5% new messages since the cursor, vs the full window again
        from sandbox.google_seed import message_head

        new = messages // 20
        later = WINDOW_END + timedelta(days=7)
        for i in range(new):
            when = WINDOW_END + timedelta(minutes=i + 1)
            sb.add_message(rep, message_head(messages + i, rep, when), key=f"new:{i}")
        t0 = time.perf_counter()
        inc = gmail.sync(_gmail_request(sb, rep, cursor=full.cursor, window_end=later))
        inc_s = time.perf_counter() - t0
        out.append(("gmail_incremental_week_requests", float(inc.stats.requests), "req",
                    "info", None))
        out.append(("gmail_incremental_vs_full_requests",
                    inc.stats.requests / max(full.stats.requests, 1), "x", "info", None))
        out.append(("gmail_incremental_vs_full_time", inc_s / seconds, "x", "info", None))

        # many mailboxes at once, each with its own quota, spread over worker processes
        workers = min(os.cpu_count() or 1, max(points))
        spawn = multiprocessing.get_context("spawn")  # never fork a process serving HTTP
        with ProcessPoolExecutor(workers, mp_context=spawn) as pool:
            list(pool.map(_warm, range(workers)))
            rejected = sb.quota_rejections
            curve: dict[int, float] = {}
            busy: dict[int, float] = {}
            for run in runs:
                progress(f"gmail: {len(run)} mailboxes x {per_mailbox} messages at once, "
                         f"{workers} worker processes")
                got, _units, secs, cores = _in_parallel(
                    pool, workers, [_gmail_request(sb, m) for m in run])
                curve[len(run)], busy[len(run)] = got / secs, cores
                out.append((f"gmail_{len(run)}_mailboxes_msgs_per_s", got / secs,
                            "msg/s", "info", None))
            top, one = max(curve), min(curve)
            out.append(("gmail_parallel_mailboxes_msgs_per_s", curve[top], "msg/s", "info",
                        None))
            out.append(("gmail_parallel_speedup_vs_one_mailbox", curve[top] / curve[one], "x",
                        "info", None))
            # what bounds it: the cores (the quotas allow 200 msg/s per mailbox, 40,000 in all)
            out.append((f"gmail_{top}_cpu_bound_cores_busy", busy[top], "cores", "info",
                        None))
            out.append(("gmail_parallel_quota_rejections",
                        float(sb.quota_rejections - rejected), "429s", "info", None))

            # the app-wide quota lowered below what the cores can do: throughput flattens at
            # it; each worker process paces to its share
            progress(f"gmail: {len(capped)} mailboxes x {capped_per_mailbox} messages, "
                     f"app-wide quota lowered to {CAPPED_PROJECT_UNITS:,} units per "
                     f"{QUOTA_WINDOW:g} s")
            time.sleep(QUOTA_WINDOW)  # the curve's spend leaves the app-wide window
            sb.project_quota_units_per_minute = CAPPED_PROJECT_UNITS
            rejected = sb.quota_rejections
            share = CAPPED_PROJECT_UNITS // workers
            got, units, secs, _cores = _in_parallel(
                pool, workers, [_gmail_request(sb, m, project_units=share) for m in capped])
            ceiling = CAPPED_PROJECT_UNITS / QUOTA_WINDOW * got / units
            out.append((f"gmail_app_cap_{len(capped)}_msgs_per_s",
                        got / secs, "msg/s", "info", None))
            out.append(("gmail_app_cap_ceiling_msgs_per_s", ceiling, "msg/s",
                        "info", None))
            out.append(("gmail_app_cap_vs_ceiling", 100 * got / secs / ceiling, "%",
                        "info", None))
            out.append(("gmail_app_cap_rejections",
                        float(sb.quota_rejections - rejected), "429s", "info", None))
    return out


def bench_graph(work: Path, progress: Callable[[str], None],
                messages: int = 2_000) -> list[Row]:
    from connectors import msgraph
    from connectors.api import SyncRequest
    from connectors.records import Window
    from sandbox import microsoft
    from sandbox.google_seed import mail_seed

    out: list[Row] = []
    rep = "rep0@corp.example"
    seeds = {rep: mail_seed(rep, messages, WINDOW_START, WINDOW_END)}
    with microsoft.start(seeds, secrets_dir=work / "ms-secrets", latency=LATENCY,
                         mailbox_concurrency=4) as sb:
        progress(f"graph: one mailbox, {messages:,} messages, {LATENCY * 1000:.0f} ms latency,"
                 " 4 concurrent requests per mailbox")
        opts = sb.sources([rep])[0]
        req = SyncRequest("msgraph", "msgraph", rep, Window(WINDOW_START, WINDOW_END),
                          options=opts)
        t0 = time.perf_counter()
        full = msgraph.sync(req)
        seconds = time.perf_counter() - t0
        n = max(len(full.records), 1)
        per_1000 = 1000 * full.stats.requests / n
        out.append(("graph_requests_per_1000_msgs", per_1000, "req", "<= 2", per_1000 <= 2))
        out.append(("graph_msgs_per_s_per_mailbox", n / seconds, "msg/s", "info", None))
        t0 = time.perf_counter()
        inc = msgraph.sync(SyncRequest("msgraph", "msgraph", rep,
                                       Window(WINDOW_START, WINDOW_END), cursor=full.cursor,
                                       options=opts))
        inc_s = time.perf_counter() - t0
        out.append(("graph_incremental_vs_full_requests",
                    inc.stats.requests / max(full.stats.requests, 1), "x", "info", None))
        out.append(("graph_incremental_vs_full_time", inc_s / seconds, "x", "info", None))
    return out
