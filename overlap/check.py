"""``overlap check``: what a run would read, before the first real run — and the layout warnings
every run prints.

Read-only: the config and the CRM are validated as a run validates them, every file source's
mailbox folders are listed and read with the run's own connectors (headers only), and nothing
is written — no warehouse, no staging, no report. API sources are listed, not contacted.

The warnings (also printed on stderr by ``overlap run``; the CRM ones and non-rep mailboxes are
``data_quality`` findings too) are the silent mistakes a newcomer makes with real exports:
a maildir export without ``cur/``/``new/``, files no configured source reads, files beside the
mailbox folders, a mailbox folder of someone who is not a rep, an account owner who is not a
rep, an account claiming one of our own domains.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from connectors.files.layout import (
    MAIL_KINDS,
    OTHER,
    FolderCounts,
    LayoutError,
    count_files,
    stray_files,
    unread_message,
)
from connectors.records import EmailCopy, MeetingCopy, Quarantined, Window
from overlap.config import FILE_KINDS, Config
from overlap.crm import CrmSnapshot, crm_warnings, load_crm
from overlap.weeks import iso_week_label, monday_of, weeks_window

# Mail of every date: the span of an export is part of what check reports.
ALL_TIME = Window(datetime(1900, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC))

_WHAT = {"maildir": ("message", " in cur/ or new/"), "mbox": ("mbox file", ""),
         "eml": (".eml file", ""), "ics": (".ics file", "")}


def _files(n: int, kind: str) -> str:
    """``1 .ics file``, ``2,429 messages in cur/ or new/``."""
    noun, where = _WHAT[kind]
    return f"{n:,} {noun}{'' if n == 1 else 's'}{where}"


def rep_addresses(crm: CrmSnapshot) -> set[str]:
    """Every address that names a rep: their own and their aliases."""
    t = crm.tables
    return set(t["crm_reps"].column("email").to_pylist()) | set(
        t["crm_rep_aliases"].column("alias").to_pylist())


def _folder_warnings(counts: FolderCounts, kinds: set[str], root: Path,
                     extract_errors: bool) -> Iterator[str]:
    name = counts.folder.name
    unread = unread_message("maildir", counts) if "maildir" in kinds else None
    if unread is not None:
        if extract_errors:
            yield unread
        return
    for kind in _WHAT:
        n = counts.files[kind]
        if n and kind not in kinds:
            yield (f"{_files(n, kind)} under {name}/ not read: no {kind} source reads {root} "
                   f"(add [[sources]] kind = \"{kind}\")")
    if counts.files[OTHER] and not any(counts.files[k] for k in MAIL_KINDS) \
            and not counts.maildir_folders:
        n = counts.files[OTHER]
        yield (f"{n:,} file{'s' if n != 1 else ''} under {name}/, none read: no kind reads "
               "them (maildir reads cur/ and new/, eml *.eml, mbox *.mbox, ics *.ics)")


def layout_warnings(config: Config, crm: CrmSnapshot, *,
                    extract_errors: bool = True) -> list[str]:
    """Warnings about the file sources' folders and the mailboxes' owners (module docstring).

    ``extract_errors=False`` leaves out what the run's extracts report themselves (a maildir
    folder without ``cur/``/``new/`` fails its extract with the same text)."""
    from connectors.files import mailbox_folders
    from overlap.pipeline import _api_mailboxes

    reps = rep_addresses(crm)
    kinds_by_root: dict[Path, set[str]] = defaultdict(set)
    for src in config.sources:
        if src.kind in FILE_KINDS and src.path is not None:
            kinds_by_root[src.path].add(src.kind)
    out: list[str] = []
    mailboxes: set[str] = set()
    for root, kinds in sorted(kinds_by_root.items()):
        if not root.is_dir():
            continue  # the run refuses it with its own error
        stray = stray_files(root)
        if stray:
            shown = ", ".join(stray[:3]) + (f" and {len(stray) - 3:,} more" if len(stray) > 3
                                            else "")
            out.append(f"{len(stray):,} file{'s' if len(stray) != 1 else ''} beside the "
                       f"mailbox folders in {root} not read: {shown} (each mailbox needs its "
                       "own folder, named by its address)")
        for mailbox, folder in mailbox_folders(root):
            mailboxes.add(mailbox)
            out.extend(_folder_warnings(count_files(folder), kinds, root, extract_errors))
    for src in config.sources:
        if src.kind not in FILE_KINDS and src.options.get("mailboxes") is not None:
            mailboxes.update(_api_mailboxes(src, crm))
    strangers = sorted(mailboxes - reps)
    why = ("its mail is read as evidence, but a misnamed folder or a missing reps.csv row is "
           "the usual cause")
    if len(strangers) > 3:  # one line, not one per mailbox
        out.append(f"{len(strangers):,} mailboxes are not reps in reps.csv: "
                   f"{', '.join(strangers[:3])} and {len(strangers) - 3:,} more; "
                   + why.replace("its mail is", "their mail is"))
    else:
        out.extend(f"mailbox {m} is not a rep in reps.csv: {why}" for m in strangers)
    return out


def warnings(config: Config, crm: CrmSnapshot, *, extract_errors: bool = True) -> list[str]:
    """Every layout and CRM warning, layout first."""
    return layout_warnings(config, crm, extract_errors=extract_errors) + crm_warnings(crm,
                                                                                     config)


@dataclass
class MailboxInventory:
    """One source × mailbox: what its folder holds and what a run of the window would read."""

    source: str
    kind: str
    mailbox: str
    files: int | None = None  # files of the source's kind (None: an API source)
    records: int = 0  # emails, or meeting occurrences in the window (ics), over all dates
    quarantined: int = 0
    first: datetime | None = None
    last: datetime | None = None
    in_window: int = 0
    error: str | None = None
    by_week: Counter[date] = field(default_factory=Counter)  # records per ISO week (UTC)

    def line(self) -> str:
        if self.files is None:
            return f"  {self.mailbox}: API source, not contacted by check"
        noun = "meeting" if self.kind == "ics" else "email"
        parts = [_files(self.files, self.kind)]
        if self.error:
            return f"  {self.mailbox}: {parts[0]}; would read nothing (see the warnings)"
        if self.kind != "ics":
            span = (f" {self.first:%Y-%m-%d} .. {self.last:%Y-%m-%d}"
                    if self.first and self.last else "")
            parts.append(f"{self.records:,} {noun}{'' if self.records == 1 else 's'}{span}")
        if self.quarantined:
            parts.append(f"{self.quarantined:,} unreadable (quarantined)")
        parts.append(f"would read {self.in_window:,} {noun}{'s' if self.in_window != 1 else ''}"
                     " in the window")
        return f"  {self.mailbox}: " + ", ".join(parts)


def _read(task_kind: str, folder: Path, item: MailboxInventory, window: Window) -> None:
    from connectors.files import extract

    # Mail is read once over all dates (its span) and counted in the window; a calendar is
    # read over the window only (recurring series have no end to span).
    wide = window if task_kind == "ics" else ALL_TIME
    try:
        records = list(extract(task_kind, folder, item.mailbox, wide, source=item.source))
    except LayoutError as exc:
        item.error = str(exc)
        return
    for rec in records:
        if isinstance(rec, Quarantined):
            item.quarantined += 1
        elif isinstance(rec, EmailCopy | MeetingCopy):
            item.records += 1
            item.first = min(item.first or rec.occurred_at, rec.occurred_at)
            item.last = max(item.last or rec.occurred_at, rec.occurred_at)
            item.in_window += rec.occurred_at in window
            item.by_week[monday_of(rec.occurred_at.date())] += 1


def inventory(config: Config, crm: CrmSnapshot, window: Window) -> list[MailboxInventory]:
    """Every source × mailbox a run would extract, read with the run's connectors."""
    from overlap.pipeline import plan

    out = []
    for task in plan(config, window, crm):
        item = MailboxInventory(task.source, task.kind, task.mailbox)
        if task.path is not None:
            counts = count_files(Path(task.path))
            item.files = counts.files[task.kind]
            _read(task.kind, Path(task.path), item, window)
        out.append(item)
    return out


