"""A small CRM export (CSV files + overlap.toml) for the CRM connector tests, and the same CRM
served by a CRM sandbox (its config written by ``sandbox.serve``, as ``sandbox serve`` does)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from overlap.config import Config, load_config
from sandbox.serve import file_sources, start_crm_sandbox, write_sandbox_config

ACCOUNTS = """account_id,account_name,owner_email,domains,team_emails
A1,Acme,olga@corp.example,acme.example;acme-labs.example,tom@corp.example
A2,Globex,tom@corp.example,globex.example,
A3,Initech,olga@corp.example,initech.example,olga@corp.example;ina@corp.example
A4,Umbrella,ina@corp.example,umbrella.example,
"""
REPS = """email,name,manager_email,team,aliases,active
vera@corp.example,Vera Boss,,Leadership,,true
olga@corp.example,Olga Owner,vera@corp.example,East,o.owner@corp.example,true
tom@corp.example,Tom Seller,vera@corp.example,West,,
ina@corp.example,Ina Active,vera@corp.example,West,,false
"""
CONTACTS = """email,account_id
jane@gmail.com,A1
bob@freemail.example,A2
carl@initech.example,A3
"""
OWNERSHIP = """account_id,owner_email,valid_from
A1,tom@corp.example,2026-01-05
A1,olga@corp.example,2026-03-02T09:30:00+01:00
A4,tom@corp.example,2025-11-10
"""


def write_org(root: Path, *, accounts: str = ACCOUNTS, reps: str = REPS,
              contacts: str = CONTACTS, ownership: str | None = OWNERSHIP) -> Config:
    crm = root / "crm"
    crm.mkdir(parents=True)
    (crm / "accounts.csv").write_text(accounts, encoding="utf-8")
    (crm / "reps.csv").write_text(reps, encoding="utf-8")
    (crm / "contacts.csv").write_text(contacts, encoding="utf-8")
    extra = ""
    if ownership is not None:
        (crm / "ownership.csv").write_text(ownership, encoding="utf-8")
        extra = 'ownership = "crm/ownership.csv"\n'
    (root / "mail").mkdir()
    (root / "overlap.toml").write_text(
        '[company]\ninternal_domains = ["corp.example"]\ntimezone = "Europe/Berlin"\n'
        '[crm]\naccounts = "crm/accounts.csv"\nreps = "crm/reps.csv"\n'
        f'contacts = "crm/contacts.csv"\n{extra}'
        '[[sources]]\nkind = "maildir"\npath = "mail"\n', encoding="utf-8")
    return load_config(root / "overlap.toml")


@contextmanager
def served(config: Config, kind: str, tmp: Path, **options: Any) -> Iterator[tuple[Any, Config]]:
    """The CRM of ``config`` in the ``kind`` sandbox, and a config reading it."""
    server = start_crm_sandbox(config, kind, secrets_dir=tmp / f"{kind}-secrets", **options)
    try:
        path = write_sandbox_config(config, file_sources(config), tmp / f"{kind}.toml",
                                    crm=server.crm_config())
        yield server, load_config(path)
    finally:
        server.stop()
