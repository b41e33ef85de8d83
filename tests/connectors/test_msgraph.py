"""connectors.msgraph against the Microsoft sandbox over real HTTPS, with real msal + requests.

Nothing here mocks our own code: the sandbox on 127.0.0.1 is the only stand-in (for Entra ID
and Graph). A fast retry policy keeps fault tests quick; its ``sleep`` records the waits so
tests can check that Retry-After was honoured.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors import msgraph
from connectors.api import AuthError, SourceError, SyncRequest, SyncResult
from connectors.files import extract
from connectors.records import EmailCopy, MeetingCopy, Quarantined, Record, Window
from connectors.retry import RetryPolicy
from overlap.config import load_config
from sandbox import microsoft
from sandbox.generator import generate
from sandbox.seed import MailboxSeed, SeedMessage, seed_from_config

WINDOW = Window(datetime(2026, 8, 1, tzinfo=UTC), datetime(2026, 11, 16, tzinfo=UTC))


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("msgraph-org") / "org"
    generate(root, weeks=3, reps=12, accounts=4, emails_per_week=30, meetings_per_week=6)
    return root


@pytest.fixture(scope="module")
def seeds(org: Path) -> dict[str, MailboxSeed]:
    return seed_from_config(load_config(org / "overlap.toml"))


@pytest.fixture()
def sandbox(seeds: dict[str, MailboxSeed], tmp_path: Path) -> Iterator[microsoft.MicrosoftSandbox]:
    """The app holds Mail.Read; its sources ask for reply headers (``reply_headers``)."""
    with microsoft.start(seeds, secrets_dir=tmp_path / "secrets", retry_after=0.01,
                         mail_read=True) as sb:
        yield sb


class Waits:
    def __init__(self) -> None:
        self.delays: list[float] = []
        self._mu = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._mu:
            self.delays.append(seconds)
        threading.Event().wait(min(seconds, 0.05))


def options(sb: microsoft.MicrosoftSandbox, waits: Waits | None = None,
            **extra: Any) -> dict[str, Any]:
    opts = {k: v for k, v in sb.sources([])[0].items() if k not in ("kind", "name", "mailboxes")}
    opts["retry_policy"] = RetryPolicy(attempts=8, base=0.001, cap=0.05, sleep=waits or Waits())
    opts.update(extra)
    return opts


def run(sb: microsoft.MicrosoftSandbox, mailbox: str, *, cursor: str | None = None,
        window: Window = WINDOW, waits: Waits | None = None, **extra: Any) -> SyncResult:
    return msgraph.sync(SyncRequest("msgraph", "msgraph", mailbox, window, cursor=cursor,
                                    options=options(sb, waits, **extra)))


def key(r: Record) -> tuple[Any, ...]:
    """What identity, time, threads and rules see of a record (not copy ids or sources)."""
    if isinstance(r, EmailCopy):
        return ("email", r.message_id, r.occurred_at, r.thread_root, r.bulk_reason,
                tuple(sorted((p.address, p.role) for p in r.participants)))
    if isinstance(r, MeetingCopy):
        return ("meeting", r.ical_uid, r.original_start, r.occurred_at, r.ended_at, r.cancelled,
                tuple(sorted((p.address, p.role, p.response, p.is_resource)
                             for p in r.participants)))
    return ("quarantined", r.reason)


def file_records(org: Path, mailbox: str, window: Window = WINDOW) -> list[Record]:
    out: list[Record] = []
    for kind, root in (("maildir", "mail"), ("ics", "mail"), ("mbox", "mbox")):
        folder = org / root / mailbox
        if folder.is_dir():
            out.extend(extract(kind, folder, mailbox, window, source=kind))
    return out


def keys(records: list[Record]) -> list[tuple[Any, ...]]:
    return sorted(map(key, records), key=repr)


def as_graph_gives(files: list[Record], graph: list[Record], *,
                   reply_headers: bool = True) -> list[Record]:
    """The file path's records as Graph can give them: a Sent Items copy carries no
    internetMessageHeaders (microsoft-graph-docs #12726) — Graph's copy is dated by
    sentDateTime (``date_source`` provider) and has no bulk headers; the model takes those
    from the other copies of the Message-ID. Its time must still agree, and so must its
    thread root when In-Reply-To/References come from Exchange's MAPI properties
    (``reply_headers``, Mail.Read); without them it has none."""
    bare = {r.message_id for r in graph if isinstance(r, EmailCopy) and r.date_source == "provider"}
    cut: dict[str, Any] = {"bulk_reason": None}
    if not reply_headers:
        cut["thread_root"] = None
    return [replace(r, **cut)
            if isinstance(r, EmailCopy) and r.message_id in bare else r for r in files]


def busiest(seeds: dict[str, MailboxSeed]) -> str:
    return max(seeds, key=lambda m: (len(seeds[m].messages), m))


# --- equivalence -----------------------------------------------------------------------------

def test_with_mail_read_basic_only_sent_items_have_no_thread_root(
        org: Path, seeds: dict[str, MailboxSeed], tmp_path: Path) -> None:
    """DESIGN.md's grant (the sandbox's default): nothing asks for the properties, and a Sent
    Items copy keeps everything but its References/In-Reply-To."""
    mailbox = busiest(seeds)
    with microsoft.start(seeds, secrets_dir=tmp_path / "basic", retry_after=0.01) as sb:
        result = run(sb, mailbox)
        assert not [r for r in sb.requests if r.status == 403]
    bare = [r for r in result.records if isinstance(r, EmailCopy) and r.date_source == "provider"]
    assert bare and all(r.thread_root is None for r in bare)
    expected = as_graph_gives(file_records(org, mailbox), result.records, reply_headers=False)
    assert keys(result.records) == keys(expected)


def test_every_mailbox_equals_the_file_path(org: Path, seeds: dict[str, MailboxSeed],
                                            sandbox: microsoft.MicrosoftSandbox) -> None:
    total = 0
    for mailbox in seeds:
        result = run(sandbox, mailbox)
        assert result.mode == "window" and result.cursor
        expected = as_graph_gives(file_records(org, mailbox), result.records)
        assert keys(result.records) == keys(expected), mailbox
        total += len(result.records)
    assert total > 500  # the comparison covered real volume
    kinds = {type(r) for m in seeds for r in file_records(org, m)}
    assert {EmailCopy, MeetingCopy} <= kinds


def test_recurring_series_use_the_masters_uid_not_the_occurrences(
        seeds: dict[str, MailboxSeed], sandbox: microsoft.MicrosoftSandbox) -> None:
    for mailbox in seeds:
        box = sandbox.store.box(mailbox)
        occurrences = [e for e in box.events.values() if e.master_id]
        if occurrences:
            break
    else:
        pytest.skip("the generated organisation has no recurring meeting")
    ev = occurrences[0]
    assert ev.ical_uid != ev.occ.uid  # Graph's per-occurrence iCalUId differs
    result = run(sandbox, mailbox, window=Window(ev.occ.start - timedelta(days=1),
                                                 ev.occ.start + timedelta(days=1)))
    got = [r for r in result.records if isinstance(r, MeetingCopy) and r.copy_id == ev.id]
    assert got and got[0].ical_uid == ev.occ.uid
    assert got[0].original_start == ev.occ.original_start
    # the masters were read through $batch, not one GET each
    assert sandbox.graph_requests(None, lambda r: r.path == "/v1.0/$batch")
    assert sandbox.graph_requests(mailbox, lambda r: r.in_batch and "/events/" in r.path)


# --- incremental -----------------------------------------------------------------------------

NEW_HEAD = (b"Message-ID: <new-1@acme.example>\nDate: Tue, 10 Nov 2026 10:00:00 +0000\n"
            b"From: Ann Customer <ann@acme.example>\nTo: {mb}\nSubject: hi\n")


def test_incremental_fetches_only_changes(seeds: dict[str, MailboxSeed],
                                          sandbox: microsoft.MicrosoftSandbox) -> None:
    mailbox = busiest(seeds)
    first = run(sandbox, mailbox)
    emails = {r.copy_id for r in first.records if isinstance(r, EmailCopy)}
    meetings = {r.copy_id for r in first.records if isinstance(r, MeetingCopy)}
    box = sandbox.store.box(mailbox)
    inbox = sorted(i for i in emails if box.messages[i].folder == "inbox")
    sent = sorted(i for i in emails if box.messages[i].folder == "sentitems")
    assert inbox and sent and meetings

    new_id = sandbox.store.add_message(mailbox, NEW_HEAD.replace(b"{mb}", mailbox.encode()))
    sandbox.store.add_message(mailbox, NEW_HEAD.replace(b"new-1", b"draft-1").replace(
        b"{mb}", mailbox.encode()), folder="drafts", draft=True)
    sandbox.store.delete_message(mailbox, inbox[0])
    sandbox.store.move_message(mailbox, inbox[1], "archive")  # leaves the synced folders
    sandbox.store.move_message(mailbox, sent[0], "inbox")  # stays: same immutable id
    gone_event = sorted(meetings)[0]
    sandbox.store.delete_event(mailbox, gone_event)
    sandbox.reset_log()

    second = run(sandbox, mailbox, cursor=first.cursor)
    assert second.mode == "incremental"
    assert sorted(r.copy_id for r in second.records) == sorted([new_id, sent[0]])
    assert sorted(second.removed) == sorted([inbox[0], inbox[1], gone_event])
    # same window: one delta request per folder and one for the calendar, in one $batch
    assert len(sandbox.graph_requests(mailbox)) == 3
    assert second.stats.requests == 1

    third = run(sandbox, mailbox, cursor=second.cursor)
    assert third.mode == "incremental" and third.records == [] and third.removed == []


def test_incremental_with_a_later_window_lists_the_new_part(
        seeds: dict[str, MailboxSeed], sandbox: microsoft.MicrosoftSandbox, org: Path) -> None:
    mailbox = busiest(seeds)
    early = Window(WINDOW.start, datetime(2026, 11, 2, tzinfo=UTC))
    first = run(sandbox, mailbox, window=early)
    later = Window(WINDOW.start + timedelta(days=7), WINDOW.end)
    second = run(sandbox, mailbox, cursor=first.cursor, window=later)
    assert second.mode == "incremental" and second.removed == []
    # first + second hold exactly what a window sync of the union holds
    merged = {r.copy_id: r for r in [*first.records, *second.records]}
    full = run(sandbox, mailbox, window=Window(WINDOW.start, WINDOW.end))
    assert keys(list(merged.values())) == keys(full.records)


def test_expired_delta_tokens_fall_back_to_a_window_sync(
        seeds: dict[str, MailboxSeed], sandbox: microsoft.MicrosoftSandbox) -> None:
    mailbox = busiest(seeds)
    first = run(sandbox, mailbox)
    sandbox.expire_delta_tokens(mailbox)
    second = run(sandbox, mailbox, cursor=first.cursor)
    assert second.mode == "window"
    assert keys(second.records) == keys(first.records)
    assert sandbox.graph_requests(mailbox, lambda r: r.status == 410)
    assert run(sandbox, mailbox, cursor=second.cursor).mode == "incremental"


# --- faults ----------------------------------------------------------------------------------

def test_429_honours_retry_after(seeds: dict[str, MailboxSeed],
                                 sandbox: microsoft.MicrosoftSandbox) -> None:
    mailbox = busiest(seeds)
    baseline = run(sandbox, mailbox)
    sandbox.inject(429, times=2, match="mailFolders/inbox", retry_after=0.03,
                   code="ApplicationThrottled")
    waits = Waits()
    result = run(sandbox, mailbox, waits=waits)
    assert keys(result.records) == keys(baseline.records)
    assert waits.delays.count(0.03) == 2 and result.stats.retries == 2


def test_5xx_bursts_and_throttled_batch_parts_lose_nothing(
        seeds: dict[str, MailboxSeed], sandbox: microsoft.MicrosoftSandbox) -> None:
    mailbox = busiest(seeds)
    baseline = run(sandbox, mailbox)
    sandbox.inject(503, times=3)
    sandbox.inject(500, times=1, match="calendarView")
    sandbox.inject(504, times=1, match="mailFolders/sentitems")
    sandbox.inject(429, times=2, match="/events/", retry_after=0.01)  # parts inside $batch
    result = run(sandbox, mailbox)
    assert keys(result.records) == keys(baseline.records)
    assert result.stats.retries >= 4


def test_more_than_four_concurrent_requests_are_refused(
        seeds: dict[str, MailboxSeed], sandbox: microsoft.MicrosoftSandbox) -> None:
    mailbox = busiest(seeds)
    opts = options(sandbox)
    token = requests.post(f"{sandbox.authority}/oauth2/v2.0/token", verify=str(sandbox.ca_file),
                          data={"grant_type": "client_credentials", "client_id": sandbox.client_id,
                                "client_secret": sandbox.secret,
                                "scope": "https://graph.microsoft.com/.default"}).json()
    sandbox.latency = 0.3
    statuses: list[requests.Response] = []

    def hit() -> None:
        statuses.append(requests.get(
            f"{opts['endpoint']}/users/{mailbox}/messages?$top=1&$select=id",
            headers={"Authorization": f"Bearer {token['access_token']}"},
            verify=str(sandbox.ca_file)))

    threads = [threading.Thread(target=hit) for _ in range(7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    refused = [r for r in statuses if r.status_code == 429]
    assert len([r for r in statuses if r.status_code == 200]) == 4 and len(refused) == 3
    assert refused[0].json()["error"]["code"] == "ApplicationThrottled"
    assert "MailboxConcurrency" in refused[0].json()["error"]["message"]
    assert refused[0].headers["Retry-After"]


def test_concurrency_refusals_are_retried(seeds: dict[str, MailboxSeed],
                                          sandbox: microsoft.MicrosoftSandbox) -> None:
    mailbox = busiest(seeds)
    baseline = run(sandbox, mailbox)
    # A stricter server (or another app's traffic) than our own 4-in-flight cap:
    sandbox.mailbox_concurrency, sandbox.latency = 2, 0.02
    patient = RetryPolicy(attempts=30, base=0.001, cap=0.05, sleep=Waits())
    # many pages, followed in parallel: more than 2 in flight at times
    result = run(sandbox, mailbox, page_size=10, retry_policy=patient)
    assert keys(result.records) == keys(baseline.records)
    assert sandbox.graph_requests(mailbox, lambda r: r.status == 429)
    assert result.stats.retries >= 1


def test_an_access_token_expiring_mid_run_is_renewed(
        seeds: dict[str, MailboxSeed], sandbox: microsoft.MicrosoftSandbox) -> None:
    mailbox = busiest(seeds)
    first = run(sandbox, mailbox)
    token_calls = len([r for r in sandbox.requests if r.path.endswith("/token")])
    sandbox.expire_tokens()  # msal still holds the token as valid for an hour
    second = run(sandbox, mailbox, cursor=first.cursor)
    assert second.mode == "incremental"
    assert len([r for r in sandbox.requests if r.path.endswith("/token")]) == token_calls + 1
    assert sandbox.graph_requests(None, lambda r: r.status == 401)


def test_the_token_is_reused_while_valid(seeds: dict[str, MailboxSeed],
                                         sandbox: microsoft.MicrosoftSandbox) -> None:
    for mailbox in sorted(seeds)[:3]:
        run(sandbox, mailbox)
    assert len([r for r in sandbox.requests if r.path.endswith("/token")]) <= 1


def test_a_mailbox_that_does_not_exist_fails_clearly(sandbox: microsoft.MicrosoftSandbox) -> None:
    with pytest.raises(SourceError, match=r"mailbox 'ghost@corp.example' not found.*ErrorInvalidUser"):
        run(sandbox, "ghost@corp.example")


def test_ca_file_wins_over_requests_ca_bundle_and_is_required(
        seeds: dict[str, MailboxSeed], sandbox: microsoft.MicrosoftSandbox,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # These machines set REQUESTS_CA_BUNDLE, which overrides a requests session's verify=.
    import certifi

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    monkeypatch.setenv("CURL_CA_BUNDLE", certifi.where())
    mailbox = busiest(seeds)
    assert run(sandbox, mailbox).records  # ca_file still decides
    # Without ca_file the system bundle decides and does not know the sandbox CA: the
    # failure is immediate and says what to do, it is not retried as transient.
    with pytest.raises(AuthError, match="TLS verification.*ca_file"):
        run(sandbox, mailbox, ca_file=None)


# --- auth errors and secrets -----------------------------------------------------------------

def test_bad_secret_and_unknown_client_name_tenant_and_client(
        seeds: dict[str, MailboxSeed], sandbox: microsoft.MicrosoftSandbox, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = tmp_path / "wrong-secret"
    wrong.write_text("not-the-secret-XYZ123")
    with pytest.raises(AuthError) as bad:
        run(sandbox, busiest(seeds), client_secret_file=str(wrong))
    text = str(bad.value)
    assert "AADSTS7000215" in text and sandbox.tenant_id in text and sandbox.client_id in text
    assert "not-the-secret-XYZ123" not in text
    with pytest.raises(AuthError, match="AADSTS700016") as unknown:
        run(sandbox, busiest(seeds), client_id="22222222-0000-0000-0000-000000000000")
    assert "22222222-0000-0000-0000-000000000000" in str(unknown.value)
    assert "not-the-secret-XYZ123" not in caplog.text


def test_secret_from_environment_and_missing_secret(
        seeds: dict[str, MailboxSeed], sandbox: microsoft.MicrosoftSandbox,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_GRAPH_SECRET", sandbox.secret)
    opts = options(sandbox, client_secret_env="MY_GRAPH_SECRET")
    opts.pop("client_secret_file")
    result = msgraph.sync(SyncRequest("msgraph", "msgraph", busiest(seeds), WINDOW, options=opts))
    assert result.records
    opts["client_secret_env"] = "UNSET_GRAPH_SECRET"
    with pytest.raises(AuthError, match="UNSET_GRAPH_SECRET"):
        msgraph.sync(SyncRequest("msgraph", "msgraph", busiest(seeds), WINDOW, options=opts))


def test_airflow_credentials_dict_wins_over_options(
        seeds: dict[str, MailboxSeed], sandbox: microsoft.MicrosoftSandbox) -> None:
    opts = options(sandbox)
    opts.pop("client_secret_file")
    creds = {"tenant_id": sandbox.tenant_id, "client_id": sandbox.client_id,
             "client_secret": sandbox.secret, "authority": sandbox.authority}
    result = msgraph.sync(SyncRequest("msgraph", "msgraph", busiest(seeds), WINDOW,
                                      options=opts, credentials=creds))
    assert result.records


def test_secrets_and_tokens_never_reach_logs_or_errors(
        seeds: dict[str, MailboxSeed], sandbox: microsoft.MicrosoftSandbox,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: ours, msal, urllib3
    mailbox = busiest(seeds)
    first = run(sandbox, mailbox)
    sandbox.inject(429, times=1, retry_after=0.01)
    sandbox.expire_tokens()
    run(sandbox, mailbox, cursor=first.cursor)
    errors = []
    for bad in ({"client_id": "33333333-0000-0000-0000-000000000000"}, {}):
        try:
            run(sandbox, "ghost@corp.example", **bad)
        except SourceError as exc:
            errors.append(str(exc))
    tokens = list(sandbox._tokens)
    assert tokens and caplog.records
    for secret in [sandbox.secret, *tokens]:
        assert secret not in caplog.text
        assert all(secret not in e for e in errors)
        assert secret not in (first.cursor or "")


# --- efficiency ------------------------------------------------------------------------------

def _bulk_seed(mailbox: str, n_in: int, n_sent: int) -> dict[str, MailboxSeed]:
    base = datetime(2026, 10, 1, tzinfo=UTC)
    msgs = []
    for i in range(n_in + n_sent):
        sent = i >= n_in
        when = base + timedelta(minutes=7 * i)
        frm, to = (mailbox, "ann@acme.example") if sent else ("ann@acme.example", mailbox)
        head = (f"Message-ID: <bulk-{i}@x.example>\nDate: {when:%a, %d %b %Y %H:%M:%S} +0000\n"
                f"From: {frm}\nTo: {to}\n").encode()
        msgs.append(SeedMessage(f"eml:{i}.eml", head, when, sent))
    return {mailbox: MailboxSeed(mailbox, msgs)}


@pytest.mark.parametrize(("n_in", "n_sent"), [(1500, 1000), (999, 2), (0, 0)])
def test_a_window_of_n_messages_costs_at_most_n_over_1000_plus_one(
        tmp_path: Path, n_in: int, n_sent: int) -> None:
    mailbox = "rep@corp.example"
    with microsoft.start(_bulk_seed(mailbox, n_in, n_sent), secrets_dir=tmp_path) as sb:
        result = run(sb, mailbox, streams="mail")
        assert len(result.records) == n_in + n_sent
        # HTTP requests sent (a $batch counts once), mail only
        assert result.stats.requests <= math.ceil((n_in + n_sent) / 1000) + 1 + result.stats.retries
        assert len(sb.graph_requests(mailbox, lambda r: "/messages" in r.path)) >= 2
        again = run(sb, mailbox, cursor=result.cursor, streams="mail")
        assert again.records == [] and again.stats.requests == 1  # both folders in one $batch


def test_only_mail_or_only_calendar(seeds: dict[str, MailboxSeed],
                                    sandbox: microsoft.MicrosoftSandbox) -> None:
    mailbox = busiest(seeds)
    mail = run(sandbox, mailbox, streams="mail")
    cal = run(sandbox, mailbox, streams=["calendar"])
    assert mail.records and all(isinstance(r, EmailCopy) for r in mail.records)
    assert cal.records and all(isinstance(r, MeetingCopy | Quarantined) for r in cal.records)
    with pytest.raises(SourceError, match="page_size"):
        run(sandbox, mailbox, page_size=5000)


def test_truncated_and_dropped_responses_are_retried_not_read_as_short_pages(
        seeds: dict[str, MailboxSeed], sandbox: microsoft.MicrosoftSandbox) -> None:
    mailbox = busiest(seeds)
    baseline = run(sandbox, mailbox, page_size=10)  # many pages: many requests to cut
    chaos = sandbox.chaos(0.3, seed=5, kinds=("truncate", "drop"))
    result = run(sandbox, mailbox, page_size=10)
    assert chaos.injected["truncate"] >= 1 and chaos.injected["drop"] >= 1, chaos.injected
    assert keys(result.records) == keys(baseline.records)
    assert result.stats.retries >= 1
