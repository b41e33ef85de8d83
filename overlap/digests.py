"""Owner digests by email: SMTP settings from an Airflow connection, and a sender that mails
each owner their digest once (a rerun of the task does not mail an unchanged digest twice).
No Airflow import; the DAG's ``email_digests`` task hands it the connection."""

from __future__ import annotations

import hashlib
import json
import smtplib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from overlap.connections import ConnectionLike
from overlap.errors import InputError
from overlap.fileio import write_json

SMTP_CONN_ENV = "OVERLAP_SMTP_CONN_ID"
DEFAULT_SMTP_CONN_ID = "overlap_smtp"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    login: str | None
    password: str | None
    sender: str
    security: str  # starttls | ssl | none
    timeout: float = 30.0

    @classmethod
    def from_connection(cls, conn: ConnectionLike) -> SmtpSettings:
        extra = dict(conn.extra_dejson or {})
        if not conn.host:
            raise InputError(f"SMTP connection {conn.conn_id!r} has no host", field=conn.conn_id)
        sender = extra.get("from_email") or conn.login
        if not sender:
            raise InputError(f"SMTP connection {conn.conn_id!r}: set extra from_email",
                             field=conn.conn_id)
        if extra.get("ssl"):
            security = "ssl"
        elif extra.get("starttls", extra.get("disable_tls") is not True):
            security = "starttls"
        else:
            security = "none"
        security = extra.get("security", security)
        port = conn.port or {"ssl": 465, "starttls": 587}.get(security, 25)
        return cls(conn.host, int(port), conn.login, conn.password, str(sender), security,
                   float(extra.get("timeout", 30)))


def _digest_message(settings: SmtpSettings, owner: str, week: date, html: str,
                    title: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = owner
    msg["Subject"] = f"{title}: your accounts, week of {week.isoformat()}"
    msg.set_content("Your weekly Overlap digest is attached as HTML; open it in a browser.")
    msg.add_alternative(html, subtype="html")
    return msg


def send_digests(digests: Mapping[str, Mapping[str, str]], settings: SmtpSettings, *,
                 title: str = "Overlap", state_file: Path | None = None,
                 smtp_factory: Callable[..., Any] | None = None) -> dict[str, int]:
    """Mail each owner their digest: ``digests`` maps week (ISO date) → owner → HTML path.

    ``state_file`` remembers what was sent (week, owner, content hash) so a rerun of the task
    does not mail an unchanged digest twice. Returns counts {sent, unchanged}."""
    sent_before: dict[str, str] = {}
    if state_file is not None and state_file.exists():
        sent_before = json.loads(state_file.read_text(encoding="utf-8"))
    todo = []
    for week_iso, owners in sorted(digests.items()):
        for owner, path in sorted(owners.items()):
            html = Path(path).read_text(encoding="utf-8")
            digest = hashlib.sha256(html.encode("utf-8")).hexdigest()
            key = f"{week_iso}|{owner}"
            if sent_before.get(key) != digest:
                todo.append((key, digest, owner, date.fromisoformat(week_iso), html))
    counts = {"sent": 0, "unchanged": sum(len(o) for o in digests.values()) - len(todo)}
    if not todo:
        return counts
    if smtp_factory is None:
        smtp_factory = smtplib.SMTP_SSL if settings.security == "ssl" else smtplib.SMTP
    with smtp_factory(settings.host, settings.port, timeout=settings.timeout) as smtp:
        if settings.security == "starttls":
            smtp.starttls()
        if settings.login and settings.password:
            smtp.login(settings.login, settings.password)
        for key, digest, owner, week, html in todo:
            smtp.send_message(_digest_message(settings, owner, week, html, title))
            sent_before[key] = digest
            counts["sent"] += 1
            if state_file is not None:  # after each mail: a crash mid-way resends none twice
                write_json(state_file, sent_before)
    return counts
