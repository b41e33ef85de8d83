"""Everything a weekly report and the owner digests show, read from the analyst views (and only
from them).

Each query binds its values as parameters and orders its rows completely (ties broken by
keys), so the same warehouse content always gives the same report. The result is a tree of
plain dataclasses; the templates only lay it out.

Scale: a week can hold hundreds of thousands of pairs and events. Every table is ranked and
cut to its cap (``Caps``) in SQL, and every total beside it ("showing 50 of 190,161") is
counted in SQL over all rows, so Python only ever sees the rows a page shows. The digests of
all owners come from a handful of set-based queries (windows partitioned by owner), never
from one query per owner.
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
    mailboxes: int  # distinct mailboxes with an extract overlapping the week (any source)
    problems: tuple[MailboxStatus, ...]  # extracts (or whole runs) that did not succeed

    @property
    def known(self) -> bool:
        return self.mailboxes > 0 or bool(self.problems)

    @property
    def complete(self) -> bool:
        return self.known and not self.problems

    @property
    def failed_mailboxes(self) -> int:
        return len({p.mailbox for p in self.problems if p.scope == "extract"})

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
    """One owner's or one rep's week: their highest-scoring pairs (at most a cap) and totals
    over all of their pairs, computed in SQL; for owners' digests also their events and the
    collaboration on their accounts (each capped, each with its total)."""

    anchor: str
    email: str
    name: str | None
    pairs: tuple[Pair, ...]  # ranked by score, at most the cap
    pairs_total: int  # every pair of this person this week
    accounts: int  # distinct accounts over every pair
    people: int  # owners: the reps who reached their accounts; reps: the owners they went around
    total_events: int  # overlap events over every pair
    top_level: str  # the highest level of any pair: high | medium | low
    events: tuple[Event, ...] = ()  # of the top pairs first, at most the cap; in time order
    events_total: int = 0
    collaborations: tuple[Collaboration, ...] = ()  # most joint conversations first, capped
    collaborations_total: int = 0
    joint_conversations: int = 0  # over every collaboration row


@dataclass(frozen=True)
class Caps:
    """How many rows each table of the report and the digests shows.

    Ranking and capping happen in SQL; every total, headline figure and "showing N of M" line
    counts all rows of the week, never only the rows shown. The CSV export is never capped.
    """

    pairs: int = 50  # ranked table of the main report
    people: int = 25  # owner blocks, and rep blocks, in the main report
    person_rows: int = 10  # pairs in one owner or rep block of the main report
    collaborations: int = 25  # teamwork table of the main report
    # A digest is an email: readable at a glance and under ~100 kB, where Gmail clips.
    digest_pairs: int = 50  # pairs in one owner's digest
    digest_events: int = 50  # events in one owner's digest (of their top pairs first)
    digest_collaborations: int = 25  # teamwork rows in one owner's digest
    colleagues: int = 5  # names listed per teamwork row ("and 7 more")

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"cap {name} must be a whole number of at least 1, not {value!r}")


@dataclass(frozen=True)
class WeekReport:
    week_start: dt.date
    weeks: tuple[dt.date, ...]  # HISTORY_WEEKS Mondays, oldest first, this week last
    figures: tuple[Figure, ...]
    customer_interactions: int  # interactions with a customer, with or without the owner
    overlap_interactions: int  # of those, the ones with at least one overlap event
    pairs: tuple[Pair, ...]  # the highest-scoring pairs of the week, at most caps.pairs
    pairs_total: int  # every pair of the week
    trend: tuple[dict[str, int], ...]  # events per level, one per week in `weeks`
    owners: tuple[PersonSection, ...]  # the owners most at risk, at most caps.people
    owners_total: int  # owners with at least one pair this week
    reps: tuple[PersonSection, ...]  # the reps most involved, at most caps.people
    reps_total: int
    collaborations: tuple[Collaboration, ...]  # most joint conversations first, capped
    collaborations_total: int  # accounts with joint conversations this week
    joint_conversations: int  # over every account
    coverage: Coverage
    quality: DataQuality
    caps: Caps = field(default_factory=Caps)
    owner_figures: dict[str, tuple[Figure, ...]] = field(default_factory=dict)

    @property
    def events(self) -> int:
        return next(f.value for f in self.figures if f.key == "events")

    @property
    def previous_start(self) -> dt.date:
        return self.week_start - dt.timedelta(days=7)


@dataclass(frozen=True)
class Digest:
    """One account owner's digest: their section and their own headline figures."""

    owner: PersonSection
    figures: tuple[Figure, ...]


