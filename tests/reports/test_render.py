"""The weekly report, the owner digests and the CSV, rendered from a warehouse shaped like the
analyst views (tests/reports/fixture.py). Numbers asserted here can be checked by hand against
the fixture's event lists."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

import duckdb
import pytest

from reports.csv_export import COLUMNS
from reports.records import Caps
from reports.render import render_week
from tests.reports.conftest import GENERATED
from tests.reports.fixture import (
    ACCOUNTS,
    LAST_WEEK,
    PEOPLE,
    PREVIOUS,
    SPEC,
    SUBJECT_MARK,
    THIS_WEEK,
    WEEK,
    XSS_ACCOUNT,
    XSS_CONTACT,
    XSS_LINK_ACCOUNT,
    XSS_OWNER_NAME,
    XSS_REASON,
    XSS_REP_NAME,
    build,
)
from tests.reports.htmltools import parse


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def owners_with_events() -> set[str]:
    return {ACCOUNTS[e.account][1] for e in THIS_WEEK}


# --------------------------------------------------------------------------- the fixture


def test_fixture_tables_match_the_view_contract(warehouse):
    """The fixture stands in for sql/views: same names, exactly the §5 columns and types."""
    for table, cols in SPEC.items():
        got = warehouse.con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_name = ? order by ordinal_position", [table]).fetchall()
        got = [(c, t.replace("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ")) for c, t in got]
        assert got == cols, table
    # sanity: the numbers the tests rely on
    assert len(THIS_WEEK) == 17 and len(LAST_WEEK) == 5


def test_fixture_matches_the_real_views(tmp_path):
    """The views sql/views creates have the fixture's columns, and the report renders on them."""
    from overlap import sqlrunner

    con = duckdb.connect()
    sqlrunner.migrate(con)
    sqlrunner.build(con, sqlrunner.default_params())
    for table, cols in SPEC.items():
        got = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_name = ? order by ordinal_position", [table]).fetchall()
        got = [(c, t.replace("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ")) for c, t in got]
        assert got == cols, table
    paths = render_week(con, WEEK, tmp_path, generated_at=GENERATED)
    assert "No overlap this week" in read(paths.html)


# --------------------------------------------------------------------------- files


def test_writes_report_csv_and_one_digest_per_owner(warehouse, render, tmp_path):
    paths = render(warehouse)
    week_dir = paths.html.parent
    assert week_dir.name == "2026-W47"
    assert paths.html.name == "overlap-2026-W47.html"
    assert paths.csv == week_dir / "overlap_weekly-2026-W47.csv"
    assert set(paths.digests) == owners_with_events()
    for owner, path in paths.digests.items():
        assert path.parent == week_dir / "digests"
        assert path.name == owner + ".html"
        assert path.is_file()
    leftovers = [p for p in tmp_path.rglob("*") if ".tmp" in p.name]
    assert leftovers == []


def test_report_is_self_contained(warehouse, render):
    html = read(render(warehouse).html)
    root, tags = parse(html)
    names = {t for t, _ in tags}
    assert not names & {"script", "link", "img", "iframe", "object", "embed", "base", "form"}
    assert "@import" not in html and "url(" not in html and "@font-face" not in html
    for _tag, attrs in tags:
        for name, value in attrs:
            if name in ("src", "href", "action", "xlink:href"):
                assert (value or "").startswith("#"), (name, value)
    assert root.find_all("style"), "CSS is inline"
    assert root.find_all("svg"), "charts are inline SVG"


# --------------------------------------------------------------------------- content


def test_sections_header_and_legend(warehouse, render):
    root, _ = parse(read(render(warehouse).html))
    text = root.text()
    assert "Acme Sales" in text
    assert "2026-W47" in text and "Mon 16 \u2013 Sun 22 Nov 2026" in text
    for ident in ("trend", "ranked", "collaboration", "owners", "reps", "data-quality"):
        assert root.by_id(ident) is not None, ident
    assert "Your accounts contacted without you" in text
    for term in ("Backdoor", "Coverage gap", "Looped in"):
        assert term in root.find_all("table", "legend")[0].text()
    # one block per owner with events and per rep, named
    owners = root.by_id("owners")
    assert len([n for n in owners.find_all("div", "person")]) == len(owners_with_events())
    assert "Jane Doe" in owners.text() and "ghost@corp.example" in owners.text()
    reps = root.by_id("reps")
    assert len(reps.find_all("div", "person")) == len({e.rep for e in THIS_WEEK})
    # collaboration is celebrated
    collab = root.by_id("collaboration")
    assert "6 customer conversations" in collab.text()
    assert "thank you" in collab.text()
    assert re.search(r"Sam Ortiz\s*,\s*Rita Gomez", collab.text())


