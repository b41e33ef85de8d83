"""Named crash points for the crash-consistency tests (tests/reliability); inert in production.

``OVERLAP_TEST_KILL_AT=<point>[@<n>][+<seconds>]`` makes the process SIGKILL itself the n-th
time (default: the first) it reaches ``<point>``, or ``<seconds>`` after it, from a timer
thread, while the work goes on (a kill in the middle of the next step). Without the variable,
:func:`crash_point` returns at once. The points are listed in :data:`POINTS` and
docs/reliability.md; a SIGKILL gives the code no chance to clean up, as a power cut or the
OOM killer would not.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter

ENV = "OVERLAP_TEST_KILL_AT"
POINTS = (
    "extract:staged",  # an extract's Parquet and manifest are written (workers=1: the run)
    "stage:before_manifest",  # Parquet written, manifest not yet
    "load:before_commit",  # every row of the load inserted, the transaction still open
    "load:after_commit",
    "model:before",  # the load committed, the model build starts
    "finish:before",  # model and reports done, the run's row not yet closed
    "publish:start",  # the warehouse is closed; the snapshot copy starts
    "publish:before_replace",  # the new snapshot is written under its temporary name
    "publish:after_replace",  # the snapshot is swapped, the Parquet marts not yet
    "forget:erased",  # overlap forget: raw rows erased, the model build not yet (one txn)
    "forget:committed",  # … the warehouse committed, staged files not yet rewritten
    "forget:staged",  # … staged files rewritten, reports not yet re-rendered
    "forget:reported",  # … reports re-rendered, the snapshot not yet republished
)
_hits: Counter[str] = Counter()


def crash_point(name: str) -> None:
    """SIGKILL this process here if ``OVERLAP_TEST_KILL_AT`` names this point."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    point, _, delay = spec.partition("+")
    point, _, nth = point.partition("@")
    if point != name:
        return
    _hits[name] += 1
    if _hits[name] != int(nth or 1):
        return
    if delay:
        timer = threading.Timer(float(delay), _kill)
        timer.daemon = True
        timer.start()
    else:
        _kill()


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
