"""An independent, slow reference reading of a generated organisation.

It parses the written files (maildir, mbox, .ics) and the CRM CSVs with the standard library,
icalendar and recurring-ical-events, merges copies (rule 4) and applies rules 1-8 and 10
(the owner at the interaction's time from ownership.csv + accounts.csv, whose owner is the
latest fact; handoff and former_owner). The tests
compare its events with ground_truth.csv: that checks the files say what the ground truth
claims, without sharing code with the generator.
"""

from __future__ import annotations

import csv
import mailbox
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import idna
import recurring_ical_events

from overlap.config import load_config

FREEMAIL = {"gmail.com", "outlook.com", "yahoo.com"}
SYSTEM = re.compile(
    r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer[-_.]?daemon|postmaster)(?:\+.*)?$")


def norm(addr: str) -> str:
    local, _, dom = addr.strip().strip("<>").removeprefix("mailto:").rpartition("@")
    dom = dom.strip().strip(".").lower()
    if not dom.isascii():
        dom = idna.encode(dom, uts46=True).decode()
    return f"{local.lower()}@{dom}"


@dataclass
class Inter:
    kind: str
    t: datetime
    sender: str = ""
    parts: dict[str, str] = field(default_factory=dict)  # address → role
    bulk: bool = False
    thread: str | None = None
    cancelled: bool = False
    mid: str | None = None


class Crm:
    def __init__(self, cfg_path: Path, crm_dir: str | None = None) -> None:
        """``crm_dir``: read the CRM files of that folder (beside the config) instead of the
        configured ones, under the same names — a later export (crm-later/)."""
        cfg = load_config(cfg_path)
        self.cfg = cfg

        def path(p: Path) -> Path:
            return p if crm_dir is None else cfg_path.parent / crm_dir / p.name
        self.internal = list(cfg.internal_domains)
        self.rep_of: dict[str, str] = {}
        self.reps: dict[str, dict[str, str]] = {}
        with open(path(cfg.reps_csv), encoding="utf-8") as f:
            for r in csv.DictReader(f):
                e = norm(r["email"])
                self.reps[e] = r
                self.rep_of[e] = e
                for a in filter(None, (x.strip() for x in r["aliases"].split(";"))):
                    self.rep_of[norm(a)] = e
        self.accounts: dict[str, dict[str, str]] = {}
        self.by_domain: dict[str, list[str]] = {}
        with open(path(cfg.accounts_csv), encoding="utf-8") as f:
            for r in csv.DictReader(f):
                self.accounts[r["account_id"]] = r
                for d in filter(None, (x.strip() for x in r["domains"].split(";"))):
                    nd = norm("x@" + d).split("@")[1]
                    if nd not in FREEMAIL:
                        self.by_domain.setdefault(nd, []).append(r["account_id"])
        self.contacts: dict[str, str] = {}
        assert cfg.contacts_csv is not None
        with open(path(cfg.contacts_csv), encoding="utf-8") as f:
            for r in csv.DictReader(f):
                self.contacts[norm(r["email"])] = r["account_id"]
        # approvals.csv (rule 6): (account, rep, from, until); a date is 00:00 company time
        self.approvals: list[tuple[str, str, datetime | None, datetime | None]] = []
        if cfg.approvals_csv is not None:
            def moment(text: str) -> datetime | None:
                if not text.strip():
                    return None
                d = date.fromisoformat(text.strip())
                return datetime(d.year, d.month, d.day, tzinfo=cfg.tz).astimezone(UTC)

            with open(path(cfg.approvals_csv), encoding="utf-8") as f:
                for r in csv.DictReader(f):
                    self.approvals.append((r["account_id"], self.rep_of[norm(r["rep_email"])],
                                           moment(r["valid_from"]), moment(r["valid_until"])))

        # ownership.csv (rule 10): per account the owner periods (start, owner), the first
        # from -inf; accounts.csv's owner is the latest fact
        facts: dict[str, list[tuple[float, str]]] = {}
        if cfg.ownership_csv is not None:
            with open(path(cfg.ownership_csv), encoding="utf-8") as f:
                for r in csv.DictReader(f):
                    d = date.fromisoformat(r["valid_from"].strip())
                    start = datetime(d.year, d.month, d.day, tzinfo=cfg.tz).timestamp()
                    facts.setdefault(r["account_id"], []).append(
                        (start, self.ident(norm(r["owner_email"]))))
        self.periods: dict[str, list[tuple[float, str]]] = {}
        for aid, r in self.accounts.items():
            merged: list[tuple[float, str]] = []
            current = self.ident(r["owner_email"].strip().lower())
            for start, owner in [*sorted(facts.get(aid, [])), (float("inf"), current)]:
                if not merged or merged[-1][1] != owner:
                    merged.append((start if merged else float("-inf"), owner))
            self.periods[aid] = merged

    def owner_at(self, acc: str, t: datetime) -> tuple[str, float, str | None]:
        """(owner, since, previous owner) of ``acc`` at ``t``."""
        ps = self.periods[acc]
        i = max(j for j, (start, _) in enumerate(ps) if start <= t.timestamp())
        return ps[i][1], ps[i][0], ps[i - 1][1] if i > 0 else None

    def approved(self, acc: str, rep: str, t: datetime) -> bool:
        return any(a == acc and r == rep and (lo is None or lo <= t) and (hi is None or t < hi)
                   for a, r, lo, hi in self.approvals)

    def internal_addr(self, a: str) -> bool:
        dom = a.rpartition("@")[2]
        return any(dom == d or dom.endswith("." + d) for d in self.internal)

    def account(self, a: str) -> str | None:
        local, _, dom = a.rpartition("@")
        if SYSTEM.match(local) or a in self.rep_of or self.internal_addr(a):
            return None
        if a in self.contacts:
            return self.contacts[a]
        if dom in FREEMAIL:
            return None
        labels = dom.split(".")
        for i in range(len(labels) - 1):
            ids = self.by_domain.get(".".join(labels[i:]))
            if ids:
                return ids[0] if len(set(ids)) == 1 else None
        return None

    def ident(self, a: str) -> str:
        return self.rep_of.get(a, a)

    def chain(self, owner: str) -> set[str]:
        out: set[str] = set()
        m = self.reps.get(owner, {}).get("manager_email", "").strip().lower()
        while m and m not in out and m in self.reps:
            out.add(m)
            m = self.reps[m]["manager_email"].strip().lower()
        return out


