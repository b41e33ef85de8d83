"""The incremental model build: recompute only what the loads since the last build changed.

A run replaces the raw copies of its extracts' windows (``warehouse.load``; the extracts are
recorded in ``run_log``). Each model row depends on a known, small part of the raw data, so an
incremental build works out, in SQL and in the build's transaction, the *scope* of every model
table — the keys whose rows may differ — deletes those rows, and recomputes them with the
model file's own SQL run over scoped inputs. The scopes (docs/architecture.md §4):

* copies C — raw copies the new extracts wrote (every loaded row is tagged with its
  extract's window), and the copies the previous build knew in those windows, plus — only
  when the row count shows some — those under the same keys elsewhere (upserts) and those
  removed elsewhere;
* interactions A — the interactions of C, old and new (identity, participants: rules 1-4);
  of them, the *fresh* ones — the warehouse never had them (usually all of a new week) —
  have no model row anywhere: nothing of them is deleted or read back;
* interactions R — A plus the interactions sharing a provider thread with A (rule 6: a thread
  id is the smallest key of a provider-thread group); ``match_interactions`` is computed over
  R2 — R plus the members of R's provider-thread groups — and kept for R (R2 is usually R);
* interactions E — R, plus every interaction of an email thread of R (old or new thread id:
  a new message in an old thread can make an old event ``looped_in``), plus every customer
  interaction up to ``dormant_days`` after an owner touch of R (dormancy, rule 7; one span
  per account and owner, a superset);
* score keys — the (account, rep) pairs of E's old and new events, from the earliest changed
  week on (persistence looks back 4 weeks); collaboration keys — (week, account).

Everything else — addresses, domains, CRM-only tables — is per address / per domain / per CRM
snapshot, so it is updated by set difference or left alone. ``match_domain_findings`` counts
distinct interactions per domain, a sum over interactions: its volumes are kept by delta
(the file run over R's old rows, read before anything changes, is subtracted; over R's new
rows, added).

The build falls back to a full rebuild when there is no build state, when the fingerprint of
the CRM snapshot, the rule parameters and the model SQL changed, or when ``raw_copies`` no
longer has the number of rows the scopes predict (a change the loader did not record).

Scoped inputs: a model file is run with each unqualified reference to an input table replaced
by a temporary table holding only the scope's rows. A reference written ``main.<table>`` is
evidence beyond the scope (300_overlap_event_facts.sql: thread members, owner touches;
400_score_weekly.sql: the weeks each pair was active): it reads the whole table, except
where the build gives exactly the rows needed — the members of the candidates' threads and
their participants (T, plus the threads of interactions E holds for dormancy alone), and the
scored pairs' weeks from 4 weeks before the first changed one. Identifiers are only those of
the shipped files and the fixed names below.
"""

# Every identifier in the SQL below is a fixed name or a table of the shipped model files;
# values are bound. Hence no S608 (string-built SQL) findings here.
# ruff: noqa: S608

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

import duckdb

from overlap import sqlrunner

STATE = "model_build_state"  # one row: the fingerprint of the last build
BUILT = "model_build_extracts"  # the run_log extract rows the last build had seen

# Inputs of the model that are not raw copies: a change to any of them means a full rebuild.
CRM_INPUTS = ("crm_accounts", "crm_account_domains", "crm_account_team", "crm_reps",
              "crm_rep_aliases", "crm_contacts", "company_domains", "freemail_domains")


_EXTRACT_COLS = "run_id, source, mailbox, window_start, window_end, finished_at"
_COPY_KEY = "s.source, s.mailbox, s.kind, s.copy_id, s.interaction_id, s.provider_thread_id"


