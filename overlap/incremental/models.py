"""The scoped inputs of each incrementally maintained model.

``INPUTS[table]`` builds the temp tables (or views) a model file runs over in an incremental
build and returns the substitution ``{input table: scoped table}``: an unqualified reference
to an input is replaced by the scope's rows; a reference written ``main.<table>`` is evidence
beyond the scope — 300_overlap_event_facts.sql's thread members and owner touches,
400_score_weekly.sql's weeks each pair was active — and is replaced only where the build
gives exactly the rows needed (otherwise it reads the whole table). A scope's rows are taken
from the rows the build has just computed wherever they are known to be all of them
(``Build.rows_of``), so history is read only for the keys outside. ``DELTAS`` holds the
``delta`` models: the inputs of the scope's old rows and how old and new sums combine.
"""

# Every identifier in the SQL below is a fixed name or a table of the shipped model files;
# values are bound. Hence no S608 (string-built SQL) findings here.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from overlap.incremental.context import Build

Inputs = Callable[[Build], dict[str, str]]


def _stg_copies(b: Build) -> dict[str, str]:
    return {"raw_copies": "_inc_raw"}


def _stg_participants(b: Build) -> dict[str, str]:
    return {"stg_copies": "_inc_d_stg_copies", "raw_copies": "_inc_raw"}


def _stg_addresses(b: Build) -> dict[str, str]:
    return {"stg_participants": "_inc_d_stg_participants"}


def _match_domains(b: Build) -> dict[str, str]:
    return {"stg_addresses": "_inc_n_stg_addresses"}  # the addresses stg_addresses added


def _match_participants(b: Build) -> dict[str, str]:
    b.rows_of("_inc_s_stg_participants", "stg_participants", "_inc_a",
              "_inc_d_stg_participants", "_inc_a_new", exact=b.same("_inc_a_new", "_inc_a"))
    return {"stg_participants": "_inc_s_stg_participants"}


def _match_interactions(b: Build) -> dict[str, str]:
    """Computed over R2 (one row per interaction), kept for R: R2 \\ R's thread ids can
    depend on provider threads beyond R2."""
    b.rows_of("_inc_s2_stg_copies", "stg_copies", "_inc_r2", "_inc_d_stg_copies",
              "_inc_a_new", exact=b.same("_inc_a_new", "_inc_r2"))
    b.rows_of("_inc_s2_match_participants", "match_participants", "_inc_r2",
              "_inc_d_match_participants", "_inc_a", exact=b.same("_inc_a", "_inc_r2"))
    return {"stg_copies": "_inc_s2_stg_copies",
            "match_participants": "_inc_s2_match_participants"}


def _account_rows(b: Build) -> dict[str, str]:
    """M's match_interactions and match_participants rows: R's new ones (R ⊆ R2: no history
    read; also what match_domain_findings and the events scope read) and, for the
    interactions a CRM change added to M, their rows from history (unchanged by the load)."""
    r_exact = b.same("_inc_r", "_inc_r2")
    b.rows_of("_inc_s_match_interactions", "match_interactions", "_inc_r",
              "_inc_d_match_interactions", "_inc_r", exact=r_exact, within=True)
    b.rows_of("_inc_s_match_participants", "match_participants", "_inc_r",
              "_inc_s2_match_participants", "_inc_r2", exact=r_exact, within=True)
    m_exact = b.same("_inc_r", "_inc_m")
    b.rows_of("_inc_m_mi", "match_interactions", "_inc_m", "_inc_s_match_interactions",
              "_inc_r", exact=m_exact, nested=True)
    b.rows_of("_inc_m_mp", "match_participants", "_inc_m", "_inc_s_match_participants",
              "_inc_r", exact=m_exact, nested=True)
    return {"match_interactions": "_inc_m_mi", "match_participants": "_inc_m_mp"}


