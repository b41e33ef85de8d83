"""Secrets and privacy, after a real run through both API sandboxes (Google and Microsoft).

Known secret values — the service account's private key, the Graph client secret, every access
token the sandboxes issued — must appear nowhere the run leaves text: logs (DEBUG) and stderr,
progress output, error texts, every text value of every table and view of the warehouse and the
snapshot (``runs`` included), staged Parquet and manifests, the plan and chunk files the DAG
passes around, the report, digests and CSV. Every request the sandboxes received asks for
metadata only. Subjects are nowhere unless configured (keep → present, hash → only digests).
"""

from __future__ import annotations

import ast
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import duckdb
import pyarrow.parquet as pq
import pytest

from connectors.headers import decode_words, read_headers
from overlap import orchestration as orch
from overlap.config import Config, load_config
from overlap.pipeline import run, start_run
from sandbox.generator import GeneratedOrg, generate
from sandbox.seed import seed_from_config
from sandbox.serve import start_sandboxes, write_sandbox_config

REPO = Path(__file__).resolve().parents[2]
GHOST = "ghost.user@corp.example"  # a mailbox neither tenant has: its extract fails
BODY_FIELDS = {"body", "bodypreview", "uniquebody", "attachments", "mimecontent"}


@dataclass
class Recorded:
    gmail: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    graph: list[str] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)


def _record(servers: list[tuple[Any, list[str]]]) -> Recorded:
    """Wrap the sandboxes' dispatchers: every API request (batch parts included) and every
    access token issued is recorded."""
    rec = Recorded()
    for server, _ in servers:
        if hasattr(server, "graph"):
            graph, issue = server.graph, server._issue_token

            def graph_spy(method: str, target: str, *a: Any, _g: Any = graph, **k: Any) -> Any:
                rec.graph.append(target)
                return _g(method, target, *a, **k)

            def issue_spy(*a: Any, _i: Any = issue, **k: Any) -> Any:
                token = _i(*a, **k)
                rec.tokens.add(token)
                return token

            server.graph, server._issue_token = graph_spy, issue_spy
        else:
            api, token = server._api, server._token

            def api_spy(req: Any, _a: Any = api) -> Any:
                rec.gmail.append((req.path, req.query))
                return _a(req)

            def token_spy(req: Any, _t: Any = token) -> Any:
                resp = _t(req)
                if resp.status == 200:
                    rec.tokens.add(json.loads(resp.body)["access_token"])
                return resp

            server._api, server._token = api_spy, token_spy
    return rec


def _secrets(servers: list[tuple[Any, list[str]]], rec: Recorded) -> dict[str, str]:
    found: dict[str, str] = {}
    for server, _ in servers:
        if hasattr(server, "graph"):
            found["graph client secret"] = server.secret
        else:
            key = json.loads(Path(server.key_file).read_text(encoding="utf-8"))
            body = [ln for ln in key["private_key"].splitlines() if ln and "-----" not in ln]
            # any one line of the PEM body is as bad as the whole key
            for n, line in enumerate(body):
                found[f"private key line {n}"] = line
            found["private key id"] = key["private_key_id"]
    for n, token in enumerate(sorted(rec.tokens)):
        found[f"access token {n}"] = token
        found[f"access token {n} (tail)"] = token[-24:]
    assert found["graph client secret"] and len(rec.tokens) >= 2
    return found


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> GeneratedOrg:
    return generate(tmp_path_factory.mktemp("org") / "acme", seed=5, weeks=1, accounts=4, planted=False,
                    emails_per_week=60, meetings_per_week=8, history_rate=0.1)


@dataclass
class ApiRun:
    config: Config
    recorded: Recorded
    secrets: dict[str, str]
    texts: list[tuple[str, str]]  # (where, text) the run left behind


