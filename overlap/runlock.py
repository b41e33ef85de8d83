"""The run lock: one overlap process writes a warehouse at a time, and a second one is told so
at once — before it reads a single mailbox — instead of failing at the end.

The lock is ``flock`` on ``<warehouse>.lock`` beside the warehouse file; the file holds the
holder's pid, host and start time for the message the loser prints. The kernel drops a flock
when its process dies, however it dies, so a killed run never leaves a stale lock; the file
itself stays (deleting it would race with the next taker) and is emptied on release.

``overlap run`` holds the lock for the whole job. Each pipeline step that writes the warehouse
(load, model, report, finish, publish) takes it too, so the Airflow DAG — one task per step,
each in its own process, run one after the other — holds it per step and never waits on
itself; extract tasks do not touch the warehouse and take no lock. Inside one process the lock
is re-entrant (a step called by ``run`` finds it already held). Extract workers forked while
it is held share it (a fork shares the open file), so it is free once they are gone too.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from overlap.errors import WarehouseLocked

_held: dict[tuple[int, Path], int] = {}  # (pid, lock file) → nesting depth in this process


def lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".lock")


@contextlib.contextmanager
def hold(warehouse: Path) -> Iterator[None]:
    """Hold the warehouse's run lock; raise WarehouseLocked at once if another process has it."""
    path = lock_path(warehouse).resolve()
    key = (os.getpid(), path)  # a forked child does not hold its parent's lock
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    fd = _acquire(path, warehouse)
    _held[key] = 1
    try:
        yield
    finally:
        del _held[key]
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # releases the flock


def _acquire(path: Path, warehouse: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_holder(fd)
        os.close(fd)
        raise WarehouseLocked(warehouse, **holder) from None
    except BaseException:
        os.close(fd)
        raise
    info = {"pid": os.getpid(), "host": socket.gethostname(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds")}
    # Best effort: the flock is the lock; the text only names the holder (a full disk may
    # refuse even these few bytes, and the run's own writes then say so).
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
    return fd


def _read_holder(fd: int) -> dict[str, object]:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: data[k] for k in ("pid", "host", "started_at") if k in data}
