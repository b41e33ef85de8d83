"""The named scopes of an incremental build: which keys' rows a load can have changed.

Each scope is a small function that writes its keys to a temp table and registers a
``Scope`` under its name (``Build.scopes``); the model files name the scope they are
maintained by (``-- kind: … scope <name>``). ``SCOPES`` lists them in the order the build
computes them, each with the models whose *new* rows it reads: the engine computes a scope as
soon as those are up to date, before any later model changes — so a scope may also read the
old rows of the later models (its ``_inc_old_*`` tables). A scope built as a union of parts
names its parts (``THREAD_PARTS``, ``EVENT_PARTS``, …): each part is one reason a key is in
the scope, and the test of the incremental build fails when any one is removed.

The scopes (docs/architecture.md §4): copies C → interactions A → threads R (and the wider
thread_groups R2) → (crm →) accounts M → events E → score_pairs; gone_addresses and
gone_domains for the set models; collaboration_keys.
"""

# Every identifier in the SQL below is a fixed name or a table of the shipped model files;
# values are bound. Hence no S608 (string-built SQL) findings here.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from overlap.incremental.context import Build, Scope

EXTRACT_COLS = "run_id, source, mailbox, window_start, window_end, finished_at"
BUILT = "model_build_extracts"  # the run_log extract rows the last build had seen
_COPY_KEY = "s.source, s.mailbox, s.kind, s.copy_id, s.interaction_id, s.provider_thread_id"

Part = Callable[[Build], tuple[str, dict[str, object] | None]]


class Unexplained(Exception):  # noqa: N818 (a condition, not an error of the code)
    """raw_copies changed in a way the loader did not record: rebuild in full."""


@dataclass(frozen=True)
class ScopeDef:
    """A scope function and the models whose new rows it reads."""

    compute: Callable[[Build], None]
    needs: tuple[str, ...] = ()


def _union(b: Build, parts: dict[str, Part], op: str = " union ") -> tuple[str, dict | None]:
    sqls, args = [], {}
    for part in parts.values():
        sql, part_args = part(b)
        sqls.append(sql)
        args.update(part_args or {})
    return op.join(sqls), args or None


# --- copies C: the copies the new extracts changed -----------------------------------------

def _same_keys(b: Build) -> str:
    """Older versions of the new copies, under the same key outside the window (upserts)."""
    return ("semi join _inc_new_keys as k on k.source = s.source and k.mailbox = s.mailbox"
            " and k.kind = s.kind and k.copy_id = s.copy_id")


def _removed(b: Build) -> str:
    """Copies of the extracts' mailboxes no longer in raw_copies (an API delta's removals)."""
    return ("semi join (select distinct source, mailbox from _inc_extracts) as m"
            "  on m.source = s.source and m.mailbox = s.mailbox"
            " anti join raw_copies as r on r.source = s.source"
            "  and r.mailbox = s.mailbox and r.kind = s.kind"
            "  and r.copy_id = s.copy_id")


# looked for, in this order, only while the row count says some old copies are unaccounted for
COPY_SEARCHES: dict[str, Callable[[Build], str]] = {"same_keys": _same_keys, "removed": _removed}


