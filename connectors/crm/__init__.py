"""CRM connectors: read accounts, owners, teams, contacts and owner history from a CRM's API.

A CRM connector module (``connectors.crm.salesforce``, ``connectors.crm.hubspot``) exposes::

    def fetch(options: dict, credentials: Any | None) -> CrmRecords

It reads the whole CRM (a CRM import is a snapshot, never incremental) into memory and returns
the records in the shape of the CSV export (docs/crm.md maps every field). It validates
nothing: overlap/crm.py runs the CSV path's validation on these records, so bad data from the
API gives the same errors and findings as the same data in CSV files. Any failure raises
:class:`connectors.api.SourceError` (or ``AuthError``) before anything is returned, so a CRM
import is all or nothing.

Secrets: ``credentials`` (or the options' ``*_file``/``*_env`` indirections) are never logged,
put in an exception message or returned.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from overlap.sources import CRM_KINDS


@dataclass
class CrmAccount:
    ref: str  # what a message names the record by ("Account 001…")
    account_id: str
    account_name: str
    owner_email: str  # "" when the owner has no email
    domains: list[str]  # as the CRM holds them (raw; validated by overlap/crm.py)
    team_emails: list[str]


@dataclass
class CrmUser:
    ref: str
    email: str
    name: str
    manager_email: str
    team: str
    aliases: list[str]
    active: bool


@dataclass
class CrmContact:
    ref: str
    email: str
    account_id: str


@dataclass
class CrmOwnerChange:
    ref: str
    account_id: str
    owner_email: str
    valid_from: datetime  # aware, UTC


@dataclass
class CrmRecords:
    """One CRM read in full. ``history`` is False when the CRM records no owner history
    (tracking off): the snapshots then are the only history (docs/crm-history.md)."""

    kind: str
    accounts: list[CrmAccount] = field(default_factory=list)
    users: list[CrmUser] = field(default_factory=list)
    contacts: list[CrmContact] = field(default_factory=list)
    ownership: list[CrmOwnerChange] = field(default_factory=list)
    history: bool = True
    notes: list[str] = field(default_factory=list)  # data-quality remarks, safe to show
    requests: int = 0
    retries: int = 0


def fetch(kind: str, options: dict[str, Any], credentials: Any | None = None) -> CrmRecords:
    """Read the CRM of ``kind`` (``[crm] kind``) with the ``[crm.<kind>]`` options."""
    module = importlib.import_module(CRM_KINDS[kind].connector)
    records: CrmRecords = module.fetch(options, credentials)
    return records
