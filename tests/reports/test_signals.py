"""Issue 16 and the report part of issue 14 in the report: approved collaboration, heads-ups,
new vs recurring pairs, the `overlap approve` command beside risk rows, changed hands and
broadcasts ignored — in the weekly report and in the owner digests."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pytest

from reports.data import load_week
from reports.render import render_week
from tests.reports.conftest import GENERATED
from tests.reports.fixture import THIS_WEEK, WEEK, Ev, build
from tests.reports.htmltools import parse

XSS_APPROVAL = '<script>alert("approve")</script> Timber deal until March'
XSS_CONFIG = "/etc/o'<b>x</b>.toml"

SIGNALS = [
    # approved: teamwork, not risk (Rita on Globex, approved by a manager)
    Ev("A-002", "rita@corp.example", "meeting", "rep", "approved", ("cto",), day=2, hour=9,
       approval_reason=XSS_APPROVAL),
    # a heads-up on Initech: Lee told the owner Priya first
    Ev("A-003", "lee@corp.example", "email", "rep", contacts=("pm",), day=3, hour=15,
       heads_up=True),
    # Wayne changed hands from Priya to Omar: Priya alone with the customer, a handoff
    Ev("A-007", "priya@corp.example", "email", "rep", "handoff", ("cio",), day=1, hour=8,
       owner="omar@corp.example"),
]
CHANGE = ("A-007", "omar@corp.example", dt.datetime(2026, 11, 12, tzinfo=dt.UTC),
          "priya@corp.example")
BROADCAST = ("broadcast_ignored", "newsletter@consultants.example", WEEK.isoformat(), 4, None,
             None, None)


@pytest.fixture
def signals(tmp_path: Path):
    con = duckdb.connect()
    wh = build(con, this_week=[*THIS_WEEK, *SIGNALS], owner_changes=[CHANGE],
               extra_quality=[BROADCAST])
    paths = render_week(wh.con, WEEK, tmp_path, generated_at=GENERATED, config_path=XSS_CONFIG)
    yield wh, paths
    con.close()


def _text(path: Path) -> str:
    root, _ = parse(path.read_text("utf-8"))
    return " ".join(root.text().split())


def test_approved_and_handoff_are_not_risk_in_the_headline(signals) -> None:
    wh, _ = signals
    report = load_week(wh.con, WEEK)
    plain = load_week(build(duckdb.connect(), this_week=[*THIS_WEEK, SIGNALS[1]]).con, WEEK)
    # the approved meeting and the handoff email add no overlap event, account or rep
    assert report.events == plain.events == len(THIS_WEEK) + 1
    assert report.overlap_interactions == plain.overlap_interactions
    assert [(a.account_id, a.rep_email, a.events) for a in report.approved] == [
        ("A-002", "rita@corp.example", 1)]
    assert {(p.account_id, p.rep_email) for p in report.pairs}.isdisjoint(
        {("A-002", "rita@corp.example"), ("A-007", "priya@corp.example")})


def test_report_shows_approved_heads_up_new_and_changed_hands(signals) -> None:
    _, paths = signals
    html = paths.html.read_text("utf-8")
    text = _text(paths.html)
    assert "Approved collaboration" in text and "Timber deal until March" in text
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#34;approve&#34;)" in html
    assert "Heads-up" in text
    assert "Changed hands" in text
    assert re.search(r"Wayne Enterprises Priya Nair Omar Haddad .* Omar Haddad has not met the "
                     r"customer yet\. Priya Nair was still alone with them 1 time this week", text)
    # new vs recurring: Acme/Sam is recurring (4 weeks running), Initech/Lee is new
    assert "Recurring" in text and "New" in text
    report = re.search(r"(\d+) of the (\d+) pairs are new this week", text)
    assert report is not None
    assert "Broadcasts ignored this week" in text and "newsletter@consultants.example (4)" in text
    for word in ("Approved", "Handoff", "Heads-up", "Recurring", "Someone else started it"):
        assert word in text.split("How to read this", 1)[1], word


def test_each_risk_row_offers_the_approve_command_escaped(signals) -> None:
    _, paths = signals
    html = paths.html.read_text("utf-8")
    text = _text(paths.html)
    assert ("overlap approve --config '/etc/o'\"'\"'<b>x</b>.toml' --account A-001 --rep "
            "sam@corp.example --from 2026-11-16 --reason '…'") in text
    assert "<b>x</b>" not in html  # HTML-escaped, not markup
    assert html.count("overlap approve --config") == len(load_week(signals[0].con, WEEK).pairs)


def test_digests_get_the_same_treatment(signals) -> None:
    _, paths = signals
    globex = _text(paths.digests["omar@corp.example"])
    assert "Approved collaboration on your accounts" in globex
    assert "Timber deal until March" in globex
    assert "Accounts you took over" in globex and "Wayne Enterprises" in globex
    # the handoff event is not one of Omar's "conversations without you"
    events = globex.split("Every conversation without you", 1)[-1].split("Approved", 1)[0]
    assert "Priya" not in events
    initech = _text(paths.digests["priya@corp.example"])
    assert "Heads-up" in initech
