"""Ground truth: DESIGN.md rules 3-8 and 10 applied in plain Python to the generated model.

Everything here works on what the generator *wrote* (the headers each copy carries, the
PARTSTAT each calendar copy shows), never on its intent, and never by parsing the output.

Rule 10 (owner at the interaction's time): an account's owner periods come from
crm/ownership.csv's rows (``Truth.ownership``) and accounts.csv's owner, taken as the latest
fact (the CRM export is imported after the generated history, as `overlap run` stamps it with
the wall-clock time); before the earliest fact the earliest applies. Rules 5-7 use the owner
then (team, chain, activity, heads-up); dormancy looks at that owner's own interactions with
the account, whoever owned it then; the handoff and ``former_owner`` follow DESIGN.md.

Two CRM states (sandbox/plant_crm_later.py): crm/ as written, and after the later export
crm-later/ (``derive(later=True)``): accounts only the later export has exist for all time
(identity), its owners and extra ownership.csv rows are facts like the others.
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sandbox._model import Account, Addr, Mail, Meeting, Resolver, is_bulk_header
from sandbox._render import copy_partstat

GT_COLUMNS = (
    "case", "kind", "message_id", "ical_uid", "original_start", "account_id", "rep_email",
    "category", "initiated_by", "week_start", "occurred_at", "interaction_key",
    "interaction_id", "fallback_sender", "fallback_date", "fallback_recipients", "heads_up",
    "owner_email", "former_owner",
)
COLLAB_COLUMNS = ("week_start", "account_id", "interaction_key", "interaction_id", "case")


def iso_utc(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class Interaction:
    """One interaction after identity merging (rule 4), reduced to what rules 5-7 need."""

    kind: str
    case: str
    t: datetime
    key: str
    idents: frozenset[str]  # canonical reps and other internal addresses among participants
    reps: tuple[str, ...]
    accounts: tuple[str, ...]
    sender: str  # ident of From / organizer
    sender_account: str | None
    customer: bool  # rule 5: has a rep and an account contact, not bulk, not cancelled
    thread: str | None = None
    message_id: str | None = None
    ical_uid: str | None = None
    original_start: datetime | None = None
    fallback: tuple[str, str, str] | None = None
    # rule 5's broadcast and rule 6's heads-up (sandbox/plant_signals.py)
    recipients: int = 0  # emails: distinct To/Cc/Bcc addresses other than From
    sender_is_rep: bool = False
    people: int = 0  # distinct participants (a rep's aliases are the rep)
    all_internal: bool = False
    quiet: bool = False  # bulk, or a cancelled meeting


def _people(parts: list[Addr]) -> tuple[int, bool]:
    """How many people take part (rooms and system senders are none) and whether all are ours."""
    people = [a for a in parts if not a.resource and not a.system]
    return len({a.ident if a.internal else a.norm for a in people}), all(
        a.internal for a in people)


def _summarise(parts: list[Addr]) -> tuple[frozenset[str], tuple[str, ...], tuple[str, ...]]:
    idents = frozenset(a.ident for a in parts if a.internal and not a.resource and not a.system)
    reps = tuple(sorted({a.rep for a in parts if a.rep}))
    accounts = tuple(sorted({a.account for a in parts if a.account}))
    return idents, reps, accounts


class Truth:
    """Collects interactions while the generator writes, then derives the overlap events."""

    def __init__(self, resolver: Resolver, accounts: list[Account], tz: str, dormant_days: int,
                 management_chain: bool, report_start: datetime, report_end: datetime,
                 handoff_days: int = 30) -> None:
        self.resolver = resolver
        self.management_chain = management_chain
        self.handoff = timedelta(days=handoff_days)
        # rule 10 (sandbox/plant_crm_time.py): ownership.csv as (account, owner, valid_from)
        self.ownership: list[tuple[str, str, datetime]] = []
        self.ownership_rows: list[tuple[str, str, str]] = []  # as written to the file
        # the later CRM export (sandbox/plant_crm_later.py): accounts that exist only in it
        # (identity: all time), its accounts.csv owners that differ, its extra ownership rows
        self.later_accounts: set[str] = set()
        self.later_owner: dict[str, str] = {}
        self.later_ownership: list[tuple[str, str, datetime]] = []
        self.later_ownership_rows: list[tuple[str, str, str]] = []
        self.tz = ZoneInfo(tz)
        self.dormant = timedelta(days=dormant_days)
        self.report_start = report_start
        self.report_end = report_end
        self.items: list[Interaction] = []
        # rule 5 and rule 6 (issue 16): settings at their defaults, approvals.csv's rows
        self.broadcast_recipients = 20
        self.heads_up = timedelta(days=7)
        self.heads_up_max_people = 4
        self.approvals: list[tuple[str, str, datetime | None, datetime | None]] = []
        self.approval_rows: list[tuple[str, ...]] = []  # as written to crm/approvals.csv
        self.owner: dict[str, str] = {}  # accounts.csv: the current owner
        self.team: dict[str, frozenset[str]] = {}
        for acc in accounts:
            self.owner[acc.account_id] = self.ident(acc.owner)
            self.team[acc.account_id] = frozenset(self.ident(t) for t in acc.team)

    def ident(self, written: str) -> str:
        norm = written.strip().lower()
        return self.resolver.rep_of.get(norm, norm)

    def owner_status(self, owner: str) -> str:
        """"" | "missing" (not in reps.csv) | "inactive"."""
        rep = self.resolver.reps.get(owner)
        return "missing" if rep is None else ("" if rep.active else "inactive")

    def excluded(self, acc: str, owner: str) -> frozenset[str]:
        """Rule 5's exclusions while ``owner`` owns ``acc``: the team and the owner's chain."""
        ex = set(self.team[acc])
        rep = self.resolver.reps.get(owner)
        if self.management_chain and rep is not None:
            seen = {owner}
            mgr = rep.manager.strip().lower()
            while mgr and mgr not in seen and mgr in self.resolver.reps:
                ex.add(mgr)
                seen.add(mgr)
                mgr = self.resolver.reps[mgr].manager.strip().lower()
        return frozenset(ex)

    def periods(self, later: bool = False) -> dict[str, list[tuple[float, str]]]:
        """Per account, (start as a timestamp, owner) by time; the first starts at -inf.
        accounts.csv's owner is the latest fact; consecutive facts of one owner are one.
        ``later``: the CRM after the later export (its owners and ownership rows)."""
        facts: dict[str, list[tuple[float, str]]] = {}
        for acc, owner, since in [*self.ownership, *(self.later_ownership if later else [])]:
            facts.setdefault(acc, []).append((since.timestamp(), self.ident(owner)))
        owners = dict(self.owner)
        if later:
            owners.update({acc: self.ident(o) for acc, o in self.later_owner.items()})
        out: dict[str, list[tuple[float, str]]] = {}
        for acc, current in owners.items():
            merged: list[tuple[float, str]] = []
            for start, owner in [*sorted(facts.get(acc, [])), (float("inf"), current)]:
                if not merged or merged[-1][1] != owner:
                    merged.append((start if merged else float("-inf"), owner))
            out[acc] = merged
        return out

    # --- collection ---------------------------------------------------------------------

    def add_email(self, m: Mail, sender_copy_exported: bool) -> None:
        parts = [m.sender, *m.to, *m.cc]
        if sender_copy_exported:
            parts.extend(m.bcc)  # rule 3: only the sender's copy shows Bcc
        idents, reps, accounts = _summarise(parts)
        bulk = m.sender.system or any(is_bulk_header(k, v) for k, v in m.extra)
        thread: str | None
        if m.mid is not None:
            key = "email|" + m.mid
            fallback = None
            thread = m.refs[0] if m.refs else (m.irt or m.mid)
        else:
            rcpts = ",".join(sorted({a.norm for a in (*m.to, *m.cc)}))
            key = f"email-fallback|{m.sender.norm}|{int(m.t.timestamp())}|{rcpts}"
            fallback = (m.sender.norm, iso_utc(m.t), rcpts)
            thread = m.refs[0] if m.refs else m.irt
        rcpts_all = {a.norm for a in (*m.to, *m.cc, *(m.bcc if sender_copy_exported else ()))}
        people, all_internal = _people(parts)
        self.items.append(Interaction(
            kind="email", case=m.case, t=m.t, key=key, idents=idents, reps=reps,
            accounts=accounts, sender=m.sender.ident, sender_account=m.sender.account,
            customer=bool(reps and accounts and not bulk), thread=thread, message_id=m.mid,
            fallback=fallback, recipients=len(rcpts_all - {m.sender.norm}),
            sender_is_rep=m.sender.rep is not None, people=people, all_internal=all_internal,
            quiet=bulk))

    def add_meeting(self, m: Meeting, holders: list[str], occurrences: list[
            tuple[datetime, datetime, bool]]) -> None:
        """``occurrences``: (original start, actual start, cancelled) for each occurrence."""
        if m.all_day:
            return  # internal all-day events only; never customer interactions
        parts = [m.organizer]
        for att in m.attendees:
            if att.cutype != "INDIVIDUAL":
                continue  # rooms and resources are not people
            a = att.addr
            # An attendee's own calendar is authoritative; else the organizer's; else the
            # copy in the smallest mailbox.
            if a.rep is not None and a.rep in holders:
                view = a.rep
            elif m.organizer.rep is not None and m.organizer.rep in holders:
                view = m.organizer.rep
            else:
                view = min(holders)
            if copy_partstat(m, view, att) != "DECLINED":
                parts.append(a)
        idents, reps, accounts = _summarise(parts)
        people, all_internal = _people(parts)
        cancelled_any = bool(set(m.cancelled_in) & set(holders))
        for original, start, cancelled in occurrences:
            key = f"meeting|{m.uid}|{iso_utc(original)}"
            dead = cancelled or cancelled_any
            self.items.append(Interaction(
                kind="meeting", case=m.case, t=start, key=key, idents=idents, reps=reps,
                accounts=accounts, sender=m.organizer.ident,
                sender_account=m.organizer.account,
                customer=bool(reps and accounts and not dead), ical_uid=m.uid,
                original_start=original, sender_is_rep=m.organizer.rep is not None,
                people=people, all_internal=all_internal, quiet=dead))

    # --- derivation ---------------------------------------------------------------------

    def week_start(self, t: datetime) -> date:
        d = t.astimezone(self.tz).date()
        return d - timedelta(days=d.weekday())

    @staticmethod
    def _any_in(times: list[float], lo: float, hi: float) -> bool:
        i = bisect.bisect_left(times, lo)
        return i < len(times) and times[i] < hi

    def broadcast(self, it: Interaction, acc: str) -> bool:
        """Rule 5: an email to more than broadcast_recipients, sent by neither a rep nor one of
        the account's people, is no interaction with the account."""
        return (it.kind == "email" and it.recipients > self.broadcast_recipients
                and not it.sender_is_rep and it.sender_account != acc)

    def approved(self, acc: str, rep: str, t: datetime) -> bool:
        return any(a == acc and r == rep and (lo is None or lo <= t) and (hi is None or t < hi)
                   for a, r, lo, hi in self.approvals)

    def heads_ups(self) -> list[Interaction]:
        """Rule 6's small internal interactions, by time."""
        return sorted((it for it in self.items
                       if it.all_internal and it.people <= self.heads_up_max_people
                       and len(it.reps) >= 2 and it.sender in it.reps and not it.quiet),
                      key=lambda it: it.t)

    @staticmethod
    def had_heads_up(briefs: list[Interaction], times: list[datetime], lo: datetime,
                     t: datetime, rep: str, owner: str) -> bool:
        i = bisect.bisect_left(times, lo)
        return any(rep in j.reps and owner in j.reps and j.sender in (rep, owner)
                   for j in briefs[i:bisect.bisect_left(times, t)])

    @staticmethod
    def owner_at(periods: list[tuple[float, str]], ts: float) -> tuple[str, float, str | None]:
        """(owner, since, previous owner) at ``ts``."""
        i = bisect.bisect_right([p[0] for p in periods], ts) - 1
        return periods[i][1], periods[i][0], periods[i - 1][1] if i > 0 else None

    def derive(self, *, later: bool = False, lookback: bool = False) -> tuple[
            list[dict[str, str]], list[dict[str, str]], dict[str, int]]:
        """Rows of ground_truth.csv and ground_truth_collaboration.csv, plus statistics.

        ``later``: with the later CRM export (``*_later.csv``; without it the accounts only
        it has do not exist); ``lookback``: the events the rules would give the look-back
        ([first week − dormant_days, first week)) if it were reported
        (ground_truth_lookback.csv)."""
        briefs = self.heads_ups()
        brief_times = [j.t for j in briefs]
        periods = self.periods(later)
        owners_ever = {acc: {o for _, o in ps} for acc, ps in periods.items()}
        hidden = frozenset() if later else frozenset(self.later_accounts)
        accounts_of = {id(it): tuple(a for a in it.accounts if a not in hidden)
                       for it in self.items}
        lo, hi = ((self.report_start - self.dormant, self.report_start) if lookback
                  else (self.report_start, self.report_end))
        # dormancy evidence per (account, owner of any time): their own customer interactions
        owner_times: dict[tuple[str, str], list[float]] = {}
        thread_idents: dict[str, set[str]] = {}
        for it in self.items:
            if it.thread is not None:
                thread_idents.setdefault(it.thread, set()).update(it.idents)
            if it.customer:
                ts = it.t.timestamp()
                for acc in accounts_of[id(it)]:
                    if not self.broadcast(it, acc):
                        for owner in owners_ever[acc] & it.idents:
                            owner_times.setdefault((acc, owner), []).append(ts)
        for v in owner_times.values():
            v.sort()
        dormant_s = self.dormant.total_seconds()
        rows: list[dict[str, str]] = []
        collab: list[dict[str, str]] = []
        near_boundary = 0
        for it in self.items:
            if not it.customer or not accounts_of[id(it)] or not (lo <= it.t < hi):
                continue
            week = self.week_start(it.t).isoformat()
            iid = "" if it.fallback else hashlib.md5(it.key.encode()).hexdigest()
            ts = it.t.timestamp()
            for acc in accounts_of[id(it)]:
                owner, since, previous = self.owner_at(periods[acc], ts)
                if self.broadcast(it, acc):
                    continue
                if owner in it.idents:
                    if any(r != owner for r in it.reps):
                        collab.append({"week_start": week, "account_id": acc,
                                       "interaction_key": it.key, "interaction_id": iid,
                                       "case": it.case})
                    continue
                # rule 10: the previous owner without the new one inside the grace
                handoff = (previous is not None and previous in it.idents
                           and ts < since + self.handoff.total_seconds())
                excluded = self.excluded(acc, owner)
                for rep in it.reps:
                    if rep == owner or rep in excluded or (handoff and rep != previous):
                        continue
                    times = owner_times.get((acc, owner), [])
                    recent = self._any_in(times, ts - dormant_s, ts)
                    if recent != self._any_in(times, ts - dormant_s - 7200, ts) or (
                            recent != self._any_in(times, ts - dormant_s + 7200, ts)):
                        near_boundary += 1  # the answer would flip if "60 days" meant ±2h
                    if self.approved(acc, rep, it.t):
                        category = "approved"
                    elif (it.kind == "email" and it.thread is not None
                            and owner in thread_idents[it.thread]):
                        category = "looped_in"
                    elif handoff:
                        category = "handoff"
                    elif self.owner_status(owner) or not recent:
                        category = "coverage_gap"
                    else:
                        category = "backdoor"
                    if it.sender == rep:
                        initiated = "rep"
                    elif it.sender_account == acc:
                        initiated = "customer"
                    else:
                        initiated = "other"
                    fb = it.fallback or ("", "", "")
                    rows.append({
                        "case": it.case, "kind": it.kind, "message_id": it.message_id or "",
                        "ical_uid": it.ical_uid or "",
                        "original_start": iso_utc(it.original_start) if it.original_start else "",
                        "account_id": acc, "rep_email": rep, "category": category,
                        "initiated_by": initiated, "week_start": week,
                        "occurred_at": iso_utc(it.t), "interaction_key": it.key,
                        "interaction_id": iid, "fallback_sender": fb[0],
                        "fallback_date": fb[1], "fallback_recipients": fb[2],
                        "heads_up": str(self.had_heads_up(
                            briefs, brief_times, it.t - self.heads_up, it.t, rep,
                            owner)).lower(),
                        "owner_email": owner,
                        "former_owner": str(any(o == rep and start < ts
                                                for start, o in periods[acc])).lower(),
                    })
        rows.sort(key=lambda r: (r["week_start"], r["occurred_at"], r["interaction_key"],
                                 r["account_id"], r["rep_email"]))
        collab.sort(key=lambda r: (r["week_start"], r["account_id"], r["interaction_key"]))
        stats = {
            "interactions": len(self.items),
            "customer_interactions": sum(1 for it in self.items
                                         if it.customer and accounts_of[id(it)]),
            "events": len(rows),
            "collaboration": len(collab),
            "dormancy_near_boundary": near_boundary,
        }
        return rows, collab, stats
