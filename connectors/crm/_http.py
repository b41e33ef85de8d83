"""The HTTP session the CRM connectors share: JSON over ``requests``, the project's one retry
policy (connectors/retry.py) for 429/5xx/dropped connections, and error messages that never
carry a secret (no URL query, no header, no body beyond the API's own error text)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from connectors.api import SourceError
from connectors.retry import (
    TRANSIENT_STATUSES,
    RetryPolicy,
    Transient,
    call_with_retry,
    parse_retry_after,
)

log = logging.getLogger("connectors.crm")
TIMEOUT = (10.0, 60.0)  # connect, read (seconds)


def read_secret(options: dict[str, Any], name: str, what: str) -> str:
    """A secret named indirectly by the options: ``<name>_file`` (a path), or ``<name>_env``
    (an environment variable holding it, or for a ``*_file``-style secret its path)."""
    file = options.get(f"{name}_file")
    env = options.get(f"{name}_env")
    if not file and env:
        value = os.environ.get(str(env), "")
        if not value:
            raise SourceError(f"the environment variable {env} named by {name}_env is not set"
                              f" (it holds the {what})")
        if name == "private_key" and not value.lstrip().startswith("-----BEGIN"):
            file = value  # the variable names the key file
        else:
            return value
    if not file:
        raise SourceError(f"no {what}: set {name}_file or {name}_env in the [crm] options or"
                          " configure the Airflow connection")
    try:
        return Path(str(file)).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SourceError(f"cannot read the {what} file {file}: {exc.strerror}") from None


class CrmSession:
    """A ``requests`` session with retries; ``counts`` requests and retries for the summary."""

    def __init__(self, api: str, *, policy: RetryPolicy | None = None,
                 verify: bool | str = True) -> None:
        self.api = api
        self.http = requests.Session()  # proxies and CA bundles from the environment apply
        self.verify = verify
        self.policy = policy or RetryPolicy(attempts=6, base=0.2, cap=30.0)
        self.requests = 0
        self.retries = 0

    def send(self, method: str, url: str, *, headers: dict[str, str] | None = None,
             params: dict[str, Any] | None = None, data: dict[str, str] | None = None,
             transient: Callable[[requests.Response], float | None] | None = None
             ) -> requests.Response:
        """One request, retried while transient (429/5xx, dropped connections, timeouts).
        ``transient`` may classify more responses as retryable (returning the wait, or
        None for the policy's backoff); return the final response (any status)."""

        def attempt() -> requests.Response:
            self.requests += 1
            try:
                response = self.http.request(method, url, headers=headers, params=params,
                                             data=data, timeout=TIMEOUT, verify=self.verify)
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise Transient(f"{self.api}: {type(exc).__name__}") from None
            if response.status_code in TRANSIENT_STATUSES:
                raise Transient(f"{self.api}: HTTP {response.status_code}",
                                retry_after=parse_retry_after(response.headers.get("Retry-After"))
                                if transient is None else transient(response))
            return response

        def on_retry(n: int, exc: Transient) -> None:
            self.retries += 1
            log.info("%s: retry %d after %s", self.api, n, exc)

        try:
            return call_with_retry(attempt, self.policy, on_retry)
        except Transient as exc:
            raise SourceError(f"{exc} (gave up after {self.policy.attempts} tries)",
                              transient=True) from None

    def close(self) -> None:
        self.http.close()
