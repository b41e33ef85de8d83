"""``overlap sandbox serve``: the mailboxes of a file-based configuration, served as APIs.

Registry of sandboxed APIs. Each module named in :data:`SANDBOX_APIS` exposes::

    start(seeds: dict[str, MailboxSeed], *, host="127.0.0.1", port=0, secrets_dir: Path,
          **options) -> SandboxServer

returning a started server (see :class:`SandboxServer`). :func:`serve_config` seeds them from
a config's file sources and writes a config whose sources point at the sandboxes.

CRM sandboxes (:data:`CRM_SANDBOX_APIS`) are seeded from the config's CRM CSVs instead and
expose ``start(seed: CrmSeed, *, host, port, secrets_dir, **options)`` returning a server with
``crm_config()`` (the ``[crm]`` table reading it). ``--apis`` composes at most one mail choice
and one CRM: ``google``, ``salesforce``, ``google,salesforce``, ``mixed,hubspot``.
"""

from __future__ import annotations

import importlib
import tomllib
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from overlap.config import FILE_KINDS, Config
from overlap.errors import InputError
from overlap.sources import CRM_KINDS
from sandbox.fidelity import Fidelity
from sandbox.seed import MailboxSeed, seed_from_config

SANDBOX_APIS = {"google": "sandbox.google", "microsoft": "sandbox.microsoft"}
API_CHOICES = ("google", "microsoft", "mixed")
CRM_SANDBOX_APIS = {kind: crm.sandbox for kind, crm in CRM_KINDS.items()}
SANDBOX_SUFFIX = "-sandbox"


class SandboxServer(Protocol):
    """A running API sandbox."""

    @property
    def url(self) -> str: ...

    def sources(self, mailboxes: list[str]) -> list[dict[str, Any]]:
        """The ``[[sources]]`` tables reading ``mailboxes`` here, credentials included."""
        ...

    def stop(self) -> None: ...

    def __enter__(self) -> SandboxServer: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...


def _module(api: str) -> Any:
    name = SANDBOX_APIS.get(api) or CRM_SANDBOX_APIS[api]
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        raise InputError(f"the {api} sandbox is not available in this version ({name} is "
                         "missing)", field="--apis") from None


def split_mailboxes(mailboxes: Sequence[str], apis: str) -> dict[str, list[str]]:
    """Which API serves which mailbox: all to one, or ``mixed`` alternating sorted addresses
    between google (even positions) and microsoft (odd)."""
    if apis not in API_CHOICES:
        raise InputError(f"--apis must be one of {', '.join(API_CHOICES)}", field="--apis")
    ordered = sorted(mailboxes)
    if apis != "mixed":
        return {apis: ordered}
    return {"google": ordered[0::2], "microsoft": ordered[1::2]}


def split_apis(apis: str) -> tuple[str | None, str | None]:
    """``--apis`` → (mail choice or None, CRM or None): a comma-separated list of at most one
    of google/microsoft/mixed and one of salesforce/hubspot."""
    mail: list[str] = []
    crm: list[str] = []
    for part in (p.strip() for p in apis.split(",") if p.strip()):
        if part in API_CHOICES:
            mail.append(part)
        elif part in CRM_SANDBOX_APIS:
            crm.append(part)
        else:
            raise InputError(f"--apis: {part!r} is not one of "
                             f"{', '.join(API_CHOICES + tuple(CRM_SANDBOX_APIS))}", field="--apis")
    if len(mail) > 1 or len(crm) > 1 or not (mail or crm):
        raise InputError("--apis names at most one mail choice (google, microsoft, mixed) and "
                         "one CRM (salesforce, hubspot), e.g. google,salesforce", field="--apis")
    return (mail[0] if mail else None), (crm[0] if crm else None)


def start_crm_sandbox(config: Config, crm: str, *, secrets_dir: Path, host: str = "127.0.0.1",
                      **options: Any) -> Any:
    """Start the ``crm`` sandbox serving ``config``'s CRM CSVs (+ ownership.csv)."""
    from sandbox.crm_seed import read_crm_seed

    if config.accounts_csv is None or config.reps_csv is None:
        raise InputError("the config reads its CRM from an API; a CRM sandbox is seeded from "
                         "[crm] CSV files", file=str(config.path), field="crm")
    seed = read_crm_seed(config.accounts_csv, config.reps_csv, config.contacts_csv,
                         config.ownership_csv, config.timezone)
    return _module(crm).start(seed, host=host, port=0, secrets_dir=Path(secrets_dir) / crm,
                              **options)


