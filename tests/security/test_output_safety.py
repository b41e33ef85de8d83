"""Output safety: mailbox- and CRM-derived text is inert in the HTML report and digests, CSV
cells cannot start a formula, and SQL is only ever parameterised (injection payloads in every
input field of a real pipeline run are stored verbatim and the warehouse stays intact)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from overlap.config import load_config
from overlap.pipeline import run
from reports.csv_export import FORMULA_PREFIXES, neutralise
from reports.render import render_week
from tests.e2e.tinyorg import WEEK as TINY_WEEK
from tests.e2e.tinyorg import message, write_org
from tests.reports.fixture import SPEC, WEEK, build
from tests.reports.htmltools import parse

GENERATED = dt.datetime(2026, 11, 23, 6, 0, tzinfo=dt.UTC)

# OWASP XSS filter-evasion classics: tags, attribute breakouts, URL schemes, encodings.
XSS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg/onload=alert(1)>",
    "<a href=\"javascript:alert(1)\">x</a>",
    "<iframe src=data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==>",
    "javascript:alert(1)",
    "<IMG SRC=JaVaScRiPt:alert('XSS')>",
    "<body onload=alert(1)>",
    "<style>@import 'http://evil/x.css';</style>",
    "</title><script>alert(1)</script>",
    "<!--<script>-->alert(1)",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "{{7*7}}{% raw %}",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<meta http-equiv=refresh content=0;url=javascript:alert(1)>",
    "\u003cscript\u003ealert(1)\u003c/script\u003e",
    "x\" style=\"background:url(javascript:alert(1))",
]
# Columns the code compares against fixed values: left alone so the report still has rows.
ENUMS = {"kind", "category", "level", "role", "party", "response", "initiated_by", "status",
         "scope", "source", "sources"}


# value || one payload chosen by the value's hash: the same value gets the same payload
_POISON = "({x} || $xss[(hash({x}) % " + str(len(XSS)) + ")::integer + 1])"


def _hostile_warehouse() -> duckdb.DuckDBPyConnection:
    """The report fixture with a payload appended to every free-text value of every view —
    names, account names and ids, addresses, reasons, subjects, data-quality items — mapped
    consistently so the joins still hold."""
    con = duckdb.connect()
    build(con)
    for table, columns in SPEC.items():
        sets = []
        for column, kind in columns:
            if column in ENUMS:
                continue
            if kind == "VARCHAR":
                sets.append(f"{column} = {_POISON.format(x=column)}")
            elif kind == "VARCHAR[]":
                each = _POISON.format(x="x")
                sets.append(f"{column} = list_transform({column}, lambda x: {each})")
        if sets:
            con.execute(f"update {table} set {', '.join(sets)}",  # noqa: S608 - fixed names
                        {"xss": XSS})
    return con


def _inventory(html: str) -> tuple[set[tuple[str, str]], set[str]]:
    """(tag, attribute) pairs and URL schemes a browser would build from ``html``."""
    _, tags = parse(html)
    pairs, schemes = set(), set()
    for tag, attrs in tags:
        pairs.add((tag, ""))
        for name, value in attrs:
            pairs.add((tag, name))
            if name in ("href", "src", "action", "formaction", "xlink:href", "style", "content"):
                text = "".join((value or "").split()).lower()
                head = text.split(":", 1)[0] if ":" in text else ""
                if head and head.isalpha():
                    schemes.add(head)
    return pairs, schemes


def _pages(con: duckdb.DuckDBPyConnection, out: Path, title: str) -> list[str]:
    paths = render_week(con, WEEK, out, generated_at=GENERATED, title=title, subjects=True)
    assert paths.digests
    return [p.read_text(encoding="utf-8") for p in [paths.html, *paths.digests.values()]]


def test_payloads_in_every_field_build_no_tag_attribute_or_scheme(tmp_path: Path) -> None:
    clean = duckdb.connect()
    build(clean)
    baseline_pairs, baseline_schemes = set(), set()
    for page in _pages(clean, tmp_path / "clean", "Acme"):
        pairs, schemes = _inventory(page)
        baseline_pairs |= pairs
        baseline_schemes |= schemes
    assert not any(name.startswith("on") for _, name in baseline_pairs)

    hostile = _hostile_warehouse()
    pages = _pages(hostile, tmp_path / "hostile", XSS[0] + XSS[3])
    shown = 0
    for page in pages:
        pairs, schemes = _inventory(page)
        assert pairs <= baseline_pairs, sorted(pairs - baseline_pairs)
        assert schemes <= baseline_schemes, schemes
        root, _ = parse(page)
        text = root.text()
        shown += sum(" ".join(p.split()) in text for p in XSS)
        lowered = page.lower()
        for needle in ("<script>alert", "<img src=x", "<iframe src=data", "<body onload",
                       "<meta http-equiv", "<style>@import", "<svg/onload", '<a href="javascript'):
            assert needle not in lowered, needle
    assert shown > 0, "the payloads must be shown as text, not dropped"


# ---------------------------------------------------------------- CSV


@pytest.mark.parametrize("cell", [
    "=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", " =1+1", "  +cmd", "\n=1", '"=1+1',
    "'=1+1", " '@x", "\u00a0=1", "\u3000-1", "\uff1dHYPERLINK(\"http://x\")", "\uff0b1",
])
def test_formula_cells_are_neutralised(cell: str) -> None:
    assert neutralise(cell).startswith("'")


@given(st.text(max_size=30))
def test_no_csv_cell_can_start_a_formula(text: str) -> None:
    out = neutralise(text)
    rest = out.lstrip(" \t\r\n\u00a0\u3000\"'")
    if not out.startswith("'"):
        assert not rest.startswith(FORMULA_PREFIXES + ("\uff1d", "\uff0b", "\uff0d", "\uff20"))
    assert out in (text, "'" + text)  # nothing else changes: the value is still readable


# ---------------------------------------------------------------- SQL, through the pipeline

INJECTIONS = [
    "O'Brien'; drop table raw_copies; --",
    "Robert'); DROP TABLE crm_accounts;--",
    "$week",
    "$1 ? :name %s {0}",
    '" or 1=1 --',
    "\\'; select 1; --",
    "\u02bc; drop table runs; --",  # modifier letter apostrophe
    "\u0000nul",
]


def test_injection_payloads_are_stored_verbatim_and_tables_survive(tmp_path: Path) -> None:
    payload = "; ".join(INJECTIONS[:-1])
    msg_id = "x');drop-table-raw_copies;--$week@acme.example"  # ids hold no spaces
    raw = message(msg_id=msg_id, sender=f'"{INJECTIONS[0]}" <rep@corp.example>',
                  to=f'"{INJECTIONS[2]}" <buyer@acme.example>',  # no owner: a backdoor event
                  date_header="Tue, 17 Nov 2026 10:00:00 +0000",
                  extra=f"References: <{INJECTIONS[1]}@x>\n")
    raw = raw.replace(b"Subject: hello", f"Subject: {payload}".encode())
    cfg = write_org(tmp_path, rep_name=payload, account_name=INJECTIONS[1],
                    messages={"rep@corp.example": [("1", raw)]})
    text = cfg.read_text(encoding="utf-8")
    toml_payload = INJECTIONS[0].replace("\\", "\\\\").replace('"', '\\"')
    text = text.replace("[company]\n", f'[company]\nname = "{toml_payload}"\n')
    text = text.replace("[rules]\n", '[rules]\nsubjects = "keep"\n')
    cfg.write_text(text, encoding="utf-8")
    config = load_config(cfg)
    assert config.title == INJECTIONS[0]

    result = run(config, [TINY_WEEK], workers=1)
    assert not result.failed
    con = duckdb.connect(str(config.snapshot), read_only=True)
    try:
        tables = {t for (t,) in con.execute("select table_name from information_schema.tables").fetchall()}
        assert {"raw_copies", "crm_accounts", "run_log", "crm_reps"} <= tables
        assert con.execute("select subject, message_id from raw_copies").fetchall() == [
            (payload, msg_id)]
        assert con.execute("select account_name from crm_accounts").fetchall() == [
            (INJECTIONS[1],)]
        assert (payload,) in con.execute("select name from crm_reps").fetchall()
        names = {n for (n,) in con.execute(
            "select p.name from raw_copies, unnest(participants) t(p)").fetchall()}
        assert {INJECTIONS[0], INJECTIONS[2]} <= names
        assert con.execute("select count(*) from overlap_events").fetchone() == (1,)
    finally:
        con.close()
    html = result.reports[TINY_WEEK].html.read_text(encoding="utf-8")
    assert "O&#39;Brien&#39;; drop table" in html  # the company name, escaped, in the title
    with result.reports[TINY_WEEK].csv.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(io.StringIO(fh.read())))
    assert any(INJECTIONS[1] in cell for row in rows for cell in row)


@pytest.mark.parametrize("week", ["2026-W47'; drop table runs; --", "$week", "2026-W99"])
def test_cli_week_refuses_injection(tmp_path: Path, week: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    from overlap.cli import main

    cfg = write_org(tmp_path)
    assert main(["run", "--config", str(cfg), "--week", week, "-q"]) == 2
    assert "week" in capsys.readouterr().err.lower()


def test_config_timezone_refuses_injection(tmp_path: Path) -> None:
    from overlap.errors import InputError

    cfg = write_org(tmp_path)
    cfg.write_text(cfg.read_text().replace('timezone = "UTC"',
                                           "timezone = \"UTC'; drop table runs; --\""))
    with pytest.raises(InputError, match="unknown time zone"):
        load_config(cfg)