def copies(b: Build) -> None:
    """C: the raw copies the new extracts wrote, and the copies the previous build knew that
    the loads replaced or removed (``_inc_old_copies``: what stg_copies and stg_participants
    delete). Raises Unexplained when the row count cannot be accounted for."""
    b.x(f"create or replace temp table _inc_extracts as select distinct source, mailbox,"
        f" window_start, window_end from (select {EXTRACT_COLS} from run_log"
        f" where scope = 'extract' and status = 'succeeded'"
        f" except select {EXTRACT_COLS} from {BUILT})")
    # Every row a load writes carries its extract's window (warehouse._load_extracts). (A row
    # written without it would make the row count below disagree: a full rebuild, never a
    # wrong model.) A view, not a copy: DuckDB pushes the join's window bounds into the scan
    # as dynamic filters and skips the row groups of older loads (4 of 48 read at M week 12).
    b.x("create or replace temp view _inc_raw as select c.* from raw_copies as c"
        " semi join _inc_extracts as e on e.source = c.source and e.mailbox = c.mailbox"
        "  and c.window_start = e.window_start and c.window_end = e.window_end")
    b.x("create or replace temp view _inc_new_keys as"
        " select source, mailbox, kind, copy_id from _inc_raw")
    # The copies the previous build knew that the loads replaced or removed: those in the new
    # extracts' windows (a load replaces its window). A load also replaces a copy under the
    # same key outside its window (an upsert), and an API delta's @removed deletes copies
    # anywhere in the mailbox; either makes raw_copies smaller than predicted from the
    # window's copies alone, so the row count tells whether to look for them — each a scan
    # of all of stg_copies — and, if still not explained, the build falls back.
    wlo, whi = b.x("select min(window_start), max(window_end) from _inc_extracts")[0]
    b.x("create or replace temp table _inc_old_copies as"
        f" select distinct {_COPY_KEY} from stg_copies as s join _inc_extracts as e"
        "  on e.source = s.source and e.mailbox = s.mailbox"
        " and s.occurred_at >= e.window_start and s.occurred_at < e.window_end"
        " where s.occurred_at >= ? and s.occurred_at < ?", [wlo, whi])

    def predicted() -> int:
        return b.count("stg_copies") - b.count("_inc_old_copies") + b.count("_inc_new_keys")

    for search in COPY_SEARCHES.values():
        if predicted() == b.count("raw_copies"):
            break
        b.x(f"insert into _inc_old_copies select {_COPY_KEY} from stg_copies as s {search(b)}"
            "  anti join _inc_old_copies as o on o.source = s.source and o.mailbox = s.mailbox"
            "   and o.kind = s.kind and o.copy_id = s.copy_id")
    if predicted() != b.count("raw_copies"):
        raise Unexplained
    old = b.count("_inc_old_copies")
    b.sizes["copies_old"] = old
    b.sizes["copies_new"] = b.count("_inc_new_keys")
    if old:  # the addresses the old copies named (gone_addresses), before stg_participants changes
        b.x("create or replace temp table _inc_old_addresses as select distinct p.address"
            " from stg_participants as p semi join _inc_old_copies as k"
            " on k.source = p.source and k.mailbox = p.mailbox and k.kind = p.kind"
            " and k.copy_id = p.copy_id")
    b.scopes["copies"] = Scope("copies", "_inc_old_copies", fresh=not old)


# --- interactions A ------------------------------------------------------------------------

def interactions(b: Build) -> None:
    """A: the interactions of C, old and new (identity, participants: rules 1-4); of them,
    A_new — all of whose copies are new — and the fresh ones, which the warehouse never had."""
    b.x("create or replace temp table _inc_a as select distinct interaction_id from ("
        " select interaction_id from _inc_old_copies union all select interaction_id"
        " from _inc_d_stg_copies)")
    # A's interactions the warehouse had before, with how many of their copies this load left
    # alone (match_interactions counts each interaction's copies; not yet changed here)
    b.history_rows("_inc_prev_rows", "match_interactions", "interaction_id, copies",
                   "select interaction_id as id from _inc_a")
    b.x("create or replace temp table _inc_prev as select i.interaction_id,"
        " i.copies - coalesce(o.n, 0) as untouched from _inc_prev_rows as i"
        " left join (select interaction_id,"
        " count(*) as n from _inc_old_copies group by all) as o using (interaction_id)")
    # A_new: A's interactions whose copies are all new (usually all of them: every mailbox
    # that holds an interaction was reloaded): their stg rows are exactly the ones just
    # computed. Fresh: those the warehouse never had — no model table has a row of them,
    # so there is nothing of them to delete or to read back.
    b.x("create or replace temp table _inc_a_new as select interaction_id from _inc_a"
        " except select interaction_id from _inc_prev where untouched > 0")
    b.x("create or replace temp table _inc_fresh as select interaction_id from _inc_a"
        " except select interaction_id from _inc_prev")
    b.scopes["interactions"] = Scope("interactions", "_inc_a",
                                     fresh=b.same("_inc_fresh", "_inc_a"))


