"""How a model table is maintained: the ``-- kind:`` line of its file's header.

Every ``sql/model/*.sql`` file declares, in its header (the comment lines it starts with), one of

* ``-- kind: full`` — built only by a full build. Its inputs are the CRM snapshot and other
  ``full`` models only, which the build fingerprint covers: an incremental build has nothing
  to do for it (tests/sql/test_incremental.py checks the inputs).
* ``-- kind: incremental by <key>[, <key>…][ since <column>]; scope <name>[; over <name>]`` —
  the rows whose key is in the named scope are deleted and the file's own statement, run over
  scoped inputs, appends them again. ``since``: only rows from the key's first changed
  value of that column on (the scope's table holds it per key, in a column of that name).
  ``over``: the statement is computed over a wider scope (what the scope's rows depend on)
  and only the scope's rows are kept.
* ``-- kind: set by <key>; scope <name>`` — one row per key, a function of the key alone: the
  statement run over the new input rows adds the keys not yet present; the keys of the named
  scope (no longer seen) are removed.
* ``-- kind: delta; scope <name>`` — rows are sums over the scope's keys: the statement run
  over the scope's old rows is subtracted and over its new rows added
  (``overlap.incremental.models`` says how the sums combine).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from overlap.sqlfiles import LINE_COMMENT, SqlFile, target

_KIND = re.compile(r"^--\s*kind:\s*(?P<spec>.+?)\s*$", re.MULTILINE)
_INCREMENTAL = re.compile(r"incremental by (?P<keys>\w+(?:\s*,\s*\w+)*)(?: since (?P<since>\w+))?"
                          r"; scope (?P<scope>\w+)(?:; over (?P<over>\w+))?")
_SET = re.compile(r"set by (?P<keys>\w+); scope (?P<scope>\w+)")
_DELTA = re.compile(r"delta; scope (?P<scope>\w+)")


@dataclass(frozen=True)
class Kind:
    """A model's declared maintenance: ``strategy`` (full, incremental, set, delta), the key
    columns, the scope and the optional ``since`` column and ``over`` scope."""

    strategy: str
    keys: tuple[str, ...] = ()
    scope: str = ""
    since: str = ""
    over: str = ""


@dataclass(frozen=True)
class Model:
    """A model file with its table and declared kind."""

    file: SqlFile
    table: str
    kind: Kind


def kind_of(f: SqlFile) -> Kind:
    """The kind a model file declares; ValueError when it declares none or one not known."""
    header = "\n".join(itertools.takewhile(lambda line: line.startswith("--"),
                                            f.text.splitlines()))
    found = _KIND.findall(header)
    if len(found) != 1:
        raise ValueError(f"sql/model/{f.name}: expected one '-- kind: …' line in its header")
    spec = found[0]
    if spec == "full":
        return Kind("full")
    if m := _INCREMENTAL.fullmatch(spec):
        return Kind("incremental", _keys(m["keys"]), m["scope"], m["since"] or "",
                    m["over"] or "")
    if m := _SET.fullmatch(spec):
        return Kind("set", _keys(m["keys"]), m["scope"])
    if m := _DELTA.fullmatch(spec):
        return Kind("delta", (), m["scope"])
    raise ValueError(f"sql/model/{f.name}: unknown kind {spec!r}")


def models(files: list[SqlFile]) -> list[Model]:
    """The model files in build order with their tables and kinds."""
    return [Model(f, target(f), kind_of(f)) for f in files]


def reads(f: SqlFile) -> set[str]:
    """The tables (not CTEs) a model file reads, ``main.`` references included."""
    code = LINE_COMMENT.sub("", f.text)
    ctes = set(re.findall(r"(\w+)\s*(?:\([\w\s,]*\))?\s+as\s*\(", code))
    return set(re.findall(r"\b(?:from|join)\s+(?:main\.)?(\w+)", code)) - ctes


def _keys(text: str) -> tuple[str, ...]:
    return tuple(k.strip() for k in text.split(","))
