"""Pure helpers of the reports: formatting, file names, CSV cells, charts."""

from __future__ import annotations

import datetime as dt

import pytest
from markupsafe import Markup

from reports import charts, formatting
from reports.csv_export import cell, neutralise
from reports.render import digest_filenames, safe_filename


@pytest.mark.parametrize(("day", "label"), [
    (dt.date(2026, 11, 16), "2026-W47"),
    (dt.date(2026, 12, 28), "2026-W53"),  # 2026 has 53 ISO weeks
    (dt.date(2024, 12, 30), "2025-W01"),  # the ISO year, not the calendar year
    (dt.date(2027, 1, 4), "2027-W01"),
])
def test_iso_week(day, label):
    assert formatting.iso_week(day) == label


@pytest.mark.parametrize(("day", "text"), [
    (dt.date(2026, 11, 16), "Mon 16 \u2013 Sun 22 Nov 2026"),
    (dt.date(2026, 11, 30), "Mon 30 Nov \u2013 Sun 6 Dec 2026"),
    (dt.date(2026, 12, 28), "Mon 28 Dec 2026 \u2013 Sun 3 Jan 2027"),
])
def test_week_range(day, text):
    assert formatting.week_range(day) == text


@pytest.mark.parametrize(("value", "text"), [
    (0, "0"), (1234, "1,234"), (2.0, "2"), (2.5, "2.5"), (None, "\u2014"),
])
def test_num(value, text):
    assert formatting.num(value) == text


def test_signed_score_plural_activity_generated():
    assert [formatting.signed(v) for v in (3, -2, 0)] == ["+3", "\u22122", "0"]
    assert formatting.score(17) == "17.0"
    assert formatting.plural(1, "email") == "1 email"
    assert formatting.plural(2, "person", "people") == "2 people"
    assert formatting.activity(2, 3, 3) == "2 meetings \u00b7 3 emails \u00b7 3 people"
    assert formatting.activity(0, 1, 1) == "1 email \u00b7 1 person"
    assert formatting.activity(1, 0, 2) == "1 meeting \u00b7 2 people"
    berlin = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert formatting.generated(berlin) == "2026-11-23 06:00 UTC"
    assert formatting.person(None, "a@b.example") == "a@b.example"
    assert formatting.person("  ", "a@b.example") == "a@b.example"
    assert formatting.category_label("coverage_gap") == "Coverage gap"
    assert formatting.category_label("<odd>") == "<odd>"  # escaped by the template, not here


@pytest.mark.parametrize(("email", "name"), [
    ("jane@corp.example", "jane@corp.example"),
    ("Jane.Doe+eu@Corp.Example", "jane.doe+eu@corp.example"),
    ("../../etc/passwd", "_.._etc_passwd"),  # no separator, no leading dot
    ("a/b\\c@x", "a_b_c@x"),
    ("<script>@x", "_script_@x"),
    ("...", "owner"),
])
def test_safe_filename(email, name):
    assert safe_filename(email) == name
    assert "/" not in name and not name.startswith(".")


def test_digest_filenames_never_collide():
    names = digest_filenames(["a/b@x.example", "a\\b@x.example", "c@x.example"])
    assert len(set(names.values())) == 3
    assert names["c@x.example"] == "c@x.example.html"
    assert all(n.endswith(".html") for n in names.values())


@pytest.mark.parametrize(("value", "text"), [
    ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
    ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("plain", "plain"), ("a=b", "a=b"), ("", ""),
])
def test_neutralise(value, text):
    assert neutralise(value) == text


def test_cell():
    assert cell(None) == ""
    assert cell(["=a", "b"]) == "'=a; b"
    assert cell(["a", None, "b"]) == "a; ; b"
    assert cell(dt.date(2026, 11, 16)) == "2026-11-16"
    assert cell(17.0) == "17.0" and cell(0.1 + 0.2) == "0.3"
    assert cell(-1.5) == "'-1.5"


def test_sparkline_is_numbers_only():
    svg = charts.sparkline([0, 1.5, float("nan"), 3], "high")
    assert isinstance(svg, Markup)
    assert svg.count("<polyline") == 1 and "nan" not in svg.lower()
    assert charts.LEVEL_COLOURS["high"] in svg
    # an unknown level from the database picks the neutral colour, never the raw value
    odd = charts.sparkline([1, 2], '"><script>')
    assert "script" not in odd and charts.NEUTRAL in odd
    assert charts.sparkline([]) == ""


def test_trend_chart_labels_weeks_and_totals():
    weeks = [dt.date(2026, 11, 9), dt.date(2026, 11, 16)]
    svg = charts.trend_chart(weeks, [{"low": 2, "high": 1}, {}])
    assert ">W46<" in svg and ">W47<" in svg and ">3<" in svg
    assert svg.count("<rect") == 2