def _r_rows(b: Build) -> dict[str, str]:
    """R's new match_interactions and match_participants rows (made by ``_account_rows``,
    which runs first): the inputs of match_domain_findings and match_heads_up."""
    return {"match_interactions": "_inc_s_match_interactions",
            "match_participants": "_inc_s_match_participants"}


def _overlap_event_facts(b: Build) -> dict[str, str]:
    e_exact, r_exact = b.same("_inc_r", "_inc_e"), b.same("_inc_r", "_inc_r2")
    # (E ⊇ R, and E ⊇ M unless a CRM change added interactions to M for owners_present only;
    # the known rows are exactly those of their keys: M's appended rows, R2's)
    m_in_e = b.same("_inc_m_events", "_inc_m")
    if m_in_e:
        b.rows_of("_inc_e_mia", "match_interaction_accounts", "_inc_e",
                  "_inc_d_match_interaction_accounts", "_inc_m",
                  exact=b.same("_inc_m", "_inc_e"), nested=True)
    else:  # (read once: a view, no copy of M's rows)
        b.rows_of("_inc_e_mia", "match_interaction_accounts", "_inc_e",
                  "_inc_d_match_interaction_accounts", "_inc_m", exact=False, nested=True)
        b.x("create or replace temp view _inc_e_mia as select * from"
            " _inc_d_match_interaction_accounts semi join _inc_e using (interaction_id)"
            " union all select * from _inc_e_mia_more")
    b.rows_of("_inc_e_mp", "match_participants", "_inc_e", "_inc_s2_match_participants",
              "_inc_r2", exact=e_exact and r_exact, nested=r_exact)
    # The evidence of looped_in: every member of a candidate's email thread and its
    # participants (``main.match_interactions`` / ``main.match_participants`` in the file).
    # A candidate of R or T is in a thread of R, whose members are all in T, so in E; only an
    # interaction E has for dormancy alone can be in a thread with members elsewhere: those
    # threads' members are read from the whole tables (usually there are none).
    b.x("create or replace temp table _inc_dormancy_only as select interaction_id from _inc_e"
        " except select interaction_id from _inc_r except select interaction_id from _inc_t")
    ev_mi, ev_mp = "_inc_t", "_inc_e_mp"
    if b.count("_inc_dormancy_only"):
        ev_mi, ev_mp = "_inc_ev_mi", "_inc_ev_mp"
        b.x("create or replace temp table _inc_ev_mi as select * from _inc_t union all"
            " select i.interaction_id, i.thread_id, i.kind from match_interactions as i"
            " semi join (select thread_id from match_interactions"
            "  semi join _inc_dormancy_only using (interaction_id)) as t"
            "  on t.thread_id = i.thread_id anti join _inc_t using (interaction_id)")
        b.x("create or replace temp table _inc_ev_mp as select * from _inc_e_mp union all"
            " select * from match_participants semi join (select interaction_id"
            "  from _inc_ev_mi except select interaction_id from _inc_e) using (interaction_id)")
    return {"match_interaction_accounts": "_inc_e_mia", "match_participants": "_inc_e_mp",
            "main.match_interactions": ev_mi, "main.match_participants": ev_mp}


def _overlap_collaboration(b: Build) -> dict[str, str]:
    # (the rows of M match_interaction_accounts just appended: exactly M's)
    return {"match_interaction_accounts": "_inc_d_match_interaction_accounts",
            "match_participants": "_inc_m_mp"}


