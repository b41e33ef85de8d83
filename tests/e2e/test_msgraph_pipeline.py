"""The whole pipeline through Microsoft Graph (the sandbox) equals the file path.

Same seed folder, two configurations: the generated one (maildir + mbox + ics) and one whose
only source is ``kind = "msgraph"`` against the sandbox. The analyst views must agree; a
second Graph run is incremental and changes nothing; a mailbox that does not exist fails
alone and shows in ``runs``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from overlap import pipeline
from overlap.config import load_config
from sandbox import microsoft
from sandbox.generator import generate
from sandbox.plant_crm_time import HANDOFF_DAYS
from sandbox.seed import seed_from_config

WEEKS = [date(2026, 10, 26), date(2026, 11, 2), date(2026, 11, 9)]

INTERACTIONS = ("select interaction_id, kind, occurred_at, week_start, thread_id, message_id,"
                " ical_uid, original_start, ended_at, bulk_reason, cancelled, is_customer"
                " from interactions order by interaction_id")
PARTICIPANTS = ("select interaction_id, address, role, response, party, account_id, rep_email"
                " from interaction_participants order by all")
EVENTS = ("select interaction_id, kind, occurred_at, week_start, account_id, owner_email,"
          " rep_email, initiated_by, category, contact_emails, thread_id"
          " from overlap_events order by all")
WEEKLY = "select * from overlap_weekly order by all"


def _toml_value(v: Any) -> str:
    return json.dumps(v)  # strings and lists of strings: JSON is valid TOML here


def graph_config(org: Path, root: Path, sources: list[dict[str, Any]]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = ["[company]", 'internal_domains = ["corp.example"]', 'timezone = "Europe/Berlin"',
             "[crm]", f"accounts = {_toml_value(str(org / 'crm/accounts.csv'))}",
             f"reps = {_toml_value(str(org / 'crm/reps.csv'))}",
             f"contacts = {_toml_value(str(org / 'crm/contacts.csv'))}",
             f"approvals = {_toml_value(str(org / 'crm/approvals.csv'))}",
             f"ownership = {_toml_value(str(org / 'crm/ownership.csv'))}",
             "[warehouse]", 'path = "data/overlap.duckdb"', "[report]", 'out_dir = "out"',
             "[rules]", "dormant_days = 60", f"handoff_days = {HANDOFF_DAYS}"]
    for src in sources:
        lines.append("[[sources]]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in src.items())
    path = root / "overlap.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def views(warehouse: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {name: con.execute(sql).fetchall() for name, sql in
                (("interactions", INTERACTIONS), ("participants", PARTICIPANTS),
                 ("events", EVENTS), ("weekly", WEEKLY))}
    finally:
        con.close()


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("msgraph-e2e") / "org"
    generate(root, weeks=3, reps=12, accounts=6, emails_per_week=40, meetings_per_week=8)
    return root


@pytest.fixture(scope="module")
def sandbox(org: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[microsoft.MicrosoftSandbox]:
    seeds = seed_from_config(load_config(org / "overlap.toml"))
    # The app holds Mail.Read and the sources ask for reply headers (reply_headers = true):
    # the grant under which Graph gives everything the files give (docs/microsoft.md).
    with microsoft.start(seeds, secrets_dir=tmp_path_factory.mktemp("secrets"),
                         mail_read=True) as sb:
        yield sb


def test_graph_path_equals_file_path_and_reruns_incrementally(
        org: Path, sandbox: microsoft.MicrosoftSandbox, tmp_path: Path) -> None:
    file_cfg = load_config(org / "overlap.toml")
    pipeline.run(file_cfg, WEEKS, workers=1)
    mailboxes = sorted(seed_from_config(file_cfg))
    graph_cfg = load_config(graph_config(org, tmp_path / "graph", sandbox.sources(mailboxes)))
    first = pipeline.run(graph_cfg, WEEKS, workers=2)
    assert first.failed == []
    expected = views(file_cfg.warehouse)
    got = views(graph_cfg.warehouse)
    assert expected["events"], "the organisation must produce overlap events"
    for name in expected:
        assert got[name] == expected[name], name

    sandbox.reset_log()
    again = pipeline.run(graph_cfg, WEEKS, workers=2)
    assert again.failed == []
    assert views(graph_cfg.warehouse) == expected
    manifests = list((graph_cfg.staging_dir / "msgraph").rglob("*.manifest.json"))
    modes = {json.loads(p.read_text())["mode"] for p in manifests}
    assert "incremental" in modes
    # the rerun asked only for changes: one $batch per mailbox (delta links), nothing listed
    assert len(sandbox.graph_requests(None, lambda r: not r.in_batch)) == len(mailboxes)


def test_a_missing_mailbox_fails_alone_and_shows_in_runs(
        org: Path, sandbox: microsoft.MicrosoftSandbox, tmp_path: Path) -> None:
    file_cfg = load_config(org / "overlap.toml")
    mailboxes = sorted(seed_from_config(file_cfg))[:3] + ["ghost@corp.example"]
    cfg = load_config(graph_config(org, tmp_path / "ghost", sandbox.sources(mailboxes)))
    result = pipeline.run(cfg, WEEKS, workers=1)
    assert len(result.failed) == 1 and "ghost@corp.example" in result.failed[0]
    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    try:
        rows = con.execute("select mailbox, status, error from runs where scope = 'extract'"
                           " order by mailbox").fetchall()
        run_status = con.execute("select status from runs where scope = 'run'").fetchone()
    finally:
        con.close()
    by_box = {r[0]: r for r in rows}
    assert by_box["ghost@corp.example"][1] == "failed"
    assert "not found" in by_box["ghost@corp.example"][2]
    assert "ErrorInvalidUser" in by_box["ghost@corp.example"][2]
    assert all(by_box[m][1] == "succeeded" for m in mailboxes[:3])
    assert run_status == ("partial",)
    assert sandbox.secret not in json.dumps(rows, default=str)


def _without_thread(rows: list[tuple[Any, ...]], column: int) -> list[tuple[Any, ...]]:
    return sorted(r[:column] + r[column + 1:] for r in rows)


def test_with_mail_read_basic_only_only_thread_labels_differ(
        org: Path, tmp_path: Path) -> None:
    """DESIGN.md's grant (Mail.ReadBasic.All, the sandbox's default): a Sent Items copy has no
    In-Reply-To/References, so a reply that exists only in a rep's Sent Items is threaded by
    conversation — a different thread label, and nothing else changes."""
    file_cfg = load_config(org / "overlap.toml")
    pipeline.run(file_cfg, WEEKS, workers=1)
    seeds = seed_from_config(file_cfg)
    with microsoft.start(seeds, secrets_dir=tmp_path / "secrets") as sb:
        sources = sb.sources(sorted(seeds))
        assert "reply_headers" not in sources[0]
        graph_cfg = load_config(graph_config(org, tmp_path / "graph", sources))
        assert pipeline.run(graph_cfg, WEEKS, workers=2).failed == []
        # the connector never asked for the properties (the sandbox would have answered 403)
        assert not [r for r in sb.requests if r.status == 403]
    expected, got = views(file_cfg.warehouse), views(graph_cfg.warehouse)
    assert got["participants"] == expected["participants"]
    assert got["weekly"] == expected["weekly"]
    assert _without_thread(got["events"], 10) == _without_thread(expected["events"], 10)
    assert _without_thread(got["interactions"], 4) == _without_thread(expected["interactions"], 4)
    relabelled = set(got["interactions"]) - set(expected["interactions"])
    assert all(r[1] == "email" for r in relabelled)
    assert len(relabelled) <= 0.01 * len(expected["interactions"])
