"""What the CRM sandboxes serve: a file configuration's CRM export (accounts.csv, reps.csv,
contacts.csv, ownership.csv), read here with the sandbox's own code — never overlap.crm's
parsers or the CRM connectors (the sandbox is an independent witness). Nothing is validated
beyond what is needed to serve the data: bad data in the files is served as bad data, so the
import's validation can be tested through the APIs.

Extra columns the CSV import ignores give the sandboxes what a CRM holds and the files do not:
accounts.csv ``website`` (served verbatim as Salesforce Website instead of one derived from
the first domain).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo


@dataclass
class SeedAccount:
    account_id: str
    name: str
    owner: str
    domains: list[str]
    team: list[str]
    website: str | None = None  # None: derived by the sandbox


@dataclass
class SeedRep:
    email: str
    name: str
    manager: str
    team: str
    aliases: list[str]
    active: bool


@dataclass
class SeedOwnerChange:
    account_id: str
    owner: str
    at: datetime  # aware, UTC


@dataclass
class CrmSeed:
    accounts: list[SeedAccount] = field(default_factory=list)
    reps: list[SeedRep] = field(default_factory=list)
    contacts: list[tuple[str, str]] = field(default_factory=list)  # (email, account_id)
    ownership: list[SeedOwnerChange] = field(default_factory=list)

    def addresses(self) -> list[str]:
        """Every person address the CRM names (reps first), lower-cased, in first-seen order:
        a CRM holds a user record for each of them."""
        seen: dict[str, None] = {}
        for r in self.reps:
            seen.setdefault(r.email.lower(), None)
        for r in self.reps:
            if r.manager:
                seen.setdefault(r.manager.lower(), None)
        for a in self.accounts:
            for person in [a.owner, *a.team]:
                if person:
                    seen.setdefault(person.lower(), None)
        for o in self.ownership:
            seen.setdefault(o.owner.lower(), None)
        return list(seen)


def _rows(path: Path | None) -> list[dict[str, str]]:
    if path is None or not path.exists():
        return []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        return [{(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
                for row in reader]


def _items(cell: str) -> list[str]:
    return [item.strip() for item in cell.split(";") if item.strip()]


def _moment(text: str, tz: ZoneInfo) -> datetime:
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text), time(), tz).astimezone(UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def read_crm_seed(accounts: Path, reps: Path, contacts: Path | None = None,
                  ownership: Path | None = None, timezone: str = "UTC") -> CrmSeed:
    """The CRM export's files as a seed (lists ``;``-separated, addresses lower-cased)."""
    seed = CrmSeed()
    for r in _rows(accounts):
        seed.accounts.append(SeedAccount(
            account_id=r.get("account_id", ""), name=r.get("account_name", ""),
            owner=r.get("owner_email", "").lower(), domains=_items(r.get("domains", "")),
            team=[t.lower() for t in _items(r.get("team_emails", ""))],
            website=r["website"] if "website" in r else None))
    for r in _rows(reps):
        seed.reps.append(SeedRep(
            email=r.get("email", "").lower(), name=r.get("name", ""),
            manager=r.get("manager_email", "").lower(), team=r.get("team", ""),
            aliases=[a.lower() for a in _items(r.get("aliases", ""))],
            active=r.get("active", "").lower() not in ("false", "no", "0")))
    seed.contacts = [(r.get("email", "").lower(), r.get("account_id", ""))
                     for r in _rows(contacts)]
    tz = ZoneInfo(timezone)
    seed.ownership = [SeedOwnerChange(r.get("account_id", ""), r.get("owner_email", "").lower(),
                                      _moment(r.get("valid_from", ""), tz))
                      for r in _rows(ownership)]
    return seed
