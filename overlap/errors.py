"""Errors a user can act on, each printed by the CLI as one line with its own exit code
(README, "Exit codes"): InputError 2, WarehouseLocked 3, DiskFull 4; AuditFailed 1."""

from __future__ import annotations

import errno
import re
import shutil
import sys
from pathlib import Path
from typing import Protocol


class InputError(Exception):
    """Bad user input: a config, CRM or command-line value. Names file, line and field."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        if self.field:
            where += f"column '{self.field}': " if self.line is not None else f"'{self.field}': "
        return where + self.message


class AuditFailed(Exception):
    """A model audit (a query that must return no rows) returned rows."""

    def __init__(self, audit: str, rows: int, sample: list[tuple[object, ...]]) -> None:
        self.audit = audit
        self.rows = rows
        self.sample = sample
        super().__init__(f"audit {audit} failed: {rows} row(s), e.g. {sample[:3]!r}")


class WarehouseLocked(Exception):
    """Another overlap process holds the warehouse's run lock (``overlap.runlock``)."""

    def __init__(self, warehouse: Path | str, pid: object = None, host: object = None,
                 started_at: object = None) -> None:
        self.warehouse = str(warehouse)
        self.pid = pid
        self.host = host
        self.started_at = started_at
        super().__init__(warehouse, pid, host, started_at)

    def __str__(self) -> str:
        who = f"pid {self.pid}" if self.pid is not None else "pid unknown"
        if self.host:
            who += f" on {self.host}"
        if self.started_at:
            who += f", started {self.started_at}"
        return (f"another overlap run ({who}) holds this warehouse: {self.warehouse}; "
                "nothing was read or changed — rerun when it has finished")


class DiskFull(Exception):
    """A write failed for lack of space. ``needed`` is a lower bound (bytes) or None."""

    def __init__(self, path: str, free: int | None, needed: int | None = None,
                 why: str = "") -> None:
        self.path = path
        self.free = free
        self.needed = needed
        self.why = why
        super().__init__(path, free, needed, why)

    @classmethod
    def of(cls, exc: BaseException, where: Path | None = None) -> DiskFull | None:
        """A DiskFull for ``exc`` if it is (or hides) a full disk, with the free space left
        on the path's file system; else None. ``where``: the folder that was being written,
        named when the error does not say which file (pyarrow's do not)."""
        if isinstance(exc, DiskFull):
            return exc
        path = disk_full_path(exc)
        if path is None:
            return None
        path = path or (str(where) if where is not None else "")
        return cls(path or "(unknown file)", _free(Path(path)) if path else None)

    def __str__(self) -> str:
        text = f"disk full: could not write {self.path}"
        if self.free is not None:
            text += f" ({_size(self.free)} free"
            if self.needed is not None:
                text += f", at least {_size(self.needed)} needed{self.why}"
            text += ")"
        return text + "; each step is one transaction, so nothing was half-written: " \
                      "free some space and rerun"


def _free(path: Path) -> int | None:
    for folder in (path, *path.parents):
        if folder.is_dir():
            return shutil.disk_usage(folder).free
    return None


def _size(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n < 10**10 else f"{n / 1e9:,.1f} GB"


# DuckDB: Could not write file "/x/overlap.duckdb.wal": No space left on device
_DUCKDB_PATH = re.compile(r'file "([^"]+)"')
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def disk_full_path(exc: BaseException) -> str | None:
    """If ``exc`` — or an error it was raised from or while handling — is a full disk (or
    quota), the path that could not be written ("" when unknown); else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DiskFull):
            return current.path
        text = str(current)
        if isinstance(current, OSError) and current.errno in _NO_SPACE:
            return str(current.filename or "")
        if "No space left on device" in text or "Disk quota exceeded" in text:
            match = _DUCKDB_PATH.search(text)
            return match.group(1) if match else str(getattr(current, "filename", "") or "")
        current = current.__cause__ or current.__context__
    return None


class _Transaction(Protocol):
    def rollback(self) -> object: ...


def rollback(con: _Transaction) -> None:
    """Roll back inside an ``except`` block that re-raises. When the rollback fails too —
    DuckDB has already ended the transaction after a failed write ("cannot rollback - no
    transaction is active") — its error must not replace the one that caused it: it is
    attached to that one as a note instead."""
    handling = sys.exception()
    try:
        con.rollback()
    except Exception as failed:
        if handling is None:
            raise
        handling.add_note(f"(the rollback failed too: {type(failed).__name__}: {failed})")