# --- threads R (and thread_groups R2) ------------------------------------------------------

_GROUP_OF = ("select distinct source, provider_thread_id from {} where kind = 'email'"
             " and provider_thread_id is not null")


def _r_interactions(b: Build) -> tuple[str, None]:
    return "select interaction_id from _inc_a", None


def _r_provider_threads(b: Build) -> tuple[str, None]:
    """Rule 6: a provider-thread group gives its key to members without header evidence."""
    return ("select s.interaction_id from stg_copies as s semi join _inc_groups as g"
            " on g.source = s.source and g.provider_thread_id = s.provider_thread_id"
            " where s.kind = 'email'"), None


THREAD_PARTS: dict[str, Part] = {"interactions": _r_interactions,
                                 "provider_threads": _r_provider_threads}


def threads(b: Build) -> None:
    """R: A plus the interactions sharing a provider thread with A; R2 (``thread_groups``):
    R plus the members of R's provider-thread groups, what match_interactions reads to give R
    its thread keys. Also R's old rows (``_inc_old_*``), read before any match_* table
    changes: what match_domain_findings' delta, events and the collaboration keys take off."""
    # A's copies now: when no copy of A was left alone (A_new is A), exactly the ones just
    # appended — no scan of all of stg_copies
    a_copies = ("_inc_d_stg_copies" if b.same("_inc_a_new", "_inc_a") else
                "(select s.source, s.kind, s.provider_thread_id from stg_copies as s"
                " semi join _inc_a using (interaction_id))")
    b.x("create or replace temp table _inc_groups as " + _GROUP_OF.format(a_copies)
        + " union " + _GROUP_OF.format("_inc_old_copies"))
    sql, args = _union(b, THREAD_PARTS)
    b.x(f"create or replace temp table _inc_r as {sql}", args)
    if b.same("_inc_a", "_inc_r"):
        # no interaction outside A shares a provider thread with A: R's groups are A's, and
        # their members are all in R
        b.x("create or replace temp view _inc_r2 as select interaction_id from _inc_r")
    else:
        b.x("create or replace temp table _inc_r2 as select interaction_id from _inc_r union"
            " select s.interaction_id from stg_copies as s semi join ("
            + _GROUP_OF.format("(select s.source, s.kind, s.provider_thread_id from"
                               " stg_copies as s semi join _inc_r using (interaction_id))")
            + ") as g on g.source = s.source and g.provider_thread_id = s.provider_thread_id"
            " where s.kind = 'email'")
    # fresh ⊆ A_new ⊆ A ⊆ R ⊆ R2 by construction, so sizes tell which are equal
    fresh_r = b.same("_inc_fresh", "_inc_r")
    b.scopes["threads"] = Scope("threads", "_inc_r", fresh=fresh_r)
    b.scopes["thread_groups"] = Scope("thread_groups", "_inc_r2", fresh=fresh_r)
    _old_rows_of_threads(b, fresh_r)
    b.sizes["interactions"] = b.count("_inc_a")
    b.sizes["interactions_threads"] = b.count("_inc_r")
    b.sizes["interactions_fresh"] = b.count("_inc_fresh")


