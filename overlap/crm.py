"""CRM import: accounts.csv, reps.csv, contacts.csv, ownership.csv, approvals.csv → ``crm_*``.

Every import is a snapshot stamped ``as_of`` (rule 10, docs/crm-history.md): the load keeps
the latest snapshot in the ``crm_*`` tables and every snapshot's assignment facts in the
history (``warehouse.record_crm_snapshot``).

``load_crm`` is pure: it reads and validates every file and returns Arrow tables, or raises an
InputError naming file, line and column. The caller replaces the CRM snapshot in the warehouse
only when it returns, so a bad export changes nothing.

What is an error and what is not (where DESIGN.md leaves room):

* Errors: a missing file or column, a file that is not UTF-8, an empty or duplicate
  ``account_id``, an empty or malformed address, an invalid domain or a public suffix, a
  duplicate rep, a rep managing themself, an alias that is another rep's address or is claimed
  by two reps, a contact on an unknown account or on two accounts, a bad ``active`` value.
* Kept as written, reported by the SQL model as data quality: a domain on two accounts, a
  free-mail domain on an account, an owner, team member or manager missing from reps.csv.
  Owners, team members and managers may be aliases; the model resolves them.
* An account without domains is allowed: it is matched through contacts.csv only.
* Duplicates inside one list (the same domain twice on an account, the same contact twice on
  the same account) are dropped silently; so is an alias equal to the rep's own address.
* Column names are matched trimmed and case-insensitively. Every column of DESIGN.md is
  required except reps.csv ``active`` (true when the column or the cell is empty), so a typo
  in a header fails loudly instead of silently emptying a column.
* ``account_id`` is kept and compared exactly as written, trimmed (CRM ids are case-sensitive).
* ``line`` is the physical line (1 = header) where the record starts.
* ownership.csv: errors are an unknown account, a bad address or ``valid_from`` (a date, 00:00
  in the company zone, or an ISO timestamp with offset) and two rows for the same account and
  moment; an owner missing from reps.csv is data quality, as in accounts.csv.
* approvals.csv (rule 6, ``[crm] approvals``: ``account_id, rep_email, valid_from, valid_until,
  reason``): errors are an unknown account, a ``rep_email`` that is no rep (nor a rep's alias:
  it is stored as the rep's main address), a date that does not parse, ``valid_until`` not
  after ``valid_from`` and an empty reason. A blank ``valid_from`` or ``valid_until`` is open
  (since always / until further notice). Like ownership.csv, the newest import's file is the
  one in force; the approvals apply to every interaction whose time they cover.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa

from connectors.addresses import normalize_address, normalize_domain
from overlap.config import Config
from overlap.domains import freemail_domains, is_public_suffix
from overlap.errors import InputError

_S = pa.string()
_LINE = pa.int32()

#: Arrow schema of every table of the CRM snapshot (docs/architecture.md section 3).
SCHEMAS: dict[str, pa.Schema] = {
    "crm_accounts": pa.schema([("account_id", _S), ("account_name", _S),
                               ("owner_email", _S), ("line", _LINE)]),
    "crm_account_domains": pa.schema([("account_id", _S), ("domain", _S), ("line", _LINE)]),
    "crm_account_team": pa.schema([("account_id", _S), ("rep_email", _S)]),
    "crm_reps": pa.schema([("email", _S), ("name", _S), ("manager_email", _S), ("team", _S),
                           ("active", pa.bool_()), ("line", _LINE)]),
    "crm_rep_aliases": pa.schema([("alias", _S), ("rep_email", _S)]),
    "crm_contacts": pa.schema([("email", _S), ("account_id", _S), ("line", _LINE)]),
    "crm_ownership": pa.schema([("account_id", _S), ("owner_email", _S),
                                ("valid_from", pa.timestamp("us", "UTC")), ("line", _LINE)]),
    "crm_approvals": pa.schema([("account_id", _S), ("rep_email", _S),
                                ("valid_from", pa.timestamp("us", "UTC")),
                                ("valid_until", pa.timestamp("us", "UTC")), ("reason", _S),
                                ("line", _LINE)]),
    "company_domains": pa.schema([("domain", _S)]),
    "freemail_domains": pa.schema([("domain", _S)]),
    "crm_notes": pa.schema([("note", _S)]),  # an API CRM's data-quality notes (none for CSV)
}
#: The warehouse tables a CRM import replaces when it is the latest snapshot (the load's list);
#: identifiers are only ever taken from this fixed list, never from input.
CRM_TABLES: tuple[str, ...] = tuple(SCHEMAS)
#: The assignment facts of every snapshot (rule 10; sql/schema/003_crm_history.sql).
HISTORY_TABLES: tuple[str, ...] = ("crm_account_history", "crm_rep_history")
#: The model's CRM inputs: the latest snapshot and the history (the build fingerprint's list).
CRM_INPUTS: tuple[str, ...] = CRM_TABLES + HISTORY_TABLES

ACCOUNT_COLUMNS = ("account_id", "account_name", "owner_email", "domains", "team_emails")
REP_COLUMNS = ("email", "name", "manager_email", "team", "aliases")
REP_OPTIONAL = ("active",)
CONTACT_COLUMNS = ("email", "account_id")
OWNERSHIP_COLUMNS = ("account_id", "owner_email", "valid_from")
APPROVAL_COLUMNS = ("account_id", "rep_email", "valid_from", "valid_until", "reason")

_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8 (surrogateescape)

#: Files written by ``overlap init DIR`` (paths inside overlap/init_templates/).
TEMPLATE_FILES = ("overlap.toml", "crm/accounts.csv", "crm/reps.csv", "crm/contacts.csv")


@dataclass(frozen=True)
class CrmSnapshot:
    """The validated CRM: one Arrow table per warehouse table (see ``SCHEMAS``).

    ``counts`` has the keys ``accounts``, ``reps`` and ``contacts`` (for progress output);
    ``as_of`` is the snapshot's stamp (rule 10: ``--crm-as-of``, default the import's time).
    """

    tables: dict[str, pa.Table]
    counts: dict[str, int]
    as_of: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: What a run must say about this CRM read (an API CRM: history tracking off, or the CRM
    #: failed and the previous snapshot stays in force); shown with the CRM warnings.
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Row:
    line: int
    cells: dict[str, str]  # known column -> trimmed cell ("" when absent)

    def __getitem__(self, column: str) -> str:
        return self.cells.get(column, "")


class _CsvFile:
    """One CSV file being validated; ``error`` builds an InputError located in it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path)

    def error(self, message: str, line: int | None = None, field: str | None = None) -> InputError:
        return InputError(message, file=self.name, line=line, field=field)

    def rows(self, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> Iterator[_Row]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raise self.error("file not found") from None
        except OSError as exc:
            raise self.error(f"cannot read file: {exc.strerror}") from None
        if raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # the BOM Excel writes; it holds no newline, so line numbers stay
        elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise self.error("is UTF-16 (Excel's \"Unicode text\"); save the export as CSV UTF-8",
                             line=1)
        nul = raw.find(b"\x00")
        if nul >= 0:  # Python's csv accepts NUL; DuckDB strings and people should not see it
            raise self.error("contains a NUL byte (UTF-16 without a BOM?); save the export as "
                             "CSV UTF-8", line=raw[:nul].count(b"\n") + 1)
        bad_line: int | None = None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad_line = raw[: exc.start].count(b"\n") + 1
            text = raw.decode("utf-8", "surrogateescape")
        # strict: an unclosed quote is an error, not a cell that swallows the rest of the file
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        known = required + optional
        index: dict[str, int] = {}
        header: list[str] = []
        previous = 0
        try:
            for record in reader:
                start, previous = previous + 1, reader.line_num
                if bad_line is not None:
                    self._check_decoded(record, start, header)
                if not header:
                    header = [c.strip().lower() for c in record] or [""]
                    index = self._header(header, required, known)
                    continue
                if not any(c.strip() for c in record):
                    continue  # blank line
                yield _Row(start, {col: record[i].strip() if i < len(record) else ""
                                   for col, i in index.items()})
        except csv.Error as exc:
            raise self.error(f"malformed CSV in the record starting here ({exc}); check its "
                             "quotes", line=previous + 1) from None
        if not header:
            raise self.error("the file is empty; expected a header row with "
                             + ", ".join(required), line=1)
        if bad_line is not None:  # cannot happen: bad bytes always land in some cell
            raise self.error("not UTF-8; save the export as UTF-8", line=bad_line)

    def _header(self, header: list[str], required: tuple[str, ...],
                known: tuple[str, ...]) -> dict[str, int]:
        index: dict[str, int] = {}
        for i, name in enumerate(header):
            if name in known:
                if name in index:
                    raise self.error("column appears twice in the header", line=1, field=name)
                index[name] = i
        for name in required:
            if name not in index:
                hint = ""
                if len(header) == 1 and ";" in header[0]:
                    hint = "; the file looks ;-separated, export it comma-separated"
                found = ", ".join(h for h in header if h) or "none"
                raise self.error(f"missing column (found: {found}){hint}", line=1, field=name)
        return index

    def _check_decoded(self, record: list[str], start: int, header: list[str]) -> None:
        line = start
        for i, cell in enumerate(record):
            m = _UNDECODABLE.search(cell)
            if m:
                line += cell[: m.start()].count("\n")
                if not header:
                    column = None
                elif i < len(header) and header[i]:
                    column = header[i]
                else:
                    column = f"#{i + 1}"
                raise self.error("not UTF-8; save the export as UTF-8", line=line, field=column)
            line += cell.count("\n")


def _source(path: Path | _CsvFile) -> _CsvFile:
    """A file to read, or records an API returned (``crm_api.ApiRecords``) read alike."""
    return path if isinstance(path, _CsvFile) else _CsvFile(path)


def _split(cell: str) -> list[str]:
    return [item.strip() for item in cell.split(";") if item.strip()]


def _address(f: _CsvFile, row: _Row, column: str, raw: str) -> str:
    address = normalize_address(raw)
    if address is None:
        hint = " (lists are ;-separated)" if "," in raw else ""
        raise f.error(f"invalid email address {raw!r}{hint}", line=row.line, field=column)
    return address


def _required_address(f: _CsvFile, row: _Row, column: str) -> str:
    if not row[column]:
        raise f.error("is empty; an email address is required", line=row.line, field=column)
    return _address(f, row, column, row[column])


def _account_domain(f: _CsvFile, row: _Row, raw: str) -> str:
    domain = normalize_domain(raw)
    if domain is None:
        # A bare TLD ("com") is not a domain to normalize_domain, but deserves the clearer message.
        bare = raw.strip().strip(".").lower().removeprefix("@").strip(".")
        if bare and is_public_suffix(bare, listed_only=True):
            domain = bare
        else:
            hint = " (lists are ;-separated)" if "," in raw else ""
            raise f.error(f"invalid domain {raw!r}{hint}", line=row.line, field="domains")
    if is_public_suffix(domain):
        raise f.error(f"{raw.strip()!r} is a public suffix; list the customer's own domain "
                      f"(e.g. acme.{domain})", line=row.line, field="domains")
    return domain


def _load_accounts(path: Path | _CsvFile) -> tuple[dict[str, list[object]], ...]:
    f = _source(path)
    accounts: dict[str, list[object]] = {"account_id": [], "account_name": [],
                                         "owner_email": [], "line": []}
    domains: dict[str, list[object]] = {"account_id": [], "domain": [], "line": []}
    team: dict[str, list[object]] = {"account_id": [], "rep_email": []}
    seen: dict[str, int] = {}
    for row in f.rows(ACCOUNT_COLUMNS):
        account_id = row["account_id"]
        if not account_id:
            raise f.error("is empty", line=row.line, field="account_id")
        if account_id in seen:
            raise f.error(f"duplicate account_id {account_id!r} (first on line {seen[account_id]})",
                          line=row.line, field="account_id")
        seen[account_id] = row.line
        owner = _required_address(f, row, "owner_email")
        account_domains: list[str] = []
        for raw in _split(row["domains"]):
            domain = _account_domain(f, row, raw)
            if domain not in account_domains:
                account_domains.append(domain)
        members: list[str] = []
        for raw in _split(row["team_emails"]):
            member = _address(f, row, "team_emails", raw)
            if member not in members:
                members.append(member)
        accounts["account_id"].append(account_id)
        accounts["account_name"].append(row["account_name"] or None)
        accounts["owner_email"].append(owner)
        accounts["line"].append(row.line)
        for domain in account_domains:
            domains["account_id"].append(account_id)
            domains["domain"].append(domain)
            domains["line"].append(row.line)
        for member in members:
            team["account_id"].append(account_id)
            team["rep_email"].append(member)
    return accounts, domains, team


def _parse_active(f: _CsvFile, row: _Row) -> bool:
    value = row["active"].lower()
    if not value or value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise f.error(f"{row['active']!r} is not one of true/false/yes/no/1/0 (empty means true)",
                  line=row.line, field="active")


def _load_reps(path: Path | _CsvFile) -> tuple[dict[str, list[object]], dict[str, list[object]]]:
    f = _source(path)
    reps: dict[str, list[object]] = {"email": [], "name": [], "manager_email": [], "team": [],
                                     "active": [], "line": []}
    rep_line: dict[str, int] = {}
    rep_aliases: list[tuple[_Row, str, list[tuple[str, str]]]] = []
    for row in f.rows(REP_COLUMNS, REP_OPTIONAL):
        email = _required_address(f, row, "email")
        if email in rep_line:
            raise f.error(f"duplicate rep {email} (first on line {rep_line[email]})",
                          line=row.line, field="email")
        rep_line[email] = row.line
        manager = _address(f, row, "manager_email", row["manager_email"]) \
            if row["manager_email"] else None
        if manager == email:
            raise f.error("a rep cannot be their own manager", line=row.line, field="manager_email")
        aliases = [(raw, _address(f, row, "aliases", raw)) for raw in _split(row["aliases"])]
        rep_aliases.append((row, email, aliases))
        reps["email"].append(email)
        reps["name"].append(row["name"] or None)
        reps["manager_email"].append(manager)
        reps["team"].append(row["team"] or None)
        reps["active"].append(_parse_active(f, row))
        reps["line"].append(row.line)

    # Second pass: an alias may name a rep listed further down.
    out: dict[str, list[object]] = {"alias": [], "rep_email": []}
    claimed: dict[str, tuple[str, int]] = {}
    for row, email, aliases in rep_aliases:
        for raw, alias in aliases:
            if alias == email:
                continue
            if alias in rep_line:
                raise f.error(f"alias {raw!r} is the email of another rep (line {rep_line[alias]})",
                              line=row.line, field="aliases")
            if alias in claimed:
                if claimed[alias][0] == email:
                    continue
                raise f.error(f"alias {raw!r} is also claimed by {claimed[alias][0]} "
                              f"(line {claimed[alias][1]})", line=row.line, field="aliases")
            claimed[alias] = (email, row.line)
            out["alias"].append(alias)
            out["rep_email"].append(email)
    return reps, out


def _load_contacts(path: Path | _CsvFile | None, account_ids: set[str]) -> dict[str, list[object]]:
    contacts: dict[str, list[object]] = {"email": [], "account_id": [], "line": []}
    if path is None:
        return contacts
    f = _source(path)
    seen: dict[str, tuple[str, int]] = {}
    for row in f.rows(CONTACT_COLUMNS):
        email = _required_address(f, row, "email")
        account_id = _known_account(f, row, account_ids)
        if email in seen:
            first_account, first_line = seen[email]
            if first_account == account_id:
                continue
            raise f.error(f"contact {email} is already on account {first_account!r} "
                          f"(line {first_line}); a contact belongs to one account",
                          line=row.line, field="email")
        seen[email] = (account_id, row.line)
        contacts["email"].append(email)
        contacts["account_id"].append(account_id)
        contacts["line"].append(row.line)
    return contacts


def parse_moment(text: str, tz: ZoneInfo) -> datetime | None:
    """A date (00:00 in ``tz``) or an ISO timestamp with an offset; None when it is neither."""
    text = text.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), tz).astimezone(UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


def parse_crm_as_of(text: str, tz: ZoneInfo) -> datetime:
    """``--crm-as-of``: a date (00:00 in the company zone) or an ISO timestamp with offset."""
    moment = parse_moment(text, tz)
    if moment is None:
        raise InputError(f"{text!r} is not a date (2025-03-10) or an ISO timestamp with an "
                         "offset (2025-03-10T09:00:00+01:00)", field="--crm-as-of")
    return moment


def _load_ownership(path: Path | _CsvFile | None, account_ids: set[str],
                    tz: ZoneInfo) -> dict[str, list[object]]:
    """ownership.csv: dated owner changes. An owner missing from reps.csv is data quality
    (as in accounts.csv), not an error."""
    rows: dict[str, list[object]] = {"account_id": [], "owner_email": [], "valid_from": [],
                                     "line": []}
    if path is None:
        return rows
    f = _source(path)
    seen: dict[tuple[str, datetime], int] = {}
    for row in f.rows(OWNERSHIP_COLUMNS):
        account_id = _known_account(f, row, account_ids)
        owner = _required_address(f, row, "owner_email")
        valid_from = parse_moment(row["valid_from"], tz)
        if valid_from is None:
            raise f.error(f"{row['valid_from']!r} is not a date (2025-03-10) or an ISO "
                          "timestamp with an offset", line=row.line, field="valid_from")
        if (account_id, valid_from) in seen:
            raise f.error(f"a second owner for {account_id!r} from the same moment (first on "
                          f"line {seen[account_id, valid_from]})", line=row.line,
                          field="valid_from")
        seen[account_id, valid_from] = row.line
        rows["account_id"].append(account_id)
        rows["owner_email"].append(owner)
        rows["valid_from"].append(valid_from)
        rows["line"].append(row.line)
    return rows



def _known_account(f: _CsvFile, row: _Row, account_ids: set[str]) -> str:
    """The row's account_id, which must name an account of accounts.csv."""
    account_id = row["account_id"]
    if not account_id:
        raise f.error("is empty", line=row.line, field="account_id")
    if account_id not in account_ids:
        raise f.error(f"unknown account_id {account_id!r} (not in accounts.csv)",
                      line=row.line, field="account_id")
    return account_id

def _optional_moment(f: _CsvFile, row: _Row, column: str, tz: ZoneInfo) -> datetime | None:
    if not row[column]:
        return None
    moment = parse_moment(row[column], tz)
    if moment is None:
        raise f.error(f"{row[column]!r} is not a date (2025-03-10) or an ISO timestamp with "
                      "an offset (blank: open)", line=row.line, field=column)
    return moment


def _load_approvals(path: Path | None, account_ids: set[str], rep_of: dict[str, str],
                    tz: ZoneInfo) -> dict[str, list[object]]:
    """approvals.csv: approved collaborations. ``rep_of`` maps every rep address and alias to
    the rep's main address."""
    rows: dict[str, list[object]] = {name: [] for name in SCHEMAS["crm_approvals"].names}
    if path is None:
        return rows
    f = _CsvFile(path)
    for row in f.rows(APPROVAL_COLUMNS):
        for key, value in check_approval(f, row, account_ids, rep_of, tz).items():
            rows[key].append(value)
        rows["line"].append(row.line)
    return rows


def check_approval(f: _CsvFile, row: _Row, account_ids: set[str], rep_of: dict[str, str],
                   tz: ZoneInfo) -> dict[str, object]:
    """One approval row, validated (InputError located at its line and column)."""
    account_id = _known_account(f, row, account_ids)
    address = _required_address(f, row, "rep_email")
    if address not in rep_of:
        raise f.error(f"{address} is not a rep (not in reps.csv, nor an alias there)",
                      line=row.line, field="rep_email")
    valid_from = _optional_moment(f, row, "valid_from", tz)
    valid_until = _optional_moment(f, row, "valid_until", tz)
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        raise f.error(f"valid_until {row['valid_until']!r} is not after valid_from "
                      f"{row['valid_from']!r}", line=row.line, field="valid_until")
    if not row["reason"]:
        raise f.error("is empty; say why the collaboration is approved", line=row.line,
                      field="reason")
    return {"account_id": account_id, "rep_email": rep_of[address], "valid_from": valid_from,
            "valid_until": valid_until, "reason": row["reason"]}


def rep_addresses(reps: dict[str, list[object]],
                  aliases: dict[str, list[object]]) -> dict[str, str]:
    """Every rep address and alias → the rep's main address."""
    rep_of = {str(e): str(e) for e in reps["email"]}
    rep_of.update({str(a): str(r) for a, r in zip(aliases["alias"], aliases["rep_email"],
                                                  strict=True)})
    return rep_of


def _company_domains(config: Config) -> list[str]:
    out: list[str] = []
    for domain in config.internal_domains:
        if is_public_suffix(domain):
            raise InputError(f"[company] internal_domains: {domain!r} is a public suffix; list "
                             "your company's own domain", file=str(config.path),
                             field="internal_domains")
        if domain not in out:
            out.append(domain)
    return out


def load_crm(config: Config, as_of: datetime | None = None, *,
             credentials: object | None = None) -> CrmSnapshot:
    """Read and validate the CRM export named in ``[crm]``, stamped ``as_of`` (default: now);
    raises InputError, changes nothing. ``[crm] kind = "salesforce"`` or ``"hubspot"`` reads
    the CRM's API instead (``_load_api_crm``; ``credentials`` from an Airflow connection)."""
    if config.crm_kind != "csv":
        return _load_api_crm(config, as_of, credentials)
    company = _company_domains(config)
    try:
        freemail = freemail_domains(config.rules.freemail_domains)
    except InputError as exc:
        raise InputError(exc.message, file=str(config.path), field=exc.field) from None
    assert config.accounts_csv is not None and config.reps_csv is not None  # kind csv
    accounts, domains, team = _load_accounts(config.accounts_csv)
    reps, aliases = _load_reps(config.reps_csv)
    account_ids = {str(a) for a in accounts["account_id"]}
    contacts = _load_contacts(config.contacts_csv, account_ids)
    ownership = _load_ownership(config.ownership_csv, account_ids, config.tz)
    approvals = _load_approvals(config.approvals_csv, account_ids, rep_addresses(reps, aliases),
                                config.tz)
    columns = {
        "crm_accounts": accounts,
        "crm_account_domains": domains,
        "crm_account_team": team,
        "crm_reps": reps,
        "crm_rep_aliases": aliases,
        "crm_contacts": contacts,
        "crm_ownership": ownership,
        "crm_approvals": approvals,
        "company_domains": {"domain": company},
        "freemail_domains": {"domain": freemail},
        "crm_notes": {"note": []},
    }
    tables = {name: pa.Table.from_pydict(cols, schema=SCHEMAS[name])
              for name, cols in columns.items()}
    counts = {"accounts": len(accounts["account_id"]), "reps": len(reps["email"]),
              "contacts": len(contacts["email"])}
    return CrmSnapshot(tables=tables, counts=counts, as_of=as_of or datetime.now(UTC))


def crm_warnings(crm: CrmSnapshot, config: Config) -> list[str]:
    """Mistakes the import accepts but a user would want to hear about (also findings of the
    ``data_quality`` view): an owner who is not a rep (every event on the account becomes a
    coverage gap) and an account claiming one of our own domains (its addresses are internal,
    so the domain never matches the account)."""
    t = crm.tables
    reps = set(t["crm_reps"].column("email").to_pylist()) | set(
        t["crm_rep_aliases"].column("alias").to_pylist())
    company = t["company_domains"].column("domain").to_pylist()
    accounts = str(config.accounts_csv or f"{config.crm_kind} accounts")
    owners: list[str] = []
    internal: list[str] = []
    cols = t["crm_accounts"].to_pydict()
    for account, owner, line in zip(cols["account_id"], cols["owner_email"], cols["line"],
                                    strict=True):
        if owner not in reps:
            owners.append(f"{accounts}:{line}: owner {owner} of account {account} is not in "
                       f"reps.csv, so every event on {account} is a coverage gap (a typo, or "
                       "a rep missing from reps.csv?)")
    history = config.ownership_csv or f"{config.crm_kind} owner history"
    cols = t["crm_ownership"].to_pydict()  # rule 10: dated owners, the same finding
    for account, owner, line in zip(cols["account_id"], cols["owner_email"], cols["line"],
                                    strict=True):
        if owner not in reps:
            owners.append(f"{history}:{line}: owner {owner} of account {account} "
                          "is not in reps.csv, so events on it from then on are coverage gaps")
    cols = t["crm_account_domains"].to_pydict()
    for account, domain, line in zip(cols["account_id"], cols["domain"], cols["line"],
                                     strict=True):
        own = next((c for c in company if domain == c or domain.endswith("." + c)), None)
        if own is not None:
            internal.append(f"{accounts}:{line}: account {account} claims {domain}, an internal "
                       f"domain ([company] internal_domains has {own}): its people count as "
                       "internal and never match the account")
    return list(crm.notes) + _capped(owners) + _capped(internal)


def _capped(lines: list[str], show: int = 3) -> list[str]:
    """The first ``show`` warnings of one kind and a line counting the rest (the
    ``data_quality`` view lists them all)."""
    if len(lines) <= show + 1:
        return lines
    return lines[:show] + [f"… and {len(lines) - show:,} more like these (the data_quality "
                           "view lists them all)"]


def write_init_templates(dest: Path) -> list[Path]:
    """Write the example overlap.toml and CRM CSVs of ``overlap init`` into ``dest``.

    Refuses (InputError, nothing written) when any of the files already exists.
    """
    dest = Path(dest)
    root = resources.files("overlap").joinpath("init_templates")
    targets = [(root.joinpath(*rel.split("/")), dest.joinpath(*rel.split("/")))
               for rel in TEMPLATE_FILES]
    for _, target in targets:
        if target.exists():
            raise InputError("already exists; overlap init does not overwrite files "
                             "(move it away or choose another directory)", file=str(target))
    written: list[Path] = []
    for source, target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "xb") as out:  # "x": never clobber a file created meanwhile
            out.write(source.read_bytes())
        written.append(target)
    # The folder the template's file sources read: one subfolder per mailbox goes in here.
    (dest / "exports").mkdir(exist_ok=True)
    return written