def ranked_rows(root):
    table = root.by_id("ranked").find_all("table", "data")[0]
    rows = []
    for tr in table.find_all("tr")[1:]:
        tds = tr.find_all("td")
        score = float(tds[7].find_all("span", "score")[0].text())
        rows.append((tds[0].text(), tds[1].text(), tds[3].text(), score, tr))
    return rows


def test_ranked_by_score_with_ties_broken_by_keys(warehouse, render):
    root, _ = parse(read(render(warehouse).html))
    rows = ranked_rows(root)
    expected = warehouse.con.execute(
        "select account_name, rep_name, score from overlap_weekly where week_start = ? "
        "order by score desc, account_id, rep_email", [WEEK]).fetchall()
    assert [r[0] for r in rows] == [str(i) for i in range(1, len(expected) + 1)]
    assert [(r[3]) for r in rows] == [round(s, 1) for _, _, s in expected]
    assert [r[1] for r in rows][:4] == ["Acme Corp", XSS_ACCOUNT, "Acme Corp", "Globex"]
    # the 5.0 tie: Acme before Globex
    assert rows[2][3] == rows[3][3] == 5.0
    assert rows[0][2].startswith("Sam Ortiz")
    assert "High" in rows[0][4].text()


def test_cap_says_how_many_more(warehouse, render):
    root, _ = parse(read(render(warehouse, top=3).html))
    assert len(ranked_rows(root)) == 3
    more = root.by_id("ranked").find_all("div", "more")[0].text()
    assert more == ("Showing the 3 highest of 9 pairs \u2014 the full list is in "
                    "overlap_weekly-2026-W47.csv and the overlap_weekly view.")
    root, _ = parse(read(render(warehouse).html))
    assert len(ranked_rows(root)) == 9
    assert root.by_id("ranked").find_all("div", "more") == []


def test_every_ranked_pair_has_a_12_week_sparkline(warehouse, render):
    root, _ = parse(read(render(warehouse).html))
    for *_, tr in ranked_rows(root):
        svgs = tr.find_all("svg", "spark")
        assert len(svgs) == 1
        points = svgs[0].find_all("polyline")[0].attrs["points"].split()
        assert len(points) == 12
    top = ranked_rows(root)[0][4]
    label = top.find_all("svg", "spark")[0].attrs["aria-label"]
    # Acme/Sam: active in W36, W38, W41, W44, W45, W46 and W47
    values = [float(v) for v in label.split(": ")[1].split(", ")]
    assert len(values) == 12 and values[-1] == 17.0
    assert [v > 0 for v in values] == [True, False, True, False, False, True, False, False,
                                       True, True, True, True]
    assert "7 of 12 weeks" in top.text()


def figures(root):
    out = {}
    for td in root.find_all("td", "figure"):
        label = td.find_all("div", "figure-label")[0].text()
        value = td.find_all("div", "figure-value")[0].text()
        delta = td.find_all("div", "delta")[0]
        out[label] = (value, delta.text(), delta.classes)
    return out


def test_headline_figures_with_change_vs_last_week(warehouse, render):
    root, _ = parse(read(render(warehouse).html))
    f = figures(root)
    assert f["Overlap events"][:2] == ("17", "\u25b2 +12 vs last week (5)")
    assert "delta-bad" in f["Overlap events"][2]
    assert f["Accounts affected"][:2] == ("8", "\u25b2 +4 vs last week (4)")
    assert f["Reps involved"][:2] == ("5", "\u25b2 +2 vs last week (3)")
    assert f["High-risk pairs"][:2] == ("1", "Same as last week")
    assert f["Joint conversations"][:2] == ("6", "\u25b2 +4 vs last week (2)")
    assert "delta-good" in f["Joint conversations"][2]
    # 16 distinct interactions (one Acme meeting had two reps) of 40 + 16 customer ones
    assert "16 of 56 customer interactions this week (28.6%)" in root.text()