def _old_rows_of_threads(b: Build, fresh_r: bool) -> None:
    none_r = " limit 0" if fresh_r else ""  # no old row of R anywhere: skip the scan

    def old(into: str, select: str, table: str, where: str = "true") -> None:
        b.x(f"create or replace temp table {into} as select {select} from {table}"
            f" semi join _inc_old_keys using (interaction_id) where {where}{none_r}")

    b.x("create or replace temp table _inc_old_keys as select interaction_id from _inc_r"
        " except select interaction_id from _inc_fresh")
    for into, table in (("_inc_old_mi", "match_interactions"),
                        ("_inc_old_mp", "match_participants")):
        if fresh_r:
            old(into, "*", table)
        else:  # (by the hash: a whole table's rows of history)
            b.of_interactions(into, table, "select interaction_id from _inc_old_keys")
    # (rule 6: a small internal interaction is heads-up evidence for the events after it)
    old("_inc_old_heads_up", "reps, occurred_at", "match_heads_up")


# --- crm: what a change of the CRM's assignment facts changed ------------------------------

# The CRM-only models whose rows the interactions read, each with its key and the columns an
# interaction reads of the row in force at its time (an as-of lookup, valid_from <= t <
# valid_until). An incremental build with a CRM change keeps their old rows
# (``_inc_old_<table>``) and rebuilds them (engine); ``crm`` compares old and new.
CRM_PERIODS: dict[str, tuple[str, str]] = {
    # (owner_since = valid_from and the previous owner decide a handoff)
    "match_account_owners": ("account_id", "owner_email, owner_email_listed, owner_name,"
                             " owner_in_reps, previous_owner_email, valid_from, source"),
    "match_rep_periods": ("rep_email", "active"),  # (a manager change: the exclusions')
    "match_rep_exclusions": ("account_id", "rep_email, reason"),
}


def _earliest_change(b: Build, table: str, into: str) -> None:
    """``into(<key>, since)``: per key, the earliest moment at which the rows of ``table`` in
    force differ between its old rows and its new ones (in the columns that matter). Only
    rows in one version and not the other can differ, and only from one of their bounds on:
    those moments are checked, each with the values of those rows."""
    key, values = CRM_PERIODS[table]
    old, new = f"_inc_old_{table}", table
    b.x(f"create or replace temp table _inc_diff as with"
        f" o as (select {key} as k, {{{_struct(values)}}} as v, valid_from, valid_until from {old}),"
        f" n as (select {key} as k, {{{_struct(values)}}} as v, valid_from, valid_until from {new})"
        " select * from (select * from o except select * from n)"
        " union all select * from (select * from n except select * from o)")
    b.x(f"create or replace temp table {into} as with"
        " probes as (select distinct p.k, p.moment, d.v from (select k, valid_from as moment from _inc_diff"
        "  union select k, valid_until from _inc_diff where valid_until < 'infinity') as p"
        "  join (select distinct k, v from _inc_diff) as d on d.k = p.k),"
        f" o as (select {key} as k, {{{_struct(values)}}} as v, valid_from, valid_until from {old}"
        f"  semi join (select distinct k from _inc_diff) as d on d.k = {key}),"
        f" n as (select {key} as k, {{{_struct(values)}}} as v, valid_from, valid_until from {new}"
        f"  semi join (select distinct k from _inc_diff) as d on d.k = {key}),"
        " in_old as (select p.* from probes as p semi join o on o.k = p.k"
        "  and o.v is not distinct from p.v and o.valid_from <= p.moment and p.moment < o.valid_until),"
        " in_new as (select p.* from probes as p semi join n on n.k = p.k"
        "  and n.v is not distinct from p.v and n.valid_from <= p.moment and p.moment < n.valid_until)"
        f" select k as {key}, min(moment) as since from (select * from (select * from in_old"
        "  except select * from in_new) union all select * from (select * from in_new"
        "  except select * from in_old)) group by all")


def _struct(columns: str) -> str:
    return ", ".join(f"'{c.strip()}': {c.strip()}" for c in columns.split(","))


