"""A hand-written organisation small enough to reason about in a test: two reps, one account."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

WEEK = date(2026, 11, 16)  # a Monday; the report week used by these tests

CONFIG = """\
[company]
internal_domains = ["corp.example"]
timezone = "UTC"
[crm]
accounts = "crm/accounts.csv"
reps = "crm/reps.csv"
contacts = "crm/contacts.csv"
[warehouse]
path = "data/overlap.duckdb"
[report]
out_dir = "out"
[rules]
dormant_days = 60
[[sources]]
kind = "maildir"
path = "mail"
"""

ACCOUNTS = """\
account_id,account_name,owner_email,domains,team_emails
A1,{account_name},owner@corp.example,acme.example,
"""

REPS = """\
email,name,manager_email,team,aliases,active
owner@corp.example,Olivia Owner,,East,,true
rep@corp.example,{rep_name},,West,,true
"""

CONTACTS = "email,account_id\n"


def message(*, msg_id: str, sender: str, to: str, date_header: str, extra: str = "") -> bytes:
    head = textwrap.dedent(f"""\
        Message-ID: <{msg_id}>
        Date: {date_header}
        From: {sender}
        To: {to}
        Subject: hello
        """) + extra
    return (head + "\nbody\n").encode("utf-8")


def write_org(root: Path, *, rep_name: str = "Rex Rep", account_name: str = "Acme Corp",
              messages: dict[str, list[tuple[str, bytes]]] | None = None) -> Path:
    """Write config, CRM and maildir messages; returns the config path."""
    (root / "crm").mkdir(parents=True, exist_ok=True)
    (root / "overlap.toml").write_text(CONFIG, encoding="utf-8")
    (root / "crm" / "accounts.csv").write_text(
        ACCOUNTS.format(account_name=_csv(account_name)), encoding="utf-8")
    (root / "crm" / "reps.csv").write_text(REPS.format(rep_name=_csv(rep_name)), encoding="utf-8")
    (root / "crm" / "contacts.csv").write_text(CONTACTS, encoding="utf-8")
    for mailbox, items in (messages or {}).items():
        cur = root / "mail" / mailbox / "cur"
        cur.mkdir(parents=True, exist_ok=True)
        for name, raw in items:
            (cur / f"{name}:2,S").write_bytes(raw)
    (root / "mail").mkdir(exist_ok=True)
    return root / "overlap.toml"


def _csv(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'
