"""Ranked and capped tables: the main report and the digests show at most their caps, say
"showing N of M", and every total still counts all rows; the CSV stays the full list.

The warehouse is the report fixture with a busier week: every rep in touch with every account
they do not own (dozens of pairs, six owners, nine reps), and caps small enough to cut each
table.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

import duckdb
import pytest

from reports.csv_export import chunks, rows, to_csv
from reports.records import Caps
from reports.render import render_week
from tests.reports.conftest import GENERATED
from tests.reports.fixture import ACCOUNTS, PEOPLE, WEEK, Ev, build
from tests.reports.htmltools import parse

REPS = sorted(p for p in PEOPLE if p != "ghost@corp.example")


def busy_week() -> list[Ev]:
    """Every rep with every account they do not own: 1-3 events each, some meetings."""
    events: list[Ev] = []
    pair = 0
    for account, (_name, owner, _domain) in sorted(ACCOUNTS.items()):
        for rep in REPS:
            if rep == owner:
                continue
            for k in range(1 + pair % 3):
                events.append(Ev(account, rep, "meeting" if (pair + k) % 4 == 0 else "email",
                                 "rep" if k % 2 == 0 else "customer",
                                 contacts=("buyer", "cfo")[: 1 + pair % 2],
                                 day=(pair + k) % 5, hour=8 + (pair * 3 + k) % 9))
            pair += 1
    return events


SMALL = Caps(pairs=5, people=2, person_rows=3, collaborations=1, digest_pairs=4,
             digest_events=3, digest_collaborations=1, colleagues=1)


@pytest.fixture(scope="module")
def busy() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    build(con, this_week=busy_week())
    return con


@pytest.fixture(scope="module")
def capped(busy, tmp_path_factory):
    return render_week(busy, WEEK, tmp_path_factory.mktemp("capped"), generated_at=GENERATED,
                       caps=SMALL)


@pytest.fixture(scope="module")
def uncapped(busy, tmp_path_factory):
    return render_week(busy, WEEK, tmp_path_factory.mktemp("uncapped"), generated_at=GENERATED,
                       caps=Caps(pairs=1000, people=1000, person_rows=1000,
                                 collaborations=1000, digest_pairs=1000, digest_events=1000,
                                 digest_collaborations=1000, colleagues=1000))


def one(con: duckdb.DuckDBPyConnection, sql: str, *params: object) -> object:
    return con.execute(sql, [WEEK, *params]).fetchone()[0]


def html(path: Path):
    return parse(path.read_text(encoding="utf-8"))[0]


def data_rows(node) -> list:
    return node.find_all("table", "data")[0].find_all("tr")[1:]


def mores(node) -> list[str]:
    return [m.text() for m in node.find_all("div", "more")]


def assert_capped(node, total: int, cap: int, more: str) -> None:
    """``node`` shows ``min(total, cap)`` rows and, when it left some out, says so."""
    assert len(data_rows(node)) == min(total, cap)
    if total > cap:
        assert mores(node) == [more]


def figures(root) -> dict[str, str]:
    return {td.find_all("div", "figure-label")[0].text(): td.find_all("div", "figure-value")[0]
            .text() for td in root.find_all("td", "figure")}


def test_the_warehouse_is_bigger_than_every_cap(busy):
    assert one(busy, "select count(*) from overlap_weekly where week_start = ?") > 60
    assert one(busy, "select count(distinct owner_email) from overlap_weekly "
                     "where week_start = ?") == 6
    assert one(busy, "select count(distinct rep_email) from overlap_weekly "
                     "where week_start = ?") == len(REPS)


def test_ranked_table_shows_the_cap_and_says_of_how_many(busy, capped):
    root = html(capped.html)
    total = one(busy, "select count(*) from overlap_weekly where week_start = ?")
    trs = data_rows(root.by_id("ranked"))
    assert len(trs) == SMALL.pairs
    top = busy.execute(
        "select coalesce(account_name, account_id) from overlap_weekly where week_start = ? "
        "order by score desc, account_id, rep_email, owner_email limit ?",
        [WEEK, SMALL.pairs]).fetchall()
    assert [tr.find_all("td")[1].text() for tr in trs] == [" ".join(a.split()) for (a,) in top]
    assert mores(root.by_id("ranked")) == [
        f"Showing the 5 highest of {total} pairs \u2014 the full list is in "
        "overlap_weekly-2026-W47.csv and the overlap_weekly view."]
    assert f"All {total} pairs of the week" in root.find_all("div", "footer")[0].text()


def test_headline_figures_count_everything_whatever_the_caps(busy, capped, uncapped):
    small, full = figures(html(capped.html)), figures(html(uncapped.html))
    assert small == full
    assert small["Overlap events"] == str(
        one(busy, "select count(*) from overlap_events where week_start = ?"))
    assert small["Accounts affected"] == str(len(ACCOUNTS))
    assert small["Reps involved"] == str(len(REPS))
    assert small["High-risk pairs"] == str(one(
        busy, "select count(*) from overlap_weekly where week_start = ? and level = 'high'"))


def test_owner_and_rep_blocks_are_capped_and_ranked(busy, capped):
    root = html(capped.html)
    owners = root.by_id("owners")
    blocks = owners.find_all("div", "person")
    assert len(blocks) == SMALL.people
    assert "Showing 2 of 6 owners, most at risk first \u2014 every owner receives their own " \
           "digest, and every pair is in overlap_weekly-2026-W47.csv." in mores(owners)
    assert len(owners.find_all("div", "index")[0].find_all("a")) == SMALL.people
    expected = busy.execute(
        "select owner_email, count(*), count(distinct account_id), sum(events) "
        "from overlap_weekly where week_start = ? group by owner_email "
        "order by min(case level when 'high' then 0 when 'medium' then 1 else 2 end), "
        "sum(score) desc, owner_email limit 2", [WEEK]).fetchall()
    for block, (owner, pairs, accounts, events) in zip(blocks, expected, strict=True):
        assert owner in block.text() or (PEOPLE[owner] or owner) in block.text()
        meta = block.find_all("div", "person-meta")[0].text()
        assert f"{accounts} account" in meta and f"{events} events" in meta  # all pairs
        assert len(data_rows(block)) == SMALL.person_rows
        assert mores(block) == [f"Showing the 3 highest of {pairs} pairs \u2014 more in their "
                                "digest, all in overlap_weekly-2026-W47.csv."]
    reps = root.by_id("reps")
    assert len(reps.find_all("div", "person")) == SMALL.people
    assert f"Showing 2 of {len(REPS)} reps, most involved first" in " ".join(mores(reps))
    for block in reps.find_all("div", "person"):
        assert len(data_rows(block)) == SMALL.person_rows


def test_collaboration_is_capped_with_totals_over_every_account(capped):
    collab = html(capped.html).by_id("collaboration")
    assert "6 customer conversations this week where owners brought colleagues along, " \
           "across 3 accounts" in collab.text()
    assert len(data_rows(collab)) == SMALL.collaborations
    assert mores(collab) == ["Showing 1 of 3 accounts, most joint conversations first \u2014 "
                             "the full list is in the collaboration_weekly view."]
    # Globex: Sam and Rita joined; one name is listed
    assert re.search(r"Sam Ortiz and 1 more", collab.text())


def test_csv_is_the_full_list(busy, capped):
    with capped.csv.open(encoding="utf-8", newline="") as fh:
        table = list(csv.reader(fh))
    assert len(table) - 1 == one(busy, "select count(*) from overlap_weekly where week_start = ?")
    assert capped.csv.read_bytes() == to_csv(rows(busy, WEEK))


def test_every_owner_gets_a_capped_digest_with_their_totals(busy, capped, uncapped):
    owners = {o for (o,) in busy.execute(
        "select distinct owner_email from overlap_events where week_start = ?",
        [WEEK]).fetchall()}
    assert set(capped.digests) == set(uncapped.digests) == owners
    for owner, path in capped.digests.items():
        root = html(path)
        n_pairs, accounts, n_events = busy.execute(
            "select count(*), count(distinct account_id), sum(events) from overlap_weekly "
            "where week_start = ? and owner_email = ?", [WEEK, owner]).fetchone()
        assert_capped(root.by_id("pairs"), n_pairs, SMALL.digest_pairs,
                      f"Showing the 4 highest of {n_pairs} pairs \u2014 the full list is in "
                      "overlap_weekly-2026-W47.csv and the overlap_weekly view.")
        assert_capped(root.by_id("events"), n_events, SMALL.digest_events,
                      f"Showing 3 of {n_events} events: those of the highest-scoring pairs, in "
                      "time order \u2014 the full list is in the overlap_events view.")
        # the context line counts every pair and event of the owner, not the rows shown
        assert f"people at {accounts} of your accounts without you ({n_events} overlap " \
               "events)" in root.text()
        assert figures(root)["Overlap events"] == str(n_events)
        # the same figures as an uncapped digest
        assert figures(root) == figures(html(uncapped.digests[owner]))


def test_digest_events_are_those_of_the_top_pairs_in_time_order(busy, capped, uncapped):
    owner = "jane@corp.example"
    root = html(capped.digests[owner])
    shown = [tr.find_all("td")[0].text() for tr in data_rows(root.by_id("events"))]
    # the events of Jane's highest-scoring pair(s), in time order
    picked = busy.execute("""
        select e.occurred_at from overlap_events as e
        join overlap_weekly as w using (week_start, account_id, rep_email, owner_email)
        where e.week_start = ? and e.owner_email = ?
        order by w.score desc, e.account_id, e.rep_email, e.occurred_at, e.interaction_id
        limit ?""", [WEEK, owner, SMALL.digest_events]).fetchall()
    times = sorted(t for (t,) in picked)
    assert shown == [f"{t:%a} {t.day} {t:%b}, {t:%H:%M}" for t in times]
    full = data_rows(html(uncapped.digests[owner]).by_id("events"))
    assert len(full) == one(busy, "select count(*) from overlap_events where week_start = ? "
                                  "and owner_email = ?", owner)


class CountingConnection:
    """A connection that counts the statements run through it."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.statements = 0

    def execute(self, sql: str, params: object = None) -> duckdb.DuckDBPyConnection:
        self.statements += 1
        return self.con.execute(sql, params)


