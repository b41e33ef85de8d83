"""What the planted-case modules (plant_signals, plant_crm_time, plant_crm_later) share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any

# The generator (sandbox.generator._Generator), as the planted-case modules name it; naming
# its type would be an import cycle (tests/unit/test_import_graph.py), so it is ``Any``.
_Generator = Any


def at(g: _Generator, week: date, weekday: int, hour: int, minute: int = 0) -> datetime:
    """``weekday`` days after the Monday ``week``, at that local time of the company."""
    return g._local(week + timedelta(days=weekday), hour, minute)


@contextmanager
def kept_random_state(g: _Generator) -> Iterator[None]:
    """Plant inside: the generator's random state is restored afterwards, so the background
    mail and meetings stay what they were without the planted cases."""
    state = g.rng.getstate()
    try:
        yield
    finally:
        g.rng.setstate(state)
