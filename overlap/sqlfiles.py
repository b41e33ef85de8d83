"""The ``.sql`` files of the ``sql`` package, as the runner and the incremental build read them.

Both ``overlap.sqlrunner`` (full builds, migrations, views, audits) and ``overlap.incremental``
(the incremental build) import this module; neither imports the other's internals.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

# OVERLAP_TRACE_INCREMENTAL=1: print each statement of an incremental build and each audit
# with its time
TRACE = bool(os.environ.get("OVERLAP_TRACE_INCREMENTAL"))

SQL_PACKAGE = "sql"

_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
LINE_COMMENT = re.compile(r"--[^\n]*")
_STRING = re.compile(r"'(?:[^']|'')*'")
TARGET = re.compile(r"create\s+or\s+replace\s+table\s+([a-z_][a-z0-9_]*)\s", re.IGNORECASE)
# the head of a model file's statement: `create or replace table <name> as`
HEAD = re.compile(TARGET.pattern + r"\s*as\s", re.IGNORECASE)


@dataclass(frozen=True)
class SqlFile:
    """One ``.sql`` file of the package: its folder, file name and text."""

    folder: str
    name: str
    text: str

    @property
    def stem(self) -> str:
        return self.name.removesuffix(".sql")

    @property
    def params(self) -> frozenset[str]:
        """Named parameters the statement uses (comments and string literals ignored)."""
        code = _STRING.sub("''", LINE_COMMENT.sub("", self.text))
        return frozenset(_PARAM.findall(code))


def sql_files(folder: str) -> list[SqlFile]:
    """The ``.sql`` files of ``sql/<folder>`` in file-name order."""
    root = resources.files(SQL_PACKAGE).joinpath(folder)
    if not root.is_dir():
        return []
    files = [
        SqlFile(folder, entry.name, entry.read_text(encoding="utf-8"))
        for entry in root.iterdir()
        if entry.is_file() and entry.name.endswith(".sql")
    ]
    return sorted(files, key=lambda f: f.name)


def target(f: SqlFile) -> str:
    """The table a model file creates."""
    match = TARGET.search(LINE_COMMENT.sub("", f.text))
    if match is None:
        raise ValueError(f"sql/model/{f.name}: expected one 'create or replace table <name> as'")
    return match.group(1).lower()


def model_tables() -> list[str]:
    """The tables the models create, in build order."""
    return [target(f) for f in sql_files("model")]


def bound(f: SqlFile, params: Mapping[str, object]) -> dict[str, object] | None:
    """The parameters of ``params`` the file uses (DuckDB rejects one a statement lacks)."""
    wanted = f.params
    missing = sorted(wanted - params.keys())
    if missing:
        raise KeyError(f"sql/{f.folder}/{f.name} needs parameter(s) {', '.join(missing)}")
    return {name: params[name] for name in sorted(wanted)} or None


def substitute(text: str, name: str, scoped: str) -> str:
    """Replace unqualified references to table ``name`` (``main.name`` is left alone), or,
    for a ``name`` written ``main.<table>``, exactly those references."""
    if name.startswith("main."):
        return re.sub(rf"(?<![.\w]){re.escape(name)}\b", scoped, text)
    return re.sub(rf"(?<![.\w]){name}\b", scoped, text)


def scoped(f: SqlFile, head: str, inputs: Mapping[str, str]) -> str:
    """The model file's statement with its head replaced by ``head`` (where its rows go) and
    its input tables by the scoped ``inputs``."""
    text = HEAD.sub(head, f.text, count=1)
    for name, table in inputs.items():
        text = substitute(text, name, table)
    return text
