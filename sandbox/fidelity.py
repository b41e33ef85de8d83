"""Which of the real services' awkward shapes the sandboxes serve (``Fidelity``).

Each field is one documented or reported behaviour of Google's or Microsoft's API. ``True``
serves the real shape; ``False`` serves the idealised one, for diagnosis ("does this test
fail because of the shape or because of the logic?"). ``overlap sandbox serve --ideal
SHAPE[,SHAPE]`` and ``--real SHAPE[,SHAPE]`` select them; tests pass a ``Fidelity`` to
``start(..., fidelity=...)``.

:meth:`Fidelity.default` is the ONE place that decides what a sandbox serves when nobody
says otherwise. Real shapes that the connectors of this revision cannot survive yet are
listed there, switched to ideal, each with the reason (docs/sandbox.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Fidelity:
    # --- Microsoft Graph ---------------------------------------------------------------------
    # calendarView/delta returns occurrences and exceptions of a series trimmed to id, type,
    # seriesMasterId, start, end (+ @odata fields): no attendees, organizer, iCalUId,
    # isCancelled (microsoft-graph-docs #7632, #22197). Masters: GET /events/{id};
    # exceptions with their people: GET /events/{master}/instances.
    trimmed_occurrences: bool = True
    # iCalUId is Exchange's hex Global Object Id; a UID from an iCalendar invitation is
    # wrapped in it as vCal-Uid data (MS-OXOCAL 2.2.1.27, MS-OXCICAL UID, MS-ASEMAIL 4.3).
    exchange_uids: bool = True
    # Sent Items messages carry no internetMessageHeaders (microsoft-graph-docs #12726); their
    # In-Reply-To/References stay readable as the MAPI properties 0x1042/0x1039 through
    # $expand=singleValueExtendedProperties (with Mail.Read).
    sent_items_without_headers: bool = True
    # $top on messages/delta caps the whole delta round, not the page size; the page size is
    # Prefer: odata.maxpagesize (microsoft-graph-docs #2232).
    top_caps_delta_round: bool = True
    # $batch parts run concurrently and count against the 4-concurrent-requests-per-mailbox
    # limit: parts beyond it answer 429 with Retry-After (Graph throttling guidance).
    throttled_batch_parts: bool = True
    # --- Google --------------------------------------------------------------------------------
    # threadId by Gmail's rules: a message joins a thread by References/In-Reply-To AND a
    # similar subject; a changed subject starts a new thread.
    gmail_threading: bool = True
    # Listings hold DRAFT messages (and SPAM/TRASH ones with includeSpamTrash=true; history
    # always): messages nobody exchanged, which a connector must skip.
    gmail_drafts_spam_trash: bool = True
    # Listings hold CHAT messages (Hangouts/Chat history saved in Gmail).
    gmail_chats: bool = True
    # Incremental sync returns deleted events trimmed to kind, etag, id, status: cancelled
    # (Calendar API Events resource, "status": deleted events only guarantee the id).
    trimmed_deleted_events: bool = True
    # A cancelled occurrence of a recurring event that goes on (a cancelled exception) comes
    # back as kind, etag, id, status, recurringEventId, originalStartTime only ("only
    # guaranteed to have values for the id, recurringEventId and originalStartTime"); its
    # people are on the recurring event, events.get(recurringEventId).
    trimmed_cancelled_exceptions: bool = True
    # events.list pages may be shorter than maxResults ("the number of events in the resulting
    # page may be less than this parameter value"): the sandbox caps them, so paging runs.
    short_calendar_pages: bool = True

    @classmethod
    def real(cls) -> Fidelity:
        """Every real shape on."""
        return cls()

    @classmethod
    def ideal(cls) -> Fidelity:
        """Every idealised shape (the sandboxes as they were before issue 15)."""
        return cls(**{name: False for name in cls.shapes()})

    @classmethod
    def default(cls) -> Fidelity:
        """What the sandboxes serve unless told otherwise: every real shape (the connectors
        survive them all; ``sent_items_without_headers`` since the Graph connector reads a
        Sent Items copy's In-Reply-To/References from Exchange's MAPI properties,
        docs/microsoft.md)."""
        return cls.real().with_ideal([])

    @classmethod
    def shapes(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def with_ideal(self, names: Iterable[str]) -> Fidelity:
        return replace(self, **{n: False for n in self._known(names)})

    def with_real(self, names: Iterable[str]) -> Fidelity:
        return replace(self, **{n: True for n in self._known(names)})

    @classmethod
    def _known(cls, names: Iterable[str]) -> list[str]:
        out: list[str] = []
        for raw in names:
            name = raw.strip().replace("-", "_")
            if not name:
                continue
            if name == "all":
                out += cls.shapes()
            elif name in cls.shapes():
                out.append(name)
            else:
                raise ValueError(f"unknown sandbox shape {raw!r} (one of: all, "
                                 + ", ".join(cls.shapes()) + ")")
        return out

    @classmethod
    def parse(cls, ideal: str | None = None, real: str | None = None) -> Fidelity:
        """``--ideal a,b`` / ``--real c`` (comma-separated shape names, or ``all``) applied to
        :meth:`default`; ``real`` wins where both name a shape."""
        out = cls.default()
        if ideal:
            out = out.with_ideal(ideal.split(","))
        if real:
            out = out.with_real(real.split(","))
        return out

    def describe(self) -> str:
        """``ideal: a, b`` (the shapes served idealised), or ``all real``."""
        off = [n for n in self.shapes() if not getattr(self, n)]
        return "all real" if not off else "ideal: " + ", ".join(off)