def start_sandboxes(seeds: dict[str, MailboxSeed], apis: str, *, secrets_dir: Path,
                    host: str = "127.0.0.1", **options: Any) -> list[tuple[SandboxServer, list[str]]]:
    """Start the sandbox(es) for ``apis``; each serves only the mailboxes assigned to it."""
    plan = split_mailboxes(list(seeds), apis)
    modules = {api: _module(api) for api in plan}  # fail before starting anything
    started: list[tuple[SandboxServer, list[str]]] = []
    try:
        for api, boxes in plan.items():
            server = modules[api].start({m: seeds[m] for m in boxes}, host=host, port=0,
                                        secrets_dir=Path(secrets_dir) / api, **options)
            started.append((server, boxes))
    except BaseException:
        for server, _ in started:
            server.stop()
        raise
    return started


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _with_suffix(path: Path, suffix: str) -> str:
    if path.suffix:
        return str(path.with_name(path.stem + suffix + path.suffix))
    return str(path.with_name(path.name + suffix))


def file_sources(config: Config) -> list[dict[str, Any]]:
    """``config``'s own ``[[sources]]`` tables, paths absolute (when only the CRM is served)."""
    out: list[dict[str, Any]] = []
    for src in config.sources:
        table: dict[str, Any] = {"kind": src.kind, "name": src.name}
        if src.path is not None:
            table["path"] = str(src.path)
        out.append({**table, **src.options})
    return out


def _crm_tables(config: Config, crm: dict[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    """The ``[crm]`` section(s): the config's CSV files, or a CRM sandbox's ``crm_config()``
    (HubSpot keeps reps.csv for what owners do not hold: managers and aliases)."""
    # approvals.csv is the managers' own file whatever holds the CRM (rule 6)
    approvals = {} if config.approvals_csv is None else {"approvals": str(config.approvals_csv)}
    if crm is None:
        table = {"accounts": str(config.accounts_csv), "reps": str(config.reps_csv)}
        if config.contacts_csv is not None:
            table["contacts"] = str(config.contacts_csv)
        if config.ownership_csv is not None:  # dated owner changes (rule 10)
            table["ownership"] = str(config.ownership_csv)
        return [("crm", {**table, **approvals})]
    kind = str(crm["kind"])
    table = {"kind": kind, **approvals}
    if kind == "hubspot" and config.reps_csv is not None:
        table["reps"] = str(config.reps_csv)
    return [("crm", table), (f"crm.{kind}", dict(crm[kind]))]


def write_sandbox_config(config: Config, sources: list[dict[str, Any]], out: Path, *,
                         suffix: str = SANDBOX_SUFFIX, crm: dict[str, Any] | None = None) -> Path:
    """A config like ``config`` (company, CRM, rules) with ``sources`` replaced and the
    warehouse, staging, snapshot and report paths suffixed ``-sandbox`` (no clash with the
    file run). ``crm``: a CRM sandbox's ``crm_config()`` replacing the CSV files. Paths are
    written absolute, so the file may live anywhere."""
    raw = tomllib.loads(config.path.read_text(encoding="utf-8"))
    lines = [f"# Written by `overlap sandbox serve` from {config.path}.",
             "# The sources read the same mailboxes through the API sandbox(es).", ""]
    company = dict(raw.get("company", {}))
    warehouse = {"path": _with_suffix(config.warehouse, suffix),
                 "staging": _with_suffix(config.staging_dir, suffix),
                 "snapshot": _with_suffix(config.snapshot, suffix)}
    sections: list[tuple[str, dict[str, Any]]] = [
        ("company", company), *_crm_tables(config, crm), ("warehouse", warehouse),
        ("report", {"out_dir": _with_suffix(config.out_dir, suffix)})]
    for name, table in sections:
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
        lines.append("")
    rules = raw.get("rules")
    if rules:
        weights = rules.get("weights")
        lines.append("[rules]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in rules.items() if k != "weights"]
        lines.append("")
        if weights:
            lines.append("[rules.weights]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in weights.items()]
            lines.append("")
    for src in sources:
        lines.append("[[sources]]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in src.items()]
        lines.append("")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    tmp.replace(out)
    return out


def seeds_of(config: Config) -> dict[str, MailboxSeed]:
    """The file sources of ``config`` as sandbox seeds; an API-only config is refused."""
    if not any(s.kind in FILE_KINDS for s in config.sources):
        raise InputError("the config has no file sources (maildir, mbox, eml, ics) to serve",
                         file=str(config.path))
    try:
        return seed_from_config(config)
    except ValueError as exc:  # a mailbox folder not named by an address
        raise InputError(str(exc), file=str(config.path)) from None


def fidelity_of(ideal: str | None, real: str | None) -> Fidelity:
    """The shapes ``--ideal``/``--real`` ask for (see :class:`sandbox.fidelity.Fidelity`)."""
    try:
        return Fidelity.parse(ideal, real)
    except ValueError as exc:
        raise InputError(str(exc), field="--ideal/--real") from None
