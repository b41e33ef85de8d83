"""Every number, date and label the reports print is formatted here, and only here.

The functions are registered as Jinja2 filters by ``reports.render``; templates never format
values themselves. None prints as an em dash so a missing CRM name never reads as "None".
"""

from __future__ import annotations

import datetime as dt
import shlex
from collections.abc import Callable
from typing import Any

DASH = "\u2014"
MINUS = "\u2212"

LEVEL_LABELS = {"high": "High", "medium": "Medium", "low": "Low"}
CATEGORY_LABELS = {
    "backdoor": "Backdoor",
    "coverage_gap": "Coverage gap",
    "looped_in": "Looped in",
    "handoff": "Handoff",  # rule 10: the previous owner in the grace period; not risk
    "approved": "Approved",  # rule 6: approvals.csv covers it; not risk
}
INITIATED_LABELS = {
    "rep": "Rep reached out",
    "customer": "Customer reached out",
    "other": "Someone else started it",
}
KIND_LABELS = {"email": "Email", "meeting": "Meeting"}


def num(value: int | float | None) -> str:
    """1234 -> '1,234'; floats keep one decimal only when they have one."""
    if value is None:
        return DASH
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def score(value: float | None) -> str:
    """A score always shows one decimal, so a column of scores lines up."""
    if value is None:
        return DASH
    return f"{value:,.1f}"


def signed(value: int | float) -> str:
    """+3 / −2 / 0 with a real minus sign."""
    text = num(abs(value))
    if value > 0:
        return "+" + text
    if value < 0:
        return MINUS + text
    return "0"


def percent(part: int | float, whole: int | float) -> str:
    if not whole:
        return DASH
    return f"{100.0 * part / whole:.1f}%"


def day(value: dt.date | None) -> str:
    """'Mon 16 Nov 2026'."""
    if value is None:
        return DASH
    return f"{value:%a} {value.day} {value:%b %Y}"


def short_day(value: dt.date | None) -> str:
    """'16 Nov'."""
    if value is None:
        return DASH
    return f"{value.day} {value:%b}"


def moment(value: dt.datetime | None) -> str:
    """'Tue 17 Nov, 14:30' (already converted to the company time zone)."""
    if value is None:
        return DASH
    return f"{value:%a} {value.day} {value:%b}, {value:%H:%M}"


def window(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if start is None or end is None:
        return DASH
    return f"{start:%Y-%m-%d %H:%M} \u2192 {end:%Y-%m-%d %H:%M}"


def iso_week(week_start: dt.date) -> str:
    """The ISO week label used in file names: '2026-W47' (the ISO year, not the calendar year)."""
    year, week, _ = week_start.isocalendar()
    return f"{year}-W{week:02d}"


def week_range(week_start: dt.date) -> str:
    """'Mon 16 – Sun 22 Nov 2026', spanning months and years when the week does."""
    end = week_start + dt.timedelta(days=6)
    if week_start.year != end.year:
        return f"{day(week_start)} \u2013 {day(end)}"
    if week_start.month != end.month:
        return f"Mon {week_start.day} {week_start:%b} \u2013 Sun {end.day} {end:%b %Y}"
    return f"Mon {week_start.day} \u2013 Sun {end.day} {end:%b %Y}"


def generated(value: dt.datetime) -> str:
    """'2026-11-23 06:00 UTC' — the one line of a report that changes between identical runs."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """'1 email', '3 emails', '1,204 meetings'."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{num(count)} {word}"


def activity(meetings: int, emails: int, contacts: int) -> str:
    """'2 meetings · 3 emails · 3 people', leaving out a kind that did not happen."""
    parts = [plural(meetings, "meeting")] if meetings else []
    if emails or not meetings:
        parts.append(plural(emails, "email"))
    parts.append(plural(contacts, "person", "people"))
    return " \u00b7 ".join(parts)


def _label(mapping: dict[str, str]) -> Callable[[str | None], str]:
    def label(value: str | None) -> str:
        if value is None:
            return DASH
        return mapping.get(value, value)

    return label


level_label = _label(LEVEL_LABELS)
category_label = _label(CATEGORY_LABELS)
initiated_label = _label(INITIATED_LABELS)
kind_label = _label(KIND_LABELS)


def level_class(value: str | None) -> str:
    """A CSS class suffix for a level: only a known level, never text from the data."""
    return value if value in LEVEL_LABELS else "low"


def category_class(value: str | None) -> str:
    """A CSS class suffix for a category: only a known category, never text from the data."""
    return value if value in CATEGORY_LABELS else "looped_in"


def person(name: str | None, email: str | None) -> str:
    """The display form of a person: the CRM name if known, else the address."""
    if name and name.strip():
        return name.strip()
    return email or DASH


def approve_command(config_path: str, account_id: str, rep_email: str,
                    week_start: dt.date) -> str:
    """The ``overlap approve`` line a manager can run for a risk row, shell-quoted (the
    template escapes it for HTML): from the row's week on, open-ended, reason to fill in."""
    return " ".join(["overlap approve", "--config", shlex.quote(config_path),
                     "--account", shlex.quote(account_id), "--rep", shlex.quote(rep_email),
                     "--from", week_start.isoformat(), "--reason", shlex.quote("…")])


def truncate(value: str | None, limit: int = 160) -> str:
    if value is None:
        return DASH
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1] + "\u2026"


FILTERS: dict[str, Callable[..., Any]] = {
    "num": num,
    "score": score,
    "signed": signed,
    "percent": percent,
    "day": day,
    "short_day": short_day,
    "moment": moment,
    "window": window,
    "iso_week": iso_week,
    "week_range": week_range,
    "generated": generated,
    "plural": plural,
    "level_label": level_label,
    "category_label": category_label,
    "initiated_label": initiated_label,
    "kind_label": kind_label,
    "level_class": level_class,
    "category_class": category_class,
    "truncate_text": truncate,
    "person": person,
    "activity": activity,
    "approve_command": approve_command,
}