def ensure_state(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create table if not exists {STATE} (fingerprint varchar, built_at timestamptz)")
    con.execute(f"create table if not exists {BUILT} (run_id varchar, source varchar,"
                " mailbox varchar, window_start timestamptz, window_end timestamptz,"
                " finished_at timestamptz)")


def fingerprint(con: duckdb.DuckDBPyConnection, params: Mapping[str, object],
                files: Iterable[sqlrunner.SqlFile]) -> str:
    """Hash of the CRM snapshot (row count and order-free sum of row hashes per table), the
    bound parameters and the model SQL."""
    h = hashlib.sha256()
    for name in CRM_INPUTS:
        row = con.execute(  # noqa: S608 (fixed identifiers)
            f"select count(*), coalesce(sum(hash(t)), 0)::varchar from {name} as t").fetchone()
        h.update(f"{name}:{row}\n".encode())
    h.update(json.dumps({k: str(v) for k, v in params.items()}, sort_keys=True).encode())
    for f in files:
        h.update(f.name.encode() + b"\0" + f.text.encode())
    return h.hexdigest()


def full_build_reason(con: duckdb.DuckDBPyConnection, fp: str) -> str | None:
    """Why the build must be a full rebuild, or None when an incremental one is exact."""
    rows = con.execute(f"select fingerprint from {STATE}").fetchall()
    if not rows:
        return "no previous build"
    if rows[0][0] != fp:
        return "CRM, rule parameters or model SQL changed"
    if not all(_exists(con, t) for t in sqlrunner.model_tables()):
        return "model table missing"
    return None


def save_state(con: duckdb.DuckDBPyConnection, fp: str) -> None:
    con.execute(f"delete from {STATE}")
    con.execute(f"insert into {STATE} values (?, now())", [fp])
    con.execute(f"delete from {BUILT}")
    con.execute(f"insert into {BUILT} select {_EXTRACT_COLS} from run_log"  # noqa: S608
                " where scope = 'extract' and status = 'succeeded'")


def _exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(con.execute("select count(*) from duckdb_tables() where table_name = ?"
                            " and schema_name = 'main'", [name]).fetchall()[0][0])


# the head of a model file's statement: `create or replace table <name> as`
_HEAD = re.compile(sqlrunner._TARGET.pattern + r"\s*as\s", re.IGNORECASE)


def _scoped(f: sqlrunner.SqlFile, head: str, inputs: Mapping[str, str]) -> str:
    """The file's statement with its head replaced by ``head`` (where its rows go) and its
    input tables by the scoped ``inputs``."""
    text = _HEAD.sub(head, f.text, count=1)
    for name, scoped in inputs.items():
        text = substitute(text, name, scoped)
    return text


def substitute(text: str, name: str, scoped: str) -> str:
    """Replace unqualified references to table ``name`` (``main.name`` is left alone), or,
    for a ``name`` written ``main.<table>``, exactly those references."""
    if name.startswith("main."):
        return re.sub(rf"(?<![.\w]){re.escape(name)}\b", scoped, text)
    return re.sub(rf"(?<![.\w]){name}\b", scoped, text)


def build_incremental(con: duckdb.DuckDBPyConnection, params: Mapping[str, object],
                      files: list[sqlrunner.SqlFile], steps: dict[str, float],
                      scope: dict[str, int]) -> bool:
    """Apply the changes since the last build. Returns False (having changed nothing) when the
    raw tables changed in a way the loader did not record; the caller then rebuilds in full."""
    by_table = {sqlrunner._target(f): f for f in files}
    clock = [time.perf_counter()]

    def x(sql: str, args: object = None, label: str = "") -> list[Any]:
        t0 = time.perf_counter()
        rows = con.execute(sql, args).fetchall()
        if sqlrunner.TRACE:
            print(f"{time.perf_counter() - t0:6.3f} {label or sql[:90]}")
        return rows

    def lap(name: str) -> None:
        now = time.perf_counter()
        steps[name] = steps.get(name, 0.0) + now - clock[0]
        clock[0] = now

    def run(table: str, inputs: Mapping[str, str], into: str = "") -> str:
        f = by_table[table]
        into = into or f"_inc_d_{table}"
        x(_scoped(f, f"create or replace temp table {into} as ", inputs),
          sqlrunner._bound(f, params), label=f"RUN {table}")
        return into

    def append(table: str, inputs: Mapping[str, str]) -> str:
        """Run the file straight into its model table — written once, as a full build's
        ``create table as`` writes it, not into a scratch table and then copied — and return
        ``_inc_d_<table>``: a view of the rows it appended, which the later scopes read. DuckDB
        numbers the rows a transaction appends past every row id the table had (its deletes
        leave the numbers of the other rows alone), so they are the rows above the largest
        row id before the insert, a filter its scan applies per row group; the view's size is
        checked against the insert's."""
        f = by_table[table]
        (top,), = x(f"select coalesce(max(rowid), -1) from {table}")
        (appended,), = x(_scoped(f, f"insert into {table} by name ", inputs),
                         sqlrunner._bound(f, params), label=f"APPEND {table}")
        view = f"_inc_d_{table}"
        x(f"create or replace temp view {view} as select * from {table} where rowid > {top}")
        if count(view) != appended:
            raise RuntimeError(f"incremental build: {table} has {count(view)} rows past row id"
                               f" {top}, the insert appended {appended}")
        return view

    def count(table: str) -> int:
        return int(con.execute(f"select count(*) from {table}").fetchall()[0][0])  # noqa: S608

    def count_from(table: str, week: object) -> int:
        """Rows of ``table`` from ``week`` on (a constant bound: older row groups skipped)."""
        return int(con.execute(f"select count(*) from {table} where week_start >= ?",
                               [week]).fetchall()[0][0])

    def same(a: str, b: str) -> bool:
        """Key sets ``a`` and ``b`` (distinct interaction ids), one a subset of the other by
        construction, are equal: their sizes tell, no join needed."""
        return count(a) == count(b)

    def rows_of(into: str, table: str, keys: str, known: str, known_keys: str, *,
                exact: bool, within: bool = False) -> None:
        """``into`` := the rows of model table ``table`` of the interactions in ``keys``.
        ``known`` holds all of ``table``'s rows of the interactions in ``known_keys`` (rows
        this build just computed or fetched and will not change; it may hold rows of other
        interactions too), so ``table`` itself — all of history — is read only for the
        interactions of ``keys`` outside ``known_keys``, and not at all when ``within``
        (``keys`` is a subset of ``known_keys`` by construction). ``exact``: ``known`` holds
        exactly the rows wanted — the caller knows it from the sizes of nested key sets
        (``same``) — and ``into`` is a view of it: no copy, and no filter to run again at
        every use."""
        if exact:
            x(f"create or replace temp view {into} as select * from {known}")
            return
        part = f"select * from {known} semi join {keys} using (interaction_id)"
        if keys != known_keys:
            part += f" semi join {known_keys} using (interaction_id)"
        x(f"create or replace temp table {into} as {part}")
        if not within:
            x(f"insert into {into} select * from {table} semi join (select interaction_id"
              f" from {keys} except select interaction_id from {known_keys}) using"
              " (interaction_id)")

    # --- scope C: the copies the new extracts changed ------------------------------------
    x(f"create or replace temp table _inc_extracts as select distinct source, mailbox,"
      f" window_start, window_end from (select {_EXTRACT_COLS} from run_log"
      f" where scope = 'extract' and status = 'succeeded'"
      f" except select {_EXTRACT_COLS} from {BUILT})")
    # Every row a load writes carries its extract's window (warehouse._load_extracts). (A row
    # written without it would make the row count below disagree: a full rebuild, never a
    # wrong model.) A view, not a copy: DuckDB pushes the join's window bounds into the scan
    # as dynamic filters and skips the row groups of older loads (4 of 48 read at M week 12).
    x("create or replace temp view _inc_raw as select c.* from raw_copies as c"
      " semi join _inc_extracts as e on e.source = c.source and e.mailbox = c.mailbox"
      "  and c.window_start = e.window_start and c.window_end = e.window_end")
    x("create or replace temp view _inc_new_keys as"
      " select source, mailbox, kind, copy_id from _inc_raw")
    # The copies the previous build knew that the loads replaced or removed: those in the new
    # extracts' windows (a load replaces its window). A load also replaces a copy under the
    # same key outside its window (an upsert), and an API delta's @removed deletes copies
    # anywhere in the mailbox; either makes raw_copies smaller than predicted from the
    # window's copies alone, so the row count tells whether to look for them — each a scan
    # of all of stg_copies — and, if still not explained, the build falls back.
    wlo, whi = con.execute("select min(window_start), max(window_end)"
                           " from _inc_extracts").fetchall()[0]
    x("create or replace temp table _inc_old_copies as"
      f" select distinct {_COPY_KEY} from stg_copies as s join _inc_extracts as e"
      "  on e.source = s.source and e.mailbox = s.mailbox"
      " and s.occurred_at >= e.window_start and s.occurred_at < e.window_end"
      " where s.occurred_at >= ? and s.occurred_at < ?", [wlo, whi])

    def predicted() -> int:
        return count("stg_copies") - count("_inc_old_copies") + count("_inc_new_keys")

    def more_old_copies(select: str) -> None:
        x(f"insert into _inc_old_copies select {_COPY_KEY} from stg_copies as s {select}"
          "  anti join _inc_old_copies as o on o.source = s.source and o.mailbox = s.mailbox"
          "   and o.kind = s.kind and o.copy_id = s.copy_id")

    if predicted() != count("raw_copies"):
        more_old_copies("semi join _inc_new_keys as k on k.source = s.source"
                        " and k.mailbox = s.mailbox and k.kind = s.kind and k.copy_id = s.copy_id")
    if predicted() != count("raw_copies"):
        more_old_copies("semi join (select distinct source, mailbox from _inc_extracts) as m"
                        "  on m.source = s.source and m.mailbox = s.mailbox"
                        " anti join raw_copies as r on r.source = s.source"
                        "  and r.mailbox = s.mailbox and r.kind = s.kind"
                        "  and r.copy_id = s.copy_id")
    if predicted() != count("raw_copies"):
        return False
    scope["copies_old"] = count("_inc_old_copies")
    scope["copies_new"] = count("_inc_new_keys")
    lap("scope")

    # --- stg_copies, stg_participants, stg_addresses, match_domains ----------------------
    old_copies = count("_inc_old_copies") > 0
    if old_copies:
        x("delete from stg_copies using _inc_old_copies as k"
          " where stg_copies.source = k.source and stg_copies.mailbox = k.mailbox"
          " and stg_copies.kind = k.kind and stg_copies.copy_id = k.copy_id")
    d = append("stg_copies", {"raw_copies": "_inc_raw"})
    x("create or replace temp table _inc_a as select distinct interaction_id from ("
      f" select interaction_id from _inc_old_copies union all select interaction_id from {d})")
    # A's interactions the warehouse had before, with how many of their copies this load left
    # alone (match_interactions counts each interaction's copies; not yet changed here)
    x("create or replace temp table _inc_prev as select i.interaction_id,"
      " i.copies - coalesce(o.n, 0) as untouched from match_interactions as i"
      " semi join _inc_a using (interaction_id) left join (select interaction_id,"
      " count(*) as n from _inc_old_copies group by all) as o using (interaction_id)")
    # A_new: A's interactions whose copies are all new (usually all of them: every mailbox
    # that holds an interaction was reloaded): their stg rows are exactly the ones just
    # computed. Fresh: those the warehouse never had — no model table has a row of them,
    # so there is nothing of them to delete or to read back.
    x("create or replace temp table _inc_a_new as select interaction_id from _inc_a"
      " except select interaction_id from _inc_prev where untouched > 0")
    x("create or replace temp table _inc_fresh as select interaction_id from _inc_a"
      " except select interaction_id from _inc_prev")
    lap("stg_copies")

    # --- scope R: A plus the interactions sharing a provider thread with A ----------------
    # (stg_copies is final here; R is needed before any match_* table changes, to read the
    # old rows of R below)
    group_of = ("select distinct source, provider_thread_id from {} where kind = 'email'"
                " and provider_thread_id is not null")
    # A's copies now: when no copy of A was left alone (A_new is A), exactly the ones just
    # appended — no scan of all of stg_copies
    a_copies = ("_inc_d_stg_copies" if same("_inc_a_new", "_inc_a") else
                "(select s.source, s.kind, s.provider_thread_id from stg_copies as s"
                " semi join _inc_a using (interaction_id))")
    x("create or replace temp table _inc_groups as " + group_of.format(a_copies)
      + " union " + group_of.format("_inc_old_copies"))
    x("create or replace temp table _inc_r as select interaction_id from _inc_a union"
      " select s.interaction_id from stg_copies as s semi join _inc_groups as g"
      " on g.source = s.source and g.provider_thread_id = s.provider_thread_id"
      " where s.kind = 'email'")
    if same("_inc_a", "_inc_r"):
        # no interaction outside A shares a provider thread with A: R's groups are A's, and
        # their members are all in R
        x("create or replace temp view _inc_r2 as select interaction_id from _inc_r")
    else:
        x("create or replace temp table _inc_r2 as select interaction_id from _inc_r union"
          " select s.interaction_id from stg_copies as s semi join ("
          + group_of.format("(select s.source, s.kind, s.provider_thread_id from stg_copies"
                            " as s semi join _inc_r using (interaction_id))")
          + ") as g on g.source = s.source and g.provider_thread_id = s.provider_thread_id"
          " where s.kind = 'email'")
    # fresh ⊆ A_new ⊆ A ⊆ R ⊆ R2 by construction, so sizes tell which are equal
    fresh_a, fresh_r = same("_inc_fresh", "_inc_a"), same("_inc_fresh", "_inc_r")
    none_r = " limit 0" if fresh_r else ""  # no old row of R anywhere: skip the scan

    def old_rows_of_r(into: str, select: str, table: str, where: str = "true") -> None:
        x(f"create or replace temp table {into} as select {select} from {table}"
          f" semi join _inc_old_keys using (interaction_id) where {where}{none_r}")

    x("create or replace temp table _inc_old_keys as select interaction_id from _inc_r"
      " except select interaction_id from _inc_fresh")
    old_rows_of_r("_inc_old_mi", "*", "match_interactions")
    old_rows_of_r("_inc_old_mp", "*", "match_participants")
    # match_domain_findings' volumes are counts of distinct interactions, i.e. sums over
    # interactions: the old contribution of R, to take off (old match_domains: read now)
    run("match_domain_findings", {"match_interactions": "_inc_old_mi",
                                  "match_participants": "_inc_old_mp"}, into="_inc_old_mdf")
    scope["interactions"] = count("_inc_a")
    scope["interactions_threads"] = count("_inc_r")
    scope["interactions_fresh"] = count("_inc_fresh")
    lap("scope")

    if old_copies:
        x("create or replace temp table _inc_old_addresses as select distinct p.address"
          " from stg_participants as p semi join _inc_old_copies as k"
          " on k.source = p.source and k.mailbox = p.mailbox and k.kind = p.kind"
          " and k.copy_id = p.copy_id")
        x("delete from stg_participants using _inc_old_copies as k"
          " where stg_participants.source = k.source and stg_participants.mailbox = k.mailbox"
          " and stg_participants.kind = k.kind and stg_participants.copy_id = k.copy_id")
    append("stg_participants", {"stg_copies": "_inc_d_stg_copies",
                                "raw_copies": "_inc_raw"})
    lap("stg_participants")

    d = run("stg_addresses", {"stg_participants": "_inc_d_stg_participants"})
    x(f"create or replace temp table _inc_new_addresses as select n.* from {d} as n"  # noqa: S608
      " anti join stg_addresses as a on a.address = n.address")
    x("insert into stg_addresses select * from _inc_new_addresses")
    if old_copies:
        x("create or replace temp table _inc_gone_addresses as select o.address"
          " from _inc_old_addresses as o anti join stg_participants as p"
          " on p.address = o.address")
        x("create or replace temp table _inc_gone_domains as select distinct a.domain"
          " from stg_addresses as a semi join _inc_gone_addresses as g"
          " on g.address = a.address")
        x("delete from stg_addresses using _inc_gone_addresses as g"
          " where stg_addresses.address = g.address")
    lap("stg_addresses")

    d = run("match_domains", {"stg_addresses": "_inc_new_addresses"})
    x(f"insert into match_domains select * from {d} as n"  # noqa: S608
      " anti join match_domains as m on m.domain = n.domain")
    if old_copies:
        x("delete from match_domains using (select g.domain from _inc_gone_domains as g"
          "  anti join stg_addresses as a on a.domain = g.domain"
          "  anti join crm_account_domains as c on c.domain = g.domain) as g"
          " where match_domains.domain = g.domain")
    lap("match_domains")

    # --- match_participants (A), match_interactions (R) ----------------------------------
    rows_of("_inc_s_stg_participants", "stg_participants", "_inc_a",
            "_inc_d_stg_participants", "_inc_a_new", exact=same("_inc_a_new", "_inc_a"))
    if not fresh_a:
        x("delete from match_participants using _inc_a as a"
          " where match_participants.interaction_id = a.interaction_id")
    append("match_participants", {"stg_participants": "_inc_s_stg_participants"})
    lap("match_participants")

    rows_of("_inc_s2_stg_copies", "stg_copies", "_inc_r2", "_inc_d_stg_copies", "_inc_a_new",
            exact=same("_inc_a_new", "_inc_r2"))
    rows_of("_inc_s2_match_participants", "match_participants", "_inc_r2",
            "_inc_d_match_participants", "_inc_a", exact=same("_inc_a", "_inc_r2"))
    x("create or replace temp table _inc_old_threads as select distinct thread_id"
      " from _inc_old_mi where thread_id is not null")
    if not fresh_r:
        x("delete from match_interactions using _inc_r as r"
          " where match_interactions.interaction_id = r.interaction_id")
    # computed over R2 (one row per interaction), kept for R: R2 \ R's thread ids can depend
    # on provider threads beyond R2. When R2 is R, every row computed is kept: written once.
    r_exact = same("_inc_r", "_inc_r2")
    mi_inputs = {"stg_copies": "_inc_s2_stg_copies",
                 "match_participants": "_inc_s2_match_participants"}
    if r_exact:
        append("match_interactions", mi_inputs)
    else:
        d = run("match_interactions", mi_inputs)
        x(f"insert into match_interactions select * from {d}"  # noqa: S608
          " semi join _inc_r using (interaction_id)")
    lap("match_interactions")

    # --- match_interaction_accounts (R) --------------------------------------------------
    rows_of("_inc_s_match_interactions", "match_interactions", "_inc_r",
            "_inc_d_match_interactions", "_inc_r", exact=r_exact, within=True)
    rows_of("_inc_s_match_participants", "match_participants", "_inc_r",
            "_inc_s2_match_participants", "_inc_r2", exact=r_exact, within=True)
    old_rows_of_r("_inc_old_touches", "account_id, owner_email, occurred_at",
                  "match_interaction_accounts", "owner_present")
    if not fresh_r:
        x("delete from match_interaction_accounts using _inc_r as r"
          " where match_interaction_accounts.interaction_id = r.interaction_id")
    append("match_interaction_accounts",
           {"match_interactions": "_inc_s_match_interactions",
            "match_participants": "_inc_s_match_participants"})
    lap("match_interaction_accounts")

    # --- match_domain_findings: old volumes - R's old contribution + R's new one ----------
    # (kept only when positive for unmatched domains, as the full query keeps only domains
    # with traffic; the CRM rows of ambiguous and freemail domains are in all three)
    d = run("match_domain_findings", {"match_interactions": "_inc_s_match_interactions",
                                      "match_participants": "_inc_s_match_participants"})
    x("create or replace temp table _inc_mdf as select kind, item, any_value(detail)"
      " as detail, cast(sum(volume) as bigint) as volume from (select kind, item, detail,"
      " volume from match_domain_findings union all select kind, item, detail, volume"
      f" from {d} union all select kind, item, detail, -volume from _inc_old_mdf)"
      " group by kind, item having kind <> 'unmatched_domain' or sum(volume) > 0")
    x("delete from match_domain_findings")
    x("insert into match_domain_findings select * from _inc_mdf")
    lap("match_domain_findings")

    # --- overlap_event_facts (E) ---------------------------------------------------------
    # Per (account, owner), one span from the first to the last changed owner touch: a join
    # per touch would pair every touch with every interaction of the account (quadratic in
    # an account's weekly volume); the span is a superset of the touches' windows.
    x("create or replace temp table _inc_touch_spans as select account_id, owner_email,"
      " min(occurred_at) as since, max(occurred_at) as until from ("
      " select * from _inc_old_touches union all select account_id, owner_email, occurred_at"
      " from _inc_d_match_interaction_accounts where owner_present) group by all")
    lowest_touch = con.execute("select min(since) from _inc_touch_spans").fetchall()[0][0]
    # T: every interaction, as it is now, of an email thread of R (old or new thread id);
    # the columns 300_overlap_event_facts.sql reads of its thread members
    x("create or replace temp table _inc_t as select i.interaction_id, i.thread_id, i.kind"
      " from match_interactions as i"
      " semi join (select thread_id from _inc_old_threads union"
      "            select thread_id from _inc_s_match_interactions) as t"
      "   on t.thread_id = i.thread_id")
    x("create or replace temp table _inc_e as"
      " select interaction_id from _inc_r"
      " union select interaction_id from _inc_t"
      " union select m.interaction_id from match_interaction_accounts as m"
      " join _inc_touch_spans as t"
      "   on t.account_id = m.account_id and t.owner_email = m.owner_email"
      "  and m.occurred_at > t.since"
      # one day more than dormant_days: a superset whatever the calendar arithmetic
      "  and m.occurred_at <= t.until + to_days($dormant_days::integer + 1)"
      " where m.occurred_at > $lowest",
      {"dormant_days": params["dormant_days"], "lowest": lowest_touch})
    fresh_e, e_exact = same("_inc_fresh", "_inc_e"), same("_inc_r", "_inc_e")
    x("create or replace temp table _inc_old_events as select week_start, account_id,"
      " rep_email from overlap_event_facts semi join _inc_e using (interaction_id)"
      + (" limit 0" if fresh_e else ""))
    rows_of("_inc_e_mia", "match_interaction_accounts", "_inc_e",
            "_inc_d_match_interaction_accounts", "_inc_r", exact=e_exact)
    rows_of("_inc_e_mp", "match_participants", "_inc_e", "_inc_s2_match_participants",
            "_inc_r2", exact=e_exact and r_exact)
    # The evidence of looped_in: every member of a candidate's email thread and its
    # participants (``main.match_interactions`` / ``main.match_participants`` in the file).
    # A candidate of R or T is in a thread of R, whose members are all in T, so in E; only an
    # interaction E has for dormancy alone can be in a thread with members elsewhere: those
    # threads' members are read from the whole tables (usually there are none).
    x("create or replace temp table _inc_dormancy_only as select interaction_id from _inc_e"
      " except select interaction_id from _inc_r except select interaction_id from _inc_t")
    ev_mi, ev_mp = "_inc_t", "_inc_e_mp"
    if count("_inc_dormancy_only"):
        ev_mi, ev_mp = "_inc_ev_mi", "_inc_ev_mp"
        x("create or replace temp table _inc_ev_mi as select * from _inc_t union all"
          " select i.interaction_id, i.thread_id, i.kind from match_interactions as i"
          " semi join (select thread_id"
          "  from match_interactions semi join _inc_dormancy_only using (interaction_id)) as t"
          "  on t.thread_id = i.thread_id anti join _inc_t using (interaction_id)")
        x("create or replace temp table _inc_ev_mp as select * from _inc_e_mp union all"
          " select * from match_participants semi join (select interaction_id"
          "  from _inc_ev_mi except select interaction_id from _inc_e) using (interaction_id)")
    if not fresh_e:
        x("delete from overlap_event_facts using _inc_e as e"
          " where overlap_event_facts.interaction_id = e.interaction_id")
    append("overlap_event_facts", {"match_interaction_accounts": "_inc_e_mia",
                                   "match_participants": "_inc_e_mp",
                                   "main.match_interactions": ev_mi,
                                   "main.match_participants": ev_mp})
    scope["event_interactions"] = count("_inc_e")
    lap("overlap_event_facts")

    # --- overlap_collaboration (R) -------------------------------------------------------
    old_rows_of_r("_inc_old_collab", "week_start, account_id", "overlap_collaboration")
    # (the rows of R just computed: exactly R's)
    rows_of("_inc_s_mia", "match_interaction_accounts", "_inc_r",
            "_inc_d_match_interaction_accounts", "_inc_r", exact=True)
    if not fresh_r:
        x("delete from overlap_collaboration using _inc_r as r"
          " where overlap_collaboration.interaction_id = r.interaction_id")
    append("overlap_collaboration", {"match_interaction_accounts": "_inc_s_mia",
                                     "match_participants": "_inc_s_match_participants"})
    lap("overlap_collaboration")

    # --- score_weekly: (account, rep) pairs from the earliest changed week on -------------
    x("create or replace temp table _inc_pairs as select account_id, rep_email,"
      " min(week_start) as week_start from (select * from _inc_old_events union all"
      " select week_start, account_id, rep_email from _inc_d_overlap_event_facts)"
      " group by all")
    first = con.execute("select min(week_start) from _inc_pairs").fetchall()[0][0]
    since = None if first is None else first - timedelta(days=28)
    scope["score_pairs"] = count("_inc_pairs")
    # the pairs' events from the earliest changed week on: what their scores are computed
    # from, and what the score audits read. The bounds are constants so that DuckDB skips
    # the row groups of older weeks (each weekly build appends its own).
    pair_events = ("from overlap_event_facts as f semi join _inc_pairs as p"
                   " on p.account_id = f.account_id and p.rep_email = f.rep_email")
    # Usually (a new week) every event from `first` on is one this build appended: the
    # sizes tell (the appended events are all from `first` on and of the pairs), no scan.
    if count_from("overlap_event_facts", first) == count("_inc_d_overlap_event_facts"):
        x("create or replace temp view _inc_s_events as"
          " select * from _inc_d_overlap_event_facts")
    else:
        x(f"create or replace temp table _inc_s_events as select f.* {pair_events}"
          " where f.week_start >= ?", [first])
    if first is not None:
        x("delete from score_weekly using _inc_pairs as p"
          " where score_weekly.account_id = p.account_id"
          " and score_weekly.rep_email = p.rep_email and score_weekly.week_start >= ?",
          [first])
        # Persistence counts the weeks, of the 4 before, with events for the same pair
        # (`main.overlap_event_facts` in the file): those weeks as (week, account, rep) rows.
        x("create or replace temp table _inc_active as select distinct f.week_start,"
          f" f.account_id, f.rep_email {pair_events}"
          " where f.week_start >= ? and f.week_start < ? union all select week_start,"
          " account_id, rep_email from _inc_s_events", [since, first])
        # (its weeks are those of _inc_s_events, all from `first` on: now all the pairs' rows
        # from `first` on, which the score audits read)
        append("score_weekly", {"overlap_event_facts": "_inc_s_events",
                                "main.overlap_event_facts": "_inc_active"})
    else:
        x("create or replace temp table _inc_d_score_weekly as select * from score_weekly"
          " limit 0")
    lap("score_weekly")

    # --- score_collaboration_weekly: (week, account) keys ---------------------------------
    x("create or replace temp table _inc_ckeys as select distinct week_start, account_id"
      " from (select * from _inc_old_collab union all select week_start, account_id"
      " from _inc_d_overlap_collaboration)")
    lowest = con.execute("select min(week_start) from _inc_ckeys").fetchall()[0][0]
    # (as for the events: all rows from `lowest` on may be the ones just appended)
    if count_from("overlap_collaboration", lowest) == count("_inc_d_overlap_collaboration"):
        x("create or replace temp view _inc_s_collab as"
          " select * from _inc_d_overlap_collaboration")
    else:
        x("create or replace temp table _inc_s_collab as select * from overlap_collaboration"
          " semi join _inc_ckeys using (week_start, account_id) where week_start >= ?",
          [lowest])
    x("delete from score_collaboration_weekly using _inc_ckeys as k"
      " where score_collaboration_weekly.week_start = k.week_start"
      " and score_collaboration_weekly.account_id = k.account_id")
    append("score_collaboration_weekly", {"overlap_collaboration": "_inc_s_collab"})
    lap("score_collaboration_weekly")

    # --- what the scoped audits read (overlap.sqlrunner.run_audits) ----------------------
    # (the events of scope E are exactly the rows this build inserted: _inc_d_overlap_event_facts)
    # (and their participants: _inc_e_mp)
    rows_of("_inc_audit_interactions", "match_interactions", "_inc_e",
            "_inc_s_match_interactions", "_inc_r", exact=e_exact)
    return True


def audit_inputs(audit: sqlrunner.SqlFile) -> dict[str, str]:
    """The scoped inputs of one audit after an incremental build: the rows the build wrote
    (events, participants and interactions of scope E; score rows of the changed pairs from
    the earliest changed week on, with their events). Rows outside the scopes did not change
    and passed the earlier audits."""
    if "score_weekly" in audit.text:  # (rows of the changed weeks on)
        return {"overlap_event_facts": "_inc_s_events",
                "score_weekly": "_inc_d_score_weekly"}
    return {"overlap_event_facts": "_inc_d_overlap_event_facts",
            "match_participants": "_inc_e_mp",
            "match_interactions": "_inc_audit_interactions"}


def cleanup(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the build's temporary tables and views."""
    for kind, name in con.execute(
            "select 'view', view_name from duckdb_views() where temporary"
            " and starts_with(view_name, '_inc_') union all select 'table', table_name"
            " from duckdb_tables() where temporary and starts_with(table_name, '_inc_')"
            " order by 1 desc").fetchall():
        con.execute(f"drop {kind} temp.{name}")
