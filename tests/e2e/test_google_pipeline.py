"""The whole pipeline through the Google sandbox: the Gmail + Calendar path gives the same
interactions and overlap events as the file path on the same seed; a mailbox unknown to the
tenant fails alone and shows in `runs`; a second run is incremental and duplicates nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from overlap.config import Config, load_config
from overlap.pipeline import run
from sandbox import google
from sandbox.generator import GeneratedOrg, generate
from sandbox.google import GoogleSandbox
from sandbox.google_seed import message_head
from sandbox.seed import seed_from_config
from sandbox.serve import write_sandbox_config

FAST = {"retry_base_seconds": 0.01, "retry_cap_seconds": 0.2}


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> GeneratedOrg:
    return generate(tmp_path_factory.mktemp("org") / "org", weeks=3, accounts=6,
                    emails_per_week=80, meetings_per_week=12)


@pytest.fixture
def served(org: GeneratedOrg, tmp_path: Path) -> Iterator[tuple[GoogleSandbox, Config]]:
    file_config = load_config(org.config_path)
    seeds = seed_from_config(file_config)
    with google.start(seeds, secrets_dir=tmp_path / "secrets") as sb:
        sources = [{**s, **FAST} for s in sb.sources(sorted(seeds))]
        path = write_sandbox_config(file_config, sources, tmp_path / "sandbox.toml")
        yield sb, load_config(path)


def rows(db: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return sorted(con.execute(sql, params or []).fetchall(), key=repr)
    finally:
        con.close()


INTERACTIONS = ("select interaction_id, kind, occurred_at, week_start, thread_id, copies,"
                " message_id, ical_uid, original_start, ended_at, bulk_reason, cancelled,"
                " is_customer from interactions")
PARTICIPANTS = ("select interaction_id, address, role, response, party, account_id, rep_email"
                " from interaction_participants")
EVENTS = "select * exclude (thread_id) from overlap_events"


def test_the_api_path_equals_the_file_path(org: GeneratedOrg, served: tuple[GoogleSandbox,
                                                                          Config]) -> None:
    _, api_config = served
    file_config = load_config(org.config_path)
    run(file_config, list(org.weeks), workers=2)
    result = run(api_config, list(org.weeks), workers=2)
    assert not result.failed
    assert api_config.snapshot != file_config.snapshot
    for sql in (INTERACTIONS, PARTICIPANTS, EVENTS, "select thread_id from overlap_events"):
        via_files = rows(file_config.snapshot, sql)
        via_api = rows(api_config.snapshot, sql)
        assert via_api == via_files, sql
    assert len(rows(api_config.snapshot, EVENTS)) > 10
    sources = rows(api_config.snapshot, "select distinct source_kind from raw_copies")
    assert sources == [("gmail",), ("google_calendar",)]


def test_second_run_is_incremental_and_duplicates_nothing(
        org: GeneratedOrg, served: tuple[GoogleSandbox, Config]) -> None:
    sb, config = served
    run(config, list(org.weeks), workers=1)
    before_rows = rows(config.warehouse, "select count(*) from raw_copies")[0][0]
    box = sorted(sb.mailboxes)[0]
    when = org.weeks[-1] + timedelta(days=2)
    from datetime import UTC, datetime

    moment = datetime(when.year, when.month, when.day, 10, tzinfo=UTC)
    new_id = sb.add_message(box, message_head(1, box, moment, to="someone@acme.example"))
    before = dict(sb.counts)
    run(config, list(org.weeks), workers=1)
    delta = {k: v - before.get(k, 0) for k, v in sb.counts.items() if v != before.get(k, 0)}
    mailboxes = len(sb.mailboxes)
    # One token per mailbox and source, one history.list / events.list each, one batch with
    # the one new message; no listing, no profile.
    assert delta == {"token": 2 * mailboxes, "gmail.history.list": mailboxes,
                     "calendar.events.list": mailboxes, "batch": 1, "gmail.messages.get": 1}
    after_rows = rows(config.warehouse, "select count(*) from raw_copies")[0][0]
    assert after_rows == before_rows + 1
    assert rows(config.warehouse, "select count(*) from raw_copies where copy_id = ?",
                [new_id]) == [(1,)]
    dupes = rows(config.warehouse, "select source, mailbox, copy_id, count(*) from raw_copies"
                                   " group by all having count(*) > 1")
    assert dupes == []


def test_unknown_mailbox_fails_alone_and_runs_shows_it(
        org: GeneratedOrg, served: tuple[GoogleSandbox, Config], tmp_path: Path) -> None:
    sb, config = served
    known = sorted(sb.mailboxes)[:2]
    sources = [{**s, **FAST, "mailboxes": [*known, "ghost@corp.example"]}
               for s in sb.sources(known)]
    path = write_sandbox_config(load_config(org.config_path), sources, tmp_path / "ghost.toml",
                                suffix="-ghost")
    ghost_config = load_config(path)
    result = run(ghost_config, list(org.weeks), workers=1)
    assert len(result.failed) == 2  # gmail and google_calendar for the ghost
    assert all("ghost@corp.example" in f and "Invalid email or User ID" in f
               for f in result.failed)
    status = rows(ghost_config.snapshot, "select source, mailbox, status, error from runs"
                                         " where scope = 'extract'")
    assert {(s, m, st) for s, m, st, _ in status} == {
        (src, m, "succeeded" if m in known else "failed")
        for src in ("gmail", "google_calendar") for m in [*known, "ghost@corp.example"]}
    assert rows(ghost_config.snapshot, "select count(*) from raw_copies")[0][0] > 0