def crm(b: Build) -> None:
    """What a change of the assignment facts (or of a CRM-only model's rule parameter)
    changed, from when: ``_inc_crm_owners(account_id, since)`` — the owner in force (with
    its previous owner and start) differs from ``since`` on; ``_inc_crm_reps(rep_email,
    since)`` — the rep's activity; ``_inc_crm_exclusions(account_id, since)`` — the reps
    excluded by rule 5 (owner, team, management chain); ``_inc_crm_pairs(account_id,
    owner_email)`` — the account's owners of any time gained or lost one (each interaction
    lists which of them took part: dormancy evidence for all of its time)."""
    if not b.changes.crm:
        b.scopes["crm"] = Scope("crm", "_inc_crm_owners", empty=True)
        return
    _earliest_change(b, "match_account_owners", "_inc_crm_owners")
    _earliest_change(b, "match_rep_periods", "_inc_crm_reps")
    _earliest_change(b, "match_rep_exclusions", "_inc_crm_exclusions")
    pairs = "select distinct account_id, owner_email from {}"
    b.x("create or replace temp table _inc_crm_pairs as select * from ("
        + pairs.format("_inc_old_match_account_owners") + " except "
        + pairs.format("match_account_owners") + ") union select * from ("
        + pairs.format("match_account_owners") + " except "
        + pairs.format("_inc_old_match_account_owners") + ")")
    for name in ("owners", "reps", "exclusions", "pairs"):
        b.sizes[f"crm_{name}"] = b.count(f"_inc_crm_{name}")
    b.scopes["crm"] = Scope("crm", "_inc_crm_owners")


# --- accounts M: the customer interactions whose account facts may change ------------------

def _lowest(b: Build, table: str) -> object:
    return b.value(f"select min(since) from {table}")


def _m_threads(b: Build) -> tuple[str, None]:
    return "select interaction_id from _inc_r", None


def _m_owner_periods(b: Build) -> tuple[str, dict[str, object] | None]:
    """Rule 10: the account's owner then (its name, previous owner, start) changed."""
    if b.scopes["crm"].empty:
        return _NONE, None
    return ("select m.interaction_id from match_interaction_accounts as m"
            " join _inc_crm_owners as c on c.account_id = m.account_id"
            "  and m.occurred_at >= c.since where m.occurred_at >= $owners_since",
            {"owners_since": _lowest(b, "_inc_crm_owners")})


def _m_owner_activity(b: Build) -> tuple[str, dict[str, object] | None]:
    """The owner then was (de)activated (a change of the owner then: owner_periods)."""
    if b.scopes["crm"].empty:
        return _NONE, None
    return ("select m.interaction_id from match_interaction_accounts as m"
            " join _inc_crm_reps as c on c.rep_email = m.owner_email"
            "  and m.occurred_at >= c.since where m.occurred_at >= $reps_since",
            {"reps_since": _lowest(b, "_inc_crm_reps")})


def _m_owners_present(b: Build) -> tuple[str, None]:
    """An account gained or lost an owner of some time: which of them took part in its
    interactions (``owners_present``) changes wherever that rep took part, any time."""
    if b.scopes["crm"].empty:
        return _NONE, None
    return ("select m.interaction_id from match_interaction_accounts as m"
            " join _inc_crm_pairs as c on c.account_id = m.account_id"
            " semi join match_participants as p on p.interaction_id = m.interaction_id"
            "  and p.person_key = c.owner_email and p.party <> 'excluded'"), None


_NONE = "select interaction_id from _inc_r where false"

ACCOUNT_PARTS: dict[str, Part] = {"threads": _m_threads, "owner_periods": _m_owner_periods,
                                  "owner_activity": _m_owner_activity,
                                  "owners_present": _m_owners_present}
# The parts whose interactions' events may change too (E starts from them). Not
# owners_present: an owner gained or lost changes an interaction's event only as the owner
# then or the previous owner then — a change of its owner period (owner_periods) — or as
# dormancy evidence for other interactions (the dormancy part of E, from M's changed touches).
EVENT_SOURCES = ("threads", "owner_periods", "owner_activity")