def test_digests_take_the_same_few_queries_for_two_owners_or_six(busy, tmp_path):
    few = duckdb.connect()
    build(few, this_week=[e for e in busy_week() if e.account in ("A-001", "A-002")])
    assert one(few, "select count(distinct owner_email) from overlap_events "
                    "where week_start = ?") == 2
    counts = []
    for i, con in enumerate((few, busy)):
        counting = CountingConnection(con)
        paths = render_week(counting, WEEK, tmp_path / str(i),  # type: ignore[arg-type]
                            generated_at=GENERATED, caps=SMALL)
        counts.append((len(paths.digests), counting.statements))
    assert [n for n, _ in counts] == [2, 6]
    assert counts[0][1] == counts[1][1] <= 30  # (+ new pairs, approved, changed hands)


def test_caps_must_be_positive():
    with pytest.raises(ValueError, match="digest_pairs"):
        Caps(digest_pairs=0)
    with pytest.raises(ValueError, match="top"):
        render_week(duckdb.connect(), WEEK, Path("unused"), generated_at=GENERATED, top=0)


def test_sql_csv_matches_the_python_reference_byte_for_byte(busy):
    assert b"".join(chunks(busy, WEEK)) == to_csv(rows(busy, WEEK))
    empty = WEEK + dt.timedelta(weeks=1)
    assert b"".join(chunks(busy, empty)) == to_csv([]) == to_csv(rows(busy, empty))
