"""Shared fixtures. Real data from the team's shared folder is found through OVERLAP_SHARED_DATA
(set by .ci/run); without it, ../shared/data beside the repository is tried. In CI a missing
folder fails loudly instead of skipping."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_data() -> Path | None:
    env = os.environ.get("OVERLAP_SHARED_DATA")
    candidates = [Path(env)] if env else [REPO.parent / "shared" / "data"]
    for c in candidates:
        if (c / "psl").is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to the read-only real data (Enron mail, PSL vectors, address cases, invites)."""
    found = _shared_data()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("shared data not found: set OVERLAP_SHARED_DATA to ../shared/data")
        pytest.skip("shared data not found (set OVERLAP_SHARED_DATA)")
    return found
