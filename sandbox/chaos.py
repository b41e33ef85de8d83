"""Seeded random faults for the API sandboxes (``GoogleSandbox.chaos``, ``MicrosoftSandbox.chaos``).

Each request a sandbox serves (``$batch``/batch parts included) fails with probability
``rate``; the kind of failure is drawn, with the same seeded generator, from ``kinds``:

* ``429`` — throttled, with ``Retry-After: retry_after``; ``500``, ``503`` — server errors
* ``slow`` — answered after ``slow`` seconds; ``timeout`` — answered after ``hang`` seconds
  (longer than the client's timeout, so the client gives up first)
* ``drop`` — the server hangs up without answering; ``truncate`` — the headers announce the
  whole body, half of it is sent, then the server hangs up (top-level requests only)
* ``token`` — every access token issued so far is revoked, and this request answers 401
  (top-level requests only)
* ``cursor`` — the mailbox's stored cursors (Gmail history ids, Calendar sync tokens, Graph
  delta links) expire now; the request itself is answered normally

The draw order is fixed by the seed, so a single-threaded client sees the same faults on
every run; with concurrent requests the assignment to requests may vary, the mix does not.
``injected`` counts the faults by kind.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field

KINDS = ("429", "500", "503", "slow", "timeout", "drop", "truncate", "token", "cursor")
# What can happen to one part of a batch: the batch's own HTTP response carries the rest
# (a token is revoked between requests, not between the parts of one).
PART_KINDS = frozenset({"429", "500", "503", "cursor"})


@dataclass
class Chaos:
    rate: float
    seed: int = 0
    kinds: tuple[str, ...] = KINDS
    retry_after: float = 0.05
    slow: float = 0.2
    hang: float = 1.5
    injected: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(KINDS)
        if unknown or not 0 <= self.rate <= 1:
            raise ValueError(f"chaos: rate must be in [0, 1], kinds in {KINDS} (got {unknown})")
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def draw(self, *, part: bool = False) -> str | None:
        """The fault for the next request (None: answer it normally)."""
        with self._lock:
            if self._rng.random() >= self.rate:
                return None
            kind = self._rng.choice(self.kinds)
            if part and kind not in PART_KINDS:
                return None
            self.injected[kind] += 1
            return kind

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.injected.values())
