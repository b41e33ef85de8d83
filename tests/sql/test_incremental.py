"""The incremental build gives the same tables as a full rebuild of the same raw data.

A random small organisation is loaded window by window the way ``warehouse.load`` does it
(delete the mailbox's window, insert its copies, log the extract in ``run_log``), in a shuffled
order with reloads that drop or change copies, upserts outside the window and provider threads
that span windows; after every incremental build each model table must equal a full rebuild.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import duckdb
import pytest

from overlap import sqlrunner
from overlap.config import Rules
from overlap.incremental import CRM_INPUTS, kinds, models, scopes
from overlap.incremental.context import Build
from overlap.incremental.engine import apply
from overlap.sqlfiles import LINE_COMMENT

from .seed import Seed

START = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
WEEKS = 6
REPS = [f"rep{i}@corp.example" for i in range(5)]
ACCOUNTS = {f"a{i}": (REPS[i % len(REPS)], f"acct{i}.com") for i in range(4)}
# CRM accounts no email is addressed to, for match_domain_findings' volumes: two accounts
# sharing a domain (ambiguous, its subdomains too) and one with a freemail domain
STRAY_ACCOUNTS = {"s1": "shared.com", "s2": "shared.com", "s3": "gmail.com"}


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, Counter[str]]:
    return {t: Counter(repr(r) for r in con.execute(f"select * from {t}").fetchall())  # noqa: S608
            for t in sqlrunner.model_tables()}


def _params(**rules: Any) -> dict[str, object]:
    from dataclasses import replace

    return sqlrunner.params_from_rules(replace(Rules(), **rules), "UTC")


class World:
    """Raw copies per (mailbox, week) that the test loads and reloads like the loader."""

    def __init__(self, seed: Seed, rnd: random.Random) -> None:
        self.seed = seed
        self.rnd = rnd
        self.runs = 0
        for rep in REPS:
            seed.rep(rep, rep.split("@")[0].title())
        for account_id, (owner, domain) in ACCOUNTS.items():
            seed.account(account_id, owner, domains=[domain])
        for account_id, domain in STRAY_ACCOUNTS.items():
            seed.account(account_id, REPS[0], domains=[domain])

    def _thread(self, thread: str | None) -> str | None:
        """A provider thread id is a mailbox's own (Gmail's threadId): now and then a copy
        lands in another thread of its mailbox, so that provider-thread groups chain across
        mailboxes (interactions two hops apart)."""
        if thread is not None and self.rnd.random() < 0.25:
            return f"g{self.rnd.randint(0, 10)}"
        return thread

    def _stray(self) -> list[str]:
        """Now and then an address the CRM cannot place: an unmatched domain (some seen only
        once, so that a reload can make the domain disappear), an ambiguous one, a freemail
        one."""
        if self.rnd.random() < 0.6:
            return []
        return [self.rnd.choice([f"u@stray{self.rnd.randint(0, 2)}.org",
                                 f"u@once{self.rnd.getrandbits(30)}.org",
                                 "v@shared.com", "w@eu.shared.com", "f@gmail.com"])]

    def _people(self, account_id: str) -> list[str]:
        return [f"p{i}@{ACCOUNTS[account_id][1]}" for i in range(3)]

    def email_copies(self, week: int, n: int) -> list[dict[str, Any]]:
        """Emails of one week; some reply to (or share a provider thread with) earlier weeks."""
        out = []
        for _ in range(n):
            account_id = self.rnd.choice(list(ACCOUNTS))
            owner = ACCOUNTS[account_id][0]
            rep = self.rnd.choice(REPS)
            people = self.rnd.sample(self._people(account_id), self.rnd.randint(1, 2))
            cc = [owner] if self.rnd.random() < 0.2 else []
            at = START + timedelta(weeks=week, hours=self.rnd.randint(0, 24 * 7 - 1))
            root = f"t{self.rnd.randint(0, 15)}@x" if self.rnd.random() < 0.4 else None
            thread = f"g{self.rnd.randint(0, 10)}" if self.rnd.random() < 0.4 else None
            sender = rep if self.rnd.random() < 0.6 else people[0]
            msg = f"m{self.rnd.getrandbits(40)}@x"
            stray = self._stray()
            for mailbox in sorted({rep, *cc} & set(REPS)):
                # now and then a copy without the References root (a provider that gives no
                # headers): the copies of one email then disagree on its thread key
                out.append({"mailbox": mailbox, "frm": sender, "to": people + [rep] + stray,
                            "cc": cc, "at": at, "message_id": msg,
                            "thread_root": root if self.rnd.random() < 0.8 else None,
                            "provider_thread_id": self._thread(thread), "source": "gmail"})
        return out

    def briefs(self, week: int, n: int, rnd: random.Random) -> list[dict[str, Any]]:
        """Internal emails of a rep to an account's owner (rule 6's heads-up evidence for the
        rep's events on the owner's accounts in the 7 days after, of this week or the next)."""
        out = []
        for _ in range(n):
            owner = ACCOUNTS[rnd.choice(list(ACCOUNTS))][0]
            rep = rnd.choice([r for r in REPS if r != owner])
            at = START + timedelta(weeks=week, hours=rnd.randint(0, 24 * 7 - 1))
            msg = f"b{rnd.getrandbits(40)}@x"
            for mailbox in (rep, owner):
                out.append({"mailbox": mailbox, "frm": rep, "to": [owner], "cc": [], "at": at,
                            "message_id": msg, "thread_root": None, "provider_thread_id": None,
                            "source": "gmail"})
        return out

    def load(self, mailbox: str, week: int, copies: list[dict[str, Any]],
             mode: str = "window") -> None:
        start = START + timedelta(weeks=week)
        end = start + timedelta(weeks=1)
        con = self.seed.con
        if mode == "window":
            con.execute("delete from raw_copies where source = 'gmail' and mailbox = ?"
                        " and occurred_at >= ? and occurred_at < ?", [mailbox, start, end])
        for c in copies:
            if c["mailbox"] != mailbox:
                continue
            if mode == "incremental":  # an upsert: replace the same copy wherever it lies
                con.execute("delete from raw_copies where source = 'gmail' and mailbox = ?"
                            " and message_id = ?", [mailbox, c["message_id"]])
            self.seed.email(**c)
            con.execute("update raw_copies set window_start = ?, window_end = ?,"
                        " copy_id = message_id where window_start is null", [start, end])
        self.runs += 1
        con.execute("insert into run_log (run_id, scope, source, mailbox, window_start,"
                    " window_end, started_at, finished_at, status) values"
                    " (?, 'extract', 'gmail', ?, ?, ?, now(), now(), 'succeeded')",
                    [f"run{self.runs}", mailbox, start, end])


    def remove(self, mailbox: str, week: int, message_ids: list[str]) -> None:
        """An incremental extract of ``week`` whose only change is removing copies."""
        self.seed.con.execute("delete from raw_copies where source = 'gmail' and mailbox = ?"
                              " and list_contains(?, message_id)", [mailbox, message_ids])
        self.load(mailbox, week, [], mode="incremental")


def _check(con: duckdb.DuckDBPyConnection, params: dict[str, object]) -> sqlrunner.BuildStats:
    stats = sqlrunner.build(con, params, incremental=True)
    got = _tables(con)
    sqlrunner.build(con, params)  # full rebuild of the same raw data
    want = _tables(con)
    for table in want:
        assert got[table] == want[table], f"{table} differs from a full rebuild ({stats.mode})"
    return stats


@pytest.mark.parametrize("rnd_seed", [1, 2, 3])
def test_incremental_builds_equal_a_full_rebuild(seed: Seed, rnd_seed: int) -> None:
    _shuffled_loads(seed, rnd_seed)


def _shuffled_loads(seed: Seed, rnd_seed: int) -> None:
    rnd = random.Random(rnd_seed)
    world = World(seed, rnd)
    params = _params(dormant_days=4)
    sqlrunner.build(seed.con, params)
    weeks = {w: world.email_copies(w, 25) for w in range(WEEKS)}
    # heads-up evidence, drawn apart so that the scenario's other draws stay as they were
    briefs = {w: world.briefs(w, 4, random.Random(rnd_seed * 100 + w)) for w in range(WEEKS)}
    order = list(range(WEEKS))
    rnd.shuffle(order)  # backfills: an older week loaded after a newer one
    modes = []
    for w in order:
        for mailbox in REPS:
            world.load(mailbox, w, weeks[w] + briefs[w])
        modes.append(_check(seed.con, params).mode)
    # reload a window with copies dropped and changed, and an incremental upsert elsewhere
    w = order[0]
    weeks[w] = [c for c in weeks[w] if rnd.random() < 0.6] + world.email_copies(w, 5)
    for mailbox in REPS[:3]:
        world.load(mailbox, w, weeks[w])
    late = [dict(c, cc=[], provider_thread_id="g1") for c in weeks[order[-1]][:4]]
    world.load(REPS[0], order[1], late, mode="incremental")
    modes.append(_check(seed.con, params).mode)
    # an API delta's removals: copies deleted outside the extract's window (and outside any
    # key it wrote) — the scope must find them from the row count
    gone = [c["message_id"] for c in weeks[order[2]] if c["mailbox"] == REPS[1]][:3]
    assert gone
    world.remove(REPS[1], order[3], gone)
    modes.append(_check(seed.con, params).mode)
    assert set(modes) == {"incremental"}
    # the scenario exercises what crosses windows: threads, provider threads and dormancy
    categories = {r[0] for r in seed.con.execute(
        "select distinct category from overlap_event_facts").fetchall()}
    assert categories == {"backdoor", "coverage_gap", "looped_in"}
    # ... heads-ups (briefs of the week before, loaded before or after the events)
    flagged, plain = seed.con.execute("select count(*) filter (where heads_up), count(*)"
                                      " filter (where not heads_up) from overlap_event_facts"
                                      ).fetchall()[0]
    assert flagged > 0 and plain > 0
    # ... and every kind of domain finding, with traffic
    kinds = {r[0] for r in seed.con.execute(
        "select distinct kind from match_domain_findings where volume > 0").fetchall()}
    assert kinds == {"unmatched_domain", "ambiguous_domain", "freemail_account_domain"}


@pytest.mark.parametrize("rnd_seed", [4, 6])
def test_incremental_builds_equal_a_full_rebuild_through_crm_history(seed: Seed,
                                                                     rnd_seed: int) -> None:
    """Rule 10: snapshots (some older than the newest, some unchanged) and ownership.csv rows
    between the loads; owners rotate, reps leave, managers change. A change of the history is
    an incremental build scoped to what it changed (alone, and with the loads after it), and
    every build equals a full rebuild."""
    rnd = random.Random(rnd_seed)
    world = World(seed, rnd)
    params = _params(dormant_days=4, handoff_days=7)
    seed.snapshot(START - timedelta(days=3))
    sqlrunner.build(seed.con, params)
    weeks = {w: world.email_copies(w, 25) for w in range(WEEKS)}
    order = list(range(WEEKS))
    rnd.shuffle(order)
    modes = []
    for i, w in enumerate(order):
        if i % 2:
            _crm_change(seed, rnd)
            if i > 1:  # the CRM change alone
                modes.append(_check(seed.con, params).mode)
        for mailbox in REPS:
            world.load(mailbox, w, weeks[w])
        modes.append(_check(seed.con, params).mode)
        for mailbox in REPS[:2]:  # a load on top of the history alone: incremental
            world.load(mailbox, w, [c for c in weeks[w] if rnd.random() < 0.8])
        modes.append(_check(seed.con, params).mode)
    assert set(modes) == {"incremental"}
    categories = {r[0] for r in seed.con.execute(
        "select distinct category from overlap_event_facts").fetchall()}
    assert {"handoff", "backdoor", "coverage_gap"} <= categories
    assert seed.con.execute("select count(*) from overlap_event_facts where former_owner"
                            " and category <> 'handoff'").fetchall()[0][0] > 0


def _crm_change(seed: Seed, rnd: random.Random) -> None:
    """Reassign accounts, deactivate or re-manage a rep, stamped anywhere in the weeks (an
    older snapshot slots in); now and then an ownership.csv row instead, or no change."""
    at = START + timedelta(hours=rnd.randint(0, 24 * 7 * WEEKS))
    roll = rnd.random()
    if roll < 0.2:
        seed.snapshot(at)  # the current facts, maybe stamped before a later change
        return
    if roll < 0.4:
        seed.ownership(rnd.choice(list(ACCOUNTS)), rnd.choice(REPS), at)
        return
    for account_id in rnd.sample(list(ACCOUNTS), 2):
        seed.set_owner(account_id, rnd.choice(REPS))
    rep = rnd.choice(REPS)
    if rnd.random() < 0.5:
        seed.set_rep(rep, active=rnd.random() < 0.5)
    else:
        seed.set_rep(rep, manager=rnd.choice([r for r in REPS if r != rep]))
    seed.snapshot(at)


def test_crm_changes_rebuild_only_what_they_touch(seed: Seed) -> None:
    """Each kind of CRM change on 6 weeks of history, alone: an incremental build equal to a
    full rebuild, which changes the rows it must (and, for a change stamped late, nothing of
    the weeks before)."""
    _crm_changes(seed)


def _crm_changes(seed: Seed) -> None:
    from dataclasses import replace

    world = World(seed, random.Random(21))
    params = _params(dormant_days=10, handoff_days=7)
    seed.snapshot(START - timedelta(days=3))
    sqlrunner.build(seed.con, params)
    for w in range(WEEKS):
        copies = world.email_copies(w, 25)
        for mailbox in REPS:
            world.load(mailbox, w, copies)
    _check(seed.con, params)

    def change(label: str, rules: dict[str, object] | None = None) -> sqlrunner.BuildStats:
        before = _tables(seed.con)
        stats = _check(seed.con, _params(**(rules or {"dormant_days": 10, "handoff_days": 7})))
        assert stats.mode == "incremental", label
        assert _tables(seed.con) != before, f"{label} changed nothing"
        return stats

    def week(w: int) -> datetime:
        return START + timedelta(weeks=w)

    # a reassignment mid-history: the weeks before it stay as they were
    early = "select * from overlap_event_facts where occurred_at < ? order by all"
    kept = seed.rows(early, [week(3)])
    seed.set_owner("a0", REPS[3])
    seed.snapshot(week(3))
    change("reassign")
    assert seed.rows(early, [week(3)]) == kept
    # a rep deactivated mid-history, owning accounts
    seed.set_rep(ACCOUNTS["a1"][0], active=False)
    seed.snapshot(week(4))
    change("deactivate")
    # a manager change: the management chain of an owner (rule 5), nothing else
    seed.set_rep(ACCOUNTS["a2"][0], manager=REPS[0])
    seed.snapshot(week(4) + timedelta(days=2))
    change("manager")
    # an ownership.csv row dated in the past
    seed.ownership("a3", REPS[1], week(1) + timedelta(days=3))
    change("past-dated ownership.csv row")
    # an older snapshot slotting in between two others
    seed.set_owner("a2", REPS[4])
    seed.snapshot(week(2))
    seed.set_owner("a2", ACCOUNTS["a2"][0])
    seed.snapshot(week(5) + timedelta(days=6))
    change("older snapshot")
    # the rule parameters: weights (scores only), handoff_days (events and scores)
    weights = replace(Rules().weights, email=2.0, high=4.0)
    stats = change("weights", {"dormant_days": 10, "handoff_days": 7, "weights": weights})
    assert stats.scope["account_interactions"] == stats.scope["event_interactions"] == 0
    change("handoff_days", {"dormant_days": 10, "handoff_days": 14, "weights": weights})
    # a CRM-only model's parameter: scoped like an assignment change
    change("management_chain", {"dormant_days": 10, "handoff_days": 14, "weights": weights,
                                "management_chain": False})


def test_a_new_week_scores_with_the_unchanged_weeks_before(seed: Seed) -> None:
    """The usual weekly run: only the newest week changes, and its scores' persistence counts
    the 4 weeks before it, which the build does not recompute."""
    _new_week(seed)


def _new_week(seed: Seed) -> None:
    world = World(seed, random.Random(5))
    params = _params(dormant_days=4)
    sqlrunner.build(seed.con, params)
    owner, domain = ACCOUNTS["a0"]
    rep = next(r for r in REPS if r != owner)

    def week(w: int) -> list[dict[str, Any]]:
        return [{"mailbox": rep, "frm": rep, "to": [f"p{i}@{domain}"], "cc": [],
                 "at": START + timedelta(weeks=w, days=i), "message_id": f"w{w}m{i}@x",
                 "thread_root": None, "provider_thread_id": None, "source": "gmail"}
                for i in range(2)]

    for w in range(5):
        world.load(rep, w, week(w))
    _check(seed.con, params)
    world.load(rep, 5, week(5))
    assert _check(seed.con, params).mode == "incremental"
    rows = seed.rows("select week_start, earlier_weeks from score_weekly"
                     " where account_id = 'a0' and rep_email = ? order by week_start", [rep])
    assert [r["earlier_weeks"] for r in rows] == [0, 1, 2, 3, 4, 4]


def test_a_reloaded_copy_rethreads_another_mailboxs_provider_thread(seed: Seed) -> None:
    """One mailbox's copy of an email is reloaded with its References root (no copy had
    one): the email's thread key changes, and so does the thread of an email the load did
    not touch, which shares a provider thread only with the email's copy in another,
    untouched mailbox."""
    _rethread(seed)


def _rethread(seed: Seed) -> None:
    world = World(seed, random.Random(11))
    params = _params(dormant_days=4)
    sqlrunner.build(seed.con, params)
    x, y = REPS[0], REPS[1]

    def copy(mailbox: str, msg: str, root: str | None, thread: str) -> dict[str, Any]:
        return {"mailbox": mailbox, "frm": x, "to": ["p0@acct0.com", y], "cc": [],
                "at": START + timedelta(days=1), "message_id": msg, "thread_root": root,
                "provider_thread_id": thread, "source": "gmail"}

    world.load(x, 0, [copy(x, "m1@x", None, "gx")])
    world.load(y, 0, [copy(y, "m1@x", None, "gy"), copy(y, "m9@x", None, "gy")])
    _check(seed.con, params)
    thread_of_m9 = "select thread_id from match_interactions where message_id = 'm9@x'"
    before = seed.rows(thread_of_m9)
    world.load(x, 0, [copy(x, "m1@x", "t1@x", "gx")])
    assert _check(seed.con, params).mode == "incremental"
    assert seed.rows(thread_of_m9) != before


def test_a_reload_without_the_owners_shared_email_ends_its_collaboration(seed: Seed) -> None:
    """A window reloaded without the only email an owner shared with another rep: the
    week's collaboration row of the account goes, though no new row names its key."""
    _collaboration_ends(seed)


