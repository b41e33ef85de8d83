"""End to end with real Airflow processes: api-server + scheduler + dag-processor on 127.0.0.1
(LocalExecutor, SQLite, a temporary AIRFLOW_HOME), driven over the REST API the UI uses.

One test, in steps that build on each other (starting Airflow costs a minute): a triggered
run (its note names the week, its report is one click away: the report task's link, served by
the plugin); a UI-style clear of one mapped extract and the load (the warehouse is
unchanged); a run where one mailbox fails (the report states the gap); a backfill of three
past weeks; a trigger with a bad week, which fails within a minute naming the form field."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from overlap.config import load_config
from overlap.staging import safe_component
from overlap.weeks import iso_week_label
from tests.dags.conftest import DAGS, REPO
from tests.e2e.tinyorg import WEEK, message, write_org

pytestmark = pytest.mark.slow
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
DAG = "overlap_weekly"
HTTP_TIMEOUT = 180.0  # seconds; longer than the SQLite busy timeout of 60 s
RUN_TIMEOUT = 600  # seconds per DAG run; the machine's 2 cores are shared
BACKFILL_WEEKS = [date(2026, 10, 26), date(2026, 11, 2), date(2026, 11, 9)]
POOLS = {"overlap_warehouse": 1, "overlap_files": 2, "overlap_gmail": 2,
         "overlap_google_calendar": 2, "overlap_msgraph": 2}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mail(n: int, day: str, sender: str, to: str) -> tuple[str, bytes]:
    return (f"m{n}", message(msg_id=f"m{n}@acme.example", sender=sender, to=to,
                             date_header=f"{day} 10:00:00 +0000"))


def _org(root: Path) -> Path:
    """Two mailboxes with mail in the reported week and in the three backfilled weeks."""
    days = ["Tue, 27 Oct 2026", "Tue, 03 Nov 2026", "Tue, 10 Nov 2026", "Tue, 17 Nov 2026"]
    return write_org(root, messages={
        "rep@corp.example": [_mail(i, d, "rep@corp.example", "buyer@acme.example")
                             for i, d in enumerate(days)],
        "owner@corp.example": [_mail(10 + i, d, "owner@corp.example", "cfo@acme.example")
                               for i, d in enumerate(days)],
    })


class Stack:
    def __init__(self, home: Path, config: Path) -> None:
        self.home = home
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen[bytes]] = []
        passwords = home / "passwords.json"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        self.env.update({
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db?timeout=60",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base}/execution/",
            "AIRFLOW__API__BASE_URL": self.base,
            # 64 bytes or more: a shorter HS512 key logs a warning in every process
            "AIRFLOW__API_AUTH__JWT_SECRET": "overlap-e2e-test-secret-not-for-production-"
                                             "0123456789abcdef0123456789",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "OVERLAP_CONFIG": str(config),
            "OVERLAP_RETRIES": "1",
            "OVERLAP_RETRY_DELAY_SECONDS": "2",
        })
        home.mkdir(parents=True, exist_ok=True)
        passwords.write_text(json.dumps({"admin": "admin"}), encoding="utf-8")
        (home / "pools.json").write_text(json.dumps(
            {name: {"slots": slots, "description": name, "include_deferred": False}
             for name, slots in POOLS.items()}), encoding="utf-8")
        self.token: str | None = None

    def cli(self, *args: str) -> None:
        subprocess.run([AIRFLOW, *args], env=self.env, check=True, capture_output=True,
                       timeout=600)

    def start(self) -> None:
        self.cli("db", "migrate")
        self.cli("pools", "import", str(self.home / "pools.json"))
        for name, cmd in (("api-server", ["api-server", "--port", str(self.port),
                                          "--host", "127.0.0.1", "--workers", "1"]),
                          ("scheduler", ["scheduler"]), ("dag-processor", ["dag-processor"])):
            log = open(self.home / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
            self.procs.append(subprocess.Popen([AIRFLOW, *cmd], env=self.env, stdout=log,
                                               stderr=subprocess.STDOUT,
                                               start_new_session=True))
        deadline = time.monotonic() + 300
        while True:
            self._check_alive()
            try:
                r = httpx.post(f"{self.base}/auth/token",
                               json={"username": "admin", "password": "admin"}, timeout=10)
                if r.status_code in (200, 201):
                    self.token = r.json()["access_token"]
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("api-server did not come up")
            time.sleep(2)
        self.wait(lambda: self.get(f"/api/v2/dags/{DAG}", ok=(200, 404)).get("dag_id"),
                  300, "the DAG to be parsed")

    def _check_alive(self) -> None:
        for p in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"an Airflow process exited ({p.args[1]}); logs in {self.home}")

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for p in self.procs:
            try:
                p.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=30)
            if p.stdout is not None:
                p.stdout.close()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    # The api-server waits up to SQLITE_BUSY (60 s, see the connection string) for the
    # scheduler's write lock on a loaded 2-core machine: the client must wait longer than that.
    def get(self, path: str, ok: tuple[int, ...] = (200,)) -> Any:
        r = httpx.get(self.base + path, headers=self._headers(), timeout=HTTP_TIMEOUT)
        assert r.status_code in ok, (path, r.status_code, r.text)
        return r.json()

    def fetch(self, url: str, *, auth: bool = True) -> httpx.Response:
        return httpx.get(url if url.startswith("http") else self.base + url,
                         headers=self._headers() if auth else {}, timeout=HTTP_TIMEOUT)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        r = httpx.post(self.base + path, headers=self._headers(), json=body,
                       timeout=HTTP_TIMEOUT)
        assert r.status_code in (200, 201), (path, r.status_code, r.text)
        return r.json()

    def wait(self, check: Any, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout:.0f}s for {what}; logs in {self.home}")
            time.sleep(3)

    def runs(self) -> list[dict[str, Any]]:
        return list(self.get(f"/api/v2/dags/{DAG}/dagRuns?limit=100")["dag_runs"])

    def wait_run(self, run_id: str) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            run = self.get(f"/api/v2/dags/{DAG}/dagRuns/{run_id}")
            if run["state"] == "failed":
                raise AssertionError(f"run {run_id} failed: {self.failed_tasks(run_id)}")
            return run if run["state"] == "success" else None

        return dict(self.wait(done, RUN_TIMEOUT, f"run {run_id}"))

    def wait_idle(self) -> None:
        self.wait(lambda: all(r["state"] in ("success", "failed") for r in self.runs()),
                  RUN_TIMEOUT * 2, "every run to finish")

    def task_instances(self, run_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances?limit=200"
                             )["task_instances"])

    def failed_tasks(self, run_id: str) -> list[str]:
        return [f"{t['task_id']}[{t['map_index']}]" for t in self.task_instances(run_id)
                if t["state"] in ("failed", "upstream_failed")]

    def trigger(self, conf: dict[str, Any]) -> str:
        return str(self.post(f"/api/v2/dags/{DAG}/dagRuns",
                             {"logical_date": None, "conf": conf})["dag_run_id"])


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Stack, Path]]:
    config = _org(tmp_path / "org")
    s = Stack(tmp_path / "airflow-home", config)
    try:
        s.start()
        yield s, config
    finally:
        s.stop()


def _fingerprint(warehouse: Path) -> dict[str, Any]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {
            "copies": con.execute("select * exclude (window_start, window_end)"
                                  " from raw_copies order by all").fetchall(),
            "events": con.execute("select * from overlap_events order by all").fetchall(),
            "weekly": con.execute("select * from overlap_weekly order by all").fetchall(),
            "run_rows": con.execute("select run_id, scope, source, mailbox, count(*)"
                                    " from run_log group by all order by all").fetchall(),
        }
    finally:
        con.close()


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON document (a structured task log: events, error details)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _report(config_path: Path, week: date) -> Path:
    label = iso_week_label(week)
    return load_config(config_path).out_dir / label / f"overlap-{label}.html"


def test_airflow_end_to_end(stack: tuple[Stack, Path]) -> None:
    s, config_path = stack
    config = load_config(config_path)

    # 1. Trigger a run over REST, as the UI's trigger form does, and wait for success.
    run_id = s.trigger({"week_start": WEEK.isoformat()})
    s.wait_run(run_id)
    s.wait_idle()  # the scheduler may also have started the latest scheduled interval
    assert _report(config_path, WEEK).is_file()
    tis = s.task_instances(run_id)
    extracts = sorted((t for t in tis if t["task_id"] == "extract_files"),
                      key=lambda t: t["map_index"])
    assert [t["rendered_map_index"] for t in extracts] == [
        "maildir owner@corp.example", "maildir rep@corp.example"]
    before = _fingerprint(config.warehouse)
    assert all(row[-1] == 1 for row in before["run_rows"]), before["run_rows"]
    assert (run_id, "run", None, None, 1) in before["run_rows"], "warehouse run id = Airflow's"
    label = iso_week_label(WEEK)
    assert label in (s.get(f"/api/v2/dags/{DAG}/dagRuns/{run_id}")["note"] or "")

    # The report task's extra link, read from the task instance over REST as the UI does,
    # opens the report through the api-server (logged-in users only).
    links = s.get(f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/report/links")
    url = links["extra_links"]["Report"]
    assert url.endswith(f"/overlap-reports/{label}/overlap-{label}.html"), url
    page = s.fetch(url)
    assert page.status_code == 200, (page.status_code, page.text[:300])
    assert page.content == _report(config_path, WEEK).read_bytes()
    assert s.fetch(url, auth=False).status_code in (401, 403)
    for outside in ("/overlap-reports/%2e%2e/overlap.toml", f"/overlap-reports/{label}/%2e%2e",
                    f"/overlap-reports/{label}/..%2F..%2Foverlap.toml"):
        assert s.fetch(outside).status_code == 404, outside  # only report files under out_dir
    assert label in s.fetch("/overlap-reports/").text

    # 2. Clear one mapped extract and the load the way the UI does (preview, then for real).
    body = {"dag_run_id": run_id, "task_ids": [["extract_files", 1], "load"],
            "include_downstream": True, "only_failed": False}
    preview = s.post(f"/api/v2/dags/{DAG}/clearTaskInstances", {**body, "dry_run": True})
    assert {t["task_id"] for t in preview["task_instances"]} >= {"extract_files", "load",
                                                                 "model", "report"}
    s.post(f"/api/v2/dags/{DAG}/clearTaskInstances", {**body, "dry_run": False})
    s.wait(lambda: s.get(f"/api/v2/dags/{DAG}/dagRuns/{run_id}")["state"] != "success", 60,
           "the cleared run to restart")
    s.wait_run(run_id)
    tries = {(t["task_id"], t["map_index"]): t["try_number"] for t in s.task_instances(run_id)}
    assert tries[("extract_files", 1)] == 2 and tries[("load", -1)] == 2
    assert tries[("extract_files", 0)] == 1
    assert _fingerprint(config.warehouse) == before, "a rerun changed the warehouse"

    # 3. One mailbox fails (its staging folder is a file): the report still renders, with the gap.
    blocker = config.staging_dir / "maildir" / safe_component("rep@corp.example")
    saved = blocker.with_name(blocker.name + ".saved")
    blocker.rename(saved)
    blocker.write_text("not a folder", encoding="utf-8")
    try:
        failing = s.trigger({"week_start": WEEK.isoformat()})
        s.wait_run(failing)
    finally:
        blocker.unlink()
        saved.rename(blocker)
    html = _report(config_path, WEEK).read_text(encoding="utf-8")
    assert "Coverage incomplete" in html and "rep@corp.example" in html
    con = duckdb.connect(str(config.warehouse), read_only=True)
    try:
        status = con.execute("select status from run_log where scope = 'run'"
                             " order by started_at desc limit 1").fetchone()
    finally:
        con.close()
    assert status == ("partial",)

    # 4. Backfill three past weeks: one run per week, one report per week.
    for week in BACKFILL_WEEKS:
        assert not _report(config_path, week).exists()
    s.post("/api/v2/backfills", {
        "dag_id": DAG, "from_date": f"{BACKFILL_WEEKS[0]}T00:00:00Z",
        "to_date": f"{BACKFILL_WEEKS[-1]}T12:00:00Z", "max_active_runs": 1,
        "reprocess_behavior": "none"})

    def backfilled() -> list[dict[str, Any]] | None:
        runs = [r for r in s.runs() if r["run_type"] == "backfill"]
        bad = [r["dag_run_id"] for r in runs if r["state"] == "failed"]
        assert not bad, f"backfill runs failed: {[(b, s.failed_tasks(b)) for b in bad]}"
        done = [r for r in runs if r["state"] == "success"]
        return done if len(done) == 3 else None

    runs = s.wait(backfilled, RUN_TIMEOUT * 3, "three backfill runs")
    assert len(runs) == 3
    for week in BACKFILL_WEEKS:
        assert _report(config_path, week).is_file(), week

    # 5. A trigger with a week that is no day: plan fails at once naming the form field, load
    # fails without retrying (no crash on the missing plan), the run is failed within a minute.
    s.wait_idle()
    after_backfill = _fingerprint(config.warehouse)
    bad = s.trigger({"week_start": "2026-11-31"})
    started = time.monotonic()

    def failed() -> bool:
        state = s.get(f"/api/v2/dags/{DAG}/dagRuns/{bad}")["state"]
        assert state != "success", "a bad week must not succeed"
        return bool(state == "failed")

    s.wait(failed, 120, "the bad-week run to fail")
    assert time.monotonic() - started < 60, f"took {time.monotonic() - started:.0f} s"
    tis = {t["task_id"]: t for t in s.task_instances(bad) if t["map_index"] == -1}
    assert tis["plan"]["state"] == "failed" and tis["plan"]["try_number"] == 1
    assert tis["load"]["state"] == "failed" and tis["load"]["try_number"] == 1
    log = "\n".join(_strings(s.get(f"/api/v2/dags/{DAG}/dagRuns/{bad}/taskInstances/plan/logs/1")))
    assert 'trigger form field "Week" (week_start)' in log, log[-2000:]
    assert "Bad trigger" in (s.get(f"/api/v2/dags/{DAG}/dagRuns/{bad}")["note"] or "")
    assert _fingerprint(config.warehouse) == after_backfill
