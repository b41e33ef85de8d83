"""Faults on request for the CRM sandboxes: ``inject(kind, count, after)`` makes the
``count`` API requests that follow the next ``after`` ones fail with ``kind`` (the token
endpoint is never counted). Deterministic, so a test names exactly what goes wrong when."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Self


@dataclass
class _Pending:
    kind: str
    count: int
    after: int


@dataclass
class FaultPlan:
    kinds: tuple[str, ...]
    injected: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._pending: list[_Pending] = []
        self._lock = threading.Lock()

    def inject(self, kind: str, count: int = 1, after: int = 0) -> None:
        if kind not in self.kinds:
            raise ValueError(f"fault kind must be one of {self.kinds}, got {kind!r}")
        with self._lock:
            self._pending.append(_Pending(kind, count, after))

    def draw(self) -> str | None:
        """The fault for this request (None: answer it normally)."""
        with self._lock:
            if not self._pending:
                return None
            head = self._pending[0]
            if head.after > 0:
                head.after -= 1
                return None
            head.count -= 1
            if head.count <= 0:
                self._pending.pop(0)
            self.injected[head.kind] += 1
            return head.kind


class CrmServer:
    """What the CRM sandboxes share around their HTTP server (``_http``, started by the
    subclass) and fault plan (``faults``): address, request counts, faults, stop, ``with``."""

    _http: Any  # sandbox.http.SandboxHTTPServer
    faults: FaultPlan

    @property
    def url(self) -> str:
        return str(self._http.url)

    @property
    def counts(self) -> Any:
        return self._http.counts

    def inject(self, kind: str, count: int = 1, after: int = 0) -> None:
        self.faults.inject(kind, count, after)

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