def accounts(b: Build) -> None:
    """M: R plus the customer interactions whose facts of the account at their time (owner,
    its activity, the owners present) a CRM change altered — what match_interaction_accounts
    and overlap_collaboration recompute. Also M's old rows the later scopes take off:
    owner touches (dormancy) and collaboration keys."""
    if b.scopes["crm"].empty:  # M is R
        b.x("create or replace temp view _inc_m as select interaction_id from _inc_r")
        b.x("create or replace temp view _inc_m_events as select interaction_id from _inc_r")
    else:
        sql, args = _union(b, {k: v for k, v in ACCOUNT_PARTS.items() if k in EVENT_SOURCES})
        b.x(f"create or replace temp table _inc_m_events as {sql}", args)
        others = {k: v for k, v in ACCOUNT_PARTS.items() if k not in EVENT_SOURCES}
        sql, args = _union(b, others) if others else (_NONE, None)
        b.x(f"create or replace temp table _inc_m as select interaction_id from _inc_m_events"
            f" union {sql}", args)
    fresh_m = b.same("_inc_fresh", "_inc_m")
    b.scopes["accounts"] = Scope("accounts", "_inc_m", fresh=fresh_m)
    none_m = " limit 0" if fresh_m else ""

    def old(into: str, select: str, table: str, where: str = "true") -> None:
        b.x(f"create or replace temp table {into} as select {select} from {table}"
            f" semi join _inc_old_mkeys using (interaction_id) where {where}{none_m}")

    b.x("create or replace temp table _inc_old_mkeys as select interaction_id from _inc_m"
        " except select interaction_id from _inc_fresh")
    # (rule 10: a touch of any of the account's owners of any time: it is dormancy evidence
    # for whoever owns the account at a later check)
    old("_inc_old_touches", "account_id, unnest(owners_present) as owner_email, occurred_at",
        "match_interaction_accounts", "len(owners_present) > 0")
    old("_inc_old_collab", "week_start, account_id", "overlap_collaboration")
    b.sizes["account_interactions"] = b.count("_inc_m")


# --- gone_addresses, gone_domains: keys of the set models no copy names any more -----------

def gone_addresses(b: Build) -> None:
    """The addresses of the old copies no participant names now (and their domains)."""
    fresh = b.scopes["copies"].fresh
    if not fresh:
        b.x("create or replace temp table _inc_gone_addresses as select o.address"
            " from _inc_old_addresses as o anti join stg_participants as p"
            " on p.address = o.address")
        b.x("create or replace temp table _inc_gone_domains as select distinct a.domain"
            " from stg_addresses as a semi join _inc_gone_addresses as g"
            " on g.address = a.address")
    b.scopes["gone_addresses"] = Scope("gone_addresses", "_inc_gone_addresses", fresh=fresh)


def gone_domains(b: Build) -> None:
    """The domains of the gone addresses that no address and no account names now."""
    fresh = b.scopes["copies"].fresh
    if not fresh:
        b.x("create or replace temp view _inc_no_domains as select g.domain"
            " from _inc_gone_domains as g"
            "  anti join stg_addresses as a on a.domain = g.domain"
            "  anti join crm_account_domains as c on c.domain = g.domain")
    b.scopes["gone_domains"] = Scope("gone_domains", "_inc_no_domains", fresh=fresh)


# --- events E ------------------------------------------------------------------------------

def _e_accounts(b: Build) -> tuple[str, None]:
    """M's interactions whose events may change (``EVENT_SOURCES``; R among them)."""
    return "select interaction_id from _inc_m_events", None


def _e_exclusions(b: Build) -> tuple[str, dict[str, object] | None]:
    """Rule 5 at I's time: the reps excluded on the account (owner, team, chain) changed."""
    if b.scopes["crm"].empty:
        return _NONE, None
    return ("select m.interaction_id from match_interaction_accounts as m"
            " join _inc_crm_exclusions as c on c.account_id = m.account_id"
            "  and m.occurred_at >= c.since where m.occurred_at >= $exclusions_since",
            {"exclusions_since": _lowest(b, "_inc_crm_exclusions")})