def test_trend_chart_covers_12_weeks(warehouse, render):
    root, _ = parse(read(render(warehouse).html))
    svg = root.by_id("trend").find_all("svg", "trend")[0]
    labels = [t.text() for t in svg.find_all("text") if t.text().startswith("W")]
    assert labels == [f"W{w}" for w in range(36, 48)]
    assert svg.attrs["aria-label"].endswith(": 1, 2, 3, 1, 4, 1, 3, 2, 3, 3, 5, 17")


def test_digest_holds_only_that_owners_accounts(warehouse, render):
    paths = render(warehouse)
    for owner, path in paths.digests.items():
        root, _ = parse(read(path))
        text = root.text()
        mine = {a for a, (_, o, _) in ACCOUNTS.items() if o == owner}
        for name, account_owner, _domain in ACCOUNTS.values():
            if account_owner != owner:
                assert name not in text, (owner, name)
        events = root.by_id("events").find_all("table", "data")[0].find_all("tr")[1:]
        assert len(events) == sum(1 for e in THIS_WEEK if e.account in mine), owner
        pairs = root.by_id("pairs").find_all("table", "data")[0].find_all("tr")[1:]
        assert len(pairs) == len({(e.account, e.rep) for e in THIS_WEEK if e.account in mine})
    jane, _ = parse(read(paths.digests["jane@corp.example"]))
    text = jane.text()
    assert "Acme Corp" in text and "Umbrella" in text
    assert "Thanks for bringing colleagues along" in text  # her Acme meeting with Kim
    f = figures(jane)
    assert f["Overlap events"][:2] == ("7", "\u25b2 +5 vs last week (2)")
    assert f["With colleagues"][0] == "2"


def test_empty_week_is_friendly(warehouse, render):
    week = WEEK + dt.timedelta(weeks=1)  # nothing happened yet
    paths = render(warehouse, week)
    root, _ = parse(read(paths.html))
    text = root.text()
    assert paths.html.name == "overlap-2026-W48.html"
    assert "No overlap this week" in text
    assert root.by_id("ranked") is None and root.by_id("owners") is None
    assert root.find_all("td", "empty")
    assert figures(root)["Overlap events"][:2] == ("0", "\u25bc \u221217 vs last week (17)")
    assert paths.digests == {}
    assert read(paths.csv).splitlines() == [",".join(COLUMNS)]
    assert "Coverage unknown" in text  # no run covers that week


def test_empty_week_still_celebrates_collaboration(render):
    con = duckdb.connect()
    wh = build(con, this_week=[], coverage_failure=False)
    root, _ = parse(read(render(wh).html))
    assert "No overlap this week" in root.text()
    assert "All 40 customer interactions this week included the account owner" in root.text()
    assert "6 customer conversations" in root.by_id("collaboration").text()
    assert root.find_all("table", "banner") == []


def test_rerender_removes_digests_of_owners_without_events(tmp_path):
    con = duckdb.connect()
    wh = build(con)
    first = render_week(wh.con, WEEK, tmp_path, generated_at=GENERATED)
    assert len(list((first.html.parent / "digests").glob("*.html"))) == 6
    con2 = duckdb.connect()
    wh2 = build(con2, this_week=[THIS_WEEK[6]])  # only Globex / Kim left
    second = render_week(wh2.con, WEEK, tmp_path, generated_at=GENERATED)
    assert set(second.digests) == {"omar@corp.example"}
    assert sorted(p.name for p in (tmp_path / "2026-W47" / "digests").iterdir()) == [
        "omar@corp.example.html"]


# --------------------------------------------------------------------------- coverage