@pytest.fixture(scope="module")
def api_run(org: GeneratedOrg, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiRun]:
    base = load_config(org.config_path)
    secrets_dir = org.out_dir / "secrets"
    servers = start_sandboxes(seed_from_config(base), "mixed", secrets_dir=secrets_dir)
    try:
        recorded = _record(servers)
        sources = [s for server, boxes in servers for s in server.sources(boxes)]
        for s in sources:  # one failing mailbox per API: its error text is checked too
            s["mailboxes"] = [*s["mailboxes"], GHOST]
        config = load_config(write_sandbox_config(base, sources, org.out_dir / "api.toml"))
        progress: list[str] = []
        handler = _Collect()
        root = logging.getLogger()
        old_level = root.level
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        try:
            result = run(config, list(org.weeks), workers=1, progress=progress.append)
        finally:
            root.removeHandler(handler)
            root.setLevel(old_level)
        assert result.failed, "the ghost mailboxes must fail (and their errors be checked)"
        plan = start_run(config, list(org.weeks))
        plan_path = orch.write_plan(config, plan)
        orch.write_chunks(plan, plan_path)
        secrets = _secrets(servers, recorded)
    finally:
        for server, _ in servers:
            server.stop()
    texts = [("progress", "\n".join(progress)), ("logs", "\n".join(handler.lines))]
    texts += [(f"failure {f}", str(f)) for f in result.failed]
    yield ApiRun(config, recorded, secrets, texts)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        if record.exc_info:
            self.lines.append(logging.Formatter().formatException(record.exc_info))


