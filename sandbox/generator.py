"""Deterministic synthetic organisation: CRM, mailboxes, calendars and the ground truth.

``generate(out_dir, seed=7, ...)`` writes a complete Overlap input (same seed and arguments →
byte-identical files)::

    overlap.toml                  loadable by overlap.config.load_config
    crm/accounts.csv, crm/reps.csv, crm/contacts.csv, crm/approvals.csv, crm/ownership.csv
    crm-later/                    a later export of the same five files (plant_crm_later.py)
    mail/<rep mailbox>/cur|new/   raw RFC 822 copies (maildir; tmp/ holds a decoy to ignore)
    mail/<rep mailbox>/calendar.ics   that rep's calendar (VEVENTs, one copy per calendar)
    mbox/<rep mailbox>/inbox.mbox the mail of a few mailboxes, as mboxrd instead of maildir
    ground_truth.csv              every overlap event the rules imply for the reported weeks
    ground_truth_collaboration.csv
    planted_cases.csv             each planted case, its description and expected events
    ground_truth_later.csv, ground_truth_collaboration_later.csv   the same after crm-later/
    ground_truth_lookback.csv     the events the look-back would have if it were reported

Only reps' mailboxes are exported. An email is written into every rep mailbox that takes part
(the sender's Sent copy and each To/Cc/Bcc rep's copy); the Bcc header appears only in the
sender's copy. A meeting is written into each rep attendee's and the organizer's calendar;
each attendee's own copy carries their true PARTSTAT, the organizer's copy is true unless
the reply was not processed, other copies show a stale NEEDS-ACTION.

The data covers ``weeks`` reported ISO weeks ending with ``last_week_start`` (a Monday in the
company time zone) plus history reaching ``dormant_days`` before the first reported week
(starting one day after that boundary, so a pipeline run that extracts exactly
``dormant_days`` of history sees everything generated).

Ground truth (``ground_truth.csv``, UTF-8, header row, one row per event (I, A, R)) is
computed from the in-memory model by applying DESIGN.md rules 1-9 in plain Python, for
planted and background mail alike. Columns:

* ``case`` — the planted case's name (see ``PLANTED_CASES``) or ``background``
* ``kind`` — ``email`` | ``meeting``
* ``message_id`` — emails: Message-ID without ``<>``, as written; empty for fallback identity
* ``ical_uid``, ``original_start`` — meetings: the series UID and the occurrence's original
  start (RECURRENCE-ID) in UTC, ``YYYY-MM-DDTHH:MM:SSZ``
* ``account_id``, ``rep_email`` — the account and the canonical rep (never an alias)
* ``category`` — backdoor | coverage_gap | looped_in | approved | handoff;  ``initiated_by``
  — rep | customer | other
* ``week_start`` — ISO Monday (company time zone) of ``occurred_at``
* ``occurred_at`` — Date header / (moved) occurrence start, UTC ISO
* ``interaction_key`` — the identity key of docs/architecture.md (``email|<mid>``,
  ``meeting|<uid>|<original start Z>``; fallback: ``email-fallback|sender|<epoch int>|to,cc``)
* ``interaction_id`` — md5 hex of the key (empty for fallback identity: the pipeline's epoch
  formatting decides that one; join those rows on the fallback columns)
* ``fallback_sender``, ``fallback_date`` (UTC ISO), ``fallback_recipients`` (sorted To+Cc,
  ``,``-joined) — only for emails without a Message-ID
* ``heads_up`` — ``true`` | ``false`` (rule 6)
* ``owner_email`` — the account's owner at ``occurred_at`` (rule 10: ownership.csv's rows and
  accounts.csv's owner as the latest fact, sandbox/plant_crm_time.py); ``former_owner`` —
  ``true`` when the rep owned the account in a period that began before ``occurred_at``

``ground_truth_collaboration.csv``: ``week_start, account_id, interaction_key,
interaction_id, case`` — customer interactions in the reported weeks where the owner and at
least one other rep took part (one row per interaction and account).

Rules are evaluated with ``management_chain = true``, ``handoff_days = 7`` with planted cases
(the generated config says so: the planted handoff fits three reported weeks),
``dormant_days`` as 24-hour days (``[I - dormant_days×24h, I)``), the free-mail list
gmail.com/outlook.com/yahoo.com (the only free-mail domains the generator uses).
``counts["dormancy_near_boundary"]`` says how many background events would change category if
"60 days" were read ±2 hours differently (e.g. calendar days across a DST change); planted
cases keep a margin of a day.
"""

from __future__ import annotations

import csv
import io
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sandbox import names as N
from sandbox._model import (
    Account,
    Addr,
    Attendee,
    Mail,
    Meeting,
    Override,
    Rep,
    Resolver,
    norm_address,
)
from sandbox._render import (
    STYLE_B_ENCODING,
    STYLE_DATE_COMMENT,
    STYLE_DATE_NO_WEEKDAY,
    STYLE_DATE_UTC,
    STYLE_FOLD,
    STYLE_MID_SPACES,
    STYLE_ODD_CASE,
    STYLE_OUTLOOK,
    STYLE_SUBJECT_ENCODED,
    calendar,
    header_address,
    mbox_entry,
    render_email,
    vevent_copy,
)
from sandbox._truth import COLLAB_COLUMNS, GT_COLUMNS, Truth
from sandbox.plant_crm_later import (
    CRM_LATER_CASES,
    CRM_LATER_NO_EVENT,
    plant_crm_later,
    plant_crm_later_accounts,
    write_crm_later,
    write_truth_later,
)
from sandbox.plant_crm_time import (
    CRM_TIME_CASES,
    CRM_TIME_NO_EVENT,
    crm_time_config,
    crm_time_rules,
    plant_crm_accounts,
    plant_crm_time,
    write_crm_time,
)
from sandbox.plant_signals import (
    SIGNAL_CASES,
    SIGNAL_NO_EVENT,
    plant_signals,
    signal_config,
    write_signal_crm,
)

DEFAULT_LAST_WEEK = date(2026, 11, 9)  # weeks of Oct 19 .. Nov 9 2026 span the CEST→CET switch
INTERNAL = "corp.example"
INTERNAL_EU = "eu.corp.example"

