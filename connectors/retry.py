"""The one retry policy of Overlap's API connectors.

Transient failures (429, 5xx, Google's rate-limit 403s, timeouts, dropped connections) are
retried with exponential backoff and full jitter, honouring ``Retry-After`` when the server
sends one, up to a cap; then the last error is re-raised. Auth errors and expired cursors are
not transient and are never retried here. Connectors classify errors; this module only waits.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
GOOGLE_RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})


class Transient(Exception):
    """Raised by a connector's call to ask for a retry; ``retry_after`` in seconds if given."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


@dataclass
class RetryPolicy:
    attempts: int = 8  # total tries, the first included
    base: float = 0.5  # seconds; delay before try n+1 is up to base * 2**(n-1)
    cap: float = 60.0  # no single wait is longer
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after failed try ``attempt`` (1-based)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.cap)
        return self.rng.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1)))


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (the delta-seconds form; an HTTP date gives None)."""
    if not value:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        return None


def call_with_retry(fn: Callable[[], T], policy: RetryPolicy,
                    on_retry: Callable[[int, Transient], None] | None = None) -> T:
    """Call ``fn`` until it returns or raises something other than :class:`Transient`."""
    attempt = 1
    while True:
        try:
            return fn()
        except Transient as exc:
            if attempt >= policy.attempts:
                raise
            if on_retry is not None:
                on_retry(attempt, exc)
            policy.sleep(policy.delay(attempt, exc.retry_after))
            attempt += 1
