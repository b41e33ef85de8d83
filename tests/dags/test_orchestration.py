"""The helpers behind the DAG's tasks, without Airflow."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from overlap import connections as conns_mod
from overlap import digests as dig
from overlap import orchestration as orch
from overlap.config import load_config
from overlap.errors import InputError
from overlap.fileio import write_json
from overlap.pipeline import ExtractOutcome, ExtractTask, RunPlan

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(("param", "start", "end", "run_after", "week"), [
    ("2026-11-16", None, None, None, date(2026, 11, 16)),
    ("2026-W47", None, None, None, date(2026, 11, 16)),
    # a scheduled Monday 06:00 run covers the week that just ended
    (None, datetime(2026, 11, 16, 5, tzinfo=UTC), datetime(2026, 11, 23, 5, tzinfo=UTC), None,
     date(2026, 11, 16)),
    # a manual run without logical date: the last full week before run_after
    (None, None, None, datetime(2026, 11, 25, 12, tzinfo=UTC), date(2026, 11, 16)),
    # an empty data interval (a bare cron timetable) is not a week
    (None, datetime(2026, 11, 23, 5, tzinfo=UTC), datetime(2026, 11, 23, 5, tzinfo=UTC),
     datetime(2026, 11, 30, 5, tzinfo=UTC), date(2026, 11, 23)),
])
def test_resolve_weeks(param: str | None, start: datetime | None, end: datetime | None,
                       run_after: datetime | None, week: date) -> None:
    assert orch.resolve_weeks(param, data_interval_start=start, data_interval_end=end,
                              run_after=run_after, tz=BERLIN) == [week]


@pytest.mark.parametrize("param", ["2026-11-18", "2026-11-22", " 2026-11-16 ", "2026-W47"])
def test_week_param_is_any_day_of_the_week(param: str) -> None:
    assert orch.resolve_weeks(param, data_interval_start=None, data_interval_end=None,
                              run_after=None, tz=BERLIN) == [date(2026, 11, 16)]


@pytest.mark.parametrize("param", ["last week", "2026-11-31", "2026-W60", "16.11.2026"])
def test_bad_week_param_names_the_form_field(param: str) -> None:
    with pytest.raises(InputError) as caught:
        orch.resolve_weeks(param, data_interval_start=None, data_interval_end=None,
                           run_after=None, tz=BERLIN)
    message = str(caught.value)
    assert message.startswith('trigger form field "Week" (week_start): '), message
    assert "--week" not in message and "2026-W47" in message


def test_form_values_are_checked_with_readable_errors(tmp_path: Path) -> None:
    from tests.e2e.tinyorg import write_org

    config = load_config(write_org(tmp_path / "org", messages={"rep@corp.example": []}))
    assert orch.check_sources(config, None) is None and orch.check_sources(config, [""]) is None
    assert orch.check_sources(config, ["maildir"]) == ["maildir"]
    with pytest.raises(InputError, match='"Only these sources" .*\'gmial\'.*its sources: maildir'):
        orch.check_sources(config, ["gmial"])
    assert orch.check_mailbox_params([" Rep@Corp.Example "]) == ["rep@corp.example"]
    assert orch.check_mailbox_params([]) is None
    with pytest.raises(InputError, match='"Only these mailboxes" .*not an email address'):
        orch.check_mailbox_params(["rep at corp"])
    with pytest.raises(InputError, match='"Only these mailboxes" .*x@corp.example'):
        orch.check_mailboxes(_plan([_task("rep@corp.example")]), ["x@corp.example"])
    # rule 10: the CRM's stamp; empty = the load's own time
    assert orch.check_crm_as_of(None, config.tz) is None
    assert orch.check_crm_as_of(" ", config.tz) is None
    assert orch.check_crm_as_of("2026-11-18", config.tz) == "2026-11-18T00:00:00+00:00"
    assert orch.check_crm_as_of("2026-11-18T09:00:00+01:00", config.tz) == (
        "2026-11-18T08:00:00+00:00")
    with pytest.raises(InputError, match='"CRM exported at" .*\'last week\''):
        orch.check_crm_as_of("last week", config.tz)


def test_run_label_and_plan_guard() -> None:
    assert orch.run_label([date(2026, 11, 16)]) == "Week 2026-W47 (Mon 16 Nov – Sun 22 Nov 2026)"
    with pytest.raises(InputError, match="plan task did not succeed"):
        orch.require_plan(None, "load")
    assert orch.require_plan({"plan": "/p"}, "load") == {"plan": "/p"}


def _task(mailbox: str, kind: str = "maildir", source: str | None = None) -> ExtractTask:
    w = datetime(2026, 11, 16, tzinfo=UTC)
    return ExtractTask(source or kind, kind, mailbox, None, w, w, "drop", "/tmp/staging")


def _plan(tasks: list[ExtractTask]) -> RunPlan:
    w = datetime(2026, 11, 16, tzinfo=UTC)
    return RunPlan("r1", w, [date(2026, 11, 16)], w, w, tasks)


def test_chunks_one_per_mailbox_then_ranges() -> None:
    small = _plan([_task("b@x.example"), _task("a@x.example"),
                   _task("c@x.example", "msgraph")])
    chunks = orch.chunks(small, Path("/p/plan.json"))
    assert [c["label"] for c in chunks["files"]] == ["maildir a@x.example", "maildir b@x.example"]
    assert [c["label"] for c in chunks["msgraph"]] == ["c@x.example"]
    assert chunks["gmail"] == [] and chunks["google_calendar"] == []
    big = _plan([_task(f"u{i:04d}@x.example", "gmail") for i in range(1000)])
    chunks = orch.chunks(big, Path("/p/plan.json"), max_mapped=256)["gmail"]
    assert len(chunks) == 250 and all(len(c["indexes"]) == 4 for c in chunks)
    assert chunks[0]["label"] == "u0000@x.example..u0003@x.example (4)"
    assert sorted(i for c in chunks for i in c["indexes"]) == list(range(1000))


class Conn:
    def __init__(self, conn_id: str, *, login: str | None = None, password: str | None = None,
                 host: str | None = None, port: int | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        self.conn_id, self.login, self.password = conn_id, login, password
        self.host, self.port, self.extra_dejson = host, port, extra or {}


def test_credentials_by_source_kind() -> None:
    key = {"type": "service_account", "private_key": "-----BEGIN", "client_email": "a@b"}
    google = Conn("overlap_google", extra={"keyfile_dict": key})
    assert conns_mod.credentials_from_connection("gmail", google) == key
    graph = Conn("overlap_msgraph", login="cid", password="secret", extra={"tenant_id": "t"})
    assert conns_mod.credentials_from_connection("msgraph", graph) == {
        "tenant_id": "t", "client_id": "cid", "client_secret": "secret"}
    with pytest.raises(InputError, match="tenant_id"):
        conns_mod.credentials_from_connection("msgraph", Conn("m", login="cid", password="s"))
    conns = {"overlap_msgraph": graph}
    assert conns_mod.credentials_for(_task("a@x", "maildir"), conns.get) is None
    assert conns_mod.credentials_for(_task("a@x", "msgraph"), conns.get)["client_id"] == "cid"
    assert conns_mod.credentials_for(_task("a@x", "gmail"), conns.get) is None  # connector decides
    named = ExtractTask("g", "gmail", "a@x", None, datetime.now(UTC), datetime.now(UTC), "drop",
                        "/s", options={"airflow_conn_id": "missing"})
    with pytest.raises(InputError, match="missing"):
        conns_mod.credentials_for(named, conns.get)


def test_extract_chunk_retries_transient_errors_until_the_last_try(tmp_path: Path) -> None:
    plan = _plan([_task("a@x.example"), _task("b@x.example")])
    plan_path = tmp_path / "plan.json"
    write_json(plan_path, plan.to_json())
    chunk = orch.chunks(plan, plan_path, max_mapped=1)["files"][0]

    def flaky(task: ExtractTask, _creds: Any) -> ExtractOutcome:
        if task.mailbox == "a@x.example":
            return ExtractOutcome(task, None, "Transient: HTTP 503 after 8 tries", transient=True)
        return ExtractOutcome(task, "/m.json", None, emails=3)

    with pytest.raises(orch.TransientExtractError, match="503"):
        orch.extract_chunk(chunk, final_try=False, credentials=lambda t: None, extract=flaky)
    result = orch.extract_chunk(chunk, final_try=True, credentials=lambda t: None,
                                extract=flaky, log=lambda _: None)
    assert (result.extracts, result.failed, result.emails) == (2, 1, 3)
    _, outcomes = orch.collect_outcomes(plan_path)
    assert [o.error is None for o in outcomes] == [False, True]

    def denied(task: ExtractTask, _creds: Any) -> ExtractOutcome:
        return ExtractOutcome(task, None, "AuthError: unauthorized_client")

    result = orch.extract_chunk(chunk, final_try=False, credentials=lambda t: None,
                                extract=denied, log=lambda _: None)
    assert result.failed == 2, "an auth error is recorded at once, never retried"


def test_missing_outcome_counts_as_a_failed_mailbox(tmp_path: Path) -> None:
    plan = _plan([_task("a@x.example")])
    write_json(tmp_path / "plan.json", plan.to_json())
    _, outcomes = orch.collect_outcomes(tmp_path / "plan.json")
    assert outcomes[0].manifest is None and "did not finish" in (outcomes[0].error or "")


class FakeSMTP:
    sent: list[Any] = []

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.calls: list[str] = []

    def __enter__(self) -> FakeSMTP:
        return self

    def __exit__(self, *_: Any) -> None:
        pass

    def starttls(self) -> None:
        pass

    def login(self, user: str, password: str) -> None:
        pass

    def send_message(self, msg: Any) -> None:
        FakeSMTP.sent.append(msg)


def test_digests_are_mailed_once(tmp_path: Path) -> None:
    digest = tmp_path / "owner.html"
    digest.write_text("<p>your accounts</p>", encoding="utf-8")
    settings = dig.SmtpSettings.from_connection(
        Conn("overlap_smtp", host="smtp.example", login="bot", password="pw",
             extra={"from_email": "overlap@corp.example"}))
    assert (settings.port, settings.security) == (587, "starttls")
    state = tmp_path / "sent.json"
    index = {"2026-11-16": {"owner@corp.example": str(digest)}}
    FakeSMTP.sent = []
    assert dig.send_digests(index, settings, state_file=state, smtp_factory=FakeSMTP) == {
        "sent": 1, "unchanged": 0}
    assert FakeSMTP.sent[0]["To"] == "owner@corp.example"
    assert dig.send_digests(index, settings, state_file=state, smtp_factory=FakeSMTP) == {
        "sent": 0, "unchanged": 1}
    assert len(FakeSMTP.sent) == 1