def test_incomplete_coverage_is_said_near_the_top(warehouse, render):
    html = read(render(warehouse).html)
    root, _ = parse(html)
    banner = root.find_all("table", "banner")[0]
    assert "Coverage incomplete" in banner.text()
    assert "1 mailbox of 10" in banner.text()
    assert "rita@corp.example" in banner.text() and "HTTP 403" in banner.text()
    assert "timeout" not in banner.text()  # the older attempt is superseded by the latest
    assert html.index("Coverage incomplete") < html.index("Overlap events")
    dq = root.by_id("data-quality").text()
    assert "9 of 10 mailboxes read in full" in dq
    digest, _ = parse(read(render(warehouse).digests["jane@corp.example"]))
    assert "Coverage incomplete" in digest.find_all("table", "banner")[0].text()


def test_complete_coverage_has_no_banner(render):
    wh = build(duckdb.connect(), coverage_failure=False)
    root, _ = parse(read(render(wh).html))
    assert root.find_all("table", "banner") == []
    assert "All 10 mailboxes were read successfully" in root.by_id("data-quality").text()


def test_a_successful_rerun_clears_the_failure(warehouse, render):
    warehouse.con.execute(
        "insert into runs select 'run-47b', scope, source, mailbox, window_start, window_end, "
        "started_at + interval 2 hour, finished_at + interval 2 hour, 'success', 3, 0, 0, null "
        "from runs where run_id = 'run-47' and mailbox = 'rita@corp.example'")
    root, _ = parse(read(render(warehouse).html))
    assert root.find_all("table", "banner") == []


def test_data_quality_lists_findings(warehouse, render):
    dq = parse(read(render(warehouse).html))[0].by_id("data-quality")
    text = dq.text()
    assert "8 records could not be parsed" in text
    assert "no usable Date header 6 2" in text  # reason, records, mailboxes
    assert text.index("initrode.com 57") < text.index("vandelay.com 31") < text.index(
        "=cmd.example 12")
    assert "shared-parent.com A-002; A-006" in text
    assert "gmail.com A-004" in text



def test_quarantine_is_about_the_week_with_files_and_reasons(warehouse, render):
    """Quarantined records belong to the window of the extract that read them: this week's
    are listed one by one with their reason; other weeks' only in the all-data line."""
    dq = parse(read(render(warehouse).html))[0].by_id("data-quality")
    text = dq.text()
    assert "Coverage and quarantined records are about 2026-W47" in text
    assert "Quarantined records this week" in text
    assert ("8 records could not be parsed by the extracts that read this week "
            "(2026-11-16 00:00 → 2026-11-23 00:00)") in text
    assert "cur/170.M1P2.host:2,S jane@corp.example maildir" in text
    assert "calendar/broken.ics kim@corp.example ics" in text
    assert "archive.mbox" not in text and "truncated mbox message" not in text
    assert "All data: 11 quarantined records in 4 mailboxes" in text
    assert "Busy domains that match no account all data" in text
    assert "Domains claimed by more than one account CRM" in text

    w45 = parse(read(render(warehouse, week=WEEK - dt.timedelta(weeks=2)).html))[0]
    text = w45.by_id("data-quality").text()
    assert "3 records could not be parsed" in text
    assert "truncated mbox message 3 1" in text
    assert "archive.mbox#3 sam@corp.example mbox" in text
    assert "broken.ics" not in text and "no usable Date header" not in text

    w46 = parse(read(render(warehouse, week=PREVIOUS).html))[0].by_id("data-quality").text()
    assert "No records were quarantined by the extracts that read this week." in w46
    assert "All data: 11 quarantined records in 4 mailboxes" in w46


def test_quarantined_files_are_capped_with_the_total(warehouse, render):
    text = parse(read(render(warehouse, caps=Caps(quarantined=3)).html))[0].by_id(
        "data-quality").text()
    assert "Showing 3 of 8 records — every one is in the raw_quarantine table." in text
    assert "8 records could not be parsed" in text  # reasons count every record
    assert "no usable Date header 6 2" in text


# --------------------------------------------------------------------------- safety


def assert_inert(html: str) -> None:
    _, tags = parse(html)
    for tag, attrs in tags:
        assert tag not in ("script", "img", "iframe", "object", "embed", "a") or (
            tag == "a" and all(n != "href" or (v or "").startswith("#") for n, v in attrs)
        ), (tag, attrs)
        for name, value in attrs:
            assert not name.lower().startswith("on"), (tag, name, value)
            v = re.sub(r"\s", "", (value or "")).lower()
            assert not v.startswith("javascript:"), (tag, name, value)


