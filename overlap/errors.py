"""Errors a user can act on. The CLI prints them as one line and exits with code 2."""

from __future__ import annotations


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
