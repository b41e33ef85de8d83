"""The records a weekly report and the owner digests are made of: plain frozen dataclasses
that reports/data.py fills from the analyst views and the templates lay out (no queries here).

``Caps`` is here too: it says how many rows each table shows, and the report states it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

HISTORY_WEEKS = 12
LEVELS = ("high", "medium", "low")
CATEGORIES = ("backdoor", "coverage_gap", "looped_in")


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
    earlier_weeks: int = 0  # weeks of the 4 before with events for the pair (0: a new pair)
    heads_ups: int = 0  # events after a heads-up to the owner (rule 6)

    @property
    def is_new(self) -> bool:
        """New this week: no events for the pair in the previous 4 weeks (else recurring)."""
        return self.earlier_weeks == 0

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
    heads_up: bool = False  # rule 6: the rep gave the owner a heads-up before


@dataclass(frozen=True)
class Approved:
    """Approved collaboration of the week (approvals.csv covered the events): teamwork."""

    account_id: str
    account_name: str | None
    owner_email: str
    rep_email: str
    rep_name: str | None
    owner_name: str | None
    reason: str
    events: int
    meetings: int


@dataclass(frozen=True)
class ChangedHands:
    """An owner change in force this week (rule 10) and how the handoff is going."""

    account_id: str
    account_name: str
    former_owner: str
    former_name: str | None
    owner_email: str
    owner_name: str | None
    since: dt.datetime
    handoff_events: int  # the former owner still alone with the customer this week
    owner_met: int  # customer interactions of the new owner with the account since the change


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
class QuarantinedFile:
    """One record set aside unparsed, with the window of the extract that read it."""

    source: str
    mailbox: str
    locator: str | None  # a path inside the mailbox folder (#n: n-th message of an mbox) or id
    reason: str
    window_start: dt.datetime | None  # company time zone
    window_end: dt.datetime | None


@dataclass(frozen=True)
class DataQuality:
    """The data-quality section. Quarantine is scoped to the week (by the window of the extract
    that read the record); the domain findings and ``quarantined_all`` are over all data."""

    unmatched: tuple[Finding, ...]  # all data
    unmatched_more: int
    ambiguous: tuple[Finding, ...]  # the CRM as loaded
    freemail: tuple[Finding, ...]  # the CRM as loaded
    quarantined: tuple[QuarantineReason, ...]  # this week, by reason
    mailbox_findings: tuple[Finding, ...]  # mailbox_failed / mailbox_skipped (latest run)
    quarantined_files: tuple[QuarantinedFile, ...] = ()  # this week, at most caps.quarantined
    quarantined_files_total: int = 0
    quarantined_window: tuple[dt.datetime, dt.datetime] | None = None  # span of those windows
    quarantined_all: int = 0  # every quarantined record in the warehouse (data_quality)
    quarantined_all_mailboxes: int = 0

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
    approved: tuple[Approved, ...] = ()  # digests: approved collaboration on their accounts
    approved_total: int = 0
    changed_hands: tuple[ChangedHands, ...] = ()  # digests: their accounts that changed hands


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
    quarantined: int = 25  # quarantined records listed one by one (data-quality section)

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
    approved: tuple[Approved, ...] = ()  # approved collaboration, at most caps.collaborations
    approved_total: int = 0
    changed_hands: tuple[ChangedHands, ...] = ()  # owner changes in force this week
    broadcasts: tuple[Finding, ...] = ()  # broadcasts ignored this week, per sender (rule 5)
    config_path: str = "overlap.toml"  # for the `overlap approve` command beside risk rows

    @property
    def new_pairs(self) -> int:
        return next((f.value for f in self.figures if f.key == "new_pairs"), 0)

    @property
    def broadcasts_ignored(self) -> int:
        return sum(int(f.volume or 0) for f in self.broadcasts)

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