# --------------------------------------------------------------------------- queries

# Which pairs a table shows, by key: the top $limit of the week (a top-N, no full sort) ...
_TOP_OF_WEEK = """
    select account_id, rep_email, owner_email,
           row_number() over (order by score desc, account_id, rep_email, owner_email) as pos,
           (select count(*) from overlap_weekly where week_start = $week) as total
    from (
        select account_id, rep_email, owner_email, score from overlap_weekly
        where week_start = $week
        order by score desc, account_id, rep_email, owner_email
        limit $limit
    )
"""
# ... or the top $limit of each owner or rep (`{key}`), with each one's total; `{only}` may
# restrict them to a list. Ranked on the keys alone, then joined to the wide rows.
_TOP_PER_PERSON = """
    select account_id, rep_email, owner_email,
           row_number() over (partition by {key}
                              order by score desc, account_id, rep_email, owner_email) as pos,
           count(*) over (partition by {key}) as total
    from overlap_weekly
    where week_start = $week and {only}
    qualify pos <= $limit
"""

# The chosen pairs with each one's history for its sparkline: one value per week, summed in
# case an account changed owner. Rows come grouped by `{key}`, ranked within it.
_PAIRS_SQL = """
with ranked as materialized ({ranked}),
history as (
    select account_id, rep_email,
           list(week_start order by week_start) as h_weeks,
           list(score order by week_start) as h_scores,
           list(events order by week_start) as h_events
    from (
        select h.account_id, h.rep_email, h.week_start,
               sum(h.score) as score, sum(h.events) as events
        from overlap_weekly as h
        semi join ranked as r on r.account_id = h.account_id and r.rep_email = h.rep_email
        where h.week_start between $first and $week
        group by h.account_id, h.rep_email, h.week_start
    )
    group by account_id, rep_email
)
select w.account_id, w.account_name, w.owner_email, w.owner_name, w.rep_email, w.rep_name,
       w.emails, w.meetings, w.contacts, w.score, w.level, w.reasons, w.events,
       w.backdoor, w.coverage_gap, w.looped_in, w.rep_initiated, w.customer_initiated,
       r.total, h.h_weeks, h.h_scores, h.h_events
from ranked as r
join overlap_weekly as w
    on w.week_start = $week and w.account_id = r.account_id and w.rep_email = r.rep_email
    and w.owner_email is not distinct from r.owner_email
left join history as h on h.account_id = r.account_id and h.rep_email = r.rep_email
order by {order}r.pos
"""

# Groups a pairs query may rank within; identifiers only from this list.
_PAIR_GROUPS = {"owner": "owner_email", "rep": "rep_email"}

# Every owner (or rep) of the week with totals over all of their pairs, most at risk first:
# the highest level of any pair, then the sum of their pairs' scores.
_PEOPLE_SQL = """
select {key} as email, min({name}) as name, count(*) as pairs,
       count(distinct account_id) as accounts, count(distinct {other}) as people,
       sum(events) as events,
       min(case level when 'high' then 0 when 'medium' then 1 else 2 end) as level_rank,
       sum(cast(score as decimal(18, 6))) as total_score  -- exact: no order-dependent rounding
from overlap_weekly
where week_start = $week
group by {key}
order by level_rank, total_score desc, email
"""
_PEOPLE_KINDS = {
    "owner": {"key": "owner_email", "name": "owner_name", "other": "rep_email"},
    "rep": {"key": "rep_email", "name": "rep_name", "other": "owner_email"},
}

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

