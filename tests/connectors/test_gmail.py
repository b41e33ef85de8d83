"""Gmail connector against the Google sandbox over real HTTP (real google-api-python-client
and google-auth code): window sync, efficiency, incremental, faults, cursors, secrets."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors import gmail
from connectors.api import AuthError, SyncRequest, SyncResult
from connectors.records import EmailCopy, Window
from sandbox import google
from sandbox.google import Fault, GoogleSandbox
from sandbox.google_seed import mail_seed, message_head

REP = "rep@corp.example"
OTHER = "other@corp.example"
WINDOW = Window(datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 16, tzinfo=UTC))
FAST = {"retry_base_seconds": 0.01, "retry_cap_seconds": 0.2}


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[GoogleSandbox]:
    seeds = {REP: mail_seed(REP, 120, WINDOW.start, WINDOW.end),
             OTHER: mail_seed(OTHER, 10, WINDOW.start, WINDOW.end)}
    with google.start(seeds, secrets_dir=tmp_path / "secrets") as sb:
        yield sb


def request(sb: GoogleSandbox, mailbox: str = REP, cursor: str | None = None,
            window: Window = WINDOW, **options: Any) -> SyncRequest:
    opts = {**sb.sources([mailbox])[0], **FAST, **options}
    return SyncRequest("gmail", "gmail", mailbox, window, cursor=cursor, options=opts)


def ids(result: SyncResult) -> list[str]:
    return sorted(r.copy_id for r in result.records)


def listed(sb: GoogleSandbox, mailbox: str = REP) -> int:
    """How many messages messages.list shows (includeSpamTrash=false). With Gmail's real
    shapes the mailbox also holds drafts and chats — listed, fetched, skipped by label — and
    spam and trash, which the listing leaves out."""
    return sum(1 for m in sb.mailboxes[mailbox].messages.values()
               if not {"SPAM", "TRASH"} & set(m.label_ids))


def test_window_sync_reads_every_message_in_the_window(sandbox: GoogleSandbox) -> None:
    result = gmail.sync(request(sandbox))
    assert result.mode == "window"
    assert len(result.records) == 120 and len(set(ids(result))) == 120
    first = min((r for r in result.records if isinstance(r, EmailCopy)),
                key=lambda r: r.occurred_at)
    assert first.message_id == f"m0.{REP}" and first.date_source == "header"
    assert [p.address for p in first.participants] == [REP, "buyer@acme.example"]
    assert first.subject is None  # subjects not asked for: the header is not even requested
    assert first.provider_thread_id


@pytest.mark.parametrize("n", [1, 499, 500, 501, 1234])
def test_efficiency_list_and_batch_calls(tmp_path: Path, n: int) -> None:
    seeds = {REP: mail_seed(REP, n, WINDOW.start, WINDOW.end)}
    # Quota out of the way: 1,234 gets are 6,170 units, more than a minute's worth.
    with google.start(seeds, secrets_dir=tmp_path, quota_units_per_minute=None) as sb:
        result = gmail.sync(request(sb, quota_units_per_minute=10**6))
        assert len(result.records) == n
        shown = listed(sb)
        assert sb.counts["gmail.messages.list"] <= math.ceil(shown / 500)
        assert sb.counts["batch"] <= math.ceil(shown / 50)
        assert sb.counts["gmail.messages.get"] == shown
        assert result.stats.retries == 0
        assert result.stats.requests == 1 + sb.counts["gmail.messages.list"] + sb.counts["batch"]


def test_listing_stops_after_the_first_page_older_than_the_window(tmp_path: Path) -> None:
    old = mail_seed(REP, 1500, WINDOW.start - timedelta(days=400), WINDOW.start - timedelta(days=3))
    new = mail_seed(REP, 100, WINDOW.start, WINDOW.end)
    for i, m in enumerate(new.messages):
        old.messages.append(type(m)(f"new:{i}", message_head(10_000 + i, REP, m.internal_date),
                                    m.internal_date, True))
    with google.start({REP: old}, secrets_dir=tmp_path) as sb:
        result = gmail.sync(request(sb))
        assert len(result.records) == 100
        # Page 1 mixes new and old mail; page 2 is wholly older than the window: stop there.
        assert sb.counts["gmail.messages.list"] == 2
        assert sb.counts["gmail.messages.get"] == 1000


def test_incremental_fetches_exactly_the_new_messages(sandbox: GoogleSandbox) -> None:
    first = gmail.sync(request(sandbox))
    gone = first.records[0].copy_id
    added = [sandbox.add_message(REP, message_head(900 + i, REP, WINDOW.start + timedelta(days=3)))
             for i in range(3)]
    sandbox.delete_message(REP, gone)
    before = dict(sandbox.counts)
    second = gmail.sync(request(sandbox, cursor=first.cursor))
    delta = {k: v - before.get(k, 0) for k, v in sandbox.counts.items() if v != before.get(k, 0)}
    assert second.mode == "incremental"
    assert ids(second) == sorted(added)
    assert second.removed == [gone]
    assert delta == {"token": 1, "gmail.history.list": 1, "batch": 1, "gmail.messages.get": 3}
    third = gmail.sync(request(sandbox, cursor=second.cursor))
    assert third.records == [] and third.removed == []


def test_mail_dated_after_the_window_waits_in_the_cursor(sandbox: GoogleSandbox) -> None:
    late = sandbox.add_message(REP, message_head(777, REP, WINDOW.end + timedelta(hours=3)))
    first = gmail.sync(request(sandbox))
    assert late not in ids(first) and late in (first.cursor or "")
    later = Window(WINDOW.start + timedelta(days=7), WINDOW.end + timedelta(days=7))
    second = gmail.sync(request(sandbox, cursor=first.cursor, window=later))
    assert second.mode == "incremental" and ids(second) == [late]


def test_expired_history_falls_back_to_a_window_sync(sandbox: GoogleSandbox) -> None:
    first = gmail.sync(request(sandbox))
    sandbox.expire_history(REP)
    second = gmail.sync(request(sandbox, cursor=first.cursor))
    assert second.mode == "window" and ids(second) == ids(first)


def test_faults_are_survived_with_nothing_lost_or_duplicated(sandbox: GoogleSandbox) -> None:
    clean = ids(gmail.sync(request(sandbox)))
    sandbox.inject(Fault("gmail.messages.get", status=503, times=7))
    sandbox.inject(Fault("gmail.messages.get", status=429, times=3, retry_after=0.05))
    sandbox.inject(Fault("gmail.messages.get", status=403, times=2))  # userRateLimitExceeded
    sandbox.inject(Fault("batch", status=500, times=2))
    sandbox.inject(Fault("gmail.messages.list", status=429, times=1, retry_after=0.05))
    sandbox.inject(Fault("gmail.profile", status=502, times=1))
    sandbox.inject(Fault("gmail.messages.get", status=0, delay=0.3, times=1))  # slow
    result = gmail.sync(request(sandbox))
    assert ids(result) == clean
    assert result.stats.retries >= 7 + 3 + 2 + 2 + 1 + 1


def test_a_timeout_is_retried(sandbox: GoogleSandbox) -> None:
    sandbox.inject(Fault("gmail.profile", status=0, delay=1.0, times=1))
    result = gmail.sync(request(sandbox, timeout_seconds=0.3))
    assert len(result.records) == 120 and result.stats.retries >= 1


@pytest.mark.parametrize("status", [429, 403])
def test_quota_exhaustion_is_survived(tmp_path: Path, status: int) -> None:
    seeds = {REP: mail_seed(REP, 150, WINDOW.start, WINDOW.end)}
    with google.start(seeds, secrets_dir=tmp_path, quota_units_per_minute=400,
                      quota_status=status) as sb:
        sb.quota_window_seconds = 0.5
        result = gmail.sync(request(sb, retry_attempts=12))
        assert len({r.copy_id for r in result.records}) == 150
        assert sb.quota_rejections > 0 and result.stats.retries > 0


def test_pacing_to_the_quota_avoids_rejections(tmp_path: Path) -> None:
    seeds = {REP: mail_seed(REP, 150, WINDOW.start, WINDOW.end)}
    with google.start(seeds, secrets_dir=tmp_path, quota_units_per_minute=400) as sb:
        sb.quota_window_seconds = 0.5
        result = gmail.sync(request(sb, quota_units_per_minute=400, quota_window_seconds=0.5))
        assert len(result.records) == 150
        assert sb.quota_rejections == 0 and result.stats.retries == 0


def test_a_sync_right_after_another_counts_what_that_one_spent(tmp_path: Path) -> None:
    seeds = {REP: mail_seed(REP, 150, WINDOW.start, WINDOW.end)}  # 756 units
    with google.start(seeds, secrets_dir=tmp_path, quota_units_per_minute=400) as sb:
        sb.quota_window_seconds = 0.5
        opts = {"quota_units_per_minute": 400, "quota_window_seconds": 0.5}
        first = gmail.sync(request(sb, **opts))
        for i in range(60):  # 300 units more, at once: the first sync's last window is full
            sb.add_message(REP, message_head(500 + i, REP, WINDOW.start + timedelta(days=1)))
        second = gmail.sync(request(sb, cursor=first.cursor, **opts))
        assert len(second.records) == 60
        assert sb.quota_rejections == 0 and second.stats.retries == 0


def test_mailboxes_synced_in_threads_share_the_app_wide_quota(tmp_path: Path) -> None:
    boxes = [f"rep{i}@corp.example" for i in range(4)]
    seeds = {m: mail_seed(m, 60, WINDOW.start, WINDOW.end) for m in boxes}
    with google.start(seeds, secrets_dir=tmp_path, quota_units_per_minute=None,
                      project_quota_units_per_minute=400, quota_window_seconds=0.5) as sb:
        opts = {"quota_window_seconds": 0.5, "project_quota_units_per_minute": 400}
        start = time.monotonic()
        with ThreadPoolExecutor(len(boxes)) as pool:
            results = list(pool.map(lambda m: gmail.sync(request(sb, m, **opts)), boxes))
        # 4 x 306 units, three windows' worth: paced together, nothing refused.
        assert [len(r.records) for r in results] == [60] * 4
        assert time.monotonic() - start >= 1.0
        assert sb.project_quota_rejections == 0 and sum(r.stats.retries for r in results) == 0


def test_the_metadata_scope_rules_are_enforced(sandbox: GoogleSandbox) -> None:
    from googleapiclient.errors import HttpError

    from connectors.google_auth import GMAIL_SCOPE, build_service, delegated_credentials, key_info

    req = request(sandbox)
    creds = delegated_credentials(key_info(req), REP, GMAIL_SCOPE)
    service = build_service("gmail", "v1", creds, sandbox.url, 10)
    with pytest.raises(HttpError) as q:
        service.users().messages().list(userId="me", q="from:x").execute()
    assert q.value.resp.status == 403 and "does not support 'q'" in str(q.value)
    first = service.users().messages().list(userId="me", maxResults=5000).execute()
    assert len(first["messages"]) == listed(sandbox)  # capped at 500, not refused
    with pytest.raises(HttpError) as full:
        service.users().messages().get(userId="me", id=first["messages"][0]["id"]).execute()
    assert full.value.resp.status == 403


def test_unknown_mailbox_fails_clearly_and_secrets_stay_out_of_logs(
        sandbox: GoogleSandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ok = gmail.sync(request(sandbox))
    assert ok.records
    with pytest.raises(AuthError) as err:
        gmail.sync(request(sandbox, mailbox="stranger@corp.example"))
    assert "Invalid email or User ID" in str(err.value)
    key = sandbox.key_file.read_text(encoding="utf-8")
    import json

    private = json.loads(key)["private_key"]
    body = private.splitlines()[3]  # a line of the key's base64 body
    tokens = list(sandbox._grants)
    assert tokens
    text = caplog.text + str(err.value) + repr(err.value)
    assert body not in text and "PRIVATE KEY" not in text
    for token in tokens:
        assert token not in text


def test_missing_key_is_a_clear_error(sandbox: GoogleSandbox, monkeypatch: pytest.MonkeyPatch
                                      ) -> None:
    monkeypatch.delenv("OVERLAP_GOOGLE_KEY_FILE", raising=False)
    req = SyncRequest("gmail", "gmail", REP, WINDOW, options={"endpoint": sandbox.url})
    with pytest.raises(AuthError, match="OVERLAP_GOOGLE_KEY_FILE"):
        gmail.sync(req)
    monkeypatch.setenv("OVERLAP_GOOGLE_KEY_FILE", str(sandbox.key_file))
    assert len(gmail.sync(SyncRequest("gmail", "gmail", REP, WINDOW,
                                      options={"endpoint": sandbox.url})).records) == 120


def test_truncated_and_dropped_responses_are_retried(sandbox: GoogleSandbox) -> None:
    clean = ids(gmail.sync(request(sandbox)))
    chaos = sandbox.chaos(0.3, seed=3, kinds=("truncate", "drop"))
    result = gmail.sync(request(sandbox, batch_size=10))
    assert chaos.injected["truncate"] >= 1 and chaos.injected["drop"] >= 1, chaos.injected
    assert ids(result) == clean
