"""Everything a weekly report shows, read from the analyst views (and only from them).

Each query binds its values as parameters and orders its rows completely (ties broken by
keys), so the same warehouse content always gives the same report. The result is a tree of
plain dataclasses; the templates only lay it out.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

HISTORY_WEEKS = 12
LEVELS = ("high", "medium", "low")
CATEGORIES = ("backdoor", "coverage_gap", "looped_in")

# Statuses of `runs` rows. The pipeline writes these; anything unknown counts as a problem so a
# new failure mode is never reported as full coverage.
# overlap/warehouse.py writes succeeded | failed | skipped (extracts), running | succeeded |
# partial | failed (runs).
OK_STATUSES = frozenset({"ok", "success", "succeeded", "complete", "completed", "done"})
SKIPPED_STATUSES = frozenset({"skipped"})
RUNNING_STATUSES = frozenset({"running", "started", "queued"})


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Figure:
    """A headline number with last week's value beside it."""

    key: str
    label: str
    value: int
    previous: int
    up_is_good: bool = False  # collaboration going up is good news; overlap going up is not

    @property
    def change(self) -> int:
        return self.value - self.previous

    @property
    def tone(self) -> str:
        """good | bad | flat — the colour of the change, not a judgement of anyone."""
        if self.change == 0:
            return "flat"
        return "good" if (self.change > 0) == self.up_is_good else "bad"

    @property
    def arrow(self) -> str:
        return "\u25b2" if self.change > 0 else "\u25bc" if self.change < 0 else "\u25cf"


@dataclass(frozen=True)
class Pair:
    """One row of overlap_weekly: an account reached by a rep who is not its owner."""

    account_id: str
    account_name: str | None
    owner_email: str
    owner_name: str | None
    rep_email: str
    rep_name: str | None
    emails: int
    meetings: int
    contacts: int
    score: float
    level: str
    reasons: tuple[str, ...]
    events: int
    backdoor: int
    coverage_gap: int
    looped_in: int
    rep_initiated: int
    customer_initiated: int
    history: tuple[float, ...] = ()  # HISTORY_WEEKS scores, oldest first, this week last
    active_weeks: int = 0

    @property
    def categories(self) -> list[tuple[str, int]]:
        """Non-zero category counts in the legend's order."""
        counts = {"backdoor": self.backdoor, "coverage_gap": self.coverage_gap,
                  "looped_in": self.looped_in}
        return [(c, counts[c]) for c in CATEGORIES if counts[c]]


@dataclass(frozen=True)
class Event:
    """One overlap event (interaction × account × rep), times in the company time zone."""

    interaction_id: str
    kind: str
    occurred_at: dt.datetime
    account_id: str
    account_name: str | None
    owner_email: str
    rep_email: str
    rep_name: str | None
    initiated_by: str
    category: str
    contacts: tuple[str, ...]
    subject: str | None  # always None unless the caller asked for subjects


@dataclass(frozen=True)
class Collaboration:
    """One collaboration_weekly row: an owner and colleagues with the customer together."""

    account_id: str
    account_name: str | None
    owner_email: str
    owner_name: str | None
    colleagues: tuple[tuple[str, str | None], ...]  # (email, CRM name or None)
    interactions: int
    emails: int
    meetings: int
    contacts: int


@dataclass(frozen=True)
class MailboxStatus:
    """The latest extract of one source × mailbox × window that overlaps the week."""

    source: str | None
    mailbox: str | None
    scope: str
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    status: str
    state: str  # ok | failed | skipped | running
    error: str | None


@dataclass(frozen=True)
class Coverage:
    mailboxes: int  # distinct source × mailbox with an extract overlapping the week
    problems: tuple[MailboxStatus, ...]  # extracts (or whole runs) that did not succeed

    @property
    def known(self) -> bool:
        return self.mailboxes > 0 or bool(self.problems)

    @property
    def complete(self) -> bool:
        return self.known and not self.problems

    @property
    def failed_mailboxes(self) -> int:
        return len({(p.source, p.mailbox) for p in self.problems if p.scope == "extract"})

    @property
    def ok_mailboxes(self) -> int:
        return self.mailboxes - self.failed_mailboxes


@dataclass(frozen=True)
class Finding:
    """One data_quality row."""

    kind: str
    item: str | None
    detail: str | None
    volume: int | None
    source: str | None
    mailbox: str | None
    run_id: str | None


@dataclass(frozen=True)
class QuarantineReason:
    reason: str | None
    records: int
    mailboxes: int


