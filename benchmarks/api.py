"""API pull benchmarks through the sandboxes (issue 6, items 6 and 7).

Every request to a sandbox waits ``LATENCY`` (30 ms) before it is answered, like a real API
round trip. Google's per-user quota is on; its window is scaled from 60 s to
``QUOTA_WINDOW`` s with the units scaled the same way (``QUOTA_UNITS`` per window is 6,000
units per minute becomes 1,000 units per second: ~200 messages/s per mailbox) so a run spans
many quota windows in seconds, not minutes: what is measured is how close the connector's pacer gets to the
ceiling, which does not depend on the window's length once a run spans many windows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

LATENCY = 0.03
QUOTA_WINDOW = 1.0  # seconds (Google: 60); units per window scaled below
QUOTA_UNITS = 1_000  # per QUOTA_WINDOW: a ceiling of ~200 messages/s per mailbox
GET_UNITS, LIST_UNITS, LIST_PAGE = 5, 5, 500
WINDOW_START = datetime(2026, 8, 31, tzinfo=UTC)
WINDOW_END = WINDOW_START + timedelta(days=7)


def _floor_units(messages: int) -> int:
    """5 units per message plus one list call per 500."""
    return GET_UNITS * messages + LIST_UNITS * max(1, -(-messages // LIST_PAGE))


def _gmail_request(sb: Any, mailbox: str, cursor: str | None = None,
                   window_end: datetime = WINDOW_END) -> Any:
    from connectors.api import SyncRequest
    from connectors.records import Window

    opts = {**sb.sources([mailbox])[0], "quota_units_per_minute": QUOTA_UNITS,
            "quota_window_seconds": QUOTA_WINDOW}
    return SyncRequest("gmail", "gmail", mailbox, Window(WINDOW_START, window_end),
                       cursor=cursor, options=opts)


def bench_gmail(work: Path, progress: Callable[[str], None], messages: int = 3_000,
                mailboxes: int = 20, per_mailbox: int = 500) -> list[tuple[str, float, str, str, bool | None]]:
    """Rows of (name, value, unit, target, pass) — pass None for information."""
    from connectors import gmail
    from overlap.sandbox import google
    from overlap.sandbox.google import Fault
    from overlap.sandbox.google_seed import mail_seed

    out: list[tuple[str, float, str, str, bool | None]] = []
    rep = "rep0@corp.example"
    seeds = {rep: mail_seed(rep, messages, WINDOW_START, WINDOW_END)}
    others = [f"rep{i}@corp.example" for i in range(1, mailboxes + 1)]
    for m in others:
        seeds[m] = mail_seed(m, per_mailbox, WINDOW_START, WINDOW_END)
    with google.start(seeds, secrets_dir=work / "google-secrets",
                      quota_units_per_minute=QUOTA_UNITS,
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
        from overlap.sandbox.google_seed import message_head

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

        # many mailboxes in parallel: each has its own quota, so throughput scales with them
        progress(f"gmail: {len(others)} mailboxes x {per_mailbox} messages in parallel")
        t0 = time.perf_counter()
        with ThreadPoolExecutor(len(others)) as pool:
            results = list(pool.map(lambda m: gmail.sync(_gmail_request(sb, m)), others))
        par_s = time.perf_counter() - t0
        total = sum(len(r.records) for r in results)
        out.append(("gmail_parallel_mailboxes_msgs_per_s", total / par_s, "msg/s", "info",
                    None))
        out.append(("gmail_parallel_speedup_vs_one_mailbox", (total / par_s) / rate, "x",
                    "info", None))
    return out


def bench_graph(work: Path, progress: Callable[[str], None],
                messages: int = 2_000) -> list[tuple[str, float, str, str, bool | None]]:
    from connectors import msgraph
    from connectors.api import SyncRequest
    from connectors.records import Window
    from overlap.sandbox import microsoft
    from overlap.sandbox.google_seed import mail_seed

    out: list[tuple[str, float, str, str, bool | None]] = []
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
