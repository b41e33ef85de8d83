"""``overlap approve``: append one approved collaboration to approvals.csv (rule 6).

A manager acts on a report in one line: ``overlap approve --config overlap.toml --account
ACC --rep R [--from D] [--until D] --reason "…"``. The row is validated exactly as the import
validates the file (``overlap.crm.check_approval``: known account, a rep, dates that parse,
until after from, a reason) plus what a spreadsheet would misread: a reason that starts like a
formula (``= + - @``, tab, carriage return) or holds a line break is refused. HTML in a reason
is stored as written and escaped wherever it is shown.

The file is only ever appended to, never rewritten: the existing rows stay byte for byte, and
an exclusive ``flock`` on the file makes two concurrent approves write one whole row each. A
missing file is created with its header. The row is written in the column order of the
file's own header (extra columns left empty), so a file edited in a spreadsheet keeps its
layout. The approval takes effect at the next run (it is part of the CRM snapshot).
"""

from __future__ import annotations

import csv
import fcntl
import io
import os
from dataclasses import dataclass
from pathlib import Path

from overlap.config import Config
from overlap.crm import (
    APPROVAL_COLUMNS,
    _CsvFile,
    _load_accounts,
    _load_reps,
    _Row,
    check_approval,
    load_crm,
    rep_addresses,
)
from overlap.errors import InputError

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Approval:
    """One approval as given on the command line (dates as written; blank = open)."""

    account_id: str
    rep_email: str
    valid_from: str
    valid_until: str
    reason: str

    def cells(self) -> dict[str, str]:
        return {"account_id": self.account_id, "rep_email": self.rep_email,
                "valid_from": self.valid_from, "valid_until": self.valid_until,
                "reason": self.reason}


class _Options(_CsvFile):
    """Errors about the command line name the option, not a file line."""

    _FLAGS = {"account_id": "--account", "rep_email": "--rep", "valid_from": "--from",
              "valid_until": "--until", "reason": "--reason"}

    def error(self, message: str, line: int | None = None, field: str | None = None
              ) -> InputError:
        return InputError(message, field=self._FLAGS.get(field or "", field))


def validate(config: Config, approval: Approval) -> None:
    """Raise InputError unless ``approval`` is a row the import accepts and a spreadsheet
    reads as text."""
    reason = approval.reason.strip()
    if reason.startswith(_FORMULA_START):
        raise InputError("starts like a spreadsheet formula (= + - @); reword it",
                         field="--reason")
    if any(ch in reason for ch in "\n\r\x00"):
        raise InputError("must be one line", field="--reason")
    account_ids, rep_of = _known(config)
    row = _Row(0, {k: v.strip() for k, v in approval.cells().items()})
    check_approval(_Options(Path("command line")), row, account_ids, rep_of, config.tz)


def _known(config: Config) -> tuple[set[str], dict[str, str]]:
    """The CRM's account ids and rep addresses (aliases → the rep): the CSV files, or an API
    CRM read as a run would (its previous snapshot if it cannot be reached)."""
    if config.accounts_csv is not None and config.reps_csv is not None:
        accounts, _, _ = _load_accounts(config.accounts_csv)
        reps, aliases = _load_reps(config.reps_csv)
        return {str(a) for a in accounts["account_id"]}, rep_addresses(reps, aliases)
    tables = load_crm(config).tables
    return (set(map(str, tables["crm_accounts"].column("account_id").to_pylist())),
            rep_addresses(tables["crm_reps"].to_pydict(), tables["crm_rep_aliases"].to_pydict()))


def append(config: Config, approval: Approval) -> tuple[Path, int]:
    """Validate and append ``approval`` to ``[crm] approvals``; returns the file and the line
    written."""
    path = config.approvals_csv
    if path is None:
        raise InputError("[crm] approvals is not set: add approvals = \"crm/approvals.csv\" "
                         "to [crm], then approve again", file=str(config.path))
    validate(config, approval)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file is closed
        f.seek(0)
        existing = f.read()
        header = _header(existing, path)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        prefix = ""
        if header is None:
            header = list(APPROVAL_COLUMNS)
            writer.writerow(header)
        elif existing and not existing.endswith(b"\n"):
            prefix = "\n"  # the last row had no line end: never glue ours to it
        cells = {k: v.strip() for k, v in approval.cells().items()}
        writer.writerow([cells.get(col.strip().lower(), "") for col in header])
        data = (prefix + out.getvalue()).encode("utf-8")
        f.seek(0, os.SEEK_END)
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
        line = existing.count(b"\n") + len(prefix) + (1 if not existing else 0) + 1
    return path, line


def _header(existing: bytes, path: Path) -> list[str] | None:
    """The file's header row (None for an empty file); its approval columns must be there."""
    text = existing.decode("utf-8-sig", errors="replace")
    if not text.strip():
        return None
    header = next(csv.reader(io.StringIO(text)))
    names = {c.strip().lower() for c in header}
    missing = [c for c in APPROVAL_COLUMNS if c not in names]
    if missing:
        raise InputError(f"missing column (found: {', '.join(header)}); nothing appended",
                         file=str(path), line=1, field=missing[0])
    return header