@dataclass(frozen=True)
class DataQuality:
    unmatched: tuple[Finding, ...]
    unmatched_more: int
    ambiguous: tuple[Finding, ...]
    freemail: tuple[Finding, ...]
    quarantined: tuple[QuarantineReason, ...]
    mailbox_findings: tuple[Finding, ...]  # mailbox_failed / mailbox_skipped (latest run)

    @property
    def quarantined_total(self) -> int:
        return sum(q.records for q in self.quarantined)

    @property
    def empty(self) -> bool:
        return not (self.unmatched or self.ambiguous or self.freemail or self.quarantined
                    or self.mailbox_findings)


@dataclass(frozen=True)
class PersonSection:
    """The pairs (and, for owners, events and collaboration) of one owner or one rep."""

    anchor: str
    email: str
    name: str | None
    pairs: tuple[Pair, ...]
    events: tuple[Event, ...] = ()
    collaborations: tuple[Collaboration, ...] = ()

    @property
    def accounts(self) -> int:
        return len({p.account_id for p in self.pairs})

    @property
    def people(self) -> int:
        """Owners: the reps who reached their accounts. Reps: the owners they went around."""
        return len({(p.rep_email, p.owner_email) for p in self.pairs})

    @property
    def total_events(self) -> int:
        return sum(p.events for p in self.pairs)

    @property
    def joint_conversations(self) -> int:
        return sum(c.interactions for c in self.collaborations)

    @property
    def top_level(self) -> str:
        for level in LEVELS:
            if any(p.level == level for p in self.pairs):
                return level
        return "low"


@dataclass(frozen=True)
class WeekReport:
    week_start: dt.date
    weeks: tuple[dt.date, ...]  # HISTORY_WEEKS Mondays, oldest first, this week last
    figures: tuple[Figure, ...]
    customer_interactions: int  # interactions with a customer, with or without the owner
    overlap_interactions: int  # of those, the ones with at least one overlap event
    pairs: tuple[Pair, ...]  # every pair of the week, ranked
    trend: tuple[dict[str, int], ...]  # events per level, one per week in `weeks`
    owners: tuple[PersonSection, ...]
    reps: tuple[PersonSection, ...]
    collaborations: tuple[Collaboration, ...]
    coverage: Coverage
    quality: DataQuality
    owner_figures: dict[str, tuple[Figure, ...]] = field(default_factory=dict)

    @property
    def events(self) -> int:
        return next(f.value for f in self.figures if f.key == "events")

    @property
    def joint_conversations(self) -> int:
        return sum(c.interactions for c in self.collaborations)

    @property
    def previous_start(self) -> dt.date:
        return self.week_start - dt.timedelta(days=7)


# --------------------------------------------------------------------------- queries

_PAIRS_SQL = """
select account_id, account_name, owner_email, owner_name, rep_email, rep_name,
       emails, meetings, contacts, score, level, reasons, events,
       backdoor, coverage_gap, looped_in, rep_initiated, customer_initiated
from overlap_weekly
where week_start = $week
order by score desc, account_id, rep_email, owner_email
"""

# One value per pair and week; summed in case an account changed owner within the history.
_HISTORY_SQL = """
select account_id, rep_email, week_start, sum(score) as score, sum(events) as events
from overlap_weekly
where week_start between $first and $week
group by account_id, rep_email, week_start
order by account_id, rep_email, week_start
"""

_TREND_SQL = """
select week_start, level, sum(events) as events
from overlap_weekly
where week_start between $first and $week
group by week_start, level
order by week_start, level
"""

# Headline counts for this week and last, overall (owner is null) and per owner.
_EVENT_FIGURES_SQL = """
select week_start, owner_email, grouping(owner_email) as overall,
       count(*) as events,
       count(distinct account_id) as accounts,
       count(distinct rep_email) as reps
from overlap_events
where week_start in ($week, $previous)
group by grouping sets ((week_start), (week_start, owner_email))
order by week_start, overall, owner_email
"""

_HIGH_PAIRS_SQL = """
select week_start, owner_email, grouping(owner_email) as overall, count(*) as pairs
from overlap_weekly
where week_start in ($week, $previous) and level = 'high'
group by grouping sets ((week_start), (week_start, owner_email))
order by week_start, overall, owner_email
"""

_COLLAB_FIGURES_SQL = """
select week_start, owner_email, grouping(owner_email) as overall,
       sum(interactions) as interactions
from collaboration_weekly
where week_start in ($week, $previous)
group by grouping sets ((week_start), (week_start, owner_email))
order by week_start, overall, owner_email
"""

_CUSTOMER_INTERACTIONS_SQL = """
select count(*) from interactions where week_start = $week and is_customer
"""