def _bulk(msg) -> bool:  # type: ignore[no-untyped-def]
    if msg["List-Id"] is not None or msg["List-Unsubscribe"] is not None:
        return True
    if str(msg.get("Precedence", "")).strip().lower() in ("bulk", "list", "junk"):
        return True
    auto = msg.get("Auto-Submitted")
    return auto is not None and str(auto).strip().lower() != "no"


def iter_messages(root: Path):  # type: ignore[no-untyped-def]
    """(mailbox, raw bytes) for every maildir cur/new file and every mbox message."""
    parser_files = sorted(p for p in (root / "mail").glob("*/*/*") if p.parent.name in ("cur", "new"))
    for p in parser_files:
        yield p.parent.parent.name, p.read_bytes()
    for p in sorted((root / "mbox").glob("*/*.mbox")):
        for msg in mailbox.mbox(p):
            yield p.parent.name, msg.as_bytes()


def read_emails(root: Path) -> dict[str, Inter]:
    out: dict[str, Inter] = {}
    parser = BytesParser(policy=policy.compat32)
    for _mailbox, raw in iter_messages(root):
        msg = parser.parsebytes(raw, headersonly=True)
        t = parsedate_to_datetime(str(msg["Date"])).astimezone(UTC)
        sender = norm(getaddresses([str(msg["From"])])[0][1])
        roles: dict[str, str] = {sender: "from"}
        for role in ("to", "cc", "bcc"):
            for _n, a in getaddresses([str(v) for v in msg.get_all(role, [])]):
                if "@" in a:
                    roles.setdefault(norm(a), role)
        mid_h = msg["Message-ID"]
        mid = str(mid_h).strip().strip("<>") if mid_h is not None else None
        refs = str(msg.get("References", "")).split()
        irt = str(msg.get("In-Reply-To", "")).strip() or None
        root_id = refs[0].strip("<>") if refs else (irt.strip("<>") if irt else None)
        if mid:
            key = "email|" + mid
        else:
            rc = sorted(a for a, r in roles.items() if r in ("to", "cc"))
            key = f"email-fallback|{sender}|{int(t.timestamp())}|{','.join(rc)}"
        it = out.setdefault(key, Inter("email", t, sender, {}, _bulk(msg), root_id or mid,
                                       mid=mid))
        for a, r in roles.items():
            it.parts.setdefault(a, r)
    return out