def _collaboration_ends(seed: Seed) -> None:
    world = World(seed, random.Random(13))
    params = _params(dormant_days=4)
    sqlrunner.build(seed.con, params)
    owner, domain = ACCOUNTS["a0"]
    rep = next(r for r in REPS if r != owner)
    shared = {"mailbox": rep, "frm": rep, "to": [f"p0@{domain}"], "cc": [owner],
              "at": START + timedelta(days=2), "message_id": "shared@x", "thread_root": None,
              "provider_thread_id": None, "source": "gmail"}
    world.load(rep, 0, [shared])
    _check(seed.con, params)
    collaboration = "select count(*) as n from score_collaboration_weekly"
    assert seed.rows(collaboration) == [{"n": 1}]
    world.load(rep, 0, [])
    assert _check(seed.con, params).mode == "incremental"
    assert seed.rows(collaboration) == [{"n": 0}]


def test_a_scope_can_be_computed_on_its_own(seed: Seed) -> None:
    """The scopes are functions of the warehouse: after a reload that drops one of two
    emails, C holds both old copies and the one new copy, and A both interactions, neither
    fresh; a new email in another week is a fresh interaction."""
    world = World(seed, random.Random(17))
    params = _params(dormant_days=4)
    sqlrunner.build(seed.con, params)
    rep = REPS[0]

    def copy(msg: str, week: int) -> dict[str, Any]:
        return {"mailbox": rep, "frm": rep, "to": ["p0@acct0.com"], "cc": [],
                "at": START + timedelta(weeks=week, days=1), "message_id": msg,
                "thread_root": None, "provider_thread_id": None, "source": "gmail"}

    world.load(rep, 0, [copy("m1@x", 0), copy("m2@x", 0)])
    _check(seed.con, params)
    world.load(rep, 0, [copy("m1@x", 0)])
    world.load(rep, 1, [copy("m3@x", 1)])
    b = Build(seed.con, params, kinds.models(sqlrunner.sql_files("model")), {}, {})
    scopes.copies(b)
    assert (b.sizes["copies_old"], b.sizes["copies_new"]) == (2, 2)
    assert not b.scopes["copies"].fresh
    apply(b, b.models["stg_copies"])
    scopes.interactions(b)
    assert b.count("_inc_a") == 3
    assert b.count("_inc_fresh") == 1  # m3
    assert not b.scopes["interactions"].fresh