def database_texts(path: Path) -> Iterator[tuple[str, str]]:
    """Every table's and view's every value, as text (one string per relation)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [n for (n,) in con.execute(
            "select table_name from information_schema.tables").fetchall()]
        assert "runs" in names and "raw_copies" in names
        for name in names:
            rows = con.execute(f'select * from "{name}"').fetchall()  # noqa: S608 - catalog names
            yield f"{path.name}:{name}", repr(rows)
    finally:
        con.close()


def file_texts(root: Path) -> Iterator[tuple[str, str]]:
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            yield str(path), repr(pq.read_table(path).to_pylist())
        elif path.suffix == ".duckdb":
            yield from database_texts(path)
        elif path.suffix not in (".wal", ".tmp"):
            yield str(path), path.read_bytes().decode("utf-8", "replace")


def all_texts(run_: ApiRun) -> list[tuple[str, str]]:
    c = run_.config
    out = list(run_.texts)
    out += list(database_texts(c.warehouse)) + list(database_texts(c.snapshot))
    out += list(file_texts(c.staging_dir)) + list(file_texts(c.out_dir))
    return out


def test_no_secret_appears_anywhere(api_run: ApiRun, capfd: pytest.CaptureFixture[str]) -> None:
    texts = all_texts(api_run)
    captured = capfd.readouterr()
    texts += [("stdout", captured.out), ("stderr", captured.err)]
    kinds = {where.split(":")[0].rsplit("/", 1)[-1].split(".")[-1] for where, _ in texts}
    assert {"parquet", "json", "html", "csv"} <= kinds, kinds  # the places were really read
    assert any("ghost.user" in text for where, text in texts if "runs" in where)
    leaks = [(name, where) for where, text in texts for name, secret in api_run.secrets.items()
             if secret in text]
    assert leaks == []


def test_only_metadata_was_requested(api_run: ApiRun) -> None:
    gmail = api_run.recorded.gmail
    gets = [q for path, q in gmail if re.fullmatch(r"/gmail/v1/users/[^/]+/messages/[^/]+", path)]
    assert gets, "the Gmail sandbox must have served messages"
    for path, query in gmail:
        assert "q" not in query, path  # the metadata scope rejects q
        assert query.get("format", ["metadata"]) == ["metadata"], (path, query)
        assert "raw" not in path and "attachments" not in path, path
    for query in gets:
        wanted = {h.lower() for h in query.get("metadataHeaders", [])}
        assert wanted and "subject" not in wanted, wanted  # subjects = drop: not even asked
    graph = api_run.recorded.graph
    selects = 0
    for target in graph:
        parts = urlsplit(target)
        path = parts.path.lower()
        assert not path.endswith(("/$value", "/attachments")) and "/attachments/" not in path
        query = {k.lower(): v for k, v in parse_qs(parts.query).items()}
        for key in ("$select", "$expand"):
            for value in query.get(key, []):
                fields = {f.strip().lower() for f in value.split(",")}
                assert not fields & BODY_FIELDS, target
                assert "subject" not in fields, target
                selects += 1
        if "/messages" in path and "$deltatoken" not in query and "$skiptoken" not in query:
            assert "$select" in query, target  # never the default (full) property set
    assert selects > 0 and any("/messages" in t for t in graph)


def test_subjects_are_absent_when_dropped(api_run: ApiRun, org: GeneratedOrg) -> None:
    subjects = known_subjects(org)
    assert len(subjects) > 10
    for where, text in all_texts(api_run):
        found = [s for s in subjects if s in text]
        assert found == [], (where, found[:3])


def known_subjects(org: GeneratedOrg) -> set[str]:
    """Subjects and meeting summaries the generator wrote into the mailboxes."""
    out: set[str] = set()
    for path in (org.out_dir).rglob("*"):
        if not path.is_file() or "out" in path.parts[-3:-1]:
            continue
        raw = path.read_bytes()[:65536]
        if path.suffix == ".ics":
            out.update(m.strip() for m in re.findall(r"^SUMMARY[^:]*:(.+)$",
                                                     raw.decode("utf-8", "replace"), re.M))
            continue
        for value in read_headers(raw, ["subject"]).get("subject", []):
            out.add(decode_words(value).strip())
    # short ones ("Re: hi", "Notification") could occur elsewhere by chance
    return {s for s in out if len(s) >= 16 and len(s.split()) >= 3}


@pytest.mark.parametrize("policy", ["keep", "hash"])
def test_subject_policy_keep_and_hash(org: GeneratedOrg, tmp_path: Path, policy: str) -> None:
    text = org.config_path.read_text(encoding="utf-8")
    text = text.replace('path = "data/overlap.duckdb"', f'path = "data-{policy}/overlap.duckdb"')
    text = text.replace('out_dir = "out"', f'out_dir = "out-{policy}"')
    if "[rules]" in text:
        text = re.sub(r"^subjects = .*$", "", text, flags=re.M)
        text = text.replace("[rules]\n", f'[rules]\nsubjects = "{policy}"\n')
    else:
        text += f'\n[rules]\nsubjects = "{policy}"\n'
    cfg = org.config_path.with_name(f"overlap-{policy}.toml")
    cfg.write_text(text, encoding="utf-8")
    config = load_config(cfg)
    assert config.rules.subjects == policy and f"data-{policy}" in str(config.staging_dir)
    assert not run(config, list(org.weeks), workers=1).failed
    con = duckdb.connect(str(config.snapshot), read_only=True)
    stored = {s for (s,) in con.execute(
        "select subject from raw_copies where subject is not null").fetchall()}
    con.close()
    subjects = known_subjects(org)
    texts = list(database_texts(config.snapshot)) + list(file_texts(config.staging_dir))
    texts += list(file_texts(config.out_dir))
    if policy == "keep":
        assert stored & subjects
    else:
        assert stored and all(re.fullmatch(r"sha256:[0-9a-f]{32}", s) for s in stored)
        leaks = [(w, s) for w, t in texts for s in subjects if s in t]
        assert leaks == []


# ---------------------------------------------------------------- XCom

ALLOWED_XCOM_KEYS = {"plan", "run_id", "extracts", "weeks", "mapped", "loaded", "failed",
                     "tables", "audits", "html", "digests", "snapshot", "status", "enabled",
                     "sent", "label", "emails", "meetings", "quarantined", "week", "url",
                     "crm_as_of"}
SECRETISH = re.compile(r"conn|password|secret|token|credential|key|login|extra", re.I)


def _task_returns(tree: ast.AST) -> Iterator[tuple[str, ast.expr]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and any(
                "task" in ast.unparse(d) for d in node.decorator_list):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Return) and sub.value is not None:
                    yield node.name, sub.value


def test_dag_tasks_return_only_paths_and_counts() -> None:
    tree = ast.parse((REPO / "dags" / "overlap_weekly.py").read_text(encoding="utf-8"))
    returns = list(_task_returns(tree))
    assert len(returns) >= 8
    keys: set[str] = set()
    for name, value in returns:
        for node in ast.walk(value):
            if isinstance(node, ast.Dict):
                keys |= {k.value for k in node.keys if isinstance(k, ast.Constant)}
            if isinstance(node, ast.Name | ast.Attribute):
                ident = node.id if isinstance(node, ast.Name) else node.attr
                assert not SECRETISH.search(ident) or ident in ("read_chunks",), (name, ident)
    assert keys <= ALLOWED_XCOM_KEYS, keys - ALLOWED_XCOM_KEYS
    # the extract task's XCom is ChunkResult.as_xcom: counts and a label
    assert set(orch.ChunkResult().as_xcom("x")) <= ALLOWED_XCOM_KEYS


def test_chunks_passed_through_xcom_carry_no_credentials(api_run: ApiRun) -> None:
    runs = sorted(api_run.config.staging_dir.parent.rglob("chunks.json"))
    assert runs, "the plan's chunk file was written"
    for path in runs:
        text = path.read_text(encoding="utf-8")
        assert not [n for n, s in api_run.secrets.items() if s in text]
        for chunk in (c for group in json.loads(text).values() for c in group):
            assert not [k for k in chunk if SECRETISH.search(k)], chunk
