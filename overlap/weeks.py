"""ISO weeks in the company time zone (rule 8): a week starts Monday 00:00 local time."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from connectors.records import Window
from overlap.errors import InputError

# ISO 8601 week: extended (2026-W47) or basic (2026W47); the W in either case.
_ISO_WEEK = re.compile(r"^(\d{4})-?W(\d{2})$", re.I)


def weeks_in_year(year: int) -> int:
    """52 or 53: the ISO week of 28 December is always the year's last."""
    return date(year, 12, 28).isocalendar()[1]


def parse_week(text: str) -> date:
    """``2026-W47`` (or ``2026W47``, ``2026-w47``, or a Monday as ``YYYY-MM-DD``) → that
    week's Monday."""
    m = _ISO_WEEK.match(text.strip())
    if m:
        year, week = int(m.group(1)), int(m.group(2))
        if year < 1:
            raise InputError(f"not an ISO week like 2026-W47: {text!r}", field="--week")
        if not 1 <= week <= weeks_in_year(year):
            raise InputError(f"{text.strip()} is not an ISO week: {year} has weeks W01 .. "
                             f"W{weeks_in_year(year)}", field="--week")
        return date.fromisocalendar(year, week, 1)
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"not an ISO week like 2026-W47: {text!r}", field="--week") from None
    if day.weekday() != 0:
        raise InputError(f"{text} is a {day:%A}; give a Monday or an ISO week", field="--week")
    return day


def parse_day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"not a date like 2026-11-16: {text!r}", field=option) from None


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def iso_week_label(week_start: date) -> str:
    year, week, _ = week_start.isocalendar()
    return f"{year}-W{week:02d}"


def weeks_between(start: date, end: date) -> list[date]:
    """Mondays of every ISO week that overlaps ``[start, end)``."""
    if end <= start:
        raise InputError(f"--end {end} must be after --start {start}", field="--end")
    weeks = []
    monday = monday_of(start)
    while monday < end:
        weeks.append(monday)
        monday += timedelta(days=7)
    return weeks


def last_full_week(now: datetime, tz: ZoneInfo) -> date:
    """The Monday of the last week that has fully ended at ``now``."""
    today = now.astimezone(tz).date()
    return monday_of(today) - timedelta(days=7)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def weeks_window(weeks: list[date], tz: ZoneInfo, history_days: int = 0) -> Window:
    """The extract window covering ``weeks`` plus ``history_days`` before (rule 6 evidence)."""
    start = local_midnight(min(weeks) - timedelta(days=history_days), tz)
    end = local_midnight(max(weeks) + timedelta(days=7), tz)
    return Window(start, end)