def test_crm_identity_change_rebuilds_in_full(seed: Seed) -> None:
    world = World(seed, random.Random(7))
    params = _params(dormant_days=10)
    assert sqlrunner.build(seed.con, params, incremental=True).mode == "full"  # new CRM
    for mailbox in REPS:
        world.load(mailbox, 0, world.email_copies(0, 10))
    assert _check(seed.con, params).mode == "incremental"
    assert _check(seed.con, _params(dormant_days=20)).mode == "incremental"  # re-run: events
    # the time zone (the weeks): everything from match_interactions on is re-run
    berlin = sqlrunner.params_from_rules(Rules(dormant_days=20), "Europe/Berlin")
    assert _check(seed.con, berlin).mode == "incremental"
    assert _check(seed.con, _params(dormant_days=20)).mode == "incremental"
    seed.contact("p0@elsewhere.example", "a1")
    assert _check(seed.con, _params(dormant_days=20)).mode == "full"
    # raw rows the loader did not record: detected, rebuilt in full
    seed.email(REPS[0], frm=REPS[0], to=["p1@acct1.com"], at=START)
    assert sqlrunner.build(seed.con, _params(dormant_days=20), incremental=True).mode == "full"


def test_incremental_audits_still_catch_a_bad_row(seed: Seed,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from overlap.errors import AuditFailed

    world = World(seed, random.Random(3))
    params = _params(dormant_days=10)
    sqlrunner.build(seed.con, params)
    for mailbox in REPS:
        world.load(mailbox, 1, world.email_copies(1, 20))
    before = _tables(seed.con)
    original = sqlrunner.sql_files

    def broken(folder: str) -> list[sqlrunner.SqlFile]:
        files = original(folder)
        if folder != "audits":
            return files
        return [*files, sqlrunner.SqlFile("audits", "zz_no_interactions.sql",
                                          "select * from match_interactions")]

    monkeypatch.setattr(sqlrunner, "sql_files", broken)
    with pytest.raises(AuditFailed):
        sqlrunner.build(seed.con, params, incremental=True)
    assert _tables(seed.con) == before  # rolled back


# Each part of a scope is one reason a key's rows may change; without it the scope misses
# rows and some scenario above must tell (a wrong table, or a full rebuild where an
# incremental one was expected). (registry in overlap.incremental.scopes, part)
MUTATIONS = [
    ("COPY_SEARCHES", "same_keys"),
    ("COPY_SEARCHES", "removed"),
    ("THREAD_PARTS", "provider_threads"),
    ("EVENT_PARTS", "thread_members"),
    ("EVENT_PARTS", "dormancy"),
    ("EVENT_PARTS", "heads_up"),
    ("PAIR_PARTS", "old_events"),
    ("COLLABORATION_PARTS", "old_collaboration"),
    ("ACCOUNT_PARTS", "owner_periods"),
    ("ACCOUNT_PARTS", "owner_activity"),
    ("ACCOUNT_PARTS", "owners_present"),
    ("EVENT_PARTS", "exclusions"),
]
SCENARIOS: list[Callable[[Seed], None]] = [
    _crm_changes, _collaboration_ends, _rethread, _new_week, *(partial(_shuffled_loads, rnd_seed=n) for n in (1, 2, 3))]


@pytest.mark.parametrize(("registry", "part"), MUTATIONS)
def test_the_proof_fails_without_any_part_of_a_scope(monkeypatch: pytest.MonkeyPatch,
                                                     registry: str, part: str) -> None:
    monkeypatch.delitem(getattr(scopes, registry), part)
    for scenario in SCENARIOS:
        try:
            scenario(Seed())
        except AssertionError:
            return  # caught
    pytest.fail(f"no scenario notices the scope without {registry}[{part!r}]")


def _tables_read(f: sqlrunner.SqlFile) -> set[str]:
    """The tables (not CTEs) a model file reads."""
    code = LINE_COMMENT.sub("", f.text)
    ctes = set(re.findall(r"(\w+)\s*(?:\([\w\s,]*\))?\s+as\s*\(", code))
    return set(re.findall(r"\b(?:from|join)\s+(?:main\.)?(\w+)", code)) - ctes


def test_every_model_declares_how_it_is_maintained() -> None:
    """Every model file has a known kind; a ``full`` model reads only the CRM snapshot and
    other full models (so an incremental build may leave it alone); every other model names a
    scope the build computes before the model is reached, and has its scoped inputs."""
    declared = kinds.models(sqlrunner.sql_files("model"))
    assert {m.kind.strategy for m in declared} == {"full", "incremental", "set", "delta"}
    full = {m.table for m in declared if m.kind.strategy == "full"}
    assert full == {"stg_rep_addresses", "match_accounts", "match_account_owners",
                    "match_rep_periods", "match_rep_exclusions"}
    done: set[str] = set()
    ready = {name for name, sd in scopes.SCOPES.items() if not sd.needs}
    for m in declared:
        if m.kind.strategy == "full":
            assert _tables_read(m.file) <= set(CRM_INPUTS) | full, m.table
        else:
            assert m.kind.scope in ready, f"{m.table}: scope {m.kind.scope} not ready"
            assert m.table in models.INPUTS
            assert m.kind.strategy != "delta" or m.table in models.DELTAS
        done.add(m.table)
        ready |= {name for name, sd in scopes.SCOPES.items() if set(sd.needs) <= done}
    assert ready == set(scopes.SCOPES)


@pytest.mark.parametrize(("line", "kind"), [
    ("full", kinds.Kind("full")),
    ("incremental by interaction_id; scope events",
     kinds.Kind("incremental", ("interaction_id",), "events")),
    ("incremental by account_id, rep_email since week_start; scope score_pairs",
     kinds.Kind("incremental", ("account_id", "rep_email"), "score_pairs", "week_start")),
    ("incremental by interaction_id; scope threads; over thread_groups",
     kinds.Kind("incremental", ("interaction_id",), "threads", over="thread_groups")),
    ("set by domain; scope gone_domains", kinds.Kind("set", ("domain",), "gone_domains")),
    ("delta; scope threads", kinds.Kind("delta", (), "threads")),
])
def test_kind_lines(line: str, kind: kinds.Kind) -> None:
    f = sqlrunner.SqlFile("model", "x.sql", f"-- grain: x\n-- kind: {line}\ncreate or replace"
                          " table x as select 1")
    assert kinds.kind_of(f) == kind


@pytest.mark.parametrize("text", ["-- grain: x\ncreate or replace table x as select 1",
                                  "-- kind: sometimes\ncreate or replace table x as select 1",
                                  "-- kind: full\n-- kind: full\ncreate or replace table x as"
                                  " select 1"])
def test_a_model_without_one_known_kind_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="kind"):
        kinds.kind_of(sqlrunner.SqlFile("model", "x.sql", text))


