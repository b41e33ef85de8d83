"""Render one week: the HTML report, the CSV export and one digest per account owner.

    paths = render_week(con, date(2026, 11, 16), Path("out"),
                        generated_at=datetime.now(UTC), title="Acme Corp")

writes, each file atomically (``overlap.fileio.write_atomic``: temporary file + rename)::

    out/2026-W47/overlap-2026-W47.html
    out/2026-W47/overlap_weekly-2026-W47.csv
    out/2026-W47/digests/<owner address, file-name safe>.html

The same warehouse content gives byte-identical files except for the one line that carries
``generated_at``.

Every table is ranked and capped in SQL (``Caps``, defaults: the 50 highest-scoring pairs; the
25 owners and 25 reps most at risk, 10 pairs each; 25 collaboration rows; per digest 50 pairs,
50 events and 25 collaboration rows) and says "showing N of M" when it is cut. Headline figures
and totals count every row of the week; the CSV is never capped: it is the full list. So the
report stays a few hundred kilobytes and renders in about a second however big the company
(size L: 2,000 reps, 50k accounts, ~780k pairs in a week).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
from jinja2 import Environment, PackageLoader, StrictUndefined

from overlap.fileio import remove_orphans, write_atomic
from reports import charts, csv_export
from reports.data import load_digests, load_week
from reports.formatting import FILTERS, iso_week
from reports.records import Caps, PersonSection, WeekReport

DEFAULT_CAPS = Caps()
TOP_PAIRS = DEFAULT_CAPS.pairs  # rows of the ranked table; the CSV has them all
_PENDING_WRITES = 16  # digests rendered but not yet on disk


@dataclass(frozen=True)
class ReportPaths:
    html: Path
    csv: Path
    digests: dict[str, Path]  # owner email -> digest
    seconds: dict[str, float] = field(default_factory=dict)  # main, csv, digests


def make_environment() -> Environment:
    """The one Jinja2 environment: autoescaped, strict, with the shared filters."""
    env = Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=True,  # every template; values from mailboxes and the CRM are untrusted
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    env.globals["sparkline"] = charts.sparkline
    env.globals["trend_chart"] = charts.trend_chart
    return env


_ENV: Environment | None = None


def _env() -> Environment:
    global _ENV
    if _ENV is None:
        _ENV = make_environment()
    return _ENV


def render_week(
    con: duckdb.DuckDBPyConnection,
    week_start: dt.date,
    out_dir: Path,
    *,
    generated_at: dt.datetime,
    title: str = "Overlap",
    subjects: bool = False,
    timezone: str = "UTC",
    top: int | None = None,
    caps: Caps = DEFAULT_CAPS,
    config_path: str = "overlap.toml",
    min_group: int = 0,
) -> ReportPaths:
    """Write the week's report, CSV and owner digests under ``out_dir/<ISO week>/``.

    ``week_start`` is the Monday of the week (the ``week_start`` of the views); ``timezone``
    is the company time zone, used to show event times and to match run windows to the week.
    Subjects are shown only when ``subjects`` is true (and the warehouse kept them).
    ``caps`` bounds every table (see ``Caps``); ``top`` is a shortcut for ``caps.pairs``,
    the rows of the ranked table. ``config_path`` is named in the ``overlap approve`` command
    shown beside each risk row.
    """
    if isinstance(week_start, dt.datetime) or not isinstance(week_start, dt.date):
        raise TypeError("week_start must be a datetime.date (the Monday of the week)")
    if week_start.weekday() != 0:
        raise ValueError(f"week_start {week_start.isoformat()} is not a Monday")
    if generated_at.tzinfo is None or generated_at.utcoffset() is None:
        raise ValueError("generated_at must be timezone-aware")
    if top is not None:
        if top < 1:
            raise ValueError("top must be at least 1")
        caps = replace(caps, pairs=top)

    week = iso_week(week_start)
    week_dir = Path(out_dir) / week
    digest_dir = week_dir / "digests"
    clock = time.perf_counter()
    report = load_week(con, week_start, caps=caps, timezone=timezone, config_path=config_path,
                       min_group=min_group)
    context = {
        "r": report,
        "caps": caps,
        "title": title,
        "week": week,
        "generated_at": generated_at,
        "subjects": subjects,
        "timezone": timezone,
        "csv_name": f"overlap_weekly-{week}.csv",
    }
    env = _env()

    html = env.get_template("report.html").render(**context)
    html_path = week_dir / f"overlap-{week}.html"
    _write_atomic(html_path, [html.encode("utf-8")])
    seconds = {"main": time.perf_counter() - clock}
    clock = time.perf_counter()

    csv_path = week_dir / f"overlap_weekly-{week}.csv"
    _write_atomic(csv_path, csv_export.chunks(con, week_start))
    seconds["csv"] = time.perf_counter() - clock
    clock = time.perf_counter()

    digests: dict[str, Path] = {}
    owners = load_digests(con, report, subjects=subjects, timezone=timezone)
    names = digest_filenames([d.owner.email for d in owners])
    digest_template = env.get_template("digest.html")  # compiled once, rendered per owner
    # Files are written (and fsynced) on a thread while the next digest renders; a few
    # pending at most, so memory stays flat however many owners there are.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="overlap-digests") as writer:
        pending: deque[Future[None]] = deque()
        for digest in owners:
            text = digest_template.render(**context, owner=digest.owner, figures=digest.figures)
            path = digest_dir / names[digest.owner.email]
            pending.append(writer.submit(_write_atomic, path, [text.encode("utf-8")]))
            digests[digest.owner.email] = path
            if len(pending) >= _PENDING_WRITES:
                pending.popleft().result()
        for done in pending:
            done.result()
    _remove_stale(digest_dir, set(digests.values()))
    for folder in (week_dir, digest_dir):
        remove_orphans(folder)  # what a killed render left
    seconds["digests"] = time.perf_counter() - clock
    return ReportPaths(html=html_path, csv=csv_path, digests=digests, seconds=seconds)


_UNSAFE = re.compile(r"[^a-z0-9._@+-]+")


def safe_filename(email: str) -> str:
    """An owner address as a file name: lower-case, only [a-z0-9._@+-], no leading dot."""
    name = _UNSAFE.sub("_", email.strip().lower()).lstrip(".")[:120]
    return name or "owner"


def digest_filenames(emails: list[str]) -> dict[str, str]:
    """Distinct ``.html`` file names for the owners; a short hash breaks any collision."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for email in sorted(emails):
        base = safe_filename(email)
        name = base
        if name in taken:
            name = f"{base}-{hashlib.sha256(email.encode('utf-8')).hexdigest()[:8]}"
        taken.add(name)
        names[email] = name + ".html"
    return names


def _write_atomic(path: Path, chunks: Iterable[bytes]) -> None:
    """Write beside the target, then rename over it: readers see the old or the new file."""
    write_atomic(path, chunks, durable=True, mode=0o644)


def _remove_stale(digest_dir: Path, keep: set[Path]) -> None:
    """A rerun after the data changed must not leave last run's digest for an owner who no
    longer has events this week."""
    if not digest_dir.is_dir():
        return
    for path in digest_dir.glob("*.html"):
        if path not in keep:
            path.unlink(missing_ok=True)


__all__ = ["Caps", "ReportPaths", "WeekReport", "PersonSection", "make_environment",
           "render_week"]
