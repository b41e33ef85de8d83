"""Erasure: ``overlap forget ADDRESS…`` removes every trace of people from Overlap's data.

Steps, each idempotent (a rerun with the same addresses finishes what a killed one began):

1. **Warehouse, one transaction** (``sqlrunner.build(prepare=…)``): the addresses' entries are
   removed from every raw copy's participants (names with them; a subject kept under
   ``subjects = "keep"`` that names them is dropped), quarantine rows that name them are
   deleted, frozen weekly rows (``retained_*``) of a forgotten rep go, a ``runs`` row (scope
   ``forget``) records the counts — never the addresses — and the model is rebuilt in full
   from what is left, in the same transaction: an interaction left with no customer person
   stops producing events, the weekly rows are recomputed. A kill before the commit leaves
   the old state, after it the new one.
2. **Staged Parquet** is rewritten without them (a reload of an old window brings nothing back).
3. **Reports and digests** whose files named them are rendered again from the warehouse.
4. **The snapshot and the marts** are published again.

After step 1 the warehouse file is rewritten from its live rows (``compact``): DuckDB keeps an
updated row's old bytes in its blocks until they are rewritten.

The CRM is the CRM's business: an address still in contacts.csv / reps.csv (or the CRM's API
snapshot) is reported as a warning — the next import brings it back as a contact or rep, never
as mail. A mailbox holder cannot be forgotten while a source still reads the mailbox (the next
run would extract it again): remove the mailbox first. Addresses are compared normalized
(trimmed, lower-case, IDN domain in punycode), and files are scanned for the Unicode form too.
"""

# Every identifier in the SQL below is a fixed name; values are bound. Hence no S608.
# ruff: noqa: S608

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from overlap import fileio, sqlrunner, warehouse
from overlap.config import Config
from overlap.crashpoints import crash_point
from overlap.errors import InputError
from overlap.staging import COPIES_SCHEMA, QUARANTINE_SCHEMA

Progress = Callable[[str], None]
_REPORT_SUFFIXES = (".html", ".csv", ".txt", ".eml", ".json")


@dataclass
class Forgotten:
    """What ``forget`` changed (or, with ``dry_run``, would change). Counts and paths only."""

    copies: int = 0  # raw copies that named an address
    emails: int = 0
    meetings: int = 0
    quarantined: int = 0
    frozen_weekly: int = 0
    staged_files: list[str] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)  # report files that named an address
    weeks: list[date] = field(default_factory=list)  # weeks re-rendered
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False


def variants(addresses: list[str]) -> list[str]:
    """The normalized addresses, plus the Unicode form of an IDN domain (for files)."""
    import idna

    from connectors.addresses import normalize_address

    out: set[str] = set()
    for raw in addresses:
        address = normalize_address(raw)
        if address is None:
            raise InputError(f"not an address: {raw!r}", field="ADDRESS")
        out.add(address)
        local, _, domain = address.rpartition("@")
        try:
            out.add(f"{local}@{idna.decode(domain)}".lower())
        except (idna.IDNAError, UnicodeError):
            pass
    return sorted(out)


def forget(config: Config, addresses: list[str], *, dry_run: bool = False,
           progress: Progress = lambda _: None, pseudonym_key: str | None = None) -> Forgotten:
    """Erase ``addresses`` (module docstring); with ``dry_run`` only count what would change.
    ``pseudonym_key``: for a pseudonymised snapshot (else from the environment)."""
    from overlap.pipeline import publish, report, writing
    from overlap.privacy.pseudonymise import secret

    wanted = variants(addresses)
    result = Forgotten(dry_run=dry_run)
    secret(config, pseudonym_key)  # a missing key fails now, before anything changes
    if not config.warehouse.exists():
        raise InputError("no warehouse yet: nothing to forget", file=str(config.warehouse))
    with writing(config):
        con = warehouse.connect(config.warehouse)
        try:
            _refuse_mailboxes(con, wanted)
            _count(con, wanted, result)
            result.warnings = _crm_warnings(con, config, wanted)
            result.staged_files = [str(p) for p in _staged_naming(con, config.staging_dir, wanted)]
            result.reports = [str(p) for p in _reports_naming(config.out_dir, wanted)]
            if dry_run:
                return result
            run_id = f"forget-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
            sqlrunner.build(con, sqlrunner.params_from_config(config),
                            prepare=lambda c: _erase(c, wanted, result, run_id))
            con.execute("checkpoint")
        finally:
            con.close()
        crash_point("forget:committed")
        compact(config.warehouse)
        progress(f"warehouse: {result.copies:,} copies, {result.quarantined:,} quarantine rows")
        for path in result.staged_files:
            _rewrite_staged(Path(path), wanted)
        crash_point("forget:staged")
        progress(f"staged files rewritten: {len(result.staged_files):,}")
        result.weeks = sorted({w for p in result.reports if (w := _week_of(Path(p), config))})
        if result.weeks:
            report(config, result.weeks, progress=progress)
        for left in _reports_naming(config.out_dir, wanted):  # not a week's file: remove it
            left.unlink()
        crash_point("forget:reported")
        publish(config, pseudonym_key=pseudonym_key)
        progress(f"snapshot republished: {config.snapshot}")
    return result