def _e_thread_members(b: Build) -> tuple[str, None]:
    """A new message in an old thread can make an old event ``looped_in``."""
    return "select interaction_id from _inc_t", None


def _e_dormancy(b: Build) -> tuple[str, dict[str, object]]:
    """Every customer interaction up to ``dormant_days`` after an owner touch of R (rule 7)."""
    lowest = b.value("select min(since) from _inc_touch_spans")
    return ("select m.interaction_id from match_interaction_accounts as m"
            " join _inc_touch_spans as t"
            "   on t.account_id = m.account_id and t.owner_email = m.owner_email"
            "  and m.occurred_at > t.since"
            # one day more than dormant_days: a superset whatever the calendar arithmetic
            "  and m.occurred_at <= t.until + to_days($dormant_days::integer + 1)"
            " where m.occurred_at > $lowest",
            {"dormant_days": b.params["dormant_days"], "lowest": lowest})


def _e_heads_up(b: Build) -> tuple[str, dict[str, object]]:
    """Every customer interaction up to ``heads_up_days`` after a small internal interaction
    of R (old or new) with its owner on it (rule 6's heads-up)."""
    lowest = b.value("select min(since) from _inc_heads_up_spans")
    return ("select m.interaction_id from match_interaction_accounts as m"
            " join _inc_heads_up_spans as h on h.person = m.owner_email"
            "  and m.occurred_at > h.since"
            "  and m.occurred_at <= h.until + to_days($heads_up_days::integer + 1)"
            " where m.occurred_at > $lowest_heads_up",
            {"heads_up_days": b.params["heads_up_days"], "lowest_heads_up": lowest})


EVENT_PARTS: dict[str, Part] = {"accounts": _e_accounts, "thread_members": _e_thread_members,
                                "dormancy": _e_dormancy, "exclusions": _e_exclusions,
                                "heads_up": _e_heads_up}


def events(b: Build) -> None:
    """E: M's interactions whose events may change (R and those whose owner or its activity
    a CRM change altered), every interaction of an email
    thread of R (T, old or new thread id), the customer interactions M's owner touches can
    change the dormancy of, and those whose rule-5 exclusions a CRM change altered. Reads R's new
    match_interactions rows (``_inc_s_match_interactions``, the input of
    match_interaction_accounts)."""
    # Per (account, owner), one span from the first to the last changed owner touch: a join
    # per touch would pair every touch with every interaction of the account (quadratic in
    # an account's weekly volume); the span is a superset of the touches' windows.
    # Only the touches M's rebuild added or removed change any evidence (a touch before and
    # after, e.g. of an interaction a CRM change rebuilt for another reason, changes none).
    b.x("create or replace temp table _inc_new_touches as select account_id,"
        " unnest(owners_present) as owner_email, occurred_at"
        " from _inc_d_match_interaction_accounts where len(owners_present) > 0")
    b.x("create or replace temp table _inc_touch_spans as select account_id, owner_email,"
        " min(occurred_at) as since, max(occurred_at) as until from ("
        " select * from (select * from _inc_old_touches except select * from _inc_new_touches)"
        " union all select * from (select * from _inc_new_touches"
        "  except select * from _inc_old_touches))"
        " group by all")
    # the same per person for R's small internal interactions, old and new (rule 6)
    b.x("create or replace temp table _inc_heads_up_spans as select person,"
        " min(occurred_at) as since, max(occurred_at) as until from ("
        " select unnest(reps) as person, occurred_at from _inc_old_heads_up union all"
        " select unnest(reps) as person, occurred_at from _inc_d_match_heads_up)"
        " group by all")
    # T: every interaction, as it is now, of an email thread of R (old or new thread id);
    # the columns 300_overlap_event_facts.sql reads of its thread members. Its rows now are
    # those the build inserted into match_interactions and the older ones (row ids up to the
    # largest row id before the append, none when nothing was), found by the thread's hash.
    top = b.tops.get("match_interactions")
    threads = ("select thread_id as id from _inc_old_mi union"
               " select thread_id from _inc_s_match_interactions")
    b.history_rows("_inc_t_old", "match_interactions", "i.interaction_id, i.thread_id, i.kind",
                   threads, "thread_id", "true" if top is None else f"i.rowid <= {top}")
    b.x("create or replace temp table _inc_t as select * from _inc_t_old"
        + ("" if top is None else
           " union all select i.interaction_id, i.thread_id, i.kind from match_interactions"
           f" as i semi join _inc_ids as k on k.id = i.thread_id where i.rowid > {top}"))
    sql, args = _union(b, EVENT_PARTS)
    b.x(f"create or replace temp table _inc_e as {sql}", args)
    fresh_e = b.same("_inc_fresh", "_inc_e")
    b.x("create or replace temp table _inc_old_events as select week_start, account_id,"
        " rep_email from overlap_event_facts semi join _inc_e using (interaction_id)"
        + (" limit 0" if fresh_e else ""))
    b.scopes["events"] = Scope("events", "_inc_e", fresh=fresh_e)
    b.sizes["event_interactions"] = b.count("_inc_e")