_OVERLAP_INTERACTIONS_SQL = """
select count(distinct interaction_id) from overlap_events where week_start = $week
"""

_EVENTS_SQL = """
select e.interaction_id, e.kind, timezone($tz, e.occurred_at) as occurred_local,
       e.account_id, e.account_name, e.owner_email, e.rep_email,
       e.initiated_by, e.category, e.contact_emails
from overlap_events as e
where e.week_start = $week
order by e.owner_email, e.occurred_at, e.interaction_id, e.account_id, e.rep_email
"""

# The same rows with the subject; only run when the caller asked for subjects.
_EVENTS_WITH_SUBJECTS_SQL = """
select e.interaction_id, e.kind, timezone($tz, e.occurred_at) as occurred_local,
       e.account_id, e.account_name, e.owner_email, e.rep_email,
       e.initiated_by, e.category, e.contact_emails, i.subject
from overlap_events as e
left join interactions as i on i.interaction_id = e.interaction_id
where e.week_start = $week
order by e.owner_email, e.occurred_at, e.interaction_id, e.account_id, e.rep_email
"""

_COLLAB_SQL = """
select account_id, account_name, owner_email, owner_name, rep_emails,
       interactions, emails, meetings, contacts
from collaboration_weekly
where week_start = $week
order by interactions desc, meetings desc, account_id, owner_email
"""

# CRM names of reps and owners, as the marts carry them; the smallest wins if they disagree.
_NAMES_SQL = """
select email, min(name) as name
from (
    select rep_email as email, rep_name as name from overlap_weekly
    union all
    select owner_email, owner_name from overlap_weekly
    union all
    select owner_email, owner_name from collaboration_weekly
)
where email is not null and name is not null and trim(name) <> ''
group by email
order by email
"""

_QUALITY_SQL = """
select kind, item, detail, volume, source, mailbox, run_id
from data_quality
order by kind, volume desc nulls last, item nulls last, detail nulls last,
         source nulls last, mailbox nulls last, run_id nulls last
"""

# The latest attempt of each extract window that overlaps the week (a rerun supersedes a
# failure), plus whole-run rows, bounded by the week in the company time zone.
_COVERAGE_SQL = """
with week as (
    select timezone($tz, $week::timestamp) as lo,
           timezone($tz, ($week + interval 7 day)::timestamp) as hi
),
attempts as (
    select r.*,
           row_number() over (
               partition by r.scope, r.source, r.mailbox, r.window_start, r.window_end
               order by r.started_at desc nulls last, r.finished_at desc nulls last,
                        r.run_id desc
           ) as attempt
    from runs as r, week as w
    where r.window_start < w.hi and r.window_end > w.lo
)
select scope, source, mailbox, timezone($tz, window_start) as window_start,
       timezone($tz, window_end) as window_end, status, error
from attempts
where attempt = 1
order by scope, source nulls first, mailbox nulls first, window_start, window_end
"""


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> list[tuple]:
    return con.execute(sql, params).fetchall()


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def _tuple(value: Iterable[Any] | None) -> tuple[str, ...]:
    return tuple(str(v) for v in value if v is not None) if value is not None else ()


def _state(status: str | None) -> str:
    s = (status or "").strip().lower()
    if s in OK_STATUSES:
        return "ok"
    if s in SKIPPED_STATUSES:
        return "skipped"
    if s in RUNNING_STATUSES:
        return "running"
    return "failed"


def _sort_name(name: str | None, email: str) -> tuple[str, str]:
    return ((name or email).strip().casefold(), email)


def history_weeks(week_start: dt.date) -> tuple[dt.date, ...]:
    return tuple(week_start - dt.timedelta(weeks=k) for k in range(HISTORY_WEEKS - 1, -1, -1))