def compact(path: Path) -> None:
    """Rewrite the warehouse file from its live rows (``COPY FROM DATABASE`` into a new file,
    swapped in atomically): an updated or deleted row's old bytes stay in a DuckDB file's
    blocks until they are rewritten, and an erasure must not leave them there."""
    with fileio.replacing(path) as tmp:
        con = duckdb.connect()
        try:
            src, dst = (str(p).replace("'", "''") for p in (path, tmp))
            con.execute(f"attach '{src}' as src (read_only)")
            con.execute(f"attach '{dst}' as dst")
            con.execute("copy from database src to dst")
            con.execute("detach dst")
        finally:
            con.close()


def _refuse_mailboxes(con: duckdb.DuckDBPyConnection, wanted: list[str]) -> None:
    held = con.execute("select distinct mailbox from raw_copies where list_contains(?, mailbox)"
                       " union select mailbox from sync_state where list_contains(?, mailbox)",
                       [wanted, wanted]).fetchall()
    if held:
        raise InputError(f"{len(held)} of the addresses is a mailbox a source reads: remove the"
                         " mailbox from the source (and the rep from the CRM) first, or the"
                         " next run extracts it again", field="ADDRESS")


_NAMES = ("list_has_any(?, list_transform(participants, lambda p: lower(p.address)))"
          " or len(list_filter(?, lambda a: contains(lower(coalesce(subject, '')), a))) > 0")
_QUARANTINE = ("len(list_filter(?, lambda a: contains(lower(coalesce(locator, '')), a)"
               " or contains(lower(reason), a))) > 0")
_FROZEN = ("list_contains(?, lower(rep_email)) or list_contains(?, lower(owner_email))")


def _count(con: duckdb.DuckDBPyConnection, wanted: list[str], result: Forgotten) -> None:
    result.emails, result.meetings = (int(n) for n in con.execute(
        "select count(*) filter (where kind = 'email'), count(*) filter (where kind <> 'email')"
        f" from raw_copies where {_NAMES}", [wanted, wanted]).fetchall()[0])
    result.copies = result.emails + result.meetings
    result.quarantined = int(con.execute(f"select count(*) from raw_quarantine where {_QUARANTINE}",
                                         [wanted]).fetchall()[0][0])
    result.frozen_weekly = int(con.execute(
        f"select (select count(*) from retained_score_weekly where {_FROZEN})"
        " + (select count(*) from retained_collaboration_weekly where list_contains(?,"
        " lower(owner_email)) or list_has_any(?, rep_emails))",
        [wanted, wanted, wanted, wanted]).fetchall()[0][0])


def _erase(con: duckdb.DuckDBPyConnection, wanted: list[str], result: Forgotten,
           run_id: str) -> None:
    """Step 1's raw changes, inside the build's transaction."""
    con.execute(
        "update raw_copies set participants = list_filter(participants,"
        "  lambda p: not list_contains($w, lower(p.address))),"
        " subject = case when len(list_filter($w, lambda a: contains(lower(coalesce(subject, '')), a))) > 0"
        "  then null else subject end"
        " where list_has_any($w, list_transform(participants, lambda p: lower(p.address)))"
        " or len(list_filter($w, lambda a: contains(lower(coalesce(subject, '')), a))) > 0", {"w": wanted})
    con.execute(f"delete from raw_quarantine where {_QUARANTINE}", [wanted])
    con.execute(f"delete from retained_score_weekly where {_FROZEN}", [wanted, wanted])
    con.execute("delete from retained_collaboration_weekly where list_contains(?,"
                " lower(owner_email)) or list_has_any(?, rep_emails)", [wanted, wanted])
    now = datetime.now(UTC)
    con.execute(
        "insert into run_log (run_id, scope, source, mailbox, window_start, window_end,"
        " started_at, finished_at, status, emails, meetings, quarantined, error)"
        " values (?, 'forget', null, null, null, null, ?, ?, 'succeeded', ?, ?, ?, ?)",
        [run_id, now, now, result.emails, result.meetings, result.quarantined,
         f"{len(wanted)} address form(s); {result.frozen_weekly} frozen weekly row(s)"])
    crash_point("forget:erased")