def test_a_retention_purge_keeps_frozen_weeks_and_incremental_equal_to_full(seed: Seed) -> None:
    """Issue 19 (overlap.privacy.retention): a purge inside a load freezes the weekly rows of
    the weeks before the freeze line (edge + 4 weeks) and deletes the interactions before
    the edge; the build after it is a
    full one (the evidence of the weeks after the edge changed), which equals itself rebuilt;
    nothing before the edge is left in any table; the frozen weeks read the same in the
    views; a later week loads incrementally on top and still equals a full rebuild."""
    from zoneinfo import ZoneInfo

    from overlap.privacy import retention

    con = seed.con
    world = World(seed, random.Random(7))
    params = _params(dormant_days=4)
    sqlrunner.build(con, params)
    weeks = {w: world.email_copies(w, 25) for w in range(WEEKS + 1)}
    for w in range(WEEKS):
        for mailbox in REPS:
            world.load(mailbox, w, weeks[w])
        con.execute("insert into reported_weeks values (?, ?)",
                    [(START + timedelta(weeks=w)).date(), f"run{w}"])
        _check(con, params)

    def weekly(view: str) -> list[tuple[Any, ...]]:
        return con.execute(f"select * from {view} order by all").fetchall()  # noqa: S608

    before = {v: weekly(v) for v in ("overlap_weekly", "collaboration_weekly")}
    # the latest reported week ends at START + 6 weeks; 28 days before it: START + 2 weeks
    edge = (START + timedelta(weeks=2)).date()
    # sync state of a mailbox no longer synced (its data ended before the edge) and of one
    # still synced; quarantine rows of a window before the edge and of one straddling it
    for mailbox, weeks_back in (("gone@corp.example", 4), (REPS[0], 0)):
        con.execute("insert into sync_state values ('gmail', ?, 'c', ?, ?, now())",
                    [mailbox, START, START + timedelta(weeks=6 - weeks_back)])
    for locator, end in (("old", 2), ("straddling", 3)):
        con.execute("insert into raw_quarantine values ('gmail', 'gmail', ?, ?, 'bad', ?, ?)",
                    [REPS[0], locator, START, START + timedelta(weeks=end)])
    con.execute("begin")
    purged = retention.purge(con, 28, ZoneInfo("UTC"), "purge-run")
    con.execute("commit")
    assert purged.edge_week == edge and purged.emails > 0
    assert (purged.sync_states, purged.quarantined) == (1, 1)
    assert con.execute("select mailbox from sync_state").fetchall() == [(REPS[0],)]
    assert con.execute("select locator from raw_quarantine").fetchall() == [("straddling",)]
    frozen_week = purged.frozen_week
    assert frozen_week == edge + timedelta(weeks=4)
    assert _check(con, params).mode == "full"  # asked incremental: a purge clears the state
    assert retention.stale_rows(con, retention.edge_at(edge, ZoneInfo("UTC"))) == {}
    for view, rows in before.items():
        frozen = [r for r in rows if r[0] < frozen_week]
        assert frozen, view
        assert [r for r in weekly(view) if r[0] < frozen_week] == frozen, view
    for mailbox in REPS:
        world.load(mailbox, WEEKS, weeks[WEEKS])
    assert _check(con, params).mode == "incremental"
    # a purge that finds nothing more to delete leaves the build incremental
    con.execute("begin")
    assert retention.purge(con, 28, ZoneInfo("UTC")).rows == 0
    con.execute("commit")
    assert sqlrunner.build(con, params, incremental=True).mode == "incremental"