def span_hint(items: list[MailboxInventory], weeks: list[date]) -> str | None:
    """When the window holds no email or meeting but the sources do: say where the data is."""
    if any(i.in_window for i in items) or any(i.files is None for i in items):
        return None
    by_week: Counter[date] = Counter()
    for i in items:
        by_week.update(i.by_week)
    if not by_week:
        return None
    return no_data_message(weeks, by_week)


def no_data_message(weeks: list[date], by_week: Counter[date]) -> str:
    """``no email or meeting in the window 2026-W48; your data spans 2000-12 .. 2002-03 …``,
    suggesting the week with the most data."""
    label = iso_week_label(weeks[0]) + (f" .. {iso_week_label(weeks[-1])}" if len(weeks) > 1
                                        else "")
    busiest = max(by_week.items(), key=lambda kv: (kv[1], kv[0]))[0]
    return (f"no email or meeting in the window {label}; your data spans "
            f"{min(by_week):%Y-%m} .. {max(by_week):%Y-%m}: pass --week or --start/--end "
            f"(the busiest week is {iso_week_label(busiest)})")


def source_span(config: Config, crm: CrmSnapshot, weeks: list[date]) -> str | None:
    """:func:`span_hint` over every file source, read over all dates (headers only)."""
    window = weeks_window(weeks, config.tz, history_days=config.rules.dormant_days)
    return span_hint(inventory(config, crm, window), weeks)


def check(config: Config, weeks: list[date]) -> tuple[list[str], list[str]]:
    """(report lines, warnings) of ``overlap check``; raises InputError as a run would."""
    crm = load_crm(config)
    counts = crm.counts
    window = weeks_window(weeks, config.tz, history_days=config.rules.dormant_days)
    label = iso_week_label(weeks[0]) + (f" .. {iso_week_label(weeks[-1])}" if len(weeks) > 1
                                        else "")
    lines = [f"config: {config.path} (valid)",
             f"CRM: {counts.get('accounts', 0):,} accounts, {counts.get('reps', 0):,} reps, "
             f"{counts.get('contacts', 0):,} contacts (valid)",
             f"window: {label}, read from {window.start:%Y-%m-%d} ({config.rules.dormant_days}"
             f" days of history) to {window.end:%Y-%m-%d} (UTC)"]
    items = inventory(config, crm, window)
    by_source: dict[str, list[MailboxInventory]] = defaultdict(list)
    for item in items:
        by_source[item.source].append(item)
    for src in config.sources:
        found = by_source.get(src.name, [])
        where = f" {src.path}" if src.path else ""
        lines.append(f"source {src.name} ({src.kind}{where}): {len(found):,} mailbox"
                     f"{'es' if len(found) != 1 else ''}")
        lines.extend(i.line() for i in found)
    found_warnings = warnings(config, crm, extract_errors=False)
    found_warnings += [f"{i.source} {i.mailbox}: {i.error}" for i in items if i.error]
    hint = span_hint(items, weeks)
    if hint:
        found_warnings.append(hint)
    return lines, found_warnings