def read_meetings(root: Path, start: datetime, end: datetime, crm: Crm) -> dict[str, Inter]:
    copies: dict[str, list[tuple[str, object]]] = {}
    for p in sorted((root / "mail").glob("*/*.ics")):
        holder = p.parent.name
        cal = icalendar.Calendar.from_ical(p.read_bytes())
        for ev in recurring_ical_events.of(cal).between(start, end):
            dt = ev["DTSTART"].dt
            if not isinstance(dt, datetime):
                continue  # all-day: not a meeting with people in this generator
            rid = ev.get("RECURRENCE-ID")
            orig = (rid.dt if rid is not None else dt).astimezone(UTC)
            key = f"meeting|{ev['UID']}|{orig.strftime('%Y-%m-%dT%H:%M:%SZ')}"
            copies.setdefault(key, []).append((holder, ev))
    out: dict[str, Inter] = {}
    for key, cs in copies.items():
        holders = sorted(h for h, _ in cs)
        by_holder = dict(cs)
        first = cs[0][1]
        org = norm(str(first["ORGANIZER"]))
        it = Inter("meeting", first["DTSTART"].dt.astimezone(UTC), org, {org: "organizer"})
        it.cancelled = any(str(ev.get("STATUS", "")).upper() == "CANCELLED" for _, ev in cs)
        atts = first.get("ATTENDEE", [])
        for att in atts if isinstance(atts, list) else [atts]:
            if str(att.params.get("CUTYPE", "INDIVIDUAL")).upper() in ("ROOM", "RESOURCE"):
                continue
            a = norm(str(att))
            # The attendee's own calendar, else the organizer's, else the smallest mailbox.
            own, org_id = crm.ident(a), crm.ident(org)
            view = own if own in holders else (org_id if org_id in holders else holders[0])
            it.parts.setdefault(a, _partstat(by_holder[view], a))
        out[key] = it
    return out


def _partstat(ev, addr: str) -> str:  # type: ignore[no-untyped-def]
    atts = ev.get("ATTENDEE", [])
    if not isinstance(atts, list):
        atts = [atts]
    for att in atts:
        if norm(str(att)) == addr:
            return str(att.params.get("PARTSTAT", "NEEDS-ACTION")).upper()
    return "NEEDS-ACTION"


