"""One failed mailbox must not stop the run: the rest is reported and the gap is stated."""

from __future__ import annotations

from pathlib import Path

import duckdb

from overlap.config import load_config
from overlap.pipeline import run
from overlap.staging import safe_component
from tests.e2e.tinyorg import WEEK, message, write_org


def test_failed_mailbox_keeps_its_data_and_is_reported(tmp_path: Path) -> None:
    to_buyer = message(msg_id="m1@acme.example", sender="rep@corp.example",
                       to="buyer@acme.example", date_header="Tue, 17 Nov 2026 10:00:00 +0000")
    owner_mail = message(msg_id="m2@acme.example", sender="owner@corp.example",
                         to="cfo@acme.example", date_header="Wed, 18 Nov 2026 10:00:00 +0000")
    config = load_config(write_org(tmp_path, messages={
        "rep@corp.example": [("1", to_buyer)],
        "owner@corp.example": [("1", owner_mail)],
    }))
    first = run(config, [WEEK], workers=1)
    assert not first.failed

    # A real failure for one mailbox only: its staging folder cannot be created.
    blocker = config.staging_dir / "maildir" / safe_component("rep@corp.example")
    for child in blocker.iterdir():
        child.unlink()
    blocker.rmdir()
    blocker.write_text("not a folder", encoding="utf-8")

    second = run(config, [WEEK], workers=2)
    assert len(second.failed) == 1 and second.failed[0].startswith("maildir rep@corp.example")
    con = duckdb.connect(str(config.snapshot), read_only=True)
    try:
        assert con.execute("select count(*) from raw_copies where mailbox = 'rep@corp.example'"
                           ).fetchone() == (1,), "the failed mailbox's earlier data is kept"
        assert con.execute("select count(*) from overlap_events").fetchone() == (1,)
        runs = con.execute("select status from runs where scope = 'run' order by started_at"
                           ).fetchall()
        assert runs == [("succeeded",), ("partial",)]
        failed = con.execute("select kind, item from data_quality where kind = 'mailbox_failed'"
                             ).fetchall()
        assert failed == [("mailbox_failed", "rep@corp.example")]
    finally:
        con.close()
    html = second.reports[WEEK].html.read_text(encoding="utf-8")
    assert "Coverage incomplete" in html and "rep@corp.example" in html
