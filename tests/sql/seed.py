"""Rows in, rows out: seed an in-memory warehouse with CRM rows and raw copies, build, read back."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from overlap import sqlrunner
from overlap.config import Rules, Weights
from overlap.warehouse import COPY_HASH

# Monday 2024-03-04 10:00 UTC: the reported week starts 2024-03-04
T0 = datetime(2024, 3, 4, 10, 0, tzinfo=UTC)
COMPANY = ("corp.example",)
FREEMAIL = ("gmail.com", "outlook.com", "yahoo.com")

_COLUMNS = (
    "kind", "source", "source_kind", "mailbox", "copy_id", "message_id", "ical_uid",
    "original_start", "occurred_at", "ended_at", "date_source", "thread_root",
    "provider_thread_id", "subject", "bulk_reason", "cancelled", "invalid_addresses",
    "participants", "window_start", "window_end",
)

_INSERT_COPY = (
    "insert into raw_copies (kind, source, source_kind, mailbox, copy_id, message_id, ical_uid,"
    " original_start, occurred_at, ended_at, date_source, thread_root, provider_thread_id,"
    " subject, bulk_reason, cancelled, invalid_addresses, participants, window_start,"
    " window_end) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# (rows inserted here get the key's hash as the loader gives it: warehouse.load finds a
# loaded key's older copies by it)
_HASH_COPIES = f"update raw_copies set copy_hash = {COPY_HASH} where copy_hash is null"  # noqa: S608


def _person(address: str, role: str, response: str | None = None,
            is_resource: bool = False) -> dict[str, Any]:
    return {"address": address, "name": None, "role": role, "response": response,
            "is_resource": is_resource}


class Seed:
    """A migrated in-memory warehouse and small helpers to fill it."""

    def __init__(self, con: duckdb.DuckDBPyConnection | None = None) -> None:
        self.con = con or duckdb.connect(":memory:")
        sqlrunner.migrate(self.con)
        self._ids = itertools.count(1)
        for d in COMPANY:
            self.con.execute("insert into company_domains values (?)", [d])
        for d in FREEMAIL:
            self.con.execute("insert into freemail_domains values (?)", [d])

    # --- CRM ---------------------------------------------------------------------------------

    def rep(self, email: str, name: str | None = None, *, manager: str | None = None,
            team: str | None = None, aliases: Iterable[str] = (), active: bool = True) -> str:
        line = next(self._ids)
        self.con.execute("insert into crm_reps values (?, ?, ?, ?, ?, ?)",
                         [email, name, manager, team, active, line])
        for alias in aliases:
            self.con.execute("insert into crm_rep_aliases values (?, ?)", [alias, email])
        return email

    def account(self, account_id: str, owner: str | None, *, domains: Iterable[str] = (),
                team: Iterable[str] = (), name: str | None = None) -> str:
        line = next(self._ids)
        self.con.execute("insert into crm_accounts values (?, ?, ?, ?)",
                         [account_id, name, owner, line])
        for d in domains:
            self.con.execute("insert into crm_account_domains values (?, ?, ?)",
                             [account_id, d, line])
        for t in team:
            self.con.execute("insert into crm_account_team values (?, ?)", [account_id, t])
        return account_id

    def snapshot(self, as_of: datetime) -> bool:
        """Record the CRM tables as they are now as the snapshot stamped ``as_of`` (rule 10),
        the way ``warehouse.load`` records an import that is the latest."""
        from overlap.warehouse import record_crm_snapshot

        changed = record_crm_snapshot(self.con, as_of)
        self.con.execute("insert into crm_snapshots values (?, now(), null, ?)",
                         [as_of, changed])
        return changed

    def set_owner(self, account_id: str, owner: str) -> None:
        self.con.execute("update crm_accounts set owner_email = ? where account_id = ?",
                         [owner, account_id])

    def set_rep(self, email: str, *, active: bool | None = None,
                manager: str | None = None) -> None:
        if active is not None:
            self.con.execute("update crm_reps set active = ? where email = ?", [active, email])
        if manager is not None:
            self.con.execute("update crm_reps set manager_email = ? where email = ?",
                             [manager, email])

    def ownership(self, account_id: str, owner: str, valid_from: datetime) -> None:
        """A row of ownership.csv."""
        self.con.execute("insert into crm_ownership (account_id, owner_email, valid_from, line)"
                         " values (?, ?, ?, ?)",
                         [account_id, owner, valid_from, next(self._ids)])

    def contact(self, email: str, account_id: str) -> None:
        self.con.execute("insert into crm_contacts values (?, ?, ?)",
                         [email, account_id, next(self._ids)])

    # --- raw copies --------------------------------------------------------------------------

    def _insert(self, row: Mapping[str, Any]) -> None:
        self.con.execute(_INSERT_COPY, [row.get(c) for c in _COLUMNS])
        self.con.execute(_HASH_COPIES)

    def email(self, mailbox: str, *, frm: str, to: Iterable[str] = (), cc: Iterable[str] = (),
              bcc: Iterable[str] = (), at: datetime = T0, message_id: str | None = "auto",
              source: str = "maildir", source_kind: str | None = None,
              thread_root: str | None = None, provider_thread_id: str | None = None,
              bulk_reason: str | None = None, date_source: str = "header") -> str | None:
        """One mailbox's copy of an email; returns its Message-ID."""
        n = next(self._ids)
        if message_id == "auto":
            message_id = f"m{n}@mail.example"
        people = ([_person(frm, "from")] + [_person(a, "to") for a in to]
                  + [_person(a, "cc") for a in cc] + [_person(a, "bcc") for a in bcc])
        self._insert({
            "kind": "email", "source": source, "source_kind": source_kind or source,
            "mailbox": mailbox, "copy_id": f"c{n}", "message_id": message_id,
            "occurred_at": at, "date_source": date_source, "thread_root": thread_root,
            "provider_thread_id": provider_thread_id, "bulk_reason": bulk_reason,
            "cancelled": False, "invalid_addresses": 0, "participants": people,
        })
        return message_id

    def meeting(self, mailbox: str, *, uid: str, organizer: str,
                attendees: Mapping[str, str | None], start: datetime = T0,
                original_start: datetime | None = None, rooms: Iterable[str] = (),
                cancelled: bool = False, source: str = "ics",
                source_kind: str | None = None) -> None:
        """One calendar's copy of one meeting occurrence; ``attendees`` maps to responses."""
        n = next(self._ids)
        people = [_person(organizer, "organizer")]
        people += [_person(a, "attendee", r) for a, r in attendees.items()]
        people += [_person(r, "attendee", "accepted", is_resource=True) for r in rooms]
        self._insert({
            "kind": "meeting", "source": source, "source_kind": source_kind or source,
            "mailbox": mailbox, "copy_id": f"c{n}", "ical_uid": uid,
            "original_start": original_start or start, "occurred_at": start,
            "ended_at": start + timedelta(hours=1), "date_source": "provider",
            "cancelled": cancelled, "invalid_addresses": 0, "participants": people,
        })

    # --- build and read ----------------------------------------------------------------------

    def build(self, *, timezone: str = "UTC", **rules: Any) -> sqlrunner.BuildStats:
        weights = rules.pop("weights", {})
        r = replace(Rules(), **rules, weights=replace(Weights(), **weights))
        return sqlrunner.build(self.con, sqlrunner.params_from_rules(r, timezone))

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        cur = self.con.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def events(self) -> list[dict[str, Any]]:
        return self.rows("select * from overlap_events order by occurred_at, account_id, rep_email")

    def participants(self, interaction_id: str | None = None) -> dict[str, dict[str, Any]]:
        """Participants by address (of the only interaction, or the one named)."""
        rows = self.rows("select * from interaction_participants order by interaction_id, address")
        ids = {r["interaction_id"] for r in rows}
        if interaction_id is None:
            assert len(ids) == 1, ids
        return {r["address"]: r for r in rows
                if interaction_id is None or r["interaction_id"] == interaction_id}

    def interactions(self) -> list[dict[str, Any]]:
        return self.rows("select * from interactions order by occurred_at, interaction_id")