def _staged_naming(con: duckdb.DuckDBPyConnection, staging_dir: Path,
                   wanted: list[str]) -> list[Path]:
    """Staged copies and quarantine files that name an address (queried: Parquet is
    compressed, a byte scan would not see them)."""
    found: list[Path] = []
    if not staging_dir.is_dir():
        return found
    for path in sorted(staging_dir.rglob("*.copies.parquet")):
        n = con.execute(f"select count(*) from read_parquet(?) where {_NAMES}",
                        [str(path), wanted, wanted]).fetchall()[0][0]
        if n:
            found.append(path)
    for path in sorted(staging_dir.rglob("*.quarantine.parquet")):
        n = con.execute(f"select count(*) from read_parquet(?) where {_QUARANTINE}",
                        [str(path), wanted]).fetchall()[0][0]
        if n:
            found.append(path)
    return found


def _rewrite_staged(path: Path, wanted: list[str]) -> None:
    """Rewrite one staged file without the addresses (atomically: old or new file)."""
    con = duckdb.connect()
    try:
        if path.name.endswith(".copies.parquet"):
            table = con.sql(
                "select * replace (list_filter(participants, lambda p:"
                "  not list_contains($w, lower(p.address))) as participants,"
                " case when len(list_filter($w, lambda a: contains(lower(coalesce(subject, '')), a))) > 0"
                "  then null else subject end as subject) from read_parquet($f)",
                params={"w": wanted, "f": str(path)}).to_arrow_table()
            schema = COPIES_SCHEMA
        else:
            table = con.sql(f"select * from read_parquet(?) where not ({_QUARANTINE})",
                            params=[str(path), wanted]).to_arrow_table()
            schema = QUARANTINE_SCHEMA
    finally:
        con.close()
    assert table is not None
    with fileio.replacing(path) as tmp:
        pq.write_table(table.cast(schema), tmp, compression="zstd")


def _reports_naming(out_dir: Path, wanted: list[str]) -> list[Path]:
    """Report, CSV and digest files whose bytes name an address (case-insensitive); the
    marts are not looked at (they are published again)."""
    if not out_dir.is_dir():
        return []
    needles = [w.encode("utf-8") for w in wanted]
    found = []
    for path in sorted(out_dir.rglob("*")):
        if not path.is_file() or path.suffix not in _REPORT_SUFFIXES or "marts" in path.parts:
            continue
        text = path.read_bytes().lower()
        if any(n in text for n in needles):
            found.append(path)
    return found


def _week_of(path: Path, config: Config) -> date | None:
    """The week of a report file: its folder under out_dir is the ISO week (2026-W47)."""
    from overlap.weeks import parse_week

    try:
        folder = path.relative_to(config.out_dir).parts[0]
        return parse_week(folder)
    except (ValueError, InputError, IndexError):
        return None


def _crm_warnings(con: duckdb.DuckDBPyConnection, config: Config, wanted: list[str]) -> list[str]:
    """The CRM still lists the address: the next import keeps it as a contact / rep."""
    warnings = []
    for table, column in (("crm_contacts", "email"), ("crm_reps", "email"),
                          ("crm_rep_aliases", "alias")):
        n = con.execute(f"select count(*) from {table} where list_contains(?, lower({column}))",
                        [wanted]).fetchall()[0][0]
        if n:
            where = {"crm_contacts": config.contacts_csv or "the CRM's contacts",
                     "crm_reps": config.reps_csv, "crm_rep_aliases": config.reps_csv}[table]
            warnings.append(f"{n} address(es) still listed in {where} ({table}): the CRM keeps"
                            " them; erase them there too or the next import brings them back"
                            " (as CRM facts, not as mail)")
    return warnings
