"""In-memory model of a synthetic organisation: people, CRM tables, emails and meetings.

Address resolution here applies DESIGN.md rules 1 and 2 to the CRM tables *as written*
(not to the generator's intent), so planted data-quality problems (a free-mail domain on an
account, a domain claimed twice) resolve exactly as the product must resolve them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

import idna

# Rule 5: system senders (noreply/no-reply/donotreply/do-not-reply in any -, _, . variant,
# any +suffix; mailer-daemon; postmaster).
SYSTEM_LOCAL = re.compile(
    r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer[-_.]?daemon|postmaster)(?:\+.*)?$"
)
BULK_PRECEDENCE = ("bulk", "list", "junk")


def norm_domain(raw: str) -> str:
    d = raw.strip().strip(".").lower().lstrip("@")
    if not d.isascii():
        d = idna.encode(d, uts46=True).decode("ascii")
    return d


def norm_address(raw: str) -> str:
    local, _, dom = raw.strip().rpartition("@")
    return f"{local.lower()}@{norm_domain(dom)}"


@dataclass(slots=True)
class Addr:
    """One address as written in headers, with its resolution under rules 1-2."""

    written: str
    norm: str
    name: str | None
    tz: str
    hdr: str = ""  # the header form, e.g. '"Doe, Jane" <jane.doe@corp.example>'
    rep: str | None = None  # canonical rep email (reps.csv, directly or via alias)
    internal: bool = False  # company domain or subdomain (reps included)
    account: str | None = None  # account id when the address is an account contact
    system: bool = False  # noreply / mailer-daemon / postmaster
    resource: bool = False  # a room: not a person

    @property
    def ident(self) -> str:
        """Who this is for owner/participant comparisons: the canonical rep, else the address."""
        return self.rep or self.norm


@dataclass(slots=True)
class Rep:
    email: str
    name: str
    manager: str
    team: str
    aliases: list[str]
    active: bool
    active_written: str = ""  # what reps.csv shows in the active column ("" = default true)


@dataclass(slots=True)
class Account:
    account_id: str
    name: str
    owner: str  # as written in accounts.csv (canonical rep email, or a non-rep address)
    domains: list[str]  # as written in accounts.csv
    team: list[str]
    tz: str
    planted: bool = False
    activity: float = 1.0  # relative weight of owner interactions in background mail
    contacts: list[Addr] = field(default_factory=list)


@dataclass(slots=True)
class Mail:
    """One email as the sender wrote it (copies are a writing detail)."""

    case: str
    t: datetime  # aware UTC (the Date header's instant)
    sender: Addr
    to: tuple[Addr, ...]
    cc: tuple[Addr, ...] = ()
    bcc: tuple[Addr, ...] = ()
    subject: str = ""
    mid: str | None = None  # without <>
    irt: str | None = None
    refs: tuple[str, ...] = ()
    extra: tuple[tuple[str, str], ...] = ()  # extra headers (bulk signals, quirks)
    style: int = 0  # header quirks (see _render)


@dataclass(slots=True)
class Attendee:
    addr: Addr
    status: str  # the attendee's true PARTSTAT
    cutype: str = "INDIVIDUAL"  # INDIVIDUAL | ROOM | RESOURCE
    fresh: bool = True  # whether the organizer's copy shows the true PARTSTAT


@dataclass(slots=True)
class Override:
    original: datetime  # UTC original start (RECURRENCE-ID)
    start: datetime
    end: datetime
    cancelled: bool = False


@dataclass(slots=True)
class Meeting:
    case: str
    uid: str
    summary: str
    organizer: Addr
    attendees: list[Attendee]
    start: datetime  # aware UTC; for a series, the first occurrence
    end: datetime
    local: bool = False  # write times with TZID=Europe/Berlin instead of UTC
    cancelled_in: tuple[str, ...] = ()  # holders whose copy says STATUS:CANCELLED
    until: datetime | None = None  # weekly series: RRULE:FREQ=WEEKLY;UNTIL=
    exdates: tuple[datetime, ...] = ()
    overrides: tuple[Override, ...] = ()
    all_day: bool = False
    organizer_listed: bool = False  # the organizer also appears as an ATTENDEE


class Resolver:
    """Rules 1 and 2 over the CRM tables as written."""

    def __init__(self, internal_domains: list[str], reps: list[Rep], accounts: list[Account],
                 contacts: list[tuple[str, str]], freemail: tuple[str, ...]) -> None:
        self.internal = [norm_domain(d) for d in internal_domains]
        self.rep_of: dict[str, str] = {}
        for r in reps:
            self.rep_of[norm_address(r.email)] = norm_address(r.email)
            for a in r.aliases:
                self.rep_of[norm_address(a)] = norm_address(r.email)
        self.reps = {norm_address(r.email): r for r in reps}
        self.contacts = {norm_address(e): a for e, a in contacts}
        self.freemail = set(freemail)
        by_domain: dict[str, list[str]] = {}
        for acc in accounts:
            for d in acc.domains:
                nd = norm_domain(d)
                if nd in self.freemail:
                    continue  # rule 2: ignored (a data-quality finding)
                ids = by_domain.setdefault(nd, [])
                if acc.account_id not in ids:
                    ids.append(acc.account_id)
        self.by_domain = by_domain

    def is_internal(self, domain: str) -> bool:
        return any(domain == d or domain.endswith("." + d) for d in self.internal)

    def account_of_domain(self, domain: str) -> str | None:
        labels = domain.split(".")
        for i in range(len(labels) - 1):
            ids = self.by_domain.get(".".join(labels[i:]))
            if ids is not None:
                return ids[0] if len(ids) == 1 else None  # ambiguous: no fall-through
        return None

    def resolve(self, a: Addr) -> None:
        local, _, dom = a.norm.rpartition("@")
        a.system = bool(SYSTEM_LOCAL.match(local))
        a.internal = self.is_internal(dom)
        if a.system or a.resource:
            return
        a.rep = self.rep_of.get(a.norm)
        if a.rep or a.internal:
            return
        acc = self.contacts.get(a.norm)
        if acc is None and dom not in self.freemail:
            acc = self.account_of_domain(dom)
        a.account = acc


def is_bulk_header(name: str, value: str) -> bool:
    """Rule 5, header part: List-Id, List-Unsubscribe, Precedence bulk|list|junk, Auto-Submitted."""
    n = name.lower()
    v = value.strip().lower()
    if n in ("list-id", "list-unsubscribe"):
        return True
    if n == "precedence":
        return v in BULK_PRECEDENCE
    if n == "auto-submitted":
        return v != "no"
    return False