def events(root: Path, weeks: list[date], tz: str, dormant_days: int, *,
           crm_dir: str | None = None, lookback: bool = False) -> set[tuple[str, ...]]:
    """(interaction key, account, rep, category, initiated_by, week_start, owner_email,
    former_owner) per event of ``weeks``; ``crm_dir``: with the CRM files of that folder
    (a later export); ``lookback``: instead the events the ``dormant_days`` before the
    first week would have if they were reported."""
    crm = Crm(root / "overlap.toml", crm_dir)
    handoff = timedelta(days=crm.cfg.rules.handoff_days).total_seconds()
    z = ZoneInfo(tz)
    r_start = datetime(weeks[0].year, weeks[0].month, weeks[0].day, tzinfo=z).astimezone(UTC)
    last = weeks[-1] + timedelta(days=7)
    r_end = datetime(last.year, last.month, last.day, tzinfo=z).astimezone(UTC)
    inters = read_emails(root)
    inters.update(read_meetings(root, r_start - timedelta(days=dormant_days), r_end, crm))
    parts: dict[str, tuple[set[str], set[str], set[str]]] = {}
    for key, it in inters.items():
        people = []
        for a, r in it.parts.items():
            if it.kind == "meeting" and r == "DECLINED":
                continue
            people.append(a)
        idents = {crm.ident(a) for a in people if crm.internal_addr(a)
                  and not SYSTEM.match(a.split("@")[0])}
        reps = {crm.rep_of[a] for a in people if a in crm.rep_of}
        accs = {x for a in people if (x := crm.account(a))}
        parts[key] = (idents, reps, accs)

    def broadcast(key: str, acc: str) -> bool:
        """Rule 5: more than 20 recipients, sent by neither a rep nor one of acc's people."""
        it = inters[key]
        recipients = sum(1 for r in it.parts.values() if r != "from")
        return (it.kind == "email" and recipients > 20 and it.sender not in crm.rep_of
                and crm.account(it.sender) != acc)

    def customer(key: str) -> bool:
        it = inters[key]
        _, reps, accs = parts[key]
        system_sender = bool(SYSTEM.match(it.sender.split("@")[0]))
        return bool(reps and accs) and not it.bulk and not system_sender and not it.cancelled

    evidence: dict[tuple[str, str], list[datetime]] = {}
    threads: dict[str, set[str]] = {}
    for key, it in inters.items():
        if it.thread:
            threads.setdefault(it.thread, set()).update(parts[key][0])
        if customer(key):
            for acc in parts[key][2]:
                if not broadcast(key, acc):  # anyone's: dormancy asks for the owner then
                    for person in parts[key][0]:
                        evidence.setdefault((acc, person), []).append(it.t)
    out: set[tuple[str, ...]] = set()
    dormant = timedelta(days=dormant_days)
    lo, hi = (r_start - dormant, r_start) if lookback else (r_start, r_end)
    for key, it in inters.items():
        if not customer(key) or not (lo <= it.t < hi):
            continue
        idents, reps, accs = parts[key]
        for acc in accs:
            row = crm.accounts[acc]
            owner, since, previous = crm.owner_at(acc, it.t)
            if owner in idents or broadcast(key, acc):
                continue
            in_handoff = (previous is not None and previous in idents
                          and it.t.timestamp() < since + handoff)
            team = {crm.ident(x.strip().lower()) for x in row["team_emails"].split(";") if x.strip()}
            for rep in reps:
                if rep == owner or rep in team or rep in crm.chain(owner):
                    continue
                if in_handoff and rep != previous:
                    continue  # a colleague the previous owner brings
                orow = crm.reps.get(owner)
                if crm.approved(acc, rep, it.t):
                    cat = "approved"
                elif it.kind == "email" and it.thread and owner in threads[it.thread]:
                    cat = "looped_in"
                elif in_handoff:
                    cat = "handoff"
                elif (orow is None or orow["active"].strip().lower() == "false"
                      or not any(it.t - dormant <= x < it.t
                                 for x in evidence.get((acc, owner), []))):
                    cat = "coverage_gap"
                else:
                    cat = "backdoor"
                s = crm.ident(it.sender)
                init = "rep" if s == rep else ("customer" if crm.account(it.sender) == acc
                                               else "other")
                local = it.t.astimezone(z).date()
                week = (local - timedelta(days=local.weekday())).isoformat()
                former = any(o == rep and start < it.t.timestamp()
                             for start, o in crm.periods[acc])
                out.add((key, acc, rep, cat, init, week, owner, str(former).lower()))
    return out
