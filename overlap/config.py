"""overlap.toml: load and validate the configuration (every path relative to the file)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from overlap.errors import InputError

# The kinds a [[sources]] table may name, from the source registry (re-exported).
from overlap.sources import API_KINDS as API_KINDS
from overlap.sources import FILE_KINDS as FILE_KINDS
from overlap.sources import SOURCE_KINDS as SOURCE_KINDS

SUBJECT_POLICIES = ("drop", "hash", "keep")
#: ``[crm] kind`` → the keys its ``[crm.<kind>]`` table accepts (docs/crm.md).
CRM_OPTIONS: dict[str, frozenset[str]] = {
    "csv": frozenset(),
    "salesforce": frozenset({"login_url", "audience", "client_id", "username", "private_key_file",
                             "private_key_env", "api_version", "domains_field", "aliases_field",
                             "team_field", "active_field", "user_type", "reps_where",
                             "team_roles",
                             "airflow_conn_id"}),
    "hubspot": frozenset({"base_url", "token_file", "token_env", "domains_property",
                          "team_property", "airflow_conn_id"}),
}


@dataclass(frozen=True)
class Weights:
    """Score weights (rule 9). Every one is a plain number a reader can check by hand."""

    email: float = 1.0
    meeting: float = 3.0
    rep_initiated: float = 1.5  # multiplier for events the rep started
    customer_initiated: float = 1.0
    other_initiated: float = 1.0
    contact: float = 0.5  # per distinct customer person beyond the first
    persistence: float = 1.0  # per earlier week (of the last 4) with events for the same pair
    looped_in: float = 0.25  # multiplier for events where the owner is on the thread elsewhere
    coverage_gap: float = 0.5  # multiplier for events on accounts whose owner is absent
    heads_up: float = 0.5  # multiplier for events after a heads-up to the owner (rule 6)
    high: float = 8.0  # score >= high is "high"
    medium: float = 3.0  # score >= medium is "medium", else "low"


@dataclass(frozen=True)
class Rules:
    dormant_days: int = 60
    management_chain: bool = True
    subjects: str = "drop"
    freemail_domains: tuple[str, ...] | None = None  # None: the shipped list
    weights: Weights = field(default_factory=Weights)
    handoff_days: int = 30  # rule 10: the previous owner's grace after an owner change
    heads_up_days: int = 7  # rule 6: a small internal interaction this long before I
    heads_up_max_people: int = 4  # rule 6: at most this many participants in it
    broadcast_recipients: int = 20  # rule 5: more recipients from a third party: a broadcast


@dataclass(frozen=True)
class Source:
    """One entry of ``[[sources]]``. ``name`` defaults to the kind and keys staging and state."""

    kind: str
    name: str
    path: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)


PSEUDONYMISE_KINDS = ("customer_addresses", "rep_addresses")


@dataclass(frozen=True)
class Privacy:
    """``[retention]``, ``[publish]`` and ``[report] min_group`` (docs/privacy.md)."""

    raw_days: int = 400  # interaction-level data older than this is purged; 0 = forever
    pseudonymise: tuple[str, ...] = ()  # subset of PSEUDONYMISE_KINDS, in the snapshot/marts
    secret_env: str = "OVERLAP_PSEUDONYM_KEY"  # where the HMAC key comes from
    min_group: int = 0  # company report: teams/owners with fewer events are aggregated


@dataclass(frozen=True)
class Config:
    path: Path
    title: str
    internal_domains: tuple[str, ...]
    timezone: str
    accounts_csv: Path | None  # None: the CRM is read from an API ([crm] kind)
    reps_csv: Path | None  # with an API kind: optional, what the CRM does not hold (docs/crm.md)
    contacts_csv: Path | None
    warehouse: Path
    out_dir: Path
    staging_dir: Path
    snapshot: Path
    sources: tuple[Source, ...]
    rules: Rules
    ownership_csv: Path | None = None  # [crm] ownership: dated owner changes (rule 10)
    crm_kind: str = "csv"  # [crm] kind: csv | salesforce | hubspot (docs/crm.md)
    crm_options: dict[str, Any] = field(default_factory=dict)  # [crm.<kind>], paths resolved
    approvals_csv: Path | None = None  # [crm] approvals: approved collaborations (rule 6)
    privacy: Privacy = field(default_factory=lambda: Privacy())

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


_TYPE_NAMES: dict[type, str] = {str: "a string", int: "an integer", bool: "true or false",
                                list: "a list", float: "a number"}
# Every key a section accepts: a typo (`dormant_day`) is an error, not a silent default.
_KNOWN: dict[str, set[str]] = {
    "": {"company", "crm", "warehouse", "report", "rules", "sources", "retention", "publish"},
    "company": {"name", "internal_domains", "timezone"},
    "crm": {"accounts", "reps", "contacts", "ownership", "approvals", "kind", "salesforce",
            "hubspot"},
    "warehouse": {"path", "staging", "snapshot"},
    "report": {"out_dir", "min_group"},
    "retention": {"raw_days"},
    "publish": {"pseudonymise", "secret_env"},
    "rules": {"dormant_days", "management_chain", "subjects", "freemail_domains", "weights",
              "handoff_days", "heads_up_days", "heads_up_max_people", "broadcast_recipients"},
}


def _check_keys(table: dict[str, Any], section: str, file: str) -> None:
    unknown = sorted(set(table) - _KNOWN[section])
    if unknown:
        where = f"[{section}]" if section else "the top level"
        raise InputError(f"unknown key {unknown[0]!r} in {where} (known: "
                         f"{', '.join(sorted(_KNOWN[section]))})", file=file)


def _table(doc: dict[str, Any], name: str, file: str, required: bool = True) -> dict[str, Any]:
    value = doc.get(name)
    if value is None:
        if required:
            raise InputError(f"missing section [{name}]", file=file)
        return {}
    if not isinstance(value, dict):
        raise InputError(f"[{name}] must be a table", file=file)
    return value


def _get(table: dict[str, Any], key: str, kind: type | tuple[type, ...], file: str, section: str,
         default: Any = ..., ) -> Any:
    if key not in table:
        if default is ...:
            raise InputError(f"missing key '{key}' in [{section}]", file=file)
        return default
    value = table[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        want = _TYPE_NAMES.get(kind, "value") if isinstance(kind, type) else " or ".join(
            _TYPE_NAMES.get(k, k.__name__) for k in kind)
        raise InputError(f"[{section}] {key} must be {want}, got {value!r}", file=file)
    return value


_TOML_AT = re.compile(r"\s*\((?:at line (\d+), column (\d+)|at end of document)\)$")
_OPENS_LIST = re.compile(r"^\s*[^#\s=][^=]*=\s*[\[{]")


def toml_error(exc: tomllib.TOMLDecodeError, text: str, file: str) -> InputError:
    """A TOML syntax error as ``file:LINE: invalid TOML: … (column C)``.

    tomllib reports where parsing stopped. For an array or inline table left open that is the
    line after it (or the end of the file), so the error names the line where it was opened."""
    message = str(exc)
    m = _TOML_AT.search(message)
    reason = message[: m.start()] if m else message
    lines = text.splitlines()
    if m and m.group(1):
        line, column = int(m.group(1)), int(m.group(2))
    else:
        line, column = max(len(lines), 1), None
    if reason.startswith("Unclosed") or (m and not m.group(1)):
        for n in range(min(line, len(lines)), 0, -1):
            value = lines[n - 1].split("=", 1)[-1]
            if _OPENS_LIST.match(lines[n - 1]) and (
                    value.count("[") + value.count("{") > value.count("]") + value.count("}")):
                kind = "array" if value.lstrip().startswith("[") else "inline table"
                return InputError(f"invalid TOML: this {kind} is not closed (the parser "
                                  f"stopped at line {line}: {reason})", file=file, line=n)
    where = f" (column {column})" if column else ""
    return InputError(f"invalid TOML: {reason}{where}", file=file, line=line)


def load_config(path: str | Path) -> Config:
    """Read and validate ``overlap.toml``; raises InputError naming the file and key."""
    cfg_path = Path(path).resolve()
    file = str(path)
    doc = _read_toml(cfg_path, file)
    _check_keys(doc, "", file)
    for section in ("company", "crm", "warehouse", "report", "rules", "retention", "publish"):
        if isinstance(doc.get(section), dict):
            _check_keys(doc[section], section, file)
    base = cfg_path.parent

    def rel(p: str) -> Path:
        return (base / p).resolve()

    company = _table(doc, "company", file)
    internal, tz = _company(company, file)
    crm = _table(doc, "crm", file)
    kind, crm_options = _crm_kind(crm, file, rel)
    contacts = _get(crm, "contacts", str, file, "crm", None) or None
    ownership = _get(crm, "ownership", str, file, "crm", None) or None
    accounts = _get(crm, "accounts", str, file, "crm") if kind == "csv" else None
    reps = _get(crm, "reps", str, file, "crm", None if kind != "csv" else ...) or None
    approvals = _get(crm, "approvals", str, file, "crm", None) or None
    warehouse = _table(doc, "warehouse", file, required=False)
    wh_path = rel(_get(warehouse, "path", str, file, "warehouse", "data/overlap.duckdb"))
    report = _table(doc, "report", file, required=False)
    rules = _rules(_table(doc, "rules", file, required=False), file)
    return Config(
        path=cfg_path,
        title=_get(company, "name", str, file, "company", "Overlap"),
        internal_domains=internal,
        timezone=tz,
        accounts_csv=rel(accounts) if accounts else None,
        reps_csv=rel(reps) if reps else None,
        contacts_csv=rel(contacts) if contacts else None,
        warehouse=wh_path,
        out_dir=rel(_get(report, "out_dir", str, file, "report", "out")),
        staging_dir=rel(_get(warehouse, "staging", str, file, "warehouse",
                             str(wh_path.parent / "staging"))),
        snapshot=rel(_get(warehouse, "snapshot", str, file, "warehouse",
                          str(wh_path.with_name(wh_path.stem + "-snapshot.duckdb")))),
        sources=_sources(doc, file, rel),
        rules=rules,
        ownership_csv=rel(ownership) if ownership else None,
        crm_kind=kind,
        crm_options=crm_options,
        approvals_csv=rel(approvals) if approvals else None,
        privacy=_privacy(doc, report, file, rules.dormant_days),
    )


def _crm_kind(crm: dict[str, Any], file: str,
              rel: Callable[[str], Path]) -> tuple[str, dict[str, Any]]:
    """``[crm] kind`` and its ``[crm.<kind>]`` options (``*_file`` paths resolved). An API
    kind reads accounts, contacts and owner history from the CRM, so the CSV keys for them are
    refused rather than silently ignored; ``reps`` may stay (what the CRM does not hold)."""
    kind = _get(crm, "kind", str, file, "crm", "csv")
    if kind not in CRM_OPTIONS:
        raise InputError(f"[crm] kind {kind!r} is not one of {', '.join(CRM_OPTIONS)}", file=file)
    for other in CRM_OPTIONS:
        if other != kind and other in crm:
            raise InputError(f"[crm.{other}] is set but [crm] kind is {kind!r}", file=file)
    if kind == "csv":
        return kind, {}
    for key in ("accounts", "contacts", "ownership"):
        if key in crm:
            raise InputError(f"[crm] {key} is for CSV files; with kind = {kind!r} the CRM's API "
                             "provides it (remove the key)", file=file)
    options = _table(crm, kind, file, required=False)
    unknown = sorted(set(options) - CRM_OPTIONS[kind])
    if unknown:
        raise InputError(f"unknown key {unknown[0]!r} in [crm.{kind}] (known: "
                         f"{', '.join(sorted(CRM_OPTIONS[kind]))})", file=file)
    resolved = dict(options)
    for key, value in options.items():
        if key.endswith("_file") and isinstance(value, str):
            resolved[key] = str(rel(value))
    return kind, resolved


def _read_toml(cfg_path: Path, file: str) -> dict[str, Any]:
    try:
        raw = cfg_path.read_bytes()
    except FileNotFoundError:
        raise InputError("config file not found", file=file) from None
    except OSError as exc:
        raise InputError(f"cannot read config: {exc.strerror}", file=file) from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError("config is not UTF-8", file=file) from None
    except tomllib.TOMLDecodeError as exc:
        raise toml_error(exc, raw.decode("utf-8"), file) from None


def _company(company: dict[str, Any], file: str) -> tuple[tuple[str, ...], str]:
    """``[company]``: the normalized internal domains and the time zone."""
    domains = _get(company, "internal_domains", list, file, "company")
    if not domains or not all(isinstance(d, str) and d.strip() for d in domains):
        raise InputError("[company] internal_domains must be a non-empty list of domains", file=file)
    from connectors.addresses import normalize_domain

    internal: list[str] = []
    for d in domains:
        nd = normalize_domain(d)
        if nd is None:
            raise InputError(f"[company] internal_domains: invalid domain {d!r}", file=file)
        internal.append(nd)
    tz = _get(company, "timezone", str, file, "company", "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"[company] timezone: unknown time zone {tz!r}", file=file) from None
    return tuple(internal), tz


def _sources(doc: dict[str, Any], file: str, rel: Callable[[str], Path]) -> tuple[Source, ...]:
    """``[[sources]]``: kinds from the registry, unique names, paths relative to the config."""
    sources: list[Source] = []
    raw_sources = doc.get("sources", [])
    if not isinstance(raw_sources, list):
        raise InputError("[[sources]] must be an array of tables", file=file)
    seen: set[str] = set()
    for i, s in enumerate(raw_sources, start=1):
        section = f"sources #{i}"
        if not isinstance(s, dict):
            raise InputError(f"[{section}] must be a table", file=file)
        kind = _get(s, "kind", str, file, section)
        if kind not in SOURCE_KINDS:
            raise InputError(f"[{section}] kind {kind!r} is not one of {', '.join(SOURCE_KINDS)}",
                             file=file)
        name = _get(s, "name", str, file, section, kind)
        if name in seen:
            raise InputError(f"[{section}] duplicate source name {name!r} (set name = ...)", file=file)
        seen.add(name)
        spath = _get(s, "path", str, file, section, None)
        if kind in FILE_KINDS and spath is None:
            raise InputError(f"[{section}] a {kind} source needs path = ...", file=file)
        options = {k: v for k, v in s.items() if k not in ("kind", "name", "path")}
        # Options naming files (key_file, ca_file, certificate_file, …) are relative to the
        # config file like every other path; connectors get them resolved.
        for key, value in options.items():
            if key.endswith("_file") and isinstance(value, str):
                options[key] = str(rel(value))
        sources.append(Source(kind=kind, name=name, path=rel(spath) if spath else None,
                              options=options))
    return tuple(sources)


def _rules(rules_t: dict[str, Any], file: str) -> Rules:
    """``[rules]`` and ``[rules.weights]``."""
    dormant = _get(rules_t, "dormant_days", int, file, "rules", 60)
    if dormant < 0:
        raise InputError("[rules] dormant_days must be >= 0", file=file)
    subjects = _get(rules_t, "subjects", str, file, "rules", "drop")
    if subjects not in SUBJECT_POLICIES:
        raise InputError(f"[rules] subjects must be one of {', '.join(SUBJECT_POLICIES)}", file=file)
    freemail = _get(rules_t, "freemail_domains", list, file, "rules", None)
    if freemail is not None and not all(isinstance(d, str) for d in freemail):
        raise InputError("[rules] freemail_domains must be a list of domains", file=file)
    weights_t = rules_t.get("weights", {})
    if not isinstance(weights_t, dict):
        raise InputError("[rules.weights] must be a table", file=file)
    defaults = Weights()
    w: dict[str, float] = {}
    for key, value in weights_t.items():
        if not hasattr(defaults, key):
            raise InputError(f"[rules.weights] unknown weight {key!r}", file=file)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise InputError(f"[rules.weights] {key} must be a number >= 0", file=file)
        w[key] = float(value)
    return Rules(
        dormant_days=dormant,
        management_chain=_get(rules_t, "management_chain", bool, file, "rules", True),
        subjects=subjects,
        freemail_domains=tuple(freemail) if freemail is not None else None,
        weights=Weights(**w),
        handoff_days=_count(rules_t, "handoff_days", 30, 0, file),
        heads_up_days=_count(rules_t, "heads_up_days", 7, 0, file),
        heads_up_max_people=_count(rules_t, "heads_up_max_people", 4, 2, file),
        broadcast_recipients=_count(rules_t, "broadcast_recipients", 20, 1, file),
    )


def _count(rules_t: dict[str, Any], key: str, default: int, lowest: int, file: str) -> int:
    """An integer setting of ``[rules]`` (a number of days, people or recipients)."""
    value = _get(rules_t, key, int, file, "rules", default)
    if value < lowest:
        raise InputError(f"[rules] {key} must be >= {lowest}", file=file)
    return int(value)


def _privacy(doc: dict[str, Any], report: dict[str, Any], file: str,
             dormant_days: int) -> Privacy:
    """``[retention] raw_days``, ``[publish] pseudonymise/secret_env``, ``[report] min_group``."""
    retention = _table(doc, "retention", file, required=False)
    raw_days = _get(retention, "raw_days", int, file, "retention", 400)
    need = max(28, dormant_days) + 7  # a reported week and all its evidence (docs/privacy.md)
    if raw_days < 0 or 0 < raw_days < need:
        raise InputError(f"[retention] raw_days must be 0 (keep everything) or at least {need}"
                         " (a week and the evidence it needs: max(28, dormant_days) + 7)",
                         file=file)
    publish = _table(doc, "publish", file, required=False)
    kinds = _get(publish, "pseudonymise", list, file, "publish", [])
    for kind in kinds:
        if kind not in PSEUDONYMISE_KINDS:
            raise InputError(f"[publish] pseudonymise: {kind!r} is not one of "
                             f"{', '.join(PSEUDONYMISE_KINDS)}", file=file)
    secret_env = _get(publish, "secret_env", str, file, "publish", "OVERLAP_PSEUDONYM_KEY")
    min_group = _get(report, "min_group", int, file, "report", 0)
    if min_group < 0:
        raise InputError("[report] min_group must be >= 0", file=file)
    return Privacy(raw_days=int(raw_days), pseudonymise=tuple(sorted(set(kinds))),
                   secret_env=secret_env, min_group=int(min_group))