# Planted cases: name → what it plants and what the rules make of it.
PLANTED_CASES: dict[str, str] = {
    "rep_initiated_backdoor": "rep mails an Acme contact without the owner → backdoor, rep",
    "customer_initiated": "Acme contact writes to a rep (RFC 2047 name) → backdoor, customer",
    "rep_alias": "rep sends from an alias on eu.corp.example → event for the canonical rep",
    "owner_alias_present": "owner Cc'd through an alias → owner present, no event",
    "team_member": "rep on the account team mails the customer → no event",
    "manager_chain": "owner's manager mails the customer → no event",
    "managers_manager_chain": "owner's manager's manager (VP) mails the customer → no event",
    "other_manager": "a manager outside the owner's chain mails the customer → backdoor",
    "subdomain_contact": "contact at eu.acme.example matches acme.example → backdoor",
    "multi_domain": "contact on the account's second domain acme.test → backdoor",
    "longest_match_subaccount": "labs.acme.example belongs to Acme Labs, not Acme → Labs event",
    "freemail_contact": "gmail.com contact listed in contacts.csv → event on that account",
    "freemail_domain_on_account": "gmail.com wrongly listed on an account; other gmail user → no event",
    "ambiguous_domain": "domain claimed by two accounts → no match, no event",
    "ambiguous_no_fallthrough": "sub.parent claimed twice; no fall-through to parent → no event",
    "contact_wins_over_domain": "contacts.csv maps bob@acme.example to Globex → Globex event only",
    "owner_present": "owner and another rep mail the customer together → no event (collaboration)",
    "owner_activity": "owner's own weekly mail with the customer (dormancy evidence) → no event",
    "looped_in_earlier": "owner on earlier messages of the thread, rep replies alone → looped_in",
    "looped_in_later": "rep mails first, customer adds the owner later in thread → looped_in",
    "looped_in_history": "owner on a history message; reply (In-Reply-To only) → looped_in",
    "looped_in_beats_coverage_gap": "non-rep owner on an earlier message → looped_in, not gap",
    "dormant_owner": "owner's last interaction 61 days before → coverage_gap",
    "active_owner_boundary": "owner's last interaction 59 days before → backdoor",
    "inactive_owner": "account owned by an inactive rep → coverage_gap",
    "owner_not_in_reps": "account owner missing from reps.csv → coverage_gap",
    "bulk_list_id": "customer newsletter with List-Id → no event",
    "bulk_list_unsubscribe": "List-Unsubscribe only → no event",
    "bulk_precedence": "Precedence: bulk / list / junk → no event",
    "bulk_auto_submitted": "Auto-Submitted: auto-replied / auto-generated → no event",
    "auto_submitted_no": "Auto-Submitted: no is personal mail → backdoor, customer",
    "bulk_noreply": "noreply / No_Reply+tag / do.not.reply / donotreply senders → no event",
    "bulk_mailer_daemon": "MAILER-DAEMON and postmaster senders → no event",
    "internal_only": "mail among reps and internal staff only → no event",
    "same_email_three_mailboxes": "one email in three mailboxes (team + manager Cc) → one event",
    "bcc_rep": "rep Bcc's another rep (Bcc only in sender copy) → events for both",
    "bcc_invisible_external_sender": "customer Bcc's a rep: no header names them → no event for them",
    "no_message_id_dedup": "email without Message-ID in two mailboxes → one fallback identity",
    "other_initiated_third_rep": "rep C mails rep A and the customer → C rep, A other",
    "other_initiated_other_account": "Globex person writes to rep Cc Acme → other + customer",
    "other_initiated_internal_sender": "non-rep colleague mails customer Cc rep → other",
    "cross_account_owner": "Acme's owner mails Acme + Globex people → Globex event only",
    "two_accounts": "rep mails two accounts' people → one event per account",
    "idn_domain": "account domain in Unicode, mail in punycode → event",
    "case_insensitive_address": "upper-case addresses in headers → still matched",
    "week_boundary_tz": "Sunday 23:30 UTC is Monday in Berlin → the later week",
    "maildir_tmp_ignored": "a message only in maildir tmp/ → must not be read, no event",
    "meeting_backdoor": "rep organizes a meeting with a contact and a room → backdoor, rep",
    "meeting_owner_declined": "owner declined in own copy (organizer copy stale) → event",
    "meeting_rep_declined": "rep B declined in own copy → event for the organizer only",
    "meeting_contact_declined": "the only contact declined → no customer, no event",
    "meeting_owner_present": "owner accepted → no event",
    "meeting_room_on_customer_domain": "room resource at the customer's domain is not a person → no event",
    "meeting_cancelled_organizer_copy": "STATUS:CANCELLED only in organizer's copy → no event",
    "meeting_other_organizer": "non-rep assistant organizes → event, other",
    "meeting_customer_organized": "customer organizes, rep attends → event, customer",
    "meeting_tentative": "contact tentative still takes part → event",
    "meeting_alias_attendee": "rep invited through an alias, own copy ACCEPTED → event",
    "recurring_weekly": "weekly series across DST: EXDATE'd, moved and cancelled occurrences",
    "internal_all_day": "internal all-day event (VALUE=DATE) → no event",
    **SIGNAL_CASES,  # broadcasts, an approval, heads-ups (issue 16)
    **CRM_TIME_CASES,  # an owner change with its handoff (issue 14)
    **CRM_LATER_CASES,  # look-back, an account added later, a backdated correction (issue 14)
}
NO_EVENT_CASES: frozenset[str] = frozenset({
    "owner_alias_present", "team_member", "manager_chain", "managers_manager_chain",
    "freemail_domain_on_account", "ambiguous_domain", "ambiguous_no_fallthrough",
    "owner_present", "owner_activity", "bulk_list_id", "bulk_list_unsubscribe",
    "bulk_precedence", "bulk_auto_submitted", "bulk_noreply", "bulk_mailer_daemon",
    "internal_only", "maildir_tmp_ignored", "meeting_contact_declined",
    "meeting_owner_present", "meeting_room_on_customer_domain",
    "meeting_cancelled_organizer_copy", "internal_all_day",
}) | SIGNAL_NO_EVENT | CRM_TIME_NO_EVENT | CRM_LATER_NO_EVENT

Expected = tuple[str, str, str, str]  # (account_id, rep_email, category, initiated_by)


@dataclass(frozen=True)
class GeneratedOrg:
    """Where ``generate`` wrote what, and how much of it."""

    out_dir: Path
    config_path: Path
    ground_truth_path: Path
    collaboration_path: Path
    planted_path: Path
    mail_root: Path
    mbox_root: Path
    weeks: list[date]
    counts: dict[str, int]
    expected: dict[str, list[Expected]] = field(default_factory=dict)


def generate(out_dir: Path, *, seed: int = 7, weeks: int = 4,
             last_week_start: date = DEFAULT_LAST_WEEK, reps: int = 12, accounts: int = 30,
             emails_per_week: int = 400, meetings_per_week: int = 40, planted: bool = True,
             timezone: str = "Europe/Berlin", dormant_days: int = 60,
             history_rate: float = 1.0) -> GeneratedOrg:
    """Write a synthetic organisation into ``out_dir`` (must be empty or absent).

    ``accounts`` background accounts (planted cases add their own 19, one of them only in
    crm-later/), ``reps`` reps in a VP → managers → sellers hierarchy (at least 12),
    ``emails_per_week`` /
    ``meetings_per_week`` of background traffic in reported weeks (``history_rate`` × that in
    the history before them).
    """
    if last_week_start.weekday() != 0:
        raise ValueError(f"last_week_start {last_week_start} is not a Monday")
    if reps < 12:
        raise ValueError("reps must be >= 12 (the planted cast needs them)")
    if weeks < 1 or (planted and weeks < 3):
        raise ValueError("weeks must be >= 3 with planted cases (>= 1 without)")
    if planted and dormant_days < 14:
        raise ValueError("dormant_days must be >= 14 with planted cases")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty")
    out.mkdir(parents=True, exist_ok=True)
    g = _Generator(out, seed=seed, weeks=weeks, last_week_start=last_week_start, reps=reps,
                   accounts=accounts, emails_per_week=emails_per_week,
                   meetings_per_week=meetings_per_week, planted=planted, timezone=timezone,
                   dormant_days=dormant_days, history_rate=history_rate)
    return g.run()


# --- the generator -----------------------------------------------------------------------

_BODIES = (
    "Thanks for the update. Let us discuss the details on our next call.",
    "Please find my comments below; happy to walk through them.",
    "Could you send over the revised figures by Friday?",
    "Great to hear from you. I will loop back with the team.",
    "As discussed, here is a short summary of the open points.",
    "From the desk of the project office: the timeline still holds.",
)
_STATUSES = ("ACCEPTED", "TENTATIVE", "NEEDS-ACTION", "DECLINED")
_STATUS_W = (70, 10, 12, 8)


def _write_file(item: tuple[str, bytes]) -> None:
    with open(item[0], "wb") as f:
        f.write(item[1])


def _ev(acc: str, rep: str, cat: str, init: str) -> Expected:
    return (acc, rep, cat, init)


def _att(a: Addr, status: str = "ACCEPTED", fresh: bool = True) -> Attendee:
    return Attendee(a, status, fresh=fresh)


class _Cast:
    """The people of the core planted cases, named as in ``PLANTED_CASES``: the owner OW of
    Acme, reps A, B, C, the owner's team member, manager M0 and the VP, another manager M1,
    the owner OB of the smaller accounts, the dormant owner DO; the customers' contacts."""

    def __init__(self, g: _Generator) -> None:
        R = g.rep_addr
        OW, A, B, C = (R[x.email] for x in (g.OWNER, g.REP_A, g.REP_B, g.REP_C))
        self.OW, self.A, self.B, self.C = OW, A, B, C
        self.TEAM, self.M0, self.VP = R[g.TEAM.email], R[g.OWNER.manager], R[g.vp.email]
        M1 = next(R[m.email] for m in g.managers if m.email != g.OWNER.manager)
        self.M1 = M1
        OB = R[g.OWNER_B.email]
        self.OB, self.DO = OB, R[g.DORMANT.email]
        self.A_alias, self.O_alias = g.alias_addr[g.REP_A.email], g.alias_addr[g.OWNER.email]
        ct = g.contacts
        self.anna, self.juergen, self.chloe, self.ray = ct["P-ACME"]
        self.tom = g.addr("tom.baker@acme.example", "Tom Baker", "America/New_York")
        self.mei, = ct["P-GLOBEX"]
        self.lars, = ct["P-LABS"]
        self.pat, = ct["P-NIMBUS"]
        self.kunde, = ct["P-BUCHER"]
        self.olga, self.otto = ct["P-ORPHAN"]
        self.former = g.addr(f"former.seller@{INTERNAL}", "Former Seller")
        a_, b_, c_, m1_, o_, ob_ = (x.rep for x in (A, B, C, M1, OW, OB))
        assert a_ and b_ and c_ and m1_ and o_ and ob_
        #: mailbox names (canonical rep emails) of A, B, C, M1 and OW
        self.a_, self.b_, self.c_, self.m1_, self.o_ = a_, b_, c_, m1_, o_