# --- score_pairs, collaboration_keys -------------------------------------------------------

PAIR_PARTS: dict[str, Part] = {
    "old_events": lambda b: ("select * from _inc_old_events", None),
    "new_events": lambda b: ("select week_start, account_id, rep_email"
                             " from _inc_d_overlap_event_facts", None)}


def score_pairs(b: Build) -> None:
    """The (account, rep) pairs of E's old and new events, each from its earliest week on
    (persistence looks back 4 weeks: score_weekly's inputs)."""
    sql, args = _union(b, PAIR_PARTS, " union all ")
    b.x("create or replace temp table _inc_pairs as select account_id, rep_email,"
        f" min(week_start) as week_start from ({sql}) group by all", args)
    first = b.value("select min(week_start) from _inc_pairs")
    b.sizes["score_pairs"] = b.count("_inc_pairs")
    b.scopes["score_pairs"] = Scope("score_pairs", "_inc_pairs", since=first,
                                    empty=first is None)


COLLABORATION_PARTS: dict[str, Part] = {
    "old_collaboration": lambda b: ("select * from _inc_old_collab", None),
    "new_collaboration": lambda b: ("select week_start, account_id"
                                    " from _inc_d_overlap_collaboration", None)}


def collaboration_keys(b: Build) -> None:
    """The (week, account) keys of R's old and new collaboration rows."""
    sql, args = _union(b, COLLABORATION_PARTS, " union all ")
    b.x("create or replace temp table _inc_ckeys as select distinct week_start, account_id"
        f" from ({sql})", args)
    lowest = b.value("select min(week_start) from _inc_ckeys")
    b.scopes["collaboration_keys"] = Scope("collaboration_keys", "_inc_ckeys", since=lowest,
                                           empty=lowest is None)


SCOPES: dict[str, ScopeDef] = {
    "copies": ScopeDef(copies),
    "interactions": ScopeDef(interactions, needs=("stg_copies",)),
    "threads": ScopeDef(threads, needs=("stg_copies",)),
    "crm": ScopeDef(crm, needs=("match_rep_exclusions",)),
    "accounts": ScopeDef(accounts, needs=("match_rep_exclusions",)),
    "gone_addresses": ScopeDef(gone_addresses, needs=("stg_participants",)),
    "gone_domains": ScopeDef(gone_domains, needs=("stg_addresses",)),
    "events": ScopeDef(events, needs=("match_interaction_accounts", "match_heads_up")),
    "score_pairs": ScopeDef(score_pairs, needs=("overlap_event_facts",)),
    "collaboration_keys": ScopeDef(collaboration_keys, needs=("overlap_collaboration",)),
}