# --- [crm] kind = "salesforce" | "hubspot": the CRM read from its API (docs/crm.md) ----------

#: crm_ownership of an API CRM: its owner history is ``source = crm_api`` in account_owners.
API_OWNERSHIP_SCHEMA = SCHEMAS["crm_ownership"].append(pa.field("source", _S))


class _ApiRecords(_CsvFile):
    """Records a CRM's API returned, read by the CSV path's loaders as the rows they stand
    for, so bad data gives the same errors; an error names the CRM record, not a line."""

    def __init__(self, kind: str, what: str, rows: list[tuple[str, dict[str, str]]]) -> None:
        self.path = Path(kind)
        self.name = f"{kind} {what}"
        self._rows = rows  # (the record's name, cells by CSV column)

    def error(self, message: str, line: int | None = None, field: str | None = None) -> InputError:
        ref = self._rows[line - 1][0] if line is not None and 0 < line <= len(self._rows) \
            else None
        return InputError(f"{message} ({ref})" if ref else message, file=self.name, field=field)

    def rows(self, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> Iterator[_Row]:
        for n, (_, cells) in enumerate(self._rows, start=1):
            yield _Row(n, {column: cells.get(column, "").strip() for column in required + optional})


def _api_reps(config: Config, records: object) -> tuple[_ApiRecords, list[str]]:
    """The CRM's users as reps.csv rows, completed by ``[crm] reps`` when given (aliases, and
    a manager or team the CRM does not hold: HubSpot owners have neither manager nor alias).
    Returns the rows and the notes (supplement rows naming no CRM user)."""
    from connectors.crm import CrmRecords

    assert isinstance(records, CrmRecords)
    extra: dict[str, _Row] = {}
    if config.reps_csv is not None:
        for row in _CsvFile(config.reps_csv).rows(REP_COLUMNS, REP_OPTIONAL):
            address = normalize_address(row["email"]) if row["email"] else None
            if address:
                extra[address] = row
    rows: list[tuple[str, dict[str, str]]] = []
    known: set[str] = set()
    for u in records.users:
        address = normalize_address(u.email) if u.email else None
        more = extra.get(address) if address else None
        known.add(address or "")
        aliases = u.aliases + (_split(more["aliases"]) if more else [])
        rows.append((u.ref, {
            "email": u.email, "name": u.name,
            "manager_email": u.manager_email or (more["manager_email"] if more else ""),
            "team": u.team or (more["team"] if more else ""), "aliases": ";".join(aliases),
            "active": "true" if u.active else "false"}))
    unused = sorted(set(extra) - known)
    notes = [f"{config.reps_csv}: {len(unused)} row(s) name no {records.kind} user (e.g. "
             f"{unused[0]}); they are ignored"] if unused else []
    return _ApiRecords(records.kind, "users", rows), notes


def _previous_snapshot(config: Config) -> tuple[dict[str, pa.Table], datetime] | None:
    """The latest CRM snapshot in the warehouse (tables, stamp), or None when there is none."""
    import duckdb

    if not config.warehouse.exists():
        return None
    con = duckdb.connect(str(config.warehouse), read_only=True)
    try:
        stamp = con.execute("select max(as_of) from crm_snapshots").fetchall()[0][0]
        if stamp is None:
            return None
        tables = {name: con.sql(f"select * from {name}").to_arrow_table()  # noqa: S608
                  for name in CRM_TABLES}
    except duckdb.Error:
        return None
    finally:
        con.close()
    return tables, stamp


def _api_unavailable(config: Config, message: str) -> CrmSnapshot:
    """A CRM whose API failed: the previous snapshot stays in force (re-recorded unchanged),
    and the run says so; without one there is nothing to run on (InputError)."""
    previous = _previous_snapshot(config)
    if previous is None:
        raise InputError(f"{message}; there is no earlier CRM snapshot to fall back on, so "
                         "nothing was imported", file=str(config.path), field="crm")
    tables, stamp = previous
    counts = {"accounts": tables["crm_accounts"].num_rows, "reps": tables["crm_reps"].num_rows,
              "contacts": tables["crm_contacts"].num_rows}
    note = (f"{message}; nothing was imported and the previous CRM snapshot (as of "
            f"{stamp:%Y-%m-%d %H:%M %Z}) stays in force")
    return CrmSnapshot(tables=tables, counts=counts, as_of=stamp, notes=(note,))


def _load_api_crm(config: Config, as_of: datetime | None, credentials: object | None
                  ) -> CrmSnapshot:
    """Read the CRM from its API in full, then validate it with the CSV path's loaders."""
    from connectors.api import SourceError
    from connectors.crm import fetch

    try:
        records = fetch(config.crm_kind, config.crm_options, credentials)
    except SourceError as exc:
        return _api_unavailable(config, f"the {config.crm_kind} CRM could not be read ({exc})")
    kind = records.kind
    company = _company_domains(config)
    try:
        freemail = freemail_domains(config.rules.freemail_domains)
    except InputError as exc:
        raise InputError(exc.message, file=str(config.path), field=exc.field) from None
    accounts, domains, team = _load_accounts(_ApiRecords(kind, "accounts", [
        (a.ref, {"account_id": a.account_id, "account_name": a.account_name,
                 "owner_email": a.owner_email, "domains": ";".join(a.domains),
                 "team_emails": ";".join(a.team_emails)}) for a in records.accounts]))
    users, notes = _api_reps(config, records)
    reps, aliases = _load_reps(users)
    account_ids = {str(a) for a in accounts["account_id"]}
    contacts = _load_contacts(_ApiRecords(kind, "contacts", [
        (c.ref, {"email": c.email, "account_id": c.account_id}) for c in records.contacts]),
        account_ids)
    ownership = _load_ownership(_ApiRecords(kind, "owner history", [
        (h.ref, {"account_id": h.account_id, "owner_email": h.owner_email,
                 "valid_from": h.valid_from.isoformat()}) for h in records.ownership]),
        account_ids, config.tz)
    ownership["source"] = ["crm_api"] * len(ownership["account_id"])
    # approvals.csv stays the managers' own file whatever holds the CRM (rule 6)
    approvals = _load_approvals(config.approvals_csv, account_ids, rep_addresses(reps, aliases),
                                config.tz)
    columns = {"crm_accounts": accounts, "crm_account_domains": domains,
               "crm_account_team": team, "crm_reps": reps, "crm_rep_aliases": aliases,
               "crm_contacts": contacts, "crm_approvals": approvals,
               "company_domains": {"domain": company},
               "freemail_domains": {"domain": freemail}, "crm_notes": {"note": records.notes}}
    tables = {name: pa.Table.from_pydict(cols, schema=SCHEMAS[name])
              for name, cols in columns.items()}
    tables["crm_ownership"] = pa.Table.from_pydict(ownership, schema=API_OWNERSHIP_SCHEMA)
    counts = {"accounts": len(accounts["account_id"]), "reps": len(reps["email"]),
              "contacts": len(contacts["email"]), "owner_changes": len(ownership["account_id"]),
              "requests": records.requests, "retries": records.retries}
    return CrmSnapshot(tables=tables, counts=counts, as_of=as_of or datetime.now(UTC),
                       notes=tuple(records.notes + notes))


def describe_crm(crm: CrmSnapshot, config: Config) -> list[str]:
    """What an import of ``crm`` would bring (``overlap crm check``): counts, accounts without
    domains, owners who are not reps, the owner history's coverage and the notes."""
    t = crm.tables
    accounts = t["crm_accounts"].to_pydict()
    with_domains = set(t["crm_account_domains"].column("account_id").to_pylist())
    without = [a for a in accounts["account_id"] if a not in with_domains]
    reps = set(t["crm_reps"].column("email").to_pylist()) | set(
        t["crm_rep_aliases"].column("alias").to_pylist())
    not_reps = sorted({o for o in accounts["owner_email"] if o not in reps})
    history = t["crm_ownership"].to_pydict()
    covered = set(history["account_id"])
    source = config.crm_kind if config.crm_kind != "csv" else "files"
    inactive = sum(not a for a in t["crm_reps"].column("active").to_pylist())
    lines = [f"CRM ({source}): {len(accounts['account_id']):,} accounts, "
             f"{t['crm_reps'].num_rows:,} reps ({inactive:,} inactive), "
             f"{t['crm_rep_aliases'].num_rows:,} aliases, {t['crm_contacts'].num_rows:,} "
             f"contacts, {t['crm_account_team'].num_rows:,} team memberships"]
    lines.append(f"accounts without domains: {len(without):,}"
                 + (f" (matched through contacts only: {', '.join(without[:5])}"
                    f"{' …' if len(without) > 5 else ''})" if without else ""))
    lines.append(f"owners who are not reps: {len(not_reps):,}"
                 + (f" ({', '.join(not_reps[:5])}{' …' if len(not_reps) > 5 else ''})"
                    if not_reps else ""))
    if history["account_id"]:
        moments = history["valid_from"]
        lines.append(f"owner history: {len(moments):,} dated owner facts on {len(covered):,} of "
                     f"{len(accounts['account_id']):,} accounts, {min(moments):%Y-%m-%d} .. "
                     f"{max(moments):%Y-%m-%d}")
    else:
        lines.append("owner history: none (the snapshots are the only owner history)")
    if "requests" in crm.counts:
        lines.append(f"API: {crm.counts['requests']:,} requests, {crm.counts['retries']:,} "
                     "retries")
    return lines + [f"note: {n}" for n in crm.notes]