# At most $limit events of each owner's week, with the owner's total: the events of their
# highest-scoring pairs (ranked as the pairs table), listed in time order. {subject} is the
# subject column, or null when the caller did not ask for subjects (then the interactions view
# is not even joined).
_EVENTS_SQL = """
with picked as (
    select e.interaction_id, e.account_id, e.rep_email,
           row_number() over (partition by e.owner_email
                              order by w.score desc nulls last, e.account_id, e.rep_email,
                                       e.occurred_at, e.interaction_id) as pick,
           count(*) over (partition by e.owner_email) as total
    from overlap_events as e
    left join overlap_weekly as w
        on w.week_start = e.week_start and w.account_id = e.account_id
        and w.rep_email = e.rep_email and w.owner_email = e.owner_email
    where e.week_start = $week
    qualify pick <= $limit
)
select e.interaction_id, e.kind, timezone($tz, e.occurred_at) as occurred_local,
       e.account_id, e.account_name, e.owner_email, e.rep_email,
       e.initiated_by, e.category, e.contact_emails, {subject} as subject, p.total
from picked as p
join overlap_events as e
    on e.week_start = $week and e.interaction_id = p.interaction_id
    and e.account_id = p.account_id and e.rep_email = p.rep_email
{join}
order by e.owner_email, e.occurred_at, e.interaction_id, e.account_id, e.rep_email
"""
_EVENTS_PLAIN = {"subject": "null", "join": ""}
_EVENTS_WITH_SUBJECTS = {
    "subject": "i.subject",
    "join": "left join interactions as i on i.interaction_id = e.interaction_id",
}

# The accounts with the most joint conversations, at most $limit per group (`{key}`: the whole
# week or an owner), with the group's totals.
_COLLAB_SQL = """
select account_id, account_name, owner_email, owner_name, rep_emails,
       interactions, emails, meetings, contacts,
       count(*) over (partition by {key}) as total,
       sum(interactions) over (partition by {key}) as joint,
       row_number() over (partition by {key}
                          order by interactions desc, meetings desc, account_id, owner_email)
           as pos
from collaboration_weekly
where week_start = $week
qualify pos <= $limit
order by {key}, pos
"""
_COLLAB_GROUPS = {"week": "week_start", "owner": "owner_email"}

