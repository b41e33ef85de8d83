"""Whole-pipeline properties: reruns change nothing, hostile mailbox content stays inert."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import duckdb

from overlap.config import load_config
from overlap.pipeline import run
from tests.e2e.tinyorg import WEEK, message, write_org

DATA_TABLES = (
    "raw_copies", "raw_quarantine", "sync_state", "crm_accounts", "crm_account_domains",
    "crm_account_team", "crm_reps", "crm_rep_aliases", "crm_contacts",
)
VIEWS = ("interactions", "interaction_participants", "overlap_events", "overlap_weekly",
         "collaboration_weekly")


def snapshot_tables(db: Path) -> dict[str, list[tuple[object, ...]]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        for name in DATA_TABLES + VIEWS:
            out[name] = con.execute(f"select * from {name} order by all").fetchall()  # noqa: S608
        return out
    finally:
        con.close()


def small_org(tmp_path: Path) -> Path:
    rep_copy = message(msg_id="m1@acme.example", sender="Rex <rep@corp.example>",
                       to="buyer@acme.example, Olivia <owner@corp.example>",
                       date_header="Tue, 17 Nov 2026 10:00:00 +0000")
    backdoor = message(msg_id="m2@acme.example", sender="rep@corp.example",
                       to="cto@acme.example", date_header="Wed, 18 Nov 2026 09:00:00 +0100",
                       extra="Bcc: rep@corp.example\n")
    no_date = b"Message-ID: <m3@acme.example>\nFrom: rep@corp.example\nTo: x@acme.example\n\nx\n"
    return write_org(tmp_path, messages={
        "rep@corp.example": [("1", rep_copy), ("2", backdoor), ("3", no_date)],
        "owner@corp.example": [("1", rep_copy)],
    })


def test_same_window_twice_gives_identical_tables_and_reports(tmp_path: Path) -> None:
    config = load_config(small_org(tmp_path))
    first = run(config, [WEEK], now=datetime(2026, 11, 23, 6, 0, tzinfo=UTC), workers=1)
    tables = snapshot_tables(config.snapshot)
    html = first.reports[WEEK].html.read_text(encoding="utf-8")
    csv_bytes = first.reports[WEEK].csv.read_bytes()
    assert tables["overlap_events"], "the fixture must produce events"
    assert len(tables["raw_quarantine"]) == 1

    second = run(config, [WEEK], now=datetime(2026, 11, 24, 7, 30, tzinfo=UTC), workers=2)
    assert snapshot_tables(config.snapshot) == tables
    html2 = second.reports[WEEK].html.read_text(encoding="utf-8")
    differing = [(a, b) for a, b in zip(html.splitlines(), html2.splitlines(), strict=True)
                 if a != b]
    assert len(differing) == 1, differing
    assert "2026-11-24" in differing[0][1]
    assert second.reports[WEEK].csv.read_bytes() == csv_bytes
    con = duckdb.connect(str(config.snapshot), read_only=True)
    runs = con.execute("select status from runs where scope = 'run' order by started_at").fetchall()
    con.close()
    assert runs == [("succeeded",), ("succeeded",)]


class _Inspector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.bad: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "iframe", "object", "embed", "img"):
            self.bad.append(tag)
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.bad.append(f"{tag}[{name}]")


HOSTILE_NAME = '<script>alert(1)</script>" onmouseover="x'
FORMULA_NAME = "=cmd|' /C calc'!A0"


def test_hostile_names_stay_inert_in_html_and_csv(tmp_path: Path) -> None:
    raw = message(msg_id="evil@acme.example",
                  sender='"<script>alert(1)</script>" <rep@corp.example>',
                  to='"<img src=x onerror=alert(1)>" <buyer@acme.example>',
                  date_header="Tue, 17 Nov 2026 10:00:00 +0000")
    cfg = write_org(tmp_path, rep_name=HOSTILE_NAME, account_name=FORMULA_NAME,
                    messages={"rep@corp.example": [("1", raw)]})
    config = load_config(cfg)
    result = run(config, [WEEK], workers=1)
    paths = result.reports[WEEK]
    for page in [paths.html, *paths.digests.values()]:
        text = page.read_text(encoding="utf-8")
        inspector = _Inspector()
        inspector.feed(text)
        assert inspector.bad == [], page
        assert "<script>alert" not in text
    with paths.csv.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    cells = [cell for row in rows[1:] for cell in row]
    assert rows[1:], "the hostile event must be in the CSV"
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells), cells
    assert any(FORMULA_NAME in cell for cell in cells) or any(
        "'=cmd" in cell for cell in cells)