def _score_weekly(b: Build) -> dict[str, str]:
    """Each pair's events from its earliest changed week on — what their scores are computed
    from, and what the score audits read — and, for persistence, the weeks of the 4 before
    with events for the same pair (``main.overlap_event_facts`` in the file) as (week,
    account, rep, category) rows. A constant bound (the earliest of the pairs' weeks) lets
    DuckDB skip the row groups of older weeks (each weekly build appends its own)."""
    first = b.scopes["score_pairs"].since
    pair_events = ("from overlap_event_facts as f semi join _inc_pairs as p"
                   " on p.account_id = f.account_id and p.rep_email = f.rep_email"
                   " and f.week_start >= p.week_start{}")  # (each pair from its own week)
    # Usually (a new week) every event from `first` on is one this build appended: the
    # sizes tell (the appended events are all from `first` on and of the pairs), no scan.
    if b.count_from("overlap_event_facts", first) == b.count("_inc_d_overlap_event_facts"):
        b.x("create or replace temp view _inc_s_events as"
            " select * from _inc_d_overlap_event_facts")
    else:
        b.x(f"create or replace temp table _inc_s_events as select f.* {pair_events.format('')}"
            " where f.week_start >= ?", [first])
    if first is not None:
        # (its weeks are those of _inc_s_events, all from `first` on)
        b.x("create or replace temp table _inc_active as select distinct f.week_start,"
            f" f.account_id, f.rep_email, f.category {pair_events.format(' - 28')}"
            " and f.week_start < p.week_start where f.week_start >= ? union all select"
            " distinct week_start, account_id, rep_email, category from _inc_s_events",
            [first - timedelta(days=28)])
    return {"overlap_event_facts": "_inc_s_events", "main.overlap_event_facts": "_inc_active"}


def _score_collaboration_weekly(b: Build) -> dict[str, str]:
    lowest = b.scopes["collaboration_keys"].since
    # (as for the events: all rows from `lowest` on may be the ones just appended)
    if b.count_from("overlap_collaboration", lowest) == b.count("_inc_d_overlap_collaboration"):
        b.x("create or replace temp view _inc_s_collab as"
            " select * from _inc_d_overlap_collaboration")
    else:
        b.x("create or replace temp table _inc_s_collab as select * from overlap_collaboration"
            " semi join _inc_ckeys using (week_start, account_id) where week_start >= ?",
            [lowest])
    return {"overlap_collaboration": "_inc_s_collab"}


INPUTS: dict[str, Inputs] = {
    "stg_copies": _stg_copies,
    "stg_participants": _stg_participants,
    "stg_addresses": _stg_addresses,
    "match_domains": _match_domains,
    "match_participants": _match_participants,
    "match_interactions": _match_interactions,
    "match_interaction_accounts": _account_rows,
    "match_domain_findings": _r_rows,
    "match_heads_up": _r_rows,
    "overlap_event_facts": _overlap_event_facts,
    "overlap_collaboration": _overlap_collaboration,
    "score_weekly": _score_weekly,
    "score_collaboration_weekly": _score_collaboration_weekly,
}


@dataclass(frozen=True)
class Delta:
    """A ``delta`` model: the inputs of its scope's old rows (read when the scope is computed,
    before anything changes) and ``combine(b, new)``: the table := old rows - the scope's old
    contribution (``_inc_old_<table>``) + its new one (``new``)."""

    old_inputs: Inputs
    combine: Callable[[Build, str], None]


def _combine_domain_findings(b: Build, new: str) -> None:
    """Volumes count distinct interactions, i.e. sum over interactions; kept only when
    positive for unmatched domains, as the full query keeps only domains with traffic (the
    CRM rows of ambiguous and freemail domains are in all three)."""
    b.x("create or replace temp table _inc_mdf as select kind, item, any_value(detail)"
        " as detail, cast(sum(volume) as bigint) as volume from (select kind, item, detail,"
        " volume from match_domain_findings union all select kind, item, detail, volume"
        f" from {new} union all select kind, item, detail, -volume"
        " from _inc_old_match_domain_findings)"
        " group by kind, item having kind <> 'unmatched_domain' or sum(volume) > 0")
    b.x("delete from match_domain_findings")
    b.x("insert into match_domain_findings select * from _inc_mdf")


DELTAS: dict[str, Delta] = {
    "match_domain_findings": Delta(
        old_inputs=lambda b: {"match_interactions": "_inc_old_mi",
                              "match_participants": "_inc_old_mp"},
        combine=_combine_domain_findings),
}