def test_hostile_names_stay_inert(warehouse, render):
    paths = render(warehouse, subjects=True)
    files = [paths.html, *paths.digests.values()]
    for path in files:
        assert_inert(read(path))
    root, _ = parse(read(paths.html))
    text = root.text()
    # shown as text, not dropped
    for value in (XSS_ACCOUNT, XSS_LINK_ACCOUNT, XSS_OWNER_NAME, XSS_REP_NAME, XSS_REASON):
        assert " ".join(value.split()) in text, value
    assert "&lt;script&gt;" in read(paths.html)
    digest = read(paths.digests["mallory@corp.example"])
    assert " ".join(XSS_CONTACT.split()) in parse(digest)[0].text()
    # charts carry numbers only
    for svg in root.find_all("svg"):
        assert "alert" not in svg.text() and "alert" not in str(svg.attrs)


def test_hostile_title_is_escaped(warehouse, render):
    html = read(render(warehouse, title='<script>alert("t")</script>').html)
    assert_inert(html)
    assert "&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt;" in html


def csv_rows(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))


def test_csv_has_the_weeks_rows_lists_joined(warehouse, render):
    rows = csv_rows(render(warehouse).csv)
    assert rows[0] == list(COLUMNS) == [c for c, _ in SPEC["overlap_weekly"]]
    assert len(rows) == 1 + 9
    first = dict(zip(rows[0], rows[1], strict=True))
    assert (first["account_name"], first["rep_email"], first["score"], first["level"]) == (
        "Acme Corp", "sam@corp.example", "17.0", "high")
    assert first["reasons"] == ("2 meetings and 3 emails with 3 Acme Corp people without owner "
                                "Jane Doe; also active in 3 of the previous 4 weeks")
    assert first["week_start"] == "2026-11-16"


HOSTILE_CELLS = ["=cmd|' /C calc'!A0", "+1", "-1", "@SUM(A1:A2)", "\tTAB", "\rCR"]


def test_csv_neutralises_formulas(tmp_path):
    con = duckdb.connect()
    extra = [(WEEK, "A-900", "=cmd|' /C calc'!A0", "+1@corp.example", 1, 0, 1, 99.0, "high",
              ["@SUM(A1:A2)", "=1+1", "plain"], "=cmd|' /C calc'!A0", "+1", "-1", 1, 1, 0,
              0, 1, 0, 0, 0),
             (WEEK, "\tA-901", "@owner", "\rrep", 1, 0, 1, 98.0, "-1", ["\ttab first"],
              "Zo\u00eb & Co", None, "-2+3", 1, 1, 0, 0, 1, 0, 0, 1)]
    wh = build(con, extra_weekly=extra)
    out = render_week(wh.con, WEEK, tmp_path, generated_at=GENERATED)
    rows = csv_rows(out.csv)
    body = rows[1:]
    for row in body:
        for value in row:
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    first = dict(zip(rows[0], body[0], strict=True))
    assert first["account_name"] == "'=cmd|' /C calc'!A0"
    assert first["owner_email"] == "'=cmd|' /C calc'!A0"
    assert first["rep_email"] == "'+1@corp.example"
    assert first["owner_name"] == "'+1"
    assert first["rep_name"] == "'-1"
    assert first["reasons"] == "'@SUM(A1:A2); =1+1; plain"
    second = dict(zip(rows[0], body[1], strict=True))
    assert second["account_id"] == "'\tA-901"
    assert second["owner_email"] == "'@owner"
    assert second["rep_email"] == "'\rrep"
    assert second["level"] == "'-1"
    assert second["reasons"] == "'\ttab first"
    assert second["account_name"] == "Zo\u00eb & Co"
    assert second["owner_name"] == ""


# --------------------------------------------------------------------------- determinism