def load_week(con: duckdb.DuckDBPyConnection, week_start: dt.date, *, subjects: bool = False,
              timezone: str = "UTC", unmatched_limit: int = 10) -> WeekReport:
    """Read one week (and the 11 before it, for trends) from the analyst views."""
    weeks = history_weeks(week_start)
    previous = week_start - dt.timedelta(weeks=1)
    week_params = {"week": week_start}
    range_params = {"first": weeks[0], "week": week_start}
    both = {"week": week_start, "previous": previous}

    # Pair history, for sparklines.
    history: dict[tuple[str, str], dict[dt.date, tuple[float, int]]] = defaultdict(dict)
    for account_id, rep_email, ws, sc, ev in _rows(con, _HISTORY_SQL, range_params):
        history[(account_id, rep_email)][ws] = (float(sc or 0.0), _int(ev))

    pairs: list[Pair] = []
    for row in _rows(con, _PAIRS_SQL, week_params):
        (account_id, account_name, owner_email, owner_name, rep_email, rep_name, emails,
         meetings, contacts, sc, level, reasons, events, backdoor, coverage_gap, looped_in,
         rep_initiated, customer_initiated) = row
        h = history.get((account_id, rep_email), {})
        pairs.append(Pair(
            account_id=account_id, account_name=account_name, owner_email=owner_email,
            owner_name=owner_name, rep_email=rep_email, rep_name=rep_name,
            emails=_int(emails), meetings=_int(meetings), contacts=_int(contacts),
            score=float(sc or 0.0), level=level or "low", reasons=_tuple(reasons),
            events=_int(events), backdoor=_int(backdoor), coverage_gap=_int(coverage_gap),
            looped_in=_int(looped_in), rep_initiated=_int(rep_initiated),
            customer_initiated=_int(customer_initiated),
            history=tuple(h.get(w, (0.0, 0))[0] for w in weeks),
            active_weeks=sum(1 for w in weeks if h.get(w, (0.0, 0))[1] > 0),
        ))

    trend_map: dict[dt.date, dict[str, int]] = {w: {lv: 0 for lv in LEVELS} for w in weeks}
    for ws, level, ev in _rows(con, _TREND_SQL, range_params):
        bucket = trend_map.setdefault(ws, {lv: 0 for lv in LEVELS})
        key = level if level in LEVELS else "low"
        bucket[key] += _int(ev)

    figures, owner_figures = _figures(con, both, week_start)
    customer = _int(_rows(con, _CUSTOMER_INTERACTIONS_SQL, week_params)[0][0])
    overlapping = _int(_rows(con, _OVERLAP_INTERACTIONS_SQL, week_params)[0][0])

    names = {email: name for email, name in _rows(con, _NAMES_SQL, {})}
    rep_names = {p.rep_email: p.rep_name for p in pairs}
    tz_params = {"week": week_start, "tz": timezone}
    events = [
        Event(
            interaction_id=r[0], kind=r[1], occurred_at=r[2], account_id=r[3],
            account_name=r[4], owner_email=r[5], rep_email=r[6],
            rep_name=rep_names.get(r[6]) or names.get(r[6]), initiated_by=r[7], category=r[8],
            contacts=_tuple(r[9]), subject=(r[10] if subjects else None),
        )
        for r in _rows(con, _EVENTS_WITH_SUBJECTS_SQL if subjects else _EVENTS_SQL, tz_params)
    ]

    collaborations = tuple(
        Collaboration(
            account_id=r[0], account_name=r[1], owner_email=r[2], owner_name=r[3],
            colleagues=tuple((e, names.get(e)) for e in _tuple(r[4])),
            interactions=_int(r[5]), emails=_int(r[6]), meetings=_int(r[7]), contacts=_int(r[8]),
        )
        for r in _rows(con, _COLLAB_SQL, week_params)
    )

    return WeekReport(
        week_start=week_start,
        weeks=weeks,
        figures=figures,
        customer_interactions=customer,
        overlap_interactions=overlapping,
        pairs=tuple(pairs),
        trend=tuple(trend_map[w] for w in weeks),
        owners=_owner_sections(pairs, events, collaborations),
        reps=_rep_sections(pairs),
        collaborations=collaborations,
        coverage=_coverage(con, tz_params),
        quality=_quality(con, unmatched_limit),
        owner_figures=owner_figures,
    )


def _figures(con: duckdb.DuckDBPyConnection, params: dict[str, Any], week: dt.date,
             ) -> tuple[tuple[Figure, ...], dict[str, tuple[Figure, ...]]]:
    """Headline figures for the whole company and for each owner."""
    # counts[owner or None][metric][week] -> value
    counts: dict[str | None, dict[str, dict[dt.date, int]]] = defaultdict(
        lambda: defaultdict(dict))
    for ws, owner, overall, ev, accounts, reps in _rows(con, _EVENT_FIGURES_SQL, params):
        key = None if overall else owner
        counts[key]["events"][ws] = _int(ev)
        counts[key]["accounts"][ws] = _int(accounts)
        counts[key]["reps"][ws] = _int(reps)
    for ws, owner, overall, n in _rows(con, _HIGH_PAIRS_SQL, params):
        counts[None if overall else owner]["high"][ws] = _int(n)
    for ws, owner, overall, n in _rows(con, _COLLAB_FIGURES_SQL, params):
        counts[None if overall else owner]["collaboration"][ws] = _int(n)

    previous = params["previous"]

    def make(c: dict[str, dict[dt.date, int]], owner: bool) -> tuple[Figure, ...]:
        specs = [
            ("events", "Overlap events", False),
            ("accounts", "Accounts affected", False),
            ("reps", "Reps involved", False),
            ("high", "High-risk pairs", False),
            ("collaboration", "Joint conversations" if not owner else "With colleagues", True),
        ]
        return tuple(
            Figure(key, label, c[key].get(week, 0), c[key].get(previous, 0), up)
            for key, label, up in specs
        )

    overall_figs = make(counts[None], owner=False)
    per_owner = {o: make(c, owner=True) for o, c in sorted(
        ((o, c) for o, c in counts.items() if o is not None), key=lambda kv: kv[0])}
    return overall_figs, per_owner