# CRM names of reps and owners as the marts carry them over the trend's weeks; this week's
# name wins, and the smallest if they disagree.
_NAMES_SQL = """
select email, coalesce(min(name) filter (where week_start = $week), min(name)) as name
from (
    select week_start, rep_email as email, rep_name as name from overlap_weekly
    where week_start between $first and $week
    union all
    select week_start, owner_email, owner_name from overlap_weekly
    where week_start between $first and $week
    union all
    select week_start, owner_email, owner_name from collaboration_weekly
    where week_start between $first and $week
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
    """A VARCHAR[] as a tuple of its strings, NULL elements left out."""
    if value is None:
        return ()
    items = tuple(value)
    return items if None not in items else tuple(str(v) for v in items if v is not None)


def _state(status: str | None) -> str:
    s = (status or "").strip().lower()
    if s in OK_STATUSES:
        return "ok"
    if s in SKIPPED_STATUSES:
        return "skipped"
    if s in RUNNING_STATUSES:
        return "running"
    return "failed"


def history_weeks(week_start: dt.date) -> tuple[dt.date, ...]:
    return tuple(week_start - dt.timedelta(weeks=k) for k in range(HISTORY_WEEKS - 1, -1, -1))


def load_week(con: duckdb.DuckDBPyConnection, week_start: dt.date, *, caps: Caps | None = None,
              timezone: str = "UTC", unmatched_limit: int = 10) -> WeekReport:
    """Read the main report of one week (and the 11 before it, for trends).

    Tables hold at most ``caps`` rows, ranked in SQL; figures and totals count every row.
    """
    caps = caps or Caps()
    weeks = history_weeks(week_start)
    week_params = {"week": week_start}
    range_params = {"first": weeks[0], "week": week_start}
    both = {"week": week_start, "previous": week_start - dt.timedelta(weeks=1)}

    ranked = _pairs(con, "week", weeks, caps.pairs)
    pairs = ranked.get(week_start, ((), 0))

    trend_map: dict[dt.date, dict[str, int]] = {w: {lv: 0 for lv in LEVELS} for w in weeks}
    for ws, level, ev in _rows(con, _TREND_SQL, range_params):
        bucket = trend_map.setdefault(ws, {lv: 0 for lv in LEVELS})
        key = level if level in LEVELS else "low"
        bucket[key] += _int(ev)

    figures, owner_figures = _figures(con, both, week_start)
    customer = _int(_rows(con, _CUSTOMER_INTERACTIONS_SQL, week_params)[0][0])
    overlapping = _int(_rows(con, _OVERLAP_INTERACTIONS_SQL, week_params)[0][0])
    names = _names(con, weeks)
    owners, owners_total = _top_people(con, "owner", weeks, caps)
    reps, reps_total = _top_people(con, "rep", weeks, caps)
    collab = _collaborations(con, "week", week_start, caps.collaborations, names)
    collaborations, collaborations_total, joint = collab.get(week_start, ((), 0, 0))

    tz_params = {"week": week_start, "tz": timezone}
    return WeekReport(
        week_start=week_start,
        weeks=weeks,
        figures=figures,
        customer_interactions=customer,
        overlap_interactions=overlapping,
        pairs=pairs[0],
        pairs_total=pairs[1],
        trend=tuple(trend_map[w] for w in weeks),
        owners=owners,
        owners_total=owners_total,
        reps=reps,
        reps_total=reps_total,
        collaborations=collaborations,
        collaborations_total=collaborations_total,
        joint_conversations=joint,
        coverage=_coverage(con, tz_params),
        quality=_quality(con, unmatched_limit),
        caps=caps,
        owner_figures=owner_figures,
    )


def load_digests(con: duckdb.DuckDBPyConnection, report: WeekReport, *, subjects: bool = False,
                 timezone: str = "UTC") -> tuple[Digest, ...]:
    """One digest per account owner with overlap this week, ordered by address.

    A handful of set-based queries serve every owner at once (never one query per owner);
    each digest holds at most ``report.caps`` digest rows, with totals over all rows.
    """
    caps = report.caps
    week_start, weeks = report.week_start, report.weeks
    stats = {row[0]: row for row in _rows(con, _people_sql("owner"), {"week": week_start})}
    pairs = _pairs(con, "owner", weeks, caps.digest_pairs)
    names = _names(con, weeks)
    events = _events(con, week_start, caps.digest_events, names, subjects=subjects,
                     timezone=timezone)
    collabs = _collaborations(con, "owner", week_start, caps.digest_collaborations, names)

    with_events = {o for o, (evs, total) in events.items() if total}
    digests = []
    for i, owner in enumerate(sorted(set(stats) | with_events)):
        row = stats.get(owner)
        owner_events, events_total = events.get(owner, ((), 0))
        owner_collabs, collabs_total, joint = collabs.get(owner, ((), 0, 0))
        section = PersonSection(
            anchor=f"owner-{i + 1}", email=owner, name=row[1] if row else None,
            pairs=pairs.get(owner, ((), 0))[0], pairs_total=_int(row[2]) if row else 0,
            accounts=_int(row[3]) if row else 0, people=_int(row[4]) if row else 0,
            total_events=_int(row[5]) if row else 0,
            top_level=LEVELS[_int(row[6])] if row else "low",
            events=owner_events, events_total=events_total,
            collaborations=owner_collabs, collaborations_total=collabs_total,
            joint_conversations=joint,
        )
        figures = report.owner_figures.get(owner) or _no_figures(week_start)
        digests.append(Digest(owner=section, figures=figures))
    return tuple(digests)


def _people_sql(kind: str) -> str:
    return _PEOPLE_SQL.format(**_PEOPLE_KINDS[kind])


def _top_people(con: duckdb.DuckDBPyConnection, kind: str, weeks: tuple[dt.date, ...],
                caps: Caps) -> tuple[tuple[PersonSection, ...], int]:
    """The ``caps.people`` owners (or reps) most at risk, each with their top pairs."""
    week_start = weeks[-1]
    rows = _rows(con, _people_sql(kind), {"week": week_start})
    shown = rows[: caps.people]
    pairs = _pairs(con, kind, weeks, caps.person_rows, only=[r[0] for r in shown])
    sections = tuple(
        PersonSection(
            anchor=f"{kind}-{i + 1}", email=email, name=name,
            pairs=pairs.get(email, ((), 0))[0], pairs_total=_int(n_pairs),
            accounts=_int(accounts), people=_int(people), total_events=_int(events),
            top_level=LEVELS[_int(level_rank)],
        )
        for i, (email, name, n_pairs, accounts, people, events, level_rank, _score)
        in enumerate(shown)
    )
    return sections, len(rows)


def _pairs(con: duckdb.DuckDBPyConnection, group: str, weeks: tuple[dt.date, ...], limit: int,
           *, only: Sequence[str] | None = None) -> dict[Any, tuple[tuple[Pair, ...], int]]:
    """The top ``limit`` pairs of each group (week, owner or rep) and the group's total.

    ``only`` restricts the groups to these owners or reps."""
    if only is not None and not only:
        return {}
    if group == "week":
        sql = _PAIRS_SQL.format(ranked=_TOP_OF_WEEK, order="")
    else:
        key = _PAIR_GROUPS[group]
        only_sql = "true" if only is None else f"list_contains($only, {key})"
        sql = _PAIRS_SQL.format(ranked=_TOP_PER_PERSON.format(key=key, only=only_sql),
                                order=f"r.{key}, ")
    params: dict[str, Any] = {"week": weeks[-1], "first": weeks[0], "limit": limit}
    if only is not None:
        params["only"] = list(only)
    slot = {w: i for i, w in enumerate(weeks)}
    out: dict[Any, tuple[list[Pair], int]] = {}
    group_index = {"week": None, "owner": 2, "rep": 4}[group]
    for row in _rows(con, sql, params):
        (account_id, account_name, owner_email, owner_name, rep_email, rep_name, emails,
         meetings, contacts, sc, level, reasons, events, backdoor, coverage_gap, looped_in,
         rep_initiated, customer_initiated, total, h_weeks, h_scores, h_events) = row
        scores = [0.0] * len(weeks)
        active = 0
        for w, s, e in zip(h_weeks or (), h_scores or (), h_events or (), strict=True):
            i = slot.get(w)
            if i is not None:
                scores[i] = float(s or 0.0)
                active += _int(e) > 0
        pair = Pair(
            account_id=account_id, account_name=account_name, owner_email=owner_email,
            owner_name=owner_name, rep_email=rep_email, rep_name=rep_name,
            emails=_int(emails), meetings=_int(meetings), contacts=_int(contacts),
            score=float(sc or 0.0), level=level or "low", reasons=_tuple(reasons),
            events=_int(events), backdoor=_int(backdoor), coverage_gap=_int(coverage_gap),
            looped_in=_int(looped_in), rep_initiated=_int(rep_initiated),
            customer_initiated=_int(customer_initiated),
            history=tuple(scores), active_weeks=active,
        )
        g = weeks[-1] if group_index is None else row[group_index]
        out.setdefault(g, ([], _int(total)))[0].append(pair)
    return {g: (tuple(ps), total) for g, (ps, total) in out.items()}


def _events(con: duckdb.DuckDBPyConnection, week_start: dt.date, limit: int,
            names: dict[str, str], *, subjects: bool, timezone: str,
            ) -> dict[str, tuple[tuple[Event, ...], int]]:
    """At most ``limit`` events per owner (their highest-scoring pairs' first), in time
    order, and the owner's total."""
    sql = _EVENTS_SQL.format(**(_EVENTS_WITH_SUBJECTS if subjects else _EVENTS_PLAIN))
    out: dict[str, tuple[list[Event], int]] = {}
    for r in _rows(con, sql, {"week": week_start, "tz": timezone, "limit": limit}):
        event = Event(
            interaction_id=r[0], kind=r[1], occurred_at=r[2], account_id=r[3],
            account_name=r[4], owner_email=r[5], rep_email=r[6], rep_name=names.get(r[6]),
            initiated_by=r[7], category=r[8], contacts=_tuple(r[9]),
            subject=r[10] if subjects else None,
        )
        out.setdefault(r[5], ([], _int(r[11])))[0].append(event)
    return {o: (tuple(evs), total) for o, (evs, total) in out.items()}


def _collaborations(con: duckdb.DuckDBPyConnection, group: str, week_start: dt.date,
                    limit: int, names: dict[str, str],
                    ) -> dict[Any, tuple[tuple[Collaboration, ...], int, int]]:
    """Per group (the week or an owner): the top rows, the number of rows and the sum of
    joint conversations."""
    key = _COLLAB_GROUPS[group]
    out: dict[Any, tuple[list[Collaboration], int, int]] = {}
    for r in _rows(con, _COLLAB_SQL.format(key=key), {"week": week_start, "limit": limit}):
        row = Collaboration(
            account_id=r[0], account_name=r[1], owner_email=r[2], owner_name=r[3],
            colleagues=tuple((e, names.get(e)) for e in _tuple(r[4])),
            interactions=_int(r[5]), emails=_int(r[6]), meetings=_int(r[7]), contacts=_int(r[8]),
        )
        g = week_start if group == "week" else r[2]
        out.setdefault(g, ([], _int(r[9]), _int(r[10])))[0].append(row)
    return {g: (tuple(rows), total, joint) for g, (rows, total, joint) in out.items()}


def _names(con: duckdb.DuckDBPyConnection, weeks: tuple[dt.date, ...]) -> dict[str, str]:
    return dict(_rows(con, _NAMES_SQL, {"first": weeks[0], "week": weeks[-1]}))


_FIGURE_SPECS = (  # key, label (company report), label (owner digest), up is good
    ("events", "Overlap events", "Overlap events", False),
    ("accounts", "Accounts affected", "Accounts affected", False),
    ("reps", "Reps involved", "Reps involved", False),
    ("high", "High-risk pairs", "High-risk pairs", False),
    ("collaboration", "Joint conversations", "With colleagues", True),
)


def _make_figures(c: dict[str, dict[dt.date, int]], week: dt.date, previous: dt.date, *,
                  owner: bool) -> tuple[Figure, ...]:
    return tuple(
        Figure(key, owner_label if owner else label,
               c.get(key, {}).get(week, 0), c.get(key, {}).get(previous, 0), up)
        for key, label, owner_label, up in _FIGURE_SPECS
    )


def _no_figures(week: dt.date) -> tuple[Figure, ...]:
    """An owner's figures when they have none this week or last (zeros, labelled)."""
    return _make_figures({}, week, week - dt.timedelta(weeks=1), owner=True)


def _figures(con: duckdb.DuckDBPyConnection, params: dict[str, Any], week: dt.date,
             ) -> tuple[tuple[Figure, ...], dict[str, tuple[Figure, ...]]]:
    """Headline figures for the whole company and for each owner, over every event."""
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
    overall_figs = _make_figures(counts[None], week, previous, owner=False)
    per_owner = {o: _make_figures(c, week, previous, owner=True) for o, c in sorted(
        ((o, c) for o, c in counts.items() if o is not None), key=lambda kv: kv[0])}
    return overall_figs, per_owner


def _coverage(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> Coverage:
    # A mailbox read by several sources (maildir + ics, gmail + google_calendar) is one mailbox.
    mailboxes: set[str | None] = set()
    problems: list[MailboxStatus] = []
    for scope, source, mailbox, ws, we, status, error in _rows(con, _COVERAGE_SQL, params):
        state = _state(status)
        if scope == "extract":
            mailboxes.add(mailbox)
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