def shuffled_copy(src: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """The same rows, inserted in another order."""
    dst = duckdb.connect()
    from tests.reports.fixture import create_tables

    create_tables(dst)
    for table in SPEC:
        rows = src.execute(f"select * from {table}").fetchall()  # noqa: S608 - fixed names
        rows.reverse()
        rows = rows[1::2] + rows[0::2]
        if rows:
            marks = ", ".join("?" * len(SPEC[table]))
            dst.executemany(f"insert into {table} values ({marks})", rows)  # noqa: S608
    return dst


def test_same_data_gives_the_same_files_but_the_generated_line(warehouse, tmp_path):
    a = render_week(warehouse.con, WEEK, tmp_path / "a", generated_at=GENERATED,
                    title="Acme Sales")
    later = dt.datetime(2026, 11, 24, 8, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    b = render_week(shuffled_copy(warehouse.con), WEEK, tmp_path / "b", generated_at=later,
                    title="Acme Sales")
    assert a.csv.read_bytes() == b.csv.read_bytes()
    assert set(a.digests) == set(b.digests)
    pairs = [(a.html, b.html)] + [(a.digests[k], b.digests[k]) for k in a.digests]
    for pa, pb in pairs:
        la, lb = read(pa).split("\n"), read(pb).split("\n")
        assert len(la) == len(lb)
        diff = [(x, y) for x, y in zip(la, lb, strict=True) if x != y]
        assert diff == [('<p class="generated">Generated 2026-11-23 06:00 UTC</p>',
                         '<p class="generated">Generated 2026-11-24 06:30 UTC</p>')], pa.name
    c = render_week(warehouse.con, WEEK, tmp_path / "c", generated_at=GENERATED,
                    title="Acme Sales")
    assert c.html.read_bytes() == a.html.read_bytes()


# --------------------------------------------------------------------------- subjects, time


def all_text(paths) -> str:
    return "".join(read(p) for p in [paths.html, paths.csv, *paths.digests.values()])


def test_subjects_only_when_asked(warehouse, render):
    assert SUBJECT_MARK not in all_text(render(warehouse))
    shown = render(warehouse, subjects=True)
    digest = read(shown.digests["jane@corp.example"])
    assert SUBJECT_MARK + " renewal for Acme Corp" in digest
    assert "None" not in parse(digest)[0].text()  # NULL subjects print nothing
    assert SUBJECT_MARK not in read(shown.html)  # the company report never lists subjects


def test_event_times_in_the_company_time_zone(warehouse, render):
    utc = read(render(warehouse).digests["jane@corp.example"])
    assert "Tue 17 Nov, 09:00" in utc
    ny = render(warehouse, timezone="America/New_York")
    assert "Tue 17 Nov, 04:00" in read(ny.digests["jane@corp.example"])
    assert "Times are shown in America/New_York" in read(ny.html)


def test_rejects_a_week_start_that_is_not_a_monday(warehouse, tmp_path):
    with pytest.raises(ValueError, match="not a Monday"):
        render_week(warehouse.con, WEEK + dt.timedelta(days=1), tmp_path, generated_at=GENERATED)
    with pytest.raises(ValueError, match="timezone-aware"):
        render_week(warehouse.con, WEEK, tmp_path, generated_at=dt.datetime(2026, 11, 23))
    assert not any(tmp_path.iterdir())


def test_owner_without_crm_name_reads_as_address(warehouse, render):
    paths = render(warehouse)
    root, _ = parse(read(paths.digests["ghost@corp.example"]))
    assert "ghost@corp.example" in root.text() and "None" not in root.text()
    assert PEOPLE["ghost@corp.example"] is None


def test_run_level_status(render):
    wh = build(duckdb.connect())
    wh.con.execute("update runs set status = 'partial' where scope = 'run'")
    banner = parse(read(render(wh).html))[0].find_all("table", "banner")[0]
    assert len(banner.find_all("li")) == 1 and "rita@corp.example" in banner.text()

    ok = build(duckdb.connect(), coverage_failure=False)
    ok.con.execute("update runs set status = 'failed', error = 'model step crashed' "
                   "where scope = 'run' and run_id = 'run-47'")
    banner = parse(read(render(ok).html))[0].find_all("table", "banner")[0]
    assert "did not finish cleanly" in banner.text()
    assert "Pipeline run" in banner.text() and "model step crashed" in banner.text()
