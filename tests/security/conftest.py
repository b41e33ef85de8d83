"""Security tests: hostile input, output safety, secrets and privacy (issue 7, items 4-6).

Hypothesis runs under a bounded profile by default so `make test` stays fast; set
``HYPOTHESIS_PROFILE=deep`` for a long local soak (same properties, 50x the examples).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "security", max_examples=150, deadline=None, derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "deep", max_examples=7500, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "security"))
