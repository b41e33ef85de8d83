"""Fixtures for the SQL tier: a fresh in-memory warehouse per test, and a small CRM world."""

from __future__ import annotations

from datetime import timedelta

import pytest

from .seed import T0, Seed

OWNER = "olga@corp.example"
REP = "bob@corp.example"
ALICE = "alice@acme.com"


@pytest.fixture
def seed() -> Seed:
    return Seed()


@pytest.fixture
def world(seed: Seed) -> Seed:
    """Acme Corp (acme.com) owned by Olga Owner, who mailed Alice 10 days before T0;
    Bob Rep is another seller with no business at Acme."""
    seed.rep(OWNER, "Olga Owner")
    seed.rep(REP, "Bob Rep")
    seed.account("acme", OWNER, domains=["acme.com"], name="Acme Corp")
    seed.email(OWNER, frm=OWNER, to=[ALICE], at=T0 - timedelta(days=10))
    return seed
