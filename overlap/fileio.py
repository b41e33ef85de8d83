"""Files the pipeline writes: atomic replacement, orphan cleanup, JSON with dates.

Every file Overlap writes for someone else to read (staged Parquet and manifests, plan and
outcome files, the analyst snapshot and marts, reports and digests) is written beside its
target under ONE temporary-name scheme and renamed over it, so a reader sees the old file or
the new one, never half of one::

    <target name>.tmp<pid>          (DuckDB may add <target name>.tmp<pid>.wal)

The pid in the name lets ``remove_orphans`` delete what a killed process left behind (its
process is gone) without touching a write in progress. One process writes a given target
from one thread at a time (every caller does), so the pid alone makes the name unique.

The JSON codec turns dataclasses with ``datetime`` / ``date`` fields (also in lists and in
nested dataclasses) into JSON-ready dicts of ISO 8601 strings and back, driven by the
fields' type hints. Stdlib only: ``reports`` imports this module too.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_TEMP = re.compile(r"\.tmp(\d+)(\.wal)?$")


def temp_path(target: Path) -> Path:
    """The temporary sibling ``target`` is written to before it is renamed over it."""
    return target.with_name(f"{target.name}.tmp{os.getpid()}")


@contextmanager
def replacing(target: Path, *, durable: bool = False, mode: int | None = None) -> Iterator[Path]:
    """Yield the temporary path to write ``target`` to; on success rename it over ``target``.

    On an error the temporary file (and a DuckDB ``.wal`` beside it) is removed, so a failed
    write — a full disk included — leaves the old ``target`` and no debris. ``durable``
    fsyncs the file before the rename; ``mode`` sets its permission bits.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(target)
    wal = tmp.with_name(tmp.name + ".wal")
    for leftover in (tmp, wal):  # an earlier process with the same pid
        leftover.unlink(missing_ok=True)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        for leftover in (tmp, wal):
            leftover.unlink(missing_ok=True)
        raise


def write_atomic(target: Path, data: bytes | str | Iterable[bytes], *, durable: bool = False,
                 mode: int | None = None) -> None:
    """Write ``data`` (text as UTF-8, or byte chunks as they come) to ``target`` atomically."""
    with replacing(target, durable=durable, mode=mode) as tmp, open(tmp, "wb") as fh:
        if isinstance(data, str):
            fh.write(data.encode("utf-8"))
        elif isinstance(data, bytes | bytearray):
            fh.write(data)
        else:
            for chunk in data:
                fh.write(chunk)


def write_json(target: Path, data: Any) -> None:
    """``data`` as indented, key-sorted JSON, written atomically."""
    write_atomic(target, json.dumps(data, indent=1, sort_keys=True))


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def remove_orphans(folder: Path, prefix: str = "") -> list[Path]:
    """Delete the temporary files in ``folder`` (names starting with ``prefix``) whose writing
    process is gone; returns what was deleted. A live process's files are left alone, as are
    those of a pid this process cannot signal (another user's)."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for path in folder.glob(prefix + "*.tmp*"):
        match = _TEMP.search(path.name)
        if match is None or int(match.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
            removed.append(path)
        except PermissionError:
            pass  # alive, another user's
    return removed


# --- the datetime JSON codec ----------------------------------------------------------------

def to_json(obj: Any) -> dict[str, Any]:
    """A dataclass instance as a JSON-ready dict: datetimes and dates as ISO 8601 strings."""
    return typing.cast(dict[str, Any], _encode(dataclasses.asdict(obj)))


def from_json(cls: type[T], data: Mapping[str, Any]) -> T:
    """The dataclass ``cls`` from what ``to_json`` made, ISO strings parsed by field type."""
    hints = _hints(cls)
    return cls(**{name: _decode(hints[name], value) for name, value in data.items()})


def _encode(value: Any) -> Any:
    if isinstance(value, date):  # datetime too (a subclass of date)
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _decode(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    if hint is datetime:
        return datetime.fromisoformat(value)
    if hint is date:
        return date.fromisoformat(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return from_json(hint, value)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list and args:
        return [_decode(args[0], v) for v in value]
    if origin in (types.UnionType, typing.Union):  # X | None
        present = [a for a in args if a is not type(None)]
        return _decode(present[0], value) if len(present) == 1 else value
    return value
