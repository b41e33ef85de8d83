"""An in-memory warehouse shaped like the analyst views, for the report tests.

The report reads only the views of docs/architecture.md §5. Until the real views exist, this
module creates *tables* with the same names and exactly those columns (``SPEC`` below is §5
transcribed), and fills them with a realistic week plus the eleven before it: overlap events are
listed one by one and ``overlap_weekly`` is aggregated from them with the rule-9 score, so the
numbers in the report can be checked by hand.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

import duckdb

UTC = dt.UTC
WEEK = dt.date(2026, 11, 16)  # ISO 2026-W47
PREVIOUS = WEEK - dt.timedelta(weeks=1)

# docs/architecture.md §5, column for column. `runs` is `run_log` as is (§3; types from
# sql/schema). test_render checks this against the real migrated views too.
SPEC: dict[str, list[tuple[str, str]]] = {
    "interactions": [
        ("interaction_id", "VARCHAR"), ("kind", "VARCHAR"), ("occurred_at", "TIMESTAMPTZ"),
        ("week_start", "DATE"), ("thread_id", "VARCHAR"), ("source", "VARCHAR"),
        ("sources", "VARCHAR[]"), ("mailboxes", "VARCHAR[]"), ("copies", "INTEGER"),
        ("message_id", "VARCHAR"), ("ical_uid", "VARCHAR"), ("original_start", "TIMESTAMPTZ"),
        ("ended_at", "TIMESTAMPTZ"), ("subject", "VARCHAR"), ("bulk_reason", "VARCHAR"),
        ("cancelled", "BOOLEAN"), ("is_customer", "BOOLEAN"),
    ],
    "interaction_participants": [
        ("interaction_id", "VARCHAR"), ("address", "VARCHAR"), ("role", "VARCHAR"),
        ("response", "VARCHAR"), ("party", "VARCHAR"), ("account_id", "VARCHAR"),
        ("rep_email", "VARCHAR"), ("name", "VARCHAR"),
    ],
    "overlap_events": [
        ("interaction_id", "VARCHAR"), ("kind", "VARCHAR"), ("occurred_at", "TIMESTAMPTZ"),
        ("week_start", "DATE"), ("account_id", "VARCHAR"), ("owner_email", "VARCHAR"),
        ("rep_email", "VARCHAR"), ("initiated_by", "VARCHAR"), ("category", "VARCHAR"),
        ("contact_emails", "VARCHAR[]"), ("former_owner", "BOOLEAN"), ("heads_up", "BOOLEAN"),
        ("approval_reason", "VARCHAR"), ("account_name", "VARCHAR"), ("thread_id", "VARCHAR"),
    ],
    "overlap_weekly": [
        ("week_start", "DATE"), ("account_id", "VARCHAR"), ("owner_email", "VARCHAR"),
        ("rep_email", "VARCHAR"), ("emails", "INTEGER"), ("meetings", "INTEGER"),
        ("contacts", "INTEGER"), ("score", "DOUBLE"), ("level", "VARCHAR"),
        ("reasons", "VARCHAR[]"), ("account_name", "VARCHAR"), ("owner_name", "VARCHAR"),
        ("rep_name", "VARCHAR"), ("events", "INTEGER"), ("backdoor", "INTEGER"),
        ("coverage_gap", "INTEGER"), ("looped_in", "INTEGER"), ("rep_initiated", "INTEGER"),
        ("customer_initiated", "INTEGER"), ("heads_ups", "INTEGER"), ("earlier_weeks", "INTEGER"),
    ],
    "account_owners": [
        ("account_id", "VARCHAR"), ("owner_email", "VARCHAR"), ("valid_from", "TIMESTAMPTZ"),
        ("valid_until", "TIMESTAMPTZ"), ("source", "VARCHAR"), ("previous_owner_email", "VARCHAR"),
        ("owner_email_listed", "VARCHAR"), ("owner_name", "VARCHAR"), ("owner_in_reps", "BOOLEAN"),
    ],
    "collaboration_weekly": [
        ("week_start", "DATE"), ("account_id", "VARCHAR"), ("account_name", "VARCHAR"),
        ("owner_email", "VARCHAR"), ("owner_name", "VARCHAR"), ("rep_emails", "VARCHAR[]"),
        ("interactions", "INTEGER"), ("emails", "INTEGER"), ("meetings", "INTEGER"),
        ("contacts", "INTEGER"),
    ],
    "data_quality": [
        ("kind", "VARCHAR"), ("item", "VARCHAR"), ("detail", "VARCHAR"), ("volume", "BIGINT"),
        ("source", "VARCHAR"), ("mailbox", "VARCHAR"), ("run_id", "VARCHAR"),
    ],
    "runs": [
        ("run_id", "VARCHAR"), ("scope", "VARCHAR"), ("source", "VARCHAR"),
        ("mailbox", "VARCHAR"), ("window_start", "TIMESTAMPTZ"), ("window_end", "TIMESTAMPTZ"),
        ("started_at", "TIMESTAMPTZ"), ("finished_at", "TIMESTAMPTZ"), ("status", "VARCHAR"),
        ("emails", "BIGINT"), ("meetings", "BIGINT"), ("quarantined", "BIGINT"),
        ("error", "VARCHAR"),
    ],
    # Not a view: the data-quality section reads the quarantine's windows and locators,
    # which data_quality sums away (sql/schema/001_init.sql, docs/architecture.md §3).
    "raw_quarantine": [
        ("source", "VARCHAR"), ("source_kind", "VARCHAR"), ("mailbox", "VARCHAR"),
        ("locator", "VARCHAR"), ("reason", "VARCHAR"), ("window_start", "TIMESTAMPTZ"),
        ("window_end", "TIMESTAMPTZ"),
    ],
}

# Hostile values, as a mailbox or a careless CRM export could carry them.
XSS_ACCOUNT = "<script>alert('acct')</script> Evil Corp"
XSS_LINK_ACCOUNT = '<a href="javascript:alert(1)">Click Corp</a>'
XSS_LOCATOR = 'cur/<img src=x onerror="alert(1)">.eml'
XSS_OWNER_NAME = 'Mallory "><img src=x onerror=alert(1)>'
XSS_REP_NAME = '<script>alert("rep")</script>Trudy \' " javascript:void(0)'
XSS_CONTACT = '"><svg onload=alert(1)>@evil.example'
XSS_REASON = '<img src=x onerror="alert(2)"> reason'

PEOPLE = {
    "jane@corp.example": "Jane Doe",
    "omar@corp.example": "Omar Haddad",
    "priya@corp.example": "Priya Nair",
    "lee@corp.example": "Lee Chen",
    "sam@corp.example": "Sam Ortiz",
    "kim@corp.example": "Kim Park",
    "alex@corp.example": "Alex Novak",
    "rita@corp.example": "Rita Gomez",
    "mallory@corp.example": XSS_OWNER_NAME,
    "trudy@corp.example": XSS_REP_NAME,
    "ghost@corp.example": None,  # an owner missing from reps.csv: no CRM name
}

ACCOUNTS = {  # account_id: (name, owner, domain)
    "A-001": ("Acme Corp", "jane@corp.example", "acme.com"),
    "A-002": ("Globex", "omar@corp.example", "globex.com"),
    "A-003": ("Initech", "priya@corp.example", "initech.com"),
    "A-004": ("Umbrella", "jane@corp.example", "umbrella.com"),
    "A-005": ("Hooli", "lee@corp.example", "hooli.com"),
    "A-006": ("Stark Industries", "omar@corp.example", "stark.com"),
    "A-007": ("Wayne Enterprises", "priya@corp.example", "wayne.com"),
    "A-008": ("Soylent", "ghost@corp.example", "soylent.com"),
    "A-666": (XSS_ACCOUNT, "mallory@corp.example", "evil.example"),
    "A-667": (XSS_LINK_ACCOUNT, "mallory@corp.example", "click.example"),
}

WEIGHTS = {"email": 1.0, "meeting": 3.0, "rep": 1.5, "customer": 1.0, "other": 1.0,
           "contact": 0.5, "persistence": 1.0, "looped_in": 0.25, "coverage_gap": 0.5,
           "heads_up": 0.5, "high": 8.0, "medium": 3.0}
NOT_RISK = ("approved", "handoff")  # no overlap_weekly row (rule 6, rule 10)


@dataclass
class Ev:
    account: str
    rep: str
    kind: str = "email"
    initiated_by: str = "rep"
    category: str = "backdoor"
    contacts: tuple[str, ...] = ("buyer",)
    day: int = 1  # 0 = Monday
    hour: int = 10
    interaction: str | None = None  # share one interaction between events (one meeting, 2 reps)
    subject: str | None = None
    heads_up: bool = False  # rule 6: the owner got a heads-up (score × 0.5, a reason)
    approval_reason: str | None = None  # category approved
    owner: str | None = None  # the owner then, when not the account's (handoff: the new one)


# This week (W47): a realistic spread. Counts are checked by the tests.
THIS_WEEK: list[Ev] = [
    # Acme / Sam: the headline case — meetings he set up, three people, four weeks running.
    Ev("A-001", "sam@corp.example", "meeting", "rep", contacts=("cfo", "cto"), day=1, hour=9,
       interaction="m-acme-1"),
    Ev("A-001", "sam@corp.example", "meeting", "rep", contacts=("cfo", "buyer"), day=3, hour=15),
    Ev("A-001", "sam@corp.example", "email", "rep", contacts=("cfo",), day=1, hour=11),
    Ev("A-001", "sam@corp.example", "email", "customer", contacts=("cfo",), day=2, hour=8),
    Ev("A-001", "sam@corp.example", "email", "rep", contacts=("buyer",), day=4, hour=17),
    # the same Acme meeting also had Kim in it: same interaction, second event
    Ev("A-001", "kim@corp.example", "meeting", "rep", contacts=("cfo", "cto"), day=1, hour=9,
       interaction="m-acme-1"),
    # Globex / Kim: a medium case
    Ev("A-002", "kim@corp.example", "email", "rep", contacts=("ops",), day=0, hour=14),
    Ev("A-002", "kim@corp.example", "email", "customer", contacts=("ops", "it"), day=2, hour=9),
    # Initech / Alex: looped in, low
    Ev("A-003", "alex@corp.example", "email", "customer", "looped_in", ("pm",), day=2, hour=10),
    Ev("A-003", "alex@corp.example", "email", "rep", "looped_in", ("pm",), day=3, hour=10),
    # Hooli / Rita: a meeting the customer organised
    Ev("A-005", "rita@corp.example", "meeting", "customer", contacts=("vp", "buyer"), day=4,
       hour=13),
    # Soylent: the owner left the company (coverage gap)
    Ev("A-008", "rita@corp.example", "meeting", "rep", "coverage_gap", ("ceo",), day=2, hour=16),
    Ev("A-008", "rita@corp.example", "email", "rep", "coverage_gap", ("ceo",), day=3, hour=9),
    # Umbrella / Alex
    Ev("A-004", "alex@corp.example", "email", "other", contacts=("legal",), day=1, hour=12),
    # Hostile CRM and mailbox values
    Ev("A-666", "trudy@corp.example", "meeting", "rep", contacts=("boss", "x"), day=2, hour=11),
    Ev("A-666", "trudy@corp.example", "email", "rep", contacts=("boss",), day=3, hour=11),
    Ev("A-667", "sam@corp.example", "email", "rep", contacts=("click",), day=4, hour=11),
]

LAST_WEEK: list[Ev] = [
    Ev("A-001", "sam@corp.example", "meeting", "rep", contacts=("cfo",), day=2),
    Ev("A-001", "sam@corp.example", "email", "rep", contacts=("cfo",), day=3),
    Ev("A-002", "kim@corp.example", "email", "customer", contacts=("ops",), day=1),
    Ev("A-006", "kim@corp.example", "email", "rep", contacts=("eng",), day=4),
    Ev("A-007", "alex@corp.example", "email", "rep", contacts=("cio",), day=0),
]

# Earlier weeks (k weeks before WEEK): (account, rep, emails, meetings)
EARLIER: dict[int, list[tuple[str, str, int, int]]] = {
    2: [("A-001", "sam@corp.example", 2, 0), ("A-006", "kim@corp.example", 1, 0)],
    3: [("A-001", "sam@corp.example", 1, 1), ("A-005", "rita@corp.example", 1, 0)],
    4: [("A-002", "kim@corp.example", 2, 0)],
    5: [("A-003", "alex@corp.example", 1, 0), ("A-007", "alex@corp.example", 1, 1)],
    6: [("A-001", "sam@corp.example", 1, 0)],
    7: [("A-006", "kim@corp.example", 3, 0), ("A-004", "alex@corp.example", 1, 0)],
    8: [("A-005", "rita@corp.example", 0, 1)],
    9: [("A-001", "sam@corp.example", 2, 0), ("A-002", "kim@corp.example", 1, 0)],
    10: [("A-007", "alex@corp.example", 2, 0)],
    11: [("A-001", "sam@corp.example", 1, 0)],
}

# (week, account, colleagues, interactions, emails, meetings, contacts)
COLLABORATION = [
    (WEEK, "A-001", ("kim@corp.example",), 2, 1, 1, 3),
    (WEEK, "A-002", ("sam@corp.example", "rita@corp.example"), 3, 2, 1, 2),
    (WEEK, "A-005", ("alex@corp.example",), 1, 0, 1, 2),
    (PREVIOUS, "A-002", ("sam@corp.example",), 2, 2, 0, 1),
]

MAILBOXES = [
    ("gmail", mb) for mb in sorted(m for m in PEOPLE if m != "ghost@corp.example")
]

SUBJECT_MARK = "SUBJ-SECRET"


@dataclass
class Warehouse:
    con: duckdb.DuckDBPyConnection
    events: dict[dt.date, list[Ev]] = field(default_factory=dict)


def _iid(*parts: object) -> str:
    return hashlib.md5("|".join(map(str, parts)).encode()).hexdigest()  # noqa: S324 - test ids


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    for table, cols in SPEC.items():
        body = ", ".join(f'"{c}" {t}' for c, t in cols)
        con.execute(f"create table {table} ({body})")


def _expand_earlier() -> dict[dt.date, list[Ev]]:
    out: dict[dt.date, list[Ev]] = {}
    for k, rows in EARLIER.items():
        week = WEEK - dt.timedelta(weeks=k)
        evs: list[Ev] = []
        for account, rep, emails, meetings in rows:
            evs += [Ev(account, rep, "email", "rep", day=i % 5) for i in range(emails)]
            evs += [Ev(account, rep, "meeting", "rep", day=i % 5) for i in range(meetings)]
        out[week] = evs
    return out


def _score(evs: list[Ev], contacts: int, persistence: int) -> float:
    total = 0.0
    for e in evs:
        cat = 1.0 if e.category == "backdoor" else WEIGHTS[e.category]
        total += (WEIGHTS[e.kind] * WEIGHTS[e.initiated_by] * cat
                  * (WEIGHTS["heads_up"] if e.heads_up else 1.0))
    return total + WEIGHTS["contact"] * (contacts - 1) + WEIGHTS["persistence"] * persistence


def build(con: duckdb.DuckDBPyConnection, *, this_week: list[Ev] | None = None,
          coverage_failure: bool = True, extra_weekly: list[tuple] | None = None,
          owner_changes: list[tuple] | None = None, extra_quality: list[tuple] | None = None,
          ) -> Warehouse:
    """Fill the views. ``this_week`` replaces W47's events; ``extra_weekly`` appends raw
    overlap_weekly rows (for CSV cases); ``owner_changes`` adds account_owners rows
    (account_id, new owner, valid_from, previous owner); ``extra_quality`` data_quality rows."""
    create_tables(con)
    events = {WEEK: list(THIS_WEEK if this_week is None else this_week), PREVIOUS: LAST_WEEK}
    events.update(_expand_earlier())

    ev_rows, int_rows, part_rows = [], [], []
    pairs: dict[tuple[dt.date, str, str], list[Ev]] = defaultdict(list)
    seen_interactions: set[str] = set()
    for week, evs in sorted(events.items()):
        for n, e in enumerate(evs):
            name, owner, domain = ACCOUNTS[e.account]
            owner = e.owner or owner
            at = dt.datetime.combine(week + dt.timedelta(days=e.day), dt.time(e.hour), UTC)
            iid = _iid(week, e.interaction or n, e.account if not e.interaction else "")
            contacts = sorted(f"{c}@{domain}" if "@" not in c else c for c in e.contacts)
            if e.account == "A-666":
                contacts = sorted([*contacts, XSS_CONTACT])
            thread = _iid("thread", iid)
            ev_rows.append((iid, e.kind, at, week, e.account, owner, e.rep, e.initiated_by,
                            e.category, contacts, e.category == "handoff", e.heads_up,
                            e.approval_reason, name, thread))
            if e.category not in NOT_RISK:
                pairs[(week, e.account, e.rep)].append(e)
            if iid in seen_interactions:
                continue
            seen_interactions.add(iid)
            subject = e.subject or (f"{SUBJECT_MARK} renewal for {name}" if n % 3 else None)
            int_rows.append((iid, e.kind, at, week, thread, "gmail", ["gmail"], [e.rep], 1,
                             f"{iid}@mail" if e.kind == "email" else None,
                             f"{iid}@cal" if e.kind == "meeting" else None,
                             at if e.kind == "meeting" else None,
                             at + dt.timedelta(hours=1) if e.kind == "meeting" else None,
                             subject, None, False, True))
            part_rows.append((iid, e.rep, "from" if e.kind == "email" else "organizer", None,
                              "rep", None, e.rep, PEOPLE[e.rep]))
            for c in contacts:
                part_rows.append((iid, c, "to" if e.kind == "email" else "attendee",
                                  None if e.kind == "email" else "accepted", "account_contact",
                                  e.account, None, c.split("@")[0].title()))

    # Customer interactions where the owner took part (no overlap): context for the headline.
    for week, count in ((WEEK, 40), (PREVIOUS, 31)):
        for i in range(count):
            iid = _iid("ok", week, i)
            at = dt.datetime.combine(week + dt.timedelta(days=i % 5), dt.time(9 + i % 8), UTC)
            int_rows.append((iid, "email", at, week, iid, "gmail", ["gmail"],
                             ["jane@corp.example"], 1, f"{iid}@mail", None, None, None,
                             f"{SUBJECT_MARK} owner mail {i}", None, False, True))

    weekly_rows = []
    for (week, account, rep), evs in sorted(pairs.items()):
        name, owner, _domain = ACCOUNTS[account]
        contacts = len({c for e in evs for c in e.contacts})
        persistence = sum(
            1 for k in range(1, 5) if (week - dt.timedelta(weeks=k), account, rep) in pairs)
        score = _score(evs, contacts, persistence)
        level = ("high" if score >= WEIGHTS["high"]
                 else "medium" if score >= WEIGHTS["medium"] else "low")
        emails = sum(e.kind == "email" for e in evs)
        meetings = sum(e.kind == "meeting" for e in evs)
        owner_name = PEOPLE[owner]
        what = " and ".join(
            f"{n} {word}{'s' if n != 1 else ''}"
            for n, word in ((meetings, "meeting"), (emails, "email")) if n)
        people = "person" if contacts == 1 else "people"
        reasons = [f"{what} with {contacts} {name} {people} without owner {owner_name or owner}"]
        if persistence:
            reasons.append(f"also active in {persistence} of the previous 4 weeks")
        if account == "A-666":
            reasons.append(XSS_REASON)
        weekly_rows.append((
            week, account, owner, rep, emails, meetings, contacts, score, level, reasons, name,
            owner_name, PEOPLE[rep], len(evs),
            sum(e.category == "backdoor" for e in evs),
            sum(e.category == "coverage_gap" for e in evs),
            sum(e.category == "looped_in" for e in evs),
            sum(e.initiated_by == "rep" for e in evs),
            sum(e.initiated_by == "customer" for e in evs),
            sum(e.heads_up for e in evs), persistence,
        ))
    weekly_rows += extra_weekly or []

    collab_rows = []
    for week, account, reps, inter, emails, meetings, contacts in COLLABORATION:
        name, owner, _ = ACCOUNTS[account]
        collab_rows.append((week, account, name, owner, PEOPLE[owner], list(reps), inter,
                            emails, meetings, contacts))

    dq_rows = [
        ("unmatched_domain", "initrode.com", None, 57, None, None, None),
        ("unmatched_domain", "=cmd.example", None, 12, None, None, None),
        ("unmatched_domain", "vandelay.com", None, 31, None, None, None),
        ("ambiguous_domain", "shared-parent.com", "A-002; A-006", 9, None, None, None),
        ("freemail_account_domain", "gmail.com", "A-004", None, None, None, None),
        ("quarantined", "no usable Date header", None, 4, "maildir", "jane@corp.example",
         "run-47"),
        ("quarantined", "no usable Date header", None, 2, "maildir", "sam@corp.example",
         "run-47"),
        ("quarantined", "unparseable ics", None, 1, "ics", "kim@corp.example", "run-47"),
        ("quarantined", XSS_REASON, None, 1, "ics", "kim@corp.example", "run-47"),
        ("quarantined", "truncated mbox message", None, 3, "mbox", "sam@corp.example", None),
    ]
    # The same records one by one: the first eight read by this week's extracts, the mbox
    # ones by an extract of 2026-W45 (all data: 11 records in 4 source mailboxes).
    this = dt.datetime.combine(WEEK, dt.time(0), UTC)
    w45 = this - dt.timedelta(weeks=2)
    quarantine_rows = [
        *[("maildir", "maildir", "jane@corp.example", f"cur/17{n}.M1P2.host:2,S",
           "no usable Date header", this, this + dt.timedelta(weeks=1)) for n in range(4)],
        *[("maildir", "maildir", "sam@corp.example", f"new/18{n}.M3P4.host",
           "no usable Date header", this, this + dt.timedelta(weeks=1)) for n in range(2)],
        ("ics", "ics", "kim@corp.example", "calendar/broken.ics", "unparseable ics", this,
         this + dt.timedelta(weeks=1)),
        ("ics", "ics", "kim@corp.example", XSS_LOCATOR, XSS_REASON, this,
         this + dt.timedelta(weeks=1)),
        *[("mbox", "mbox", "sam@corp.example", f"archive.mbox#{n}", "truncated mbox message",
           w45, w45 + dt.timedelta(weeks=1)) for n in (3, 11, 12)],
    ]
    if coverage_failure:
        dq_rows.append(("mailbox_failed", "rita@corp.example", "HTTP 403 from Gmail", None,
                        "gmail", "rita@corp.example", "run-47"))

    run_rows = []
    for k, run_id in ((1, "run-46"), (0, "run-47")):
        ws = dt.datetime.combine(WEEK - dt.timedelta(weeks=k), dt.time(0), UTC)
        we = ws + dt.timedelta(weeks=1)
        started = we + dt.timedelta(hours=5)
        run_rows.append((run_id, "run", None, None, ws, we, started, None, "running", None,
                         None, None, None))
        for source, mailbox in MAILBOXES:
            failed = coverage_failure and k == 0 and mailbox == "rita@corp.example"
            run_rows.append((run_id, "extract", source, mailbox, ws, we, started,
                             started + dt.timedelta(minutes=3),
                             "failed" if failed else "success", 10, 2, 0,
                             "HTTP 403 from Gmail: <b>insufficient</b> scope" if failed
                             else None))
            if failed:  # an earlier attempt on the same window that also failed
                run_rows.append(("run-47a", "extract", source, mailbox, ws, we,
                                 started - dt.timedelta(hours=1),
                                 started - dt.timedelta(minutes=50), "failed", 0, 0, 0,
                                 "timeout"))

    dq_rows += extra_quality or []
    owner_rows = [(a, o, None, None, "snapshot", None, o, PEOPLE[o], PEOPLE[o] is not None)
                  for a, (_n, o, _d) in ACCOUNTS.items()]
    for account, new, since, old in owner_changes or []:
        owner_rows = [r if r[0] != account else (*r[:3], since, *r[4:]) for r in owner_rows]
        owner_rows.append((account, new, since, None, "snapshot", old, new, PEOPLE[new], True))
    for table, rows in (("overlap_events", ev_rows), ("interactions", int_rows),
                        ("account_owners", owner_rows),
                        ("interaction_participants", part_rows),
                        ("overlap_weekly", weekly_rows), ("collaboration_weekly", collab_rows),
                        ("data_quality", dq_rows), ("runs", run_rows),
                        ("raw_quarantine", quarantine_rows)):
        if rows:
            marks = ", ".join("?" * len(SPEC[table]))
            con.executemany(f"insert into {table} values ({marks})", rows)  # noqa: S608
    return Warehouse(con=con, events=events)