class _Slots:
    """Distinct times for planted mail: the k-th call falls in reported week k mod n, on a
    Tuesday, Wednesday or Thursday between 9:00 and 15:59 company time (plus ``hours``)."""

    def __init__(self, g: _Generator) -> None:
        self.g = g
        self.k = 0

    def __call__(self, hours: float = 0.0) -> datetime:
        self.k += 1
        k, weeks = self.k, self.g.weeks
        w = weeks[k % len(weeks)]
        d = w + timedelta(days=1 + (k // len(weeks)) % 3)
        t = self.g._local(d, 9 + k % 7, (7 * k) % 60, (13 * k) % 60)
        return t + timedelta(hours=hours)


class _Generator:
    def __init__(self, out: Path, *, seed: int, weeks: int, last_week_start: date, reps: int,
                 accounts: int, emails_per_week: int, meetings_per_week: int, planted: bool,
                 timezone: str, dormant_days: int, history_rate: float) -> None:
        self.out = out
        self.rng = random.Random(seed)
        self.seed = seed
        self.n_reps = reps
        self.n_accounts = accounts
        self.emails_per_week = emails_per_week
        self.meetings_per_week = meetings_per_week
        self.planted = planted
        self.tzname = timezone
        self.ctz = ZoneInfo(timezone)
        self.dormant_days = dormant_days
        self.history_rate = history_rate
        self.weeks = [last_week_start - timedelta(days=7 * (weeks - 1 - i)) for i in range(weeks)]
        self.report_start = self._local(self.weeks[0], 0, 0)
        self.report_end = self._local(self.weeks[-1] + timedelta(days=7), 0, 0)
        # History starts a day after the dormancy boundary: any reading of the boundary
        # (UTC or local midnight) still extracts all of it.
        self.gen_start = self.report_start - timedelta(days=dormant_days - 1)
        self.stamp = self.gen_start - timedelta(days=30)
        self.mail_root = out / "mail"
        self.mbox_root = out / "mbox"
        self.addrs: dict[str, Addr] = {}
        self.seq = 0
        self.mid_seq = 0
        self.uid_seq = 0
        self.counts: dict[str, int] = {"emails": 0, "email_files": 0, "mbox_messages": 0,
                                       "meetings": 0, "calendar_copies": 0}
        self.ics: dict[str, list[str]] = {}
        self.mbox: dict[str, list[str]] = {}
        self.expected: dict[str, list[Expected]] = {}
        self.crlf_mailbox = ""
        self.pending: list[tuple[str, bytes]] = []
        self.pool = ThreadPoolExecutor(max_workers=8)  # file creation is I/O bound

    # --- time helpers ----------------------------------------------------------------------

    def _local(self, d: date, hour: int, minute: int, second: int = 0,
               tz: ZoneInfo | None = None) -> datetime:
        return datetime(d.year, d.month, d.day, hour, minute, second,
                        tzinfo=tz or self.ctz).astimezone(UTC)

    # --- organisation ------------------------------------------------------------------------

    def _unique(self, base: str, taken: set[str]) -> str:
        cand, n = base, 1
        while cand in taken:
            n += 1
            local, _, dom = base.partition("@")
            cand = f"{local}{n}@{dom}"
        taken.add(cand)
        return cand

    def build_reps(self) -> None:
        rng = self.rng
        taken: set[str] = set()
        people: list[tuple[str, str]] = []
        for _ in range(self.n_reps):
            people.append((rng.choice(N.FIRST_NAMES), rng.choice(N.LAST_NAMES)))
        k = max(2, self.n_reps // 8)
        vp_first, vp_last = people[0]
        reps: list[Rep] = []
        for i, (first, last) in enumerate(people):
            dom = INTERNAL_EU if i % 4 == 1 else INTERNAL
            email = self._unique(f"{N.ascii_slug(first)}.{N.ascii_slug(last)}@{dom}", taken)
            if i == 0:
                manager, team = "", "Leadership"
            elif i <= k:
                manager, team = reps[0].email, N.TEAMS[(i - 1) % len(N.TEAMS)]
            else:
                m = reps[1 + (i - k - 1) % k]
                manager, team = m.email, m.team
            reps.append(Rep(email=email, name=f"{first} {last}", manager=manager, team=team,
                            aliases=[], active=True, active_written="true"))
        self.vp = reps[0]
        self.managers = reps[1:k + 1]
        self.sellers = reps[k + 1:]
        (self.OWNER, self.REP_A, self.REP_B, self.REP_C, self.TEAM, self.INACTIVE,
         self.DORMANT, self.OWNER_B) = self.sellers[:8]
        self.INACTIVE.active = False
        self.INACTIVE.active_written = "false"
        for i, r in enumerate(reps):
            if i % 3 == 0 or r in (self.OWNER, self.REP_A):
                first, last = r.name.split(" ", 1)
                other = INTERNAL if r.email.endswith("@" + INTERNAL_EU) else INTERNAL_EU
                r.aliases.append(self._unique(
                    f"{N.ascii_slug(first)[0]}{N.ascii_slug(last)}@{other}", taken))
            if i % 5 == 2:
                r.active_written = ""  # active defaults to true
        self.reps = reps
        self.taken = taken
        # Mail of these mailboxes goes to mbox instead of maildir.
        self.mbox_holders = {self.REP_C.email, self.vp.email}
        self.crlf_mailbox = self.sellers[-1].email
        self.active_sellers = [r for r in self.sellers if r.active]

    def _domain_stem(self, taken: set[str]) -> str:
        rng = self.rng
        while True:
            a, b = rng.choice(N.COMPANY_WORDS_A), rng.choice(N.COMPANY_WORDS_B)
            stem = f"{a}{b}" if rng.random() < 0.5 else f"{a}-{b}"
            n = 1
            cand = stem
            while cand in taken:
                n += 1
                cand = f"{stem}{n}"
            taken.add(cand)
            return cand

    def build_accounts(self) -> None:
        rng = self.rng
        self.accounts: list[Account] = []
        self.contact_rows: list[tuple[str, str]] = []
        self.contact_specs: dict[str, list[tuple[str, str, str]]] = {}  # id → (written, name, tz)
        if self.planted:
            self._planted_accounts()
        stems: set[str] = set()
        formers = [f"former.{N.ascii_slug(N.LAST_NAMES[i])}@{INTERNAL}" for i in (3, 7, 11)]
        activity_levels = (5.0, 1.5, 0.3, 0.0)
        for i in range(self.n_accounts):
            stem = self._domain_stem(stems)
            tld = "example" if rng.random() < 0.7 else "test"
            domains = [f"{stem}.{tld}"]
            if rng.random() < 0.2:
                domains.append(f"{stem}-group.{'test' if tld == 'example' else 'example'}")
            x = rng.random()
            if x < 0.04:
                owner = self.INACTIVE.email
            elif x < 0.07:
                owner = rng.choice(formers)
            else:
                owner = rng.choice(self.active_sellers).email
            team = []
            if rng.random() < 0.4:
                team = sorted({r.email for r in rng.sample(self.active_sellers, 2)
                               if r.email != owner})[: rng.randint(1, 2)]
            words = stem.replace("-", " ").split()
            name = " ".join(w.title() for w in words) + " " + rng.choice(N.COMPANY_SUFFIXES)
            if len(words) == 1:
                name = stem.title() + " " + rng.choice(N.COMPANY_SUFFIXES)
            acc = Account(account_id=f"ACC-{i + 1:05d}", name=name.strip(), owner=owner,
                          domains=domains, team=team, tz=rng.choice(N.CUSTOMER_TIMEZONES),
                          activity=rng.choices(activity_levels, (30, 35, 20, 15))[0])
            specs: list[tuple[str, str, str]] = []
            people_taken: set[str] = set()
            for _ in range(rng.randint(2, 6)):
                first, last = rng.choice(N.FIRST_NAMES), rng.choice(N.LAST_NAMES)
                y = rng.random()
                dom = domains[0]
                if y < 0.1:
                    dom = f"{rng.choice(('eu', 'us', 'apac'))}.{domains[0]}"
                elif y < 0.2 and len(domains) > 1:
                    dom = domains[1]
                email = self._unique(f"{N.ascii_slug(first)}.{N.ascii_slug(last)}@{dom}",
                                     people_taken)
                specs.append((email, f"{first} {last}", acc.tz))
            if rng.random() < 0.05:
                first, last = rng.choice(N.FIRST_NAMES), rng.choice(N.LAST_NAMES)
                email = f"{N.ascii_slug(first)}.{N.ascii_slug(last)}.{i + 1}@gmail.com"
                specs.append((email, f"{first} {last}", acc.tz))
                self.contact_rows.append((email, acc.account_id))
            if rng.random() < 0.2:
                self.contact_rows.append((specs[0][0], acc.account_id))
            self.contact_specs[acc.account_id] = specs
            self.accounts.append(acc)

    def _planted_accounts(self) -> None:
        OWN, OB = self.OWNER.email, self.OWNER_B.email

        def acc(aid: str, name: str, owner: str, domains: list[str], team: list[str] | None,
                tz: str, people: list[tuple[str, str]]) -> None:
            self.accounts.append(Account(aid, name, owner, domains, team or [], tz, planted=True))
            self.contact_specs[aid] = [(w, n, tz) for w, n in people]

        acc("P-ACME", "Acme Corporation, Inc.", OWN, ["acme.example", "acme.test"],
            [self.TEAM.email], "Europe/Paris",
            [("anna.schmidt@acme.example", "Anna Schmidt"),
             ("juergen.mueller@acme.example", "Müller, Jürgen"),
             ("c.dubois@eu.acme.example", "Chloé Dubois"),
             ("ray.kwan@acme.test", "Ray Kwan")])
        acc("P-LABS", "Acme Labs", OB, ["labs.acme.example"], None, "Europe/Helsinki",
            [("lars.oberg@labs.acme.example", "Lars Øberg")])
        acc("P-GLOBEX", "Globex", OB, ["Globex.EXAMPLE"], None, "Asia/Tokyo",
            [("mei.tanaka@globex.example", "Mei Tanaka")])
        acc("P-NIMBUS", "Nimbus Consulting", OB, ["nimbus-consulting.example"], None,
            "Europe/London", [("pat.freelance@gmail.com", "Pat Freelance")])
        acc("P-GREEN", "Greenfield Farms", OB, ["greenfield.example", "gmail.com"], None,
            "America/Chicago", [("hello@greenfield.example", "Greenfield")])
        acc("P-SHARE-E", "Shared Holding East", OB, ["shared-holding.example"], None,
            "Europe/Berlin", [("kim.lee@shared-holding.example", "Kim Lee")])
        acc("P-SHARE-W", "Shared Holding West", OB, ["shared-holding.example"], None,
            "America/New_York", [])
        acc("P-PARENT", "Parent Group", OB, ["parent-group.example"], None, "Europe/Berlin",
            [("ceo@parent-group.example", "Parent CEO")])
        acc("P-SUB1", "Parent Sub One", OB, ["sub.parent-group.example"], None, "Europe/Berlin",
            [("lee@sub.parent-group.example", "Lee Park")])
        acc("P-SUB2", "Parent Sub Two", OB, ["sub.parent-group.example"], None, "Europe/Berlin",
            [])
        acc("P-DORMANT", "Dormant Dynamics", self.DORMANT.email, ["dormant-dynamics.example"],
            None, "Europe/Berlin", [("dora.d@dormant-dynamics.example", "Dora D")])
        acc("P-RECENT", "Recent Robotics", self.DORMANT.email, ["recent-robotics.example"], None,
            "Europe/Berlin", [("rick.r@recent-robotics.example", "Rick R")])
        acc("P-INACTIVE", "Inactive Industries", self.INACTIVE.email,
            ["inactive-industries.example"], None, "Europe/Berlin",
            [("ian.i@inactive-industries.example", "Ian I")])
        acc("P-ORPHAN", "Orphan Optics", f"former.seller@{INTERNAL}", ["orphan-optics.example"],
            None, "Europe/Berlin",
            [("olga.o@orphan-optics.example", "Olga O"), ("otto.o@orphan-optics.example", "Otto O")])
        acc("P-BUCHER", "Bücher Haus", OB, ["bücher-haus.example"], None, "Europe/Berlin",
            [("kunde@xn--bcher-haus-9db.example", "Käthe Kunde")])
        self.contact_rows += [("pat.freelance@gmail.com", "P-NIMBUS"),
                              ("bob.lee@acme.example", "P-GLOBEX")]
        plant_crm_accounts(self)
        plant_crm_later_accounts(self)

    def addr(self, written: str, name: str | None = None, tz: str = "Europe/Berlin", *,
             resource: bool = False) -> Addr:
        a = self.addrs.get(written)
        if a is None:
            a = Addr(written=written, norm=norm_address(written), name=name, tz=tz,
                     resource=resource)
            a.hdr = header_address(name, written)
            self.resolver.resolve(a)
            self.addrs[written] = a
        return a

    def build_people(self) -> None:
        self.resolver = Resolver([INTERNAL], self.reps, self.accounts, self.contact_rows,
                                 N.FREEMAIL_DOMAINS)
        tz_of = {r.email: ("Europe/London" if r.team.startswith("UK") else "Europe/Berlin")
                 for r in self.reps}
        self.rep_addr: dict[str, Addr] = {}
        self.alias_addr: dict[str, Addr] = {}
        for r in self.reps:
            self.rep_addr[r.email] = self.addr(r.email, r.name, tz_of[r.email])
            for al in r.aliases:
                self.alias_addr[r.email] = self.addr(al, r.name, tz_of[r.email])
        self.contacts: dict[str, list[Addr]] = {}
        for acc in self.accounts:
            self.contacts[acc.account_id] = [self.addr(w, n, tz)
                                             for w, n, tz in self.contact_specs[acc.account_id]]
        self.ops = self.addr(f"sales-ops@{INTERNAL}", "Sales Ops")
        self.assistant = self.addr(f"assistant@{INTERNAL}", "Office of the VP")
        self.internal_staff = [self.ops, self.assistant,
                               self.addr(f"finance@{INTERNAL_EU}", "Finance EU"),
                               self.addr(f"hr@{INTERNAL}", "People Team"),
                               self.addr(f"it-helpdesk@{INTERNAL}", "IT Helpdesk")]
        self.rooms = [self.addr(f"room-berlin-{i}@resource.{INTERNAL}", f"Berlin {i}",
                                resource=True) for i in range(1, 6)]
        self.vendors = [self.addr(f"{w}@{w}-{s}.example", f"{w.title()} Team")
                        for w in N.VENDOR_WORDS for s in ("mail", "svc")]
        self.bg_accounts = [a for a in self.accounts if not a.planted]
        self.owner_cum: list[float] = []
        total = 0.0
        active = {r.email for r in self.active_sellers}
        for a in self.bg_accounts:
            total += a.activity if self.resolver.rep_of.get(a.owner) in active else 0.0
            self.owner_cum.append(total)
        if total == 0.0:
            raise ValueError("no background account has an active owner: raise accounts")

    # --- writing ----------------------------------------------------------------------------

    def prepare_dirs(self) -> None:
        for r in self.reps:
            base = self.mail_root / r.email
            for sub in ("cur", "new", "tmp"):
                (base / sub).mkdir(parents=True, exist_ok=True)

    def drain(self) -> None:
        """Write the queued maildir files (order does not matter: every path is unique)."""
        for _ in self.pool.map(_write_file, self.pending):
            pass
        self.pending = []

    def new_mid(self, sender: Addr) -> str:
        self.mid_seq += 1
        rnd = self.rng.getrandbits(40)
        if sender.internal:
            if self.mid_seq % 3 == 0:
                return (f"AM{self.mid_seq:07d}PR07MB{rnd:010X}@AM0PR07MB.eurprd07.prod."
                        "outlook.com")
            return f"{self.mid_seq:08x}.{rnd:010x}@mail.{INTERNAL}"
        dom = sender.norm.rpartition("@")[2]
        return f"CA+{rnd:010x}{self.mid_seq:x}@mail.{dom}"

    def emit(self, m: Mail) -> None:
        """Write every exported copy of ``m`` and record it for the ground truth."""
        sender_rep = m.sender.rep
        holders: list[str] = []
        if sender_rep:
            holders.append(sender_rep)
        for a in (*m.to, *m.cc, *m.bcc):
            if a.rep and a.rep not in holders:
                holders.append(a.rep)
        if not holders:
            return  # nobody exported holds it: it does not exist for the pipeline
        self.seq += 1
        name = self.rng.choice(N.FIRST_NAMES)
        body = f"Hi {name},\n\n{_BODIES[self.seq % len(_BODIES)]}\n\nBest regards\n"
        plain, with_bcc = render_email(m, body)
        epoch = int(m.t.timestamp())
        for i, h in enumerate(holders):
            text = with_bcc if (i == 0 and sender_rep) else plain
            if h in self.mbox_holders:
                self.mbox.setdefault(h, []).append(mbox_entry(m, text))
                self.counts["mbox_messages"] += 1
                continue
            if h == self.crlf_mailbox:
                text = text.replace("\n", "\r\n")
            if i > 0 and self.seq % 19 == 0:
                path = self.mail_root / h / "new" / f"{epoch}.M{self.seq}Q{i}.mx.{INTERNAL}"
            else:
                path = (self.mail_root / h / "cur"
                        / f"{epoch}.M{self.seq}Q{i}.mx.{INTERNAL}:2,{'S' if i else 'RS'}")
            self.pending.append((str(path), text.encode("utf-8")))
            self.counts["email_files"] += 1
        if len(self.pending) >= 4096:
            self.drain()
        self.counts["emails"] += 1
        self.truth.add_email(m, sender_copy_exported=bool(sender_rep))

    def mail(self, case: str, t: datetime, sender: Addr, to: list[Addr] | tuple[Addr, ...],
             cc: list[Addr] | tuple[Addr, ...] = (), bcc: list[Addr] | tuple[Addr, ...] = (),
             subject: str | None = None, *, reply_to: Mail | None = None, refs: bool = True,
             mid: bool = True, extra: tuple[tuple[str, str], ...] = (), style: int = 0) -> Mail:
        if reply_to is not None:
            subject = "Re: " + reply_to.subject.removeprefix("Re: ")
            irt = reply_to.mid
            chain = (*reply_to.refs, reply_to.mid) if reply_to.mid else reply_to.refs
            references = tuple(r for r in chain if r) if refs else ()
        else:
            irt, references = None, ()
        m = Mail(case=case, t=t, sender=sender, to=tuple(to), cc=tuple(cc), bcc=tuple(bcc),
                 subject=subject or self.rng.choice(N.SUBJECTS),
                 mid=self.new_mid(sender) if mid else None, irt=irt, refs=references,
                 extra=extra, style=style)
        self.emit(m)
        return m

    def new_uid(self, organizer: Addr) -> str:
        self.uid_seq += 1
        rnd = self.rng.getrandbits(48)
        if organizer.internal:
            return f"{self.uid_seq:06d}-{rnd:012x}@{INTERNAL}"
        return f"{rnd:012x}{self.uid_seq:x}@google.com"

    def emit_meeting(self, m: Meeting) -> None:
        holders = set()
        if m.organizer.rep:
            holders.add(m.organizer.rep)
        for a in m.attendees:
            if a.cutype == "INDIVIDUAL" and a.addr.rep:
                holders.add(a.addr.rep)
        if not holders:
            return
        ordered = sorted(holders)
        for h in ordered:
            self.ics.setdefault(h, []).append(vevent_copy(m, h, self.stamp))
            self.counts["calendar_copies"] += 1
        self.counts["meetings"] += 1
        self.truth.add_meeting(m, ordered, self.occurrences(m))

    def occurrences(self, m: Meeting) -> list[tuple[datetime, datetime, bool]]:
        if m.until is None:
            return [(m.start, m.start, False)]
        local = m.start.astimezone(ZoneInfo("Europe/Berlin"))
        ex = set(m.exdates)
        ov = {o.original: o for o in m.overrides}
        occ = []
        k = 0
        while True:
            start = (local + timedelta(days=7 * k)).astimezone(UTC)  # wall-clock weekly
            if start > m.until:
                break
            k += 1
            if start in ex:
                continue
            o = ov.get(start)
            occ.append((start, o.start, o.cancelled) if o else (start, start, False))
        return occ

    def meeting(self, case: str, start: datetime, organizer: Addr,
                attendees: list[Attendee], minutes: int = 60, **kw: object) -> Meeting:
        m = Meeting(case=case, uid=self.new_uid(organizer),
                    summary=str(kw.pop("summary", self.rng.choice(N.MEETING_TITLES))),
                    organizer=organizer, attendees=attendees, start=start,
                    end=start + timedelta(minutes=minutes), **kw)  # type: ignore[arg-type]
        self.emit_meeting(m)
        return m

    # --- planted cases ----------------------------------------------------------------------

    def expect(self, case: str, *events: Expected) -> None:
        assert case in PLANTED_CASES, case
        self.expected.setdefault(case, []).extend(events)

    def plant(self) -> None:
        """Plant every case of ``PLANTED_CASES``, one family after another.

        The order of the calls is the order of the random draws (Message-IDs, UIDs, subjects,
        bodies) and of the ``slot()`` times: reordering them changes the generated bytes.
        """
        c = _Cast(self)
        slot = _Slots(self)
        self._plant_owner_activity(c)
        self._plant_attribution(c, slot)
        self._plant_looped_in(c, slot)
        self._plant_dormancy(c, slot)
        self._plant_bulk(c, slot)
        self._plant_copies_and_initiators(c, slot)
        self._plant_edge_forms(c, slot)
        self._plant_meetings(c, slot)
        self._plant_recurring(c)
        plant_signals(self)
        plant_crm_time(self)
        plant_crm_later(self)

    def _plant_owner_activity(self, c: _Cast) -> None:
        """Dormancy evidence: owners mail their accounts every week, history included."""
        day = self.gen_start.astimezone(self.ctz).date() + timedelta(days=1)
        weekly = [(c.OW, [c.anna, c.juergen, c.chloe, c.ray], "P-ACME"),
                  (c.OB, [c.mei], "P-GLOBEX"), (c.OB, [c.lars], "P-LABS"),
                  (c.OB, [c.pat], "P-NIMBUS"), (c.OB, [c.kunde], "P-BUCHER")]
        i = 0
        while True:
            t = self._local(day, 8, 5 + i % 40, i % 60)
            if t >= self.report_end:
                break
            for j, (owner, people, _acc) in enumerate(weekly):
                self.mail("owner_activity", t + timedelta(minutes=3 * j), owner,
                          [people[i % len(people)]], subject="Weekly check-in")
            day += timedelta(days=7)
            i += 1
        self.expect("owner_activity")

    def _plant_attribution(self, c: _Cast, slot: _Slots) -> None:
        """Who is on the owner's side (aliases, team, manager chain) and whose account a
        person is (subdomains, second domains, longest match, free mail, ambiguity)."""
        A, B, anna, juergen = c.A, c.B, c.anna, c.juergen
        ct = self.contacts
        self.mail("rep_initiated_backdoor", slot(), A, [anna])
        self.expect("rep_initiated_backdoor", _ev("P-ACME", c.a_, "backdoor", "rep"))
        self.mail("customer_initiated", slot(), juergen, [A], style=STYLE_B_ENCODING)
        self.expect("customer_initiated", _ev("P-ACME", c.a_, "backdoor", "customer"))
        self.mail("rep_alias", slot(), c.A_alias, [anna], style=STYLE_DATE_COMMENT)
        self.expect("rep_alias", _ev("P-ACME", c.a_, "backdoor", "rep"))
        self.mail("owner_alias_present", slot(), A, [anna], [c.O_alias])
        self.expect("owner_alias_present")
        self.mail("team_member", slot(), c.TEAM, [anna])
        self.expect("team_member")
        self.mail("manager_chain", slot(), c.M0, [juergen])
        self.expect("manager_chain")
        self.mail("managers_manager_chain", slot(), c.VP, [juergen])
        self.expect("managers_manager_chain")
        self.mail("other_manager", slot(), c.M1, [juergen], style=STYLE_ODD_CASE)
        self.expect("other_manager", _ev("P-ACME", c.m1_, "backdoor", "rep"))
        self.mail("subdomain_contact", slot(), A, [c.chloe])
        self.expect("subdomain_contact", _ev("P-ACME", c.a_, "backdoor", "rep"))
        self.mail("multi_domain", slot(), c.ray, [A], style=STYLE_DATE_NO_WEEKDAY)
        self.expect("multi_domain", _ev("P-ACME", c.a_, "backdoor", "customer"))
        self.mail("longest_match_subaccount", slot(), B, [c.lars])
        self.expect("longest_match_subaccount", _ev("P-LABS", c.b_, "backdoor", "rep"))
        self.mail("freemail_contact", slot(), c.pat, [B])
        self.expect("freemail_contact", _ev("P-NIMBUS", c.b_, "backdoor", "customer"))
        self.mail("freemail_domain_on_account", slot(), B,
                  [self.addr("sam.random@gmail.com", "Sam Random")])
        self.expect("freemail_domain_on_account")
        self.mail("ambiguous_domain", slot(), B, [ct["P-SHARE-E"][0]])
        self.expect("ambiguous_domain")
        self.mail("ambiguous_no_fallthrough", slot(), B, [ct["P-SUB1"][0]])
        self.expect("ambiguous_no_fallthrough")
        self.mail("contact_wins_over_domain", slot(), B,
                  [self.addr("bob.lee@acme.example", "Bob Lee")])
        self.expect("contact_wins_over_domain", _ev("P-GLOBEX", c.b_, "backdoor", "rep"))
        self.mail("owner_present", slot(), c.OW, [anna], [A])
        self.expect("owner_present")

    def _plant_looped_in(self, c: _Cast, slot: _Slots) -> None:
        """Threads where the owner took part in another message of the thread."""
        OW, A, anna, juergen = c.OW, c.A, c.anna, c.juergen
        t = slot()
        m1 = self.mail("looped_in_earlier", t, OW, [anna], subject="Renewal terms")
        m2 = self.mail("looped_in_earlier", t + timedelta(hours=1), anna, [OW], [A], reply_to=m1)
        self.mail("looped_in_earlier", t + timedelta(hours=2), A, [anna], reply_to=m2,
                  style=STYLE_FOLD)
        self.expect("looped_in_earlier", _ev("P-ACME", c.a_, "looped_in", "rep"))
        t = slot()
        m1 = self.mail("looped_in_later", t, c.C, [juergen], subject="Pilot results")
        self.mail("looped_in_later", t + timedelta(hours=3), juergen, [c.C], [OW], reply_to=m1)
        self.expect("looped_in_later", _ev("P-ACME", c.c_, "looped_in", "rep"))
        t0 = self._local(self.weeks[0] - timedelta(days=10), 10, 11, 12)
        m1 = self.mail("looped_in_history", t0, anna, [OW, A], subject="Security questionnaire")
        self.mail("looped_in_history", slot(), A, [anna], reply_to=m1, refs=False)
        self.expect("looped_in_history", _ev("P-ACME", c.a_, "looped_in", "rep"))
        m1 = self.mail("looped_in_beats_coverage_gap", t0 + timedelta(hours=1), c.B, [c.olga],
                       [c.former], subject="Optics order")
        self.mail("looped_in_beats_coverage_gap", slot(), c.olga, [c.B], reply_to=m1)
        self.expect("looped_in_beats_coverage_gap",
                    _ev("P-ORPHAN", c.b_, "looped_in", "customer"))

    def _plant_dormancy(self, c: _Cast, slot: _Slots) -> None:
        """Dormancy: events in the last week, owner evidence 61 vs 59 days before; an
        inactive owner and an owner missing from reps.csv."""
        ct, B, DO = self.contacts, c.B, c.DO
        t_dorm = self._local(self.weeks[-1] + timedelta(days=3), 11, 0, 0)
        self.mail("dormant_owner", t_dorm - timedelta(days=61), DO, ct["P-DORMANT"],
                  subject="Catch-up")
        self.mail("dormant_owner", t_dorm, B, ct["P-DORMANT"])
        self.expect("dormant_owner", _ev("P-DORMANT", c.b_, "coverage_gap", "rep"))
        self.mail("active_owner_boundary", t_dorm - timedelta(days=59, minutes=-5), DO,
                  ct["P-RECENT"], subject="Catch-up")
        self.mail("active_owner_boundary", t_dorm + timedelta(minutes=5), B, ct["P-RECENT"])
        self.expect("active_owner_boundary", _ev("P-RECENT", c.b_, "backdoor", "rep"))
        self.mail("inactive_owner", slot(), c.C, ct["P-INACTIVE"])
        self.expect("inactive_owner", _ev("P-INACTIVE", c.c_, "coverage_gap", "rep"))
        self.mail("owner_not_in_reps", slot(), B, [c.otto])
        self.expect("owner_not_in_reps", _ev("P-ORPHAN", c.b_, "coverage_gap", "rep"))

    def _plant_bulk(self, c: _Cast, slot: _Slots) -> None:
        """Bulk and automatic mail (no event, except ``Auto-Submitted: no``), internal mail."""
        A, B, anna = c.A, c.B, c.anna
        news = self.addr("news@acme.example", "Acme News")
        self.mail("bulk_list_id", slot(), news, [A, B],
                  extra=(("List-Id", "Acme customer news <news.acme.example>"),))
        self.mail("bulk_list_unsubscribe", slot(), anna, [A],
                  extra=(("List-Unsubscribe", "<mailto:unsubscribe@acme.example>"),))
        for v in ("bulk", "list", "junk"):
            self.mail("bulk_precedence", slot(), c.juergen, [c.C], extra=(("Precedence", v),))
        for v in ("auto-replied", "auto-generated"):
            self.mail("bulk_auto_submitted", slot(), anna, [A], extra=(("Auto-Submitted", v),),
                      subject="Out of office")
        self.mail("auto_submitted_no", slot(), anna, [A], extra=(("Auto-Submitted", "no"),))
        self.expect("auto_submitted_no", _ev("P-ACME", c.a_, "backdoor", "customer"))
        for local in ("noreply", "no-reply", "No_Reply+tickets", "do.not.reply", "DoNotReply"):
            self.mail("bulk_noreply", slot(), self.addr(f"{local}@acme.example", "Acme"), [A])
        self.mail("bulk_mailer_daemon", slot(),
                  self.addr("MAILER-DAEMON@mx.acme.example", "Mail Delivery System"), [A])
        self.mail("bulk_mailer_daemon", slot(), self.addr("postmaster@acme.example"), [B])
        for case in ("bulk_list_id", "bulk_list_unsubscribe", "bulk_precedence",
                     "bulk_auto_submitted", "bulk_noreply", "bulk_mailer_daemon"):
            self.expect(case)
        self.mail("internal_only", slot(), A, [B, self.ops], [c.M0])
        self.expect("internal_only")

    def _plant_copies_and_initiators(self, c: _Cast, slot: _Slots) -> None:
        """One email in several mailboxes (Bcc, no Message-ID) and who initiated it."""
        A, B, C, anna = c.A, c.B, c.C, c.anna
        a_, b_, c_ = c.a_, c.b_, c.c_
        self.mail("same_email_three_mailboxes", slot(), A, [anna], [c.TEAM, c.M0])
        self.expect("same_email_three_mailboxes", _ev("P-ACME", a_, "backdoor", "rep"))
        self.mail("bcc_rep", slot(), A, [anna], bcc=[B])
        self.expect("bcc_rep", _ev("P-ACME", a_, "backdoor", "rep"),
                    _ev("P-ACME", b_, "backdoor", "other"))
        self.mail("bcc_invisible_external_sender", slot(), anna, [A], bcc=[B])
        self.expect("bcc_invisible_external_sender", _ev("P-ACME", a_, "backdoor", "customer"))
        self.mail("no_message_id_dedup", slot(), A, [anna], [C], mid=False)
        self.expect("no_message_id_dedup", _ev("P-ACME", a_, "backdoor", "rep"),
                    _ev("P-ACME", c_, "backdoor", "other"))
        self.mail("other_initiated_third_rep", slot(), C, [A, anna])
        self.expect("other_initiated_third_rep", _ev("P-ACME", c_, "backdoor", "rep"),
                    _ev("P-ACME", a_, "backdoor", "other"))
        self.mail("other_initiated_other_account", slot(), c.mei, [A], [anna],
                  style=STYLE_DATE_UTC)
        self.expect("other_initiated_other_account", _ev("P-ACME", a_, "backdoor", "other"),
                    _ev("P-GLOBEX", a_, "backdoor", "customer"))
        self.mail("other_initiated_internal_sender", slot(), self.ops, [anna], [A])
        self.expect("other_initiated_internal_sender", _ev("P-ACME", a_, "backdoor", "other"))

    def _plant_edge_forms(self, c: _Cast, slot: _Slots) -> None:
        """Several accounts in one email, unusual written forms (IDN, upper case, a week
        boundary across time zones) and a decoy in maildir tmp/."""
        A, C, anna, a_ = c.A, c.C, c.anna, c.a_
        self.mail("cross_account_owner", slot(), c.OW, [anna, c.mei])
        self.expect("cross_account_owner", _ev("P-GLOBEX", c.o_, "backdoor", "rep"))
        self.mail("two_accounts", slot(), C, [c.juergen, c.mei], style=STYLE_SUBJECT_ENCODED)
        self.expect("two_accounts", _ev("P-ACME", c.c_, "backdoor", "rep"),
                    _ev("P-GLOBEX", c.c_, "backdoor", "rep"))
        self.mail("idn_domain", slot(), c.B, [c.kunde], subject="Bestellung für Q4")
        self.expect("idn_domain", _ev("P-BUCHER", c.b_, "backdoor", "rep"))
        upper_a = self.addr(self.REP_A.email.upper(), self.REP_A.name)
        self.mail("case_insensitive_address", slot(), upper_a,
                  [self.addr("Anna.Schmidt@ACME.EXAMPLE", "Anna Schmidt")],
                  style=STYLE_MID_SPACES | STYLE_OUTLOOK)
        self.expect("case_insensitive_address", _ev("P-ACME", a_, "backdoor", "rep"))
        self.mail("week_boundary_tz", self._local(self.weeks[-1], 0, 30, 7), c.tom, [A])
        self.expect("week_boundary_tz", _ev("P-ACME", a_, "backdoor", "customer"))

        # A complete message that would be an event, but only in maildir tmp/ (in delivery).
        decoy = Mail(case="maildir_tmp_ignored", t=slot(), sender=A, to=(anna,),
                     subject="Draft", mid=f"tmp-decoy.{self.seed}@mail.{INTERNAL}")
        text, _ = render_email(decoy, "not delivered yet\n")
        (self.mail_root / a_ / "tmp" / f"{int(decoy.t.timestamp())}.tmp.mx.{INTERNAL}"
         ).write_bytes(text.encode())
        self.expect("maildir_tmp_ignored")

    def _plant_meetings(self, c: _Cast, slot: _Slots) -> None:
        """Single meetings: declines in whose copy, rooms, cancellations, organizers."""
        OW, A, B, anna, juergen, mei = c.OW, c.A, c.B, c.anna, c.juergen, c.mei
        a_, b_ = c.a_, c.b_
        room = self.rooms[0]
        self.meeting("meeting_backdoor", slot(), A,
                     [_att(anna), Attendee(room, "ACCEPTED", "ROOM")], local=True)
        self.expect("meeting_backdoor", _ev("P-ACME", a_, "backdoor", "rep"))
        self.meeting("meeting_owner_declined", slot(), A,
                     [_att(OW, "DECLINED", fresh=False), _att(anna)], organizer_listed=True)
        self.expect("meeting_owner_declined", _ev("P-ACME", a_, "backdoor", "rep"))
        self.meeting("meeting_rep_declined", slot(), A,
                     [_att(juergen), _att(B, "DECLINED", fresh=False)])
        self.expect("meeting_rep_declined", _ev("P-ACME", a_, "backdoor", "rep"))
        self.meeting("meeting_contact_declined", slot(), A, [_att(anna, "DECLINED")])
        self.expect("meeting_contact_declined")
        self.meeting("meeting_owner_present", slot(), A, [_att(OW), _att(anna, "TENTATIVE")])
        self.expect("meeting_owner_present")
        self.meeting("meeting_room_on_customer_domain", slot(), B,
                     [_att(A), Attendee(self.addr("boardroom@acme.example", "Acme Boardroom",
                                                  resource=True), "ACCEPTED", "ROOM")])
        self.expect("meeting_room_on_customer_domain")
        self.meeting("meeting_cancelled_organizer_copy", slot(), A, [_att(anna), _att(B)],
                     cancelled_in=(a_,))
        self.expect("meeting_cancelled_organizer_copy")
        self.meeting("meeting_other_organizer", slot(), self.assistant, [_att(A), _att(anna)])
        self.expect("meeting_other_organizer", _ev("P-ACME", a_, "backdoor", "other"))
        self.meeting("meeting_customer_organized", slot(), mei, [_att(B)], local=True)
        self.expect("meeting_customer_organized", _ev("P-GLOBEX", b_, "backdoor", "customer"))
        self.meeting("meeting_tentative", slot(), B, [_att(mei, "TENTATIVE")])
        self.expect("meeting_tentative", _ev("P-GLOBEX", b_, "backdoor", "rep"))
        self.meeting("meeting_alias_attendee", slot(), juergen,
                     [_att(c.A_alias), _att(anna, "NEEDS-ACTION")])
        self.expect("meeting_alias_attendee", _ev("P-ACME", a_, "backdoor", "customer"))
        self.meeting("internal_all_day", slot(), OW, [_att(c.TEAM), _att(c.M0)], all_day=True,
                     summary="Sales kick-off (all day)")
        self.expect("internal_all_day")

    def _plant_recurring(self, c: _Cast) -> None:
        """Weekly series, Tuesdays 09:00 Berlin, from history through the last reported week:
        one EXDATE, one moved and one cancelled occurrence."""
        berlin = ZoneInfo("Europe/Berlin")
        first_day = self.gen_start.astimezone(berlin).date() + timedelta(days=3)
        first_day += timedelta(days=(1 - first_day.weekday()) % 7)
        start = self._local(first_day, 9, 0, tz=berlin)

        def tuesday(week: date, hour: int = 9, plus_days: int = 0) -> datetime:
            return self._local(week + timedelta(days=1 + plus_days), hour, 0, tz=berlin)

        moved_from = tuesday(self.weeks[-2])
        room = self.rooms[0]
        self.meeting("recurring_weekly", start, c.C,
                     [_att(c.juergen), _att(c.TEAM), Attendee(room, "ACCEPTED", "ROOM")],
                     minutes=45, local=True, summary="Weekly Acme sync",
                     until=self.report_end - timedelta(seconds=1),
                     exdates=(tuesday(self.weeks[-3]),),
                     overrides=(Override(moved_from, tuesday(self.weeks[-2], 14, 1),
                                         tuesday(self.weeks[-2], 14, 1) + timedelta(minutes=45)),
                                Override(tuesday(self.weeks[-1]), tuesday(self.weeks[-1]),
                                         tuesday(self.weeks[-1]) + timedelta(minutes=45),
                                         cancelled=True)))
        self.expect("recurring_weekly",
                    *[_ev("P-ACME", c.c_, "backdoor", "rep")] * (len(self.weeks) - 2))

    # --- background -----------------------------------------------------------------------

    def _days(self) -> list[date]:
        first = self.gen_start.astimezone(self.ctz).date() + timedelta(days=1)
        last = (self.report_end - timedelta(seconds=1)).astimezone(self.ctz).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]

    def _biz_time(self, d: date) -> datetime:
        r = self.rng
        return self._local(d, r.randint(7, 18), r.randint(0, 59), r.randint(0, 59))

    def _reply_time(self, t: datetime) -> datetime | None:
        nt = t + timedelta(seconds=self.rng.randint(300, 30 * 3600))
        return nt if nt < self.report_end - timedelta(hours=1) else None

    def _pick_owner_account(self) -> Account:
        x = self.rng.random() * self.owner_cum[-1]
        lo, hi = 0, len(self.owner_cum) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self.owner_cum[mid] <= x:
                lo = mid + 1
            else:
                hi = mid
        return self.bg_accounts[lo]

    def _other_seller(self, *exclude: str) -> Addr:
        while True:
            r = self.rng.choice(self.active_sellers)
            if r.email not in exclude:
                return self.rep_addr[r.email]

    def _rep_or_alias(self, email: str) -> Addr:
        if email in self.alias_addr and self.rng.random() < 0.1:
            return self.alias_addr[email]
        return self.rep_addr[email]

    def _style(self) -> int:
        r = self.rng.random()
        if r > 0.12:
            return 0
        return self.rng.choice((STYLE_DATE_COMMENT, STYLE_DATE_NO_WEEKDAY, STYLE_DATE_UTC,
                                STYLE_ODD_CASE, STYLE_FOLD, STYLE_B_ENCODING, STYLE_OUTLOOK,
                                STYLE_MID_SPACES | STYLE_ODD_CASE))

    def bg_thread(self, d: date, parties: list[list[Addr]], subject: str | None = None,
                  drop: Addr | None = None) -> int:
        """A thread: parties[i] = [sender, *to] of message i (cc folded into to).

        ``drop``: from the 2nd message on, this address may leave the thread.
        """
        t: datetime | None = self._biz_time(d)
        prev: Mail | None = None
        n = 0
        for msg in parties:
            if t is None:
                break
            sender, *rest = msg
            cc = rest[1:] if len(rest) > 1 else []
            nomid = self.rng.random() < 0.004 and prev is None
            m = self.mail("background", t, sender, rest[:1], cc, subject=subject,
                          reply_to=prev, refs=self.rng.random() > 0.05, mid=not nomid,
                          style=self._style())
            n += 1
            if m.mid is None:
                break  # a thread needs a Message-ID to hang replies on
            prev = m
            t = self._reply_time(t)
        return n

    def bg_owner(self, d: date) -> int:
        rng = self.rng
        acc = self._pick_owner_account()
        owner = self._rep_or_alias(self.resolver.rep_of[acc.owner])
        people = self.contacts[acc.account_id]
        c1 = rng.choice(people)
        others: list[Addr] = []
        if acc.team and rng.random() < 0.25:
            others.append(self.rep_addr[rng.choice(acc.team)])
        if rng.random() < 0.05:
            mgr = self.resolver.reps[owner.ident].manager
            if mgr:
                others.append(self.rep_addr[mgr])
        helper = None
        if rng.random() < 0.12:
            helper = self._other_seller(acc.owner, *acc.team)
            others.append(helper)
        n_msgs = rng.choice((1, 1, 2, 2, 3, 4))
        parties: list[list[Addr]] = []
        for i in range(n_msgs):
            if helper is not None and i == n_msgs - 1 and i > 0 and rng.random() < 0.6:
                parties.append([helper, c1])  # owner dropped: looped_in
            elif i % 2 == 0:
                parties.append([owner, c1, *others] if rng.random() < 0.6 else [c1, owner, *others])
            else:
                parties.append([c1, owner, *others] if parties[-1][0] is owner else
                               [owner, c1, *others])
        return self.bg_thread(d, parties)

    def bg_side(self, d: date) -> int:
        rng = self.rng
        acc = rng.choice(self.bg_accounts)
        rep = self._rep_or_alias(self._other_seller(acc.owner).ident)
        c1 = rng.choice(self.contacts[acc.account_id])
        first = [rep, c1] if rng.random() < 0.6 else [c1, rep]
        parties = [first]
        for _ in range(rng.choice((0, 0, 1, 2))):
            parties.append(list(reversed(parties[-1])))
        if rng.random() < 0.1:
            parties.append([c1, rep, self.rep_addr[self.resolver.rep_of[acc.owner]]]
                           if acc.owner in self.resolver.rep_of else [c1, rep])
        return self.bg_thread(d, parties)

    def bg_internal(self, d: date) -> int:
        rng = self.rng
        a = self.rep_addr[rng.choice(self.active_sellers).email]
        b = self._other_seller(a.ident)
        extra = [rng.choice(self.internal_staff)] if rng.random() < 0.3 else []
        parties = [[a, b, *extra]]
        if rng.random() < 0.5:
            parties.append([b, a, *extra])
        return self.bg_thread(d, parties, subject=rng.choice(N.INTERNAL_SUBJECTS))

    def bg_bulk(self, d: date) -> int:
        rng = self.rng
        rep = self.rep_addr[rng.choice(self.active_sellers).email]
        x = rng.random()
        if x < 0.4:
            acc = rng.choice(self.bg_accounts)
            dom = acc.domains[0]
            sender = self.addr(f"news@{dom}", f"{acc.name} News", acc.tz)
            extra: tuple[tuple[str, str], ...] = (
                ("List-Id", f"<news.{dom}>"), ("List-Unsubscribe", f"<https://{dom}/u>"))
        elif x < 0.7:
            v = rng.choice(self.vendors)
            sender = self.addr(f"noreply@notify.{v.norm.split('@')[1]}", "Notifications")
            extra = (("Auto-Submitted", "auto-generated"),)
        elif x < 0.85:
            v = rng.choice(self.vendors)
            sender = v
            extra = (("Precedence", "bulk"), ("List-Unsubscribe", "<mailto:u@unsub.example>"))
        else:
            acc = rng.choice(self.bg_accounts)
            sender = rng.choice(self.contacts[acc.account_id])
            extra = (("Auto-Submitted", "auto-replied"),)
        self.mail("background", self._biz_time(d), sender, [rep], extra=extra,
                  subject="Newsletter" if x < 0.4 else "Notification")
        return 1

    def bg_vendor(self, d: date) -> int:
        rng = self.rng
        rep = self.rep_addr[rng.choice(self.active_sellers).email]
        v = rng.choice(self.vendors)
        parties = [[v, rep]] if rng.random() < 0.5 else [[rep, v]]
        if rng.random() < 0.4:
            parties.append(list(reversed(parties[0])))
        return self.bg_thread(d, parties)

    def bg_freemail(self, d: date) -> int:
        rng = self.rng
        rep = self.rep_addr[rng.choice(self.active_sellers).email]
        first, last = rng.choice(N.FIRST_NAMES), rng.choice(N.LAST_NAMES)
        dom = rng.choice(N.FREEMAIL_DOMAINS)
        person = self.addr(f"{N.ascii_slug(first)}{rng.randint(10, 9999)}@{dom}",
                           f"{first} {last}")
        return self.bg_thread(d, [[person, rep], [rep, person]][: rng.randint(1, 2)])

    def background_mail(self) -> None:
        kinds = (self.bg_owner, self.bg_side, self.bg_internal, self.bg_bulk, self.bg_vendor,
                 self.bg_freemail)
        weights = (48, 10, 20, 12, 7, 3)
        day_w = (1.0, 1.0, 1.0, 1.0, 0.9, 0.06, 0.04)
        scale = sum(day_w)
        carry = 0.0
        for d in self._days():
            rate = self.emails_per_week * (1.0 if self._local(d, 12, 0) >= self.report_start
                                           else self.history_rate)
            carry += rate * day_w[d.weekday()] / scale
            while carry >= 1:
                carry -= max(1, self.rng.choices(kinds, weights)[0](d))

    def _status(self) -> str:
        return self.rng.choices(_STATUSES, _STATUS_W)[0]

    def _bg_attendee(self, a: Addr) -> Attendee:
        return Attendee(a, self._status(), fresh=self.rng.random() < 0.7)

    def background_meetings(self) -> None:
        rng = self.rng
        # A few weekly series (owner + a contact), through the last reported week.
        berlin = ZoneInfo("Europe/Berlin")
        for i in range(max(1, len(self.bg_accounts) // 20)):
            acc = self._pick_owner_account()
            owner = self.rep_addr[self.resolver.rep_of[acc.owner]]
            d = self.gen_start.astimezone(berlin).date() + timedelta(days=2 + i % 10)
            if d.weekday() >= 5:
                d += timedelta(days=7 - d.weekday())
            start = self._local(d, 8 + i % 9, 30, tz=berlin)
            self.meeting("background", start, owner,
                         [self._bg_attendee(rng.choice(self.contacts[acc.account_id]))],
                         minutes=30, local=True, until=self.report_end - timedelta(seconds=1),
                         summary=f"{acc.name} weekly")
        carry = 0.0
        for d in self._days():
            if d.weekday() >= 5:
                continue
            rate = self.meetings_per_week * (1.0 if self._local(d, 12, 0) >= self.report_start
                                             else self.history_rate)
            carry += rate / 5
            while carry >= 1:
                carry -= 1
                self._bg_meeting(d)

    def _bg_meeting(self, d: date) -> None:
        rng = self.rng
        start = self._local(d, rng.randint(8, 17), rng.choice((0, 30)))
        minutes = rng.choice((30, 60, 60, 90))
        local = rng.random() < 0.4
        x = rng.random()
        room = [Attendee(rng.choice(self.rooms), "ACCEPTED", "ROOM")] if rng.random() < 0.3 else []
        if x < 0.75:
            if x < 0.5:
                acc = self._pick_owner_account()
                rep = self.rep_addr[self.resolver.rep_of[acc.owner]]
            else:
                acc = rng.choice(self.bg_accounts)
                rep = self._other_seller(acc.owner)
            people = self.contacts[acc.account_id]
            guests = [self._bg_attendee(c) for c in rng.sample(people, min(len(people),
                                                                              rng.randint(1, 3)))]
            if rng.random() < 0.25:
                guests.append(self._bg_attendee(self._other_seller(rep.ident)))
            if rng.random() < 0.2:
                # The customer organizes; the rep attends.
                org = guests.pop(0).addr
                guests.append(self._bg_attendee(rep))
                self.meeting("background", start, org, guests, minutes, local=local)
            else:
                self.meeting("background", start, rep, guests + room, minutes, local=local,
                             organizer_listed=rng.random() < 0.5)
        else:
            org = self.rep_addr[rng.choice(self.active_sellers).email]
            guests = [self._bg_attendee(self._other_seller(org.ident))
                      for _ in range(rng.randint(1, 3))]
            self.meeting("background", start, org, guests + room, minutes, local=local,
                         summary=rng.choice(N.INTERNAL_SUBJECTS))

    # --- CRM + config -----------------------------------------------------------------------

    def write_crm(self) -> None:
        crm = self.out / "crm"
        crm.mkdir()

        def write(name: str, header: list[str], rows: list[list[str]]) -> None:
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(header)
            w.writerows(rows)
            (crm / name).write_text(buf.getvalue(), encoding="utf-8")

        write("accounts.csv", ["account_id", "account_name", "owner_email", "domains",
                               "team_emails", "segment"],
              [[a.account_id, a.name, a.owner, "; ".join(a.domains) if a.planted else
                ";".join(a.domains), ";".join(a.team),
                "planted" if a.planted else "background"] for a in self.accounts])
        write("reps.csv", ["email", "name", "manager_email", "team", "aliases", "active"],
              [[r.email, r.name, r.manager, r.team, ";".join(r.aliases), r.active_written]
               for r in self.reps])
        write("contacts.csv", ["email", "account_id"], [list(c) for c in self.contact_rows])
        write_signal_crm(self, crm)
        write_crm_time(self, crm)
        write_crm_later(self, crm)

    def write_config(self) -> Path:
        text = f"""# Synthetic organisation written by sandbox.generator (seed {self.seed}).
# All people and companies are invented; domains are under the reserved .example/.test TLDs.

[company]
internal_domains = ["{INTERNAL}"]
timezone = "{self.tzname}"

[crm]
accounts = "crm/accounts.csv"
reps = "crm/reps.csv"
contacts = "crm/contacts.csv"
{signal_config(self)}{crm_time_config(self)}
[warehouse]
path = "data/overlap.duckdb"

[report]
out_dir = "out"

[rules]
dormant_days = {self.dormant_days}
management_chain = true
{crm_time_rules(self)}
[[sources]]
kind = "maildir"
path = "mail"

[[sources]]
kind = "ics"
path = "mail"

[[sources]]
kind = "mbox"
path = "mbox"
"""
        path = self.out / "overlap.toml"
        path.write_text(text, encoding="utf-8")
        return path

    def flush(self) -> None:
        self.drain()
        self.pool.shutdown()
        for h, events in sorted(self.ics.items()):
            (self.mail_root / h).mkdir(parents=True, exist_ok=True)
            (self.mail_root / h / "calendar.ics").write_bytes(
                calendar(events, h).encode("utf-8"))
        for h, entries in sorted(self.mbox.items()):
            (self.mbox_root / h).mkdir(parents=True, exist_ok=True)
            (self.mbox_root / h / "inbox.mbox").write_bytes("".join(entries).encode("utf-8"))

    def write_truth(self) -> tuple[Path, Path, Path, dict[str, int]]:
        rows, collab, stats = self.truth.derive()

        def write(name: str, header: tuple[str, ...], data: list[dict[str, str]]) -> Path:
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=list(header), lineterminator="\n")
            w.writeheader()
            w.writerows(data)
            path = self.out / name
            path.write_text(buf.getvalue(), encoding="utf-8")
            return path

        gt = write("ground_truth.csv", GT_COLUMNS, rows)
        co = write("ground_truth_collaboration.csv", COLLAB_COLUMNS, collab)
        planted = []
        for case, desc in PLANTED_CASES.items():
            if case not in self.expected and not self.planted:
                continue
            exp = self.expected.get(case, [])
            planted.append({"case": case, "description": desc,
                            "expected": "; ".join("/".join(e) for e in exp) or "no event"})
        pl = write("planted_cases.csv", ("case", "description", "expected"), planted)
        write_truth_later(self)
        return gt, co, pl, stats

    def run(self) -> GeneratedOrg:
        t0 = time.perf_counter()
        self.build_reps()
        self.build_accounts()
        self.build_people()
        self.truth = Truth(self.resolver, self.accounts, self.tzname, self.dormant_days,
                           management_chain=True, report_start=self.report_start,
                           report_end=self.report_end)
        self.prepare_dirs()
        if self.planted:
            self.plant()
        self.background_mail()
        self.background_meetings()
        self.flush()
        self.write_crm()
        config = self.write_config()
        gt, co, pl, stats = self.write_truth()
        counts = dict(self.counts)
        counts.update(stats)
        counts["reps"] = len(self.reps)
        counts["accounts"] = len(self.accounts)
        counts["contacts_csv"] = len(self.contact_rows)
        counts["generation_ms"] = int((time.perf_counter() - t0) * 1000)
        return GeneratedOrg(out_dir=self.out, config_path=config, ground_truth_path=gt,
                            collaboration_path=co, planted_path=pl, mail_root=self.mail_root,
                            mbox_root=self.mbox_root, weeks=list(self.weeks), counts=counts,
                            expected={k: sorted(v) for k, v in self.expected.items()})
