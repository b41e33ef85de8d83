"""Everything a weekly report and the owner digests show, read from the analyst views (and only
from them, but for the week's quarantined records: ``raw_quarantine``, whose windows and
locators ``data_quality`` sums away) into the records of reports/records.py.

The queries are the ``.sql`` files of reports/sql/ (shipped with the package, read once by
``_query``). Each binds its values as parameters and orders its rows completely (ties broken
by keys), so the same warehouse content always gives the same report. Identifiers a query
takes as ``{placeholder}`` (a grouping column, a sub-query) come only from fixed lists here.

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
from functools import cache
from importlib import resources
from typing import Any

import duckdb

from reports.records import (
    HISTORY_WEEKS,
    LEVELS,
    Approved,
    Caps,
    ChangedHands,
    Collaboration,
    Coverage,
    DataQuality,
    Digest,
    Event,
    Figure,
    Finding,
    MailboxStatus,
    Pair,
    PersonSection,
    QuarantinedFile,
    QuarantineReason,
    WeekReport,
)

# Statuses of `runs` rows. The pipeline writes these; anything unknown counts as a problem so a
# new failure mode is never reported as full coverage.
# overlap/warehouse.py writes succeeded | failed | skipped (extracts), running | succeeded |
# partial | failed (runs).
OK_STATUSES = frozenset({"ok", "success", "succeeded", "complete", "completed", "done"})
SKIPPED_STATUSES = frozenset({"skipped"})
RUNNING_STATUSES = frozenset({"running", "started", "queued"})

# Identifiers the queries' placeholders take, only from these lists.
_PAIR_GROUPS = {"owner": "owner_email", "rep": "rep_email"}  # top_per_person.sql <key>
_PEOPLE_KINDS = {  # people.sql
    "owner": {"key": "owner_email", "name": "owner_name", "other": "rep_email"},
    "rep": {"key": "rep_email", "name": "rep_name", "other": "owner_email"},
}
_EVENTS_PLAIN = {"subject": "null", "join": ""}  # events.sql
_EVENTS_WITH_SUBJECTS = {
    "subject": "i.subject",
    "join": "left join interactions as i on i.interaction_id = e.interaction_id",
}
_COLLAB_GROUPS = {"week": "week_start", "owner": "owner_email"}  # collaborations.sql <key>
# (approved.sql <key> takes the same)


@cache
def _query(name: str) -> str:
    """The text of reports/sql/<name>.sql (package data, read once)."""
    return resources.files("reports").joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


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
              timezone: str = "UTC", unmatched_limit: int = 10,
              config_path: str = "overlap.toml", min_group: int = 0) -> WeekReport:
    """Read the main report of one week (and the 11 before it, for trends).

    Tables hold at most ``caps`` rows, ranked in SQL; figures and totals count every row.
    ``min_group`` (``[report] min_group``, docs/privacy.md): owners and reps with fewer events
    this week are shown only together, as one block without pairs, and the ranked table
    leaves out their pairs (totals still count them).
    """
    caps = caps or Caps()
    weeks = history_weeks(week_start)
    week_params = {"week": week_start}
    range_params = {"first": weeks[0], "week": week_start}
    both = {"week": week_start, "previous": week_start - dt.timedelta(weeks=1)}

    ranked = _pairs(con, "week", weeks, caps.pairs)
    pairs = ranked.get(week_start, ((), 0))
    if min_group:
        small = _small_groups(con, week_start, min_group)
        pairs = (tuple(p for p in pairs[0] if p.owner_email not in small["owner"]
                       and p.rep_email not in small["rep"]), pairs[1])

    trend_map: dict[dt.date, dict[str, int]] = {w: {lv: 0 for lv in LEVELS} for w in weeks}
    for ws, level, ev in _rows(con, _query("trend"), range_params):
        bucket = trend_map.setdefault(ws, {lv: 0 for lv in LEVELS})
        key = level if level in LEVELS else "low"
        bucket[key] += _int(ev)

    figures, owner_figures = _figures(con, both, week_start)
    customer = _int(_rows(con, _query("customer_interactions"), week_params)[0][0])
    overlapping = _int(_rows(con, _query("overlap_interactions"), week_params)[0][0])
    names = _names(con, weeks)
    owners, owners_total = _top_people(con, "owner", weeks, caps, min_group)
    reps, reps_total = _top_people(con, "rep", weeks, caps, min_group)
    collab = _collaborations(con, "week", week_start, caps.collaborations, names)
    collaborations, collaborations_total, joint = collab.get(week_start, ((), 0, 0))

    tz_params = {"week": week_start, "tz": timezone}
    approved, approved_total = _approved(con, "week", week_start, caps.collaborations,
                                         names).get(week_start, ((), 0))
    findings = _findings(con)
    quality = _quality(con, unmatched_limit, tz_params, caps, findings)
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
        quality=quality,
        caps=caps,
        owner_figures=owner_figures,
        approved=approved,
        approved_total=approved_total,
        changed_hands=_changed_hands(con, week_start, names),
        broadcasts=tuple(f for f in findings if f.kind == "broadcast_ignored"
                         and f.detail == week_start.isoformat()),
        config_path=config_path,
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
    approved = _approved(con, "owner", week_start, caps.digest_collaborations, names)
    changed: dict[str, list[ChangedHands]] = defaultdict(list)
    for change in report.changed_hands:
        changed[change.owner_email].append(change)

    with_events = {o for o, (evs, total) in events.items() if total}
    digests = []
    for i, owner in enumerate(sorted(set(stats) | with_events | set(approved) | set(changed))):
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
            approved=approved.get(owner, ((), 0))[0],
            approved_total=approved.get(owner, ((), 0))[1],
            changed_hands=tuple(changed.get(owner, ())),
        )
        figures = report.owner_figures.get(owner) or _no_figures(week_start)
        digests.append(Digest(owner=section, figures=figures))
    return tuple(digests)


def _people_sql(kind: str) -> str:
    return _query("people").format(**_PEOPLE_KINDS[kind])


def _small_groups(con: duckdb.DuckDBPyConnection, week_start: dt.date,
                  min_group: int) -> dict[str, set[str]]:
    """The owners and the reps with fewer than ``min_group`` events this week."""
    return {kind: {r[0] for r in _rows(con, _people_sql(kind), {"week": week_start})
                   if _int(r[5]) < min_group} for kind in _PEOPLE_KINDS}


def _top_people(con: duckdb.DuckDBPyConnection, kind: str, weeks: tuple[dt.date, ...],
                caps: Caps, min_group: int = 0) -> tuple[tuple[PersonSection, ...], int]:
    """The ``caps.people`` owners (or reps) most at risk, each with their top pairs; those
    with fewer than ``min_group`` events together in one last block, without pairs."""
    week_start = weeks[-1]
    rows = _rows(con, _people_sql(kind), {"week": week_start})
    small = [r for r in rows if _int(r[5]) < min_group]
    rows = [r for r in rows if _int(r[5]) >= min_group]
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
    if small:  # Viva Insights' minimum group size: nobody in it can be told apart
        sections += (PersonSection(
            anchor=f"{kind}-others", email="",
            name=f"Others: {len(small)} {kind}{'s' if len(small) != 1 else ''} with fewer"
                 f" than {min_group} events each, together",
            pairs=(), pairs_total=sum(_int(r[2]) for r in small), accounts=sum(
                _int(r[3]) for r in small), people=sum(_int(r[4]) for r in small),
            total_events=sum(_int(r[5]) for r in small),
            top_level=LEVELS[min(_int(r[6]) for r in small)]),)
    return sections, len(rows) + (1 if small else 0)


def _pairs(con: duckdb.DuckDBPyConnection, group: str, weeks: tuple[dt.date, ...], limit: int,
           *, only: Sequence[str] | None = None) -> dict[Any, tuple[tuple[Pair, ...], int]]:
    """The top ``limit`` pairs of each group (week, owner or rep) and the group's total.

    ``only`` restricts the groups to these owners or reps."""
    if only is not None and not only:
        return {}
    if group == "week":
        sql = _query("pairs").format(ranked=_query("top_of_week"), order="")
    else:
        key = _PAIR_GROUPS[group]
        only_sql = "true" if only is None else f"list_contains($only, {key})"
        ranked = _query("top_per_person").format(key=key, only=only_sql)
        sql = _query("pairs").format(ranked=ranked, order=f"r.{key}, ")
    params: dict[str, Any] = {"week": weeks[-1], "first": weeks[0], "limit": limit}
    if only is not None:
        params["only"] = list(only)
    slot = {w: i for i, w in enumerate(weeks)}
    out: dict[Any, tuple[list[Pair], int]] = {}
    group_index = {"week": None, "owner": 2, "rep": 4}[group]
    for row in _rows(con, sql, params):
        (account_id, account_name, owner_email, owner_name, rep_email, rep_name, emails,
         meetings, contacts, sc, level, reasons, events, backdoor, coverage_gap, looped_in,
         rep_initiated, customer_initiated, total, h_weeks, h_scores, h_events, earlier,
         heads_ups) = row
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
            history=tuple(scores), active_weeks=active, earlier_weeks=_int(earlier),
            heads_ups=_int(heads_ups),
        )
        g = weeks[-1] if group_index is None else row[group_index]
        out.setdefault(g, ([], _int(total)))[0].append(pair)
    return {g: (tuple(ps), total) for g, (ps, total) in out.items()}


def _events(con: duckdb.DuckDBPyConnection, week_start: dt.date, limit: int,
            names: dict[str, str], *, subjects: bool, timezone: str,
            ) -> dict[str, tuple[tuple[Event, ...], int]]:
    """At most ``limit`` events per owner (their highest-scoring pairs' first), in time
    order, and the owner's total."""
    sql = _query("events").format(**(_EVENTS_WITH_SUBJECTS if subjects else _EVENTS_PLAIN))
    out: dict[str, tuple[list[Event], int]] = {}
    for r in _rows(con, sql, {"week": week_start, "tz": timezone, "limit": limit}):
        event = Event(
            interaction_id=r[0], kind=r[1], occurred_at=r[2], account_id=r[3],
            account_name=r[4], owner_email=r[5], rep_email=r[6], rep_name=names.get(r[6]),
            initiated_by=r[7], category=r[8], contacts=_tuple(r[9]),
            subject=r[10] if subjects else None, heads_up=bool(r[12]),
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
    for r in _rows(con, _query("collaborations").format(key=key), {"week": week_start, "limit": limit}):
        row = Collaboration(
            account_id=r[0], account_name=r[1], owner_email=r[2], owner_name=r[3],
            colleagues=tuple((e, names.get(e)) for e in _tuple(r[4])),
            interactions=_int(r[5]), emails=_int(r[6]), meetings=_int(r[7]), contacts=_int(r[8]),
        )
        g = week_start if group == "week" else r[2]
        out.setdefault(g, ([], _int(r[9]), _int(r[10])))[0].append(row)
    return {g: (tuple(rows), total, joint) for g, (rows, total, joint) in out.items()}


def _approved(con: duckdb.DuckDBPyConnection, group: str, week_start: dt.date, limit: int,
              names: dict[str, str]) -> dict[Any, tuple[tuple[Approved, ...], int]]:
    """Approved collaboration per group (the week or an owner): top rows and the total."""
    key = _COLLAB_GROUPS[group]
    out: dict[Any, tuple[list[Approved], int]] = {}
    sql = _query("approved").format(key=key)
    for r in _rows(con, sql, {"week": week_start, "limit": limit}):
        row = Approved(account_id=r[0], account_name=r[1], owner_email=r[2], rep_email=r[3],
                       rep_name=names.get(r[3]), owner_name=names.get(r[2]), reason=r[4] or "",
                       events=_int(r[5]), meetings=_int(r[6]))
        g = week_start if group == "week" else r[2]
        out.setdefault(g, ([], _int(r[7])))[0].append(row)
    return {g: (tuple(rows), total) for g, (rows, total) in out.items()}


def _changed_hands(con: duckdb.DuckDBPyConnection, week_start: dt.date,
                   names: dict[str, str]) -> tuple[ChangedHands, ...]:
    return tuple(
        ChangedHands(account_id=r[0], account_name=r[1], former_owner=r[2],
                     former_name=names.get(r[2]), owner_email=r[3],
                     owner_name=r[4] or names.get(r[3]), since=r[5],
                     handoff_events=_int(r[6]), owner_met=_int(r[7]))
        for r in _rows(con, _query("changed_hands"), {"week": week_start}))


def _findings(con: duckdb.DuckDBPyConnection) -> list[Finding]:
    return [Finding(*r) for r in _rows(con, _query("quality"), {})]


def _names(con: duckdb.DuckDBPyConnection, weeks: tuple[dt.date, ...]) -> dict[str, str]:
    return dict(_rows(con, _query("names"), {"first": weeks[0], "week": weeks[-1]}))


_FIGURE_SPECS = (  # key, label (company report), label (owner digest), up is good
    ("events", "Overlap events", "Overlap events", False),
    ("accounts", "Accounts affected", "Accounts affected", False),
    ("reps", "Reps involved", "Reps involved", False),
    ("high", "High-risk pairs", "High-risk pairs", False),
    ("new_pairs", "New pairs", "New pairs", False),
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
    for ws, owner, overall, ev, accounts, reps in _rows(con, _query("event_figures"), params):
        key = None if overall else owner
        counts[key]["events"][ws] = _int(ev)
        counts[key]["accounts"][ws] = _int(accounts)
        counts[key]["reps"][ws] = _int(reps)
    for ws, owner, overall, n in _rows(con, _query("high_pairs"), params):
        counts[None if overall else owner]["high"][ws] = _int(n)
    for ws, owner, overall, n in _rows(con, _query("new_pairs"), params):
        counts[None if overall else owner]["new_pairs"][ws] = _int(n)
    for ws, owner, overall, n in _rows(con, _query("collab_figures"), params):
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
    for scope, source, mailbox, ws, we, status, error in _rows(con, _query("coverage"), params):
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


def _quality(con: duckdb.DuckDBPyConnection, unmatched_limit: int, params: dict[str, Any],
             caps: Caps, findings: list[Finding]) -> DataQuality:
    """Domain findings over all data (data_quality); quarantine of the week (``params``: week,
    tz) by the window of the extract that read each record, with the all-data total beside."""
    by_kind: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by_kind[f.kind].append(f)
    everywhere = by_kind.get("quarantined", [])
    reasons = tuple(QuarantineReason(reason, _int(records), _int(mailboxes))
                    for reason, records, mailboxes in _rows(con, _query("quarantine_reasons"),
                                                            params))
    files = _rows(con, _query("quarantine_files"), {**params, "limit": caps.quarantined})
    unmatched = by_kind.get("unmatched_domain", [])
    return DataQuality(
        unmatched=tuple(unmatched[:unmatched_limit]),
        unmatched_more=max(0, len(unmatched) - unmatched_limit),
        ambiguous=tuple(by_kind.get("ambiguous_domain", [])),
        freemail=tuple(by_kind.get("freemail_account_domain", [])),
        quarantined=reasons,
        mailbox_findings=tuple(by_kind.get("mailbox_failed", [])
                               + by_kind.get("mailbox_skipped", [])),
        quarantined_files=tuple(QuarantinedFile(*r[:6]) for r in files),
        quarantined_files_total=_int(files[0][6]) if files else 0,
        quarantined_window=(files[0][7], files[0][8]) if files else None,
        quarantined_all=sum(_int(f.volume) for f in everywhere),
        quarantined_all_mailboxes=len({(f.source, f.mailbox) for f in everywhere}),
    )