def _owner_sections(pairs: Sequence[Pair], events: Sequence[Event],
                    collaborations: Sequence[Collaboration]) -> tuple[PersonSection, ...]:
    by_owner: dict[str, list[Pair]] = defaultdict(list)
    names: dict[str, str | None] = {}
    for p in pairs:
        by_owner[p.owner_email].append(p)
        names.setdefault(p.owner_email, p.owner_name)
    ev_by_owner: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        ev_by_owner[e.owner_email].append(e)
        names.setdefault(e.owner_email, None)
    collab_by_owner: dict[str, list[Collaboration]] = defaultdict(list)
    for c in collaborations:
        collab_by_owner[c.owner_email].append(c)
    owners = sorted(set(by_owner) | set(ev_by_owner),
                    key=lambda o: _sort_name(names.get(o), o))
    return tuple(
        PersonSection(anchor=f"owner-{i + 1}", email=o, name=names.get(o),
                      pairs=tuple(by_owner.get(o, ())), events=tuple(ev_by_owner.get(o, ())),
                      collaborations=tuple(collab_by_owner.get(o, ())))
        for i, o in enumerate(owners)
    )


def _rep_sections(pairs: Sequence[Pair]) -> tuple[PersonSection, ...]:
    by_rep: dict[str, list[Pair]] = defaultdict(list)
    names: dict[str, str | None] = {}
    for p in pairs:
        by_rep[p.rep_email].append(p)
        names.setdefault(p.rep_email, p.rep_name)
    reps = sorted(by_rep, key=lambda r: _sort_name(names.get(r), r))
    return tuple(
        PersonSection(anchor=f"rep-{i + 1}", email=r, name=names.get(r), pairs=tuple(by_rep[r]))
        for i, r in enumerate(reps)
    )


def _coverage(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> Coverage:
    mailboxes: set[tuple[str | None, str | None]] = set()
    problems: list[MailboxStatus] = []
    for scope, source, mailbox, ws, we, status, error in _rows(con, _COVERAGE_SQL, params):
        state = _state(status)
        if scope == "extract":
            mailboxes.add((source, mailbox))
        elif state in ("ok", "running") or (status or "").lower() == "partial":
            # The run writing this report is still "running", and a "partial" run is
            # explained by its failed extracts, listed one by one.
            continue
        if state != "ok":
            problems.append(MailboxStatus(source, mailbox, scope or "", ws, we,
                                          status or "", state, error))
    problems.sort(key=lambda p: (p.scope != "run", p.source or "", p.mailbox or "",
                                 p.window_start or dt.datetime.min))
    return Coverage(mailboxes=len(mailboxes), problems=tuple(problems))


def _quality(con: duckdb.DuckDBPyConnection, unmatched_limit: int) -> DataQuality:
    findings = [Finding(*r) for r in _rows(con, _QUALITY_SQL, {})]
    by_kind: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by_kind[f.kind].append(f)
    reasons: dict[str | None, list[int]] = {}
    mailboxes: dict[str | None, set[tuple[str | None, str | None]]] = defaultdict(set)
    for f in by_kind.get("quarantined", []):
        reasons.setdefault(f.item, [0])[0] += _int(f.volume)
        mailboxes[f.item].add((f.source, f.mailbox))
    quarantined = sorted(
        (QuarantineReason(r, v[0], len(mailboxes[r])) for r, v in reasons.items()),
        key=lambda q: (-q.records, q.reason or ""),
    )
    unmatched = by_kind.get("unmatched_domain", [])
    return DataQuality(
        unmatched=tuple(unmatched[:unmatched_limit]),
        unmatched_more=max(0, len(unmatched) - unmatched_limit),
        ambiguous=tuple(by_kind.get("ambiguous_domain", [])),
        freemail=tuple(by_kind.get("freemail_account_domain", [])),
        quarantined=tuple(quarantined),
        mailbox_findings=tuple(by_kind.get("mailbox_failed", [])
                               + by_kind.get("mailbox_skipped", [])),
    )
