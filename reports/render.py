"""Render one week: the HTML report, the CSV export and one digest per account owner.

    paths = render_week(con, date(2026, 11, 16), Path("out"),
                        generated_at=datetime.now(UTC), title="Acme Corp")

writes, each file atomically (temporary file + ``os.replace``)::

    out/2026-W47/overlap-2026-W47.html
    out/2026-W47/overlap_weekly-2026-W47.csv
    out/2026-W47/digests/<owner address, file-name safe>.html

The same warehouse content gives byte-identical files except for the one line that carries
``generated_at``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
from jinja2 import Environment, PackageLoader, StrictUndefined

from reports import charts, csv_export
from reports.data import Figure, PersonSection, WeekReport, load_week
from reports.formatting import FILTERS, iso_week

TOP_PAIRS = 50  # rows of the ranked table; the CSV has them all
SECTION_ROWS = 25  # rows per owner / rep section of the main report
DIGEST_EVENTS = 200  # events listed in one owner's digest


@dataclass(frozen=True)
class ReportPaths:
    html: Path
    csv: Path
    digests: dict[str, Path]  # owner email -> digest


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
    top: int = TOP_PAIRS,
) -> ReportPaths:
    """Write the week's report, CSV and owner digests under ``out_dir/<ISO week>/``.

    ``week_start`` is the Monday of the week (the ``week_start`` of the views); ``timezone``
    is the company time zone, used to show event times and to match run windows to the week.
    Subjects are shown only when ``subjects`` is true (and the warehouse kept them).
    """
    if isinstance(week_start, dt.datetime) or not isinstance(week_start, dt.date):
        raise TypeError("week_start must be a datetime.date (the Monday of the week)")
    if week_start.weekday() != 0:
        raise ValueError(f"week_start {week_start.isoformat()} is not a Monday")
    if generated_at.tzinfo is None or generated_at.utcoffset() is None:
        raise ValueError("generated_at must be timezone-aware")
    if top < 1:
        raise ValueError("top must be at least 1")

    week = iso_week(week_start)
    week_dir = Path(out_dir) / week
    digest_dir = week_dir / "digests"
    report = load_week(con, week_start, subjects=subjects, timezone=timezone)
    context = {
        "r": report,
        "title": title,
        "week": week,
        "generated_at": generated_at,
        "subjects": subjects,
        "timezone": timezone,
        "csv_name": f"overlap_weekly-{week}.csv",
    }
    env = _env()

    html = env.get_template("report.html").render(
        **context, top=top, section_rows=SECTION_ROWS)
    html_path = week_dir / f"overlap-{week}.html"
    _write_atomic(html_path, html.encode("utf-8"))

    csv_path = week_dir / f"overlap_weekly-{week}.csv"
    _write_atomic(csv_path, csv_export.to_csv(csv_export.rows(con, week_start)))

    digests: dict[str, Path] = {}
    names = digest_filenames([s.email for s in report.owners])
    digest_template = env.get_template("digest.html")
    for section in report.owners:
        figures = report.owner_figures.get(section.email) or _no_figures()
        text = digest_template.render(**context, owner=section, figures=figures,
                                      digest_events=DIGEST_EVENTS)
        path = digest_dir / names[section.email]
        _write_atomic(path, text.encode("utf-8"))
        digests[section.email] = path
    _remove_stale(digest_dir, set(digests.values()))
    return ReportPaths(html=html_path, csv=csv_path, digests=digests)


def _no_figures() -> tuple[Figure, ...]:
    return tuple(Figure(k, k, 0, 0) for k in ("events", "accounts", "reps", "high",
                                               "collaboration"))


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


def _write_atomic(path: Path, data: bytes) -> None:
    """Write beside the target, then rename over it: readers see the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _remove_stale(digest_dir: Path, keep: set[Path]) -> None:
    """A rerun after the data changed must not leave last run's digest for an owner who no
    longer has events this week."""
    if not digest_dir.is_dir():
        return
    for path in digest_dir.glob("*.html"):
        if path not in keep:
            path.unlink(missing_ok=True)


__all__ = ["ReportPaths", "WeekReport", "PersonSection", "make_environment", "render_week"]
