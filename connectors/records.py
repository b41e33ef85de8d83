"""Normalized records every connector yields (see docs/architecture.md, section 1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC as _UTC
from datetime import datetime, timedelta

EMAIL_ROLES = ("from", "to", "cc", "bcc")
MEETING_ROLES = ("organizer", "attendee")
RESPONSES = ("accepted", "tentative", "declined", "needs_action")


KEY_STAMP = "%Y%m%dT%H%M%SZ"  # each end of a Window.key (staged files' names start with it)


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open time window ``[start, end)`` in aware datetimes."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("Window bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"empty window: {self.start} .. {self.end}")

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def widened(self, before: timedelta) -> Window:
        """The same window reaching ``before`` further into the past."""
        return Window(self.start - before, self.end)

    @property
    def key(self) -> str:
        """Stable text form used in staging paths: ``20261116T000000Z_20261123T000000Z``."""
        return (f"{self.start.astimezone(_UTC).strftime(KEY_STAMP)}_"
                f"{self.end.astimezone(_UTC).strftime(KEY_STAMP)}")


@dataclass(frozen=True, slots=True)
class Participant:
    """One address named on an email or meeting. ``address`` is normalized."""

    address: str
    name: str | None
    role: str  # from | to | cc | bcc | organizer | attendee
    response: str | None = None  # meetings: accepted | tentative | declined | needs_action
    is_resource: bool = False  # rooms and equipment are not people


class Participants:
    """Collects one record's participants: kept once per (address, role); an address that
    could not be normalized (None) is counted in ``invalid``, not kept."""

    def __init__(self) -> None:
        self.people: list[Participant] = []
        self.invalid = 0
        self._seen: set[tuple[str, str]] = set()

    def add(self, address: str | None, name: str | None, role: str, *,
            response: str | None = None, is_resource: bool = False) -> None:
        if address is None:
            self.invalid += 1
        elif (address, role) not in self._seen:
            self._seen.add((address, role))
            self.people.append(Participant(address, name, role, response, is_resource))


@dataclass(frozen=True, slots=True)
class EmailCopy:
    """One mailbox's copy of an email (metadata only)."""

    source: str
    source_kind: str
    mailbox: str
    copy_id: str
    message_id: str | None
    occurred_at: datetime
    date_source: str  # header | provider
    participants: tuple[Participant, ...]
    thread_root: str | None = None
    provider_thread_id: str | None = None
    subject: str | None = None
    bulk_reason: str | None = None
    invalid_addresses: int = 0

    kind = "email"


@dataclass(frozen=True, slots=True)
class MeetingCopy:
    """One calendar's copy of one meeting occurrence."""

    source: str
    source_kind: str
    mailbox: str
    copy_id: str
    ical_uid: str
    original_start: datetime
    occurred_at: datetime  # the occurrence's (possibly moved) start
    ended_at: datetime | None
    participants: tuple[Participant, ...]
    cancelled: bool = False
    subject: str | None = None
    invalid_addresses: int = 0

    kind = "meeting"


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A record that could not be parsed, with the reason why."""

    source: str
    source_kind: str
    mailbox: str
    locator: str
    reason: str


Record = EmailCopy | MeetingCopy | Quarantined


@dataclass(slots=True)
class ExtractStats:
    """Counts an extract reports for progress output and the runs table."""

    emails: int = 0
    meetings: int = 0
    quarantined: int = 0
    skipped_outside_window: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


