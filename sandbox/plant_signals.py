"""Planted cases of issue 16: broadcasts (rule 5), an approval and heads-ups (rule 6).

``plant_signals(g)`` is called by one line at the end of ``_Generator.plant``; it writes its
mail and meetings through the generator like every planted case and registers the approval
with the ground truth (``Truth.approvals``), which applies rules 5 and 6 in plain Python. Its
crm/approvals.csv and the ``[crm] approvals`` setting are written by ``write_signal_crm`` and
``signal_config`` (one line each in the generator).

Heads-up ground truth is the ``heads_up`` column of ground_truth.csv; ``HEADS_UP`` says what
each heads-up case's event must carry. The cases that must *not* get a heads-up use the
inactive seller as the rep: background mail never involves an inactive seller, so no random
internal mail can give them a heads-up after all. The others may get one from background mail
too, which only confirms the flag.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from pathlib import Path

from sandbox._model import Addr, Attendee
from sandbox._plant import _Generator, at, kept_random_state

SIGNAL_CASES: dict[str, str] = {
    "broadcast_third_party": "consultant mails 21 recipients incl. a rep and Acme → broadcast, "
                             "no event",
    "broadcast_at_threshold": "consultant mails exactly 20 recipients → event, other",
    "broadcast_by_rep": "a rep mails Acme and 25 others → event, rep",
    "broadcast_by_customer": "an Acme person mails a rep and 25 others → event, customer",
    "approval_inside": "the rep is approved on Bücher Haus for that week → approved, rep",
    "approval_outside": "the same rep the week after the approval ended → backdoor, rep",
    "heads_up_1_day": "rep and owner alone in an internal email 1 day before → heads-up",
    "heads_up_6_days": "rep and owner in an internal email 6 days before → heads-up",
    "heads_up_8_days": "the internal email was 8 days before → no heads-up",
    "heads_up_customer_on_it": "the 'internal' email also had an Acme person → no heads-up",
    "heads_up_owner_declined": "owner declined the rep's internal meeting → no heads-up",
    "heads_up_team_meeting": "a 5-person team meeting with both → no heads-up",
    "heads_up_third_colleague": "a third colleague mailed both → no heads-up",
}
SIGNAL_NO_EVENT: frozenset[str] = frozenset({"broadcast_third_party"})
#: the ``heads_up`` the event of each heads-up case carries in the ground truth
HEADS_UP: dict[str, bool] = {
    "heads_up_1_day": True, "heads_up_6_days": True, "heads_up_8_days": False,
    "heads_up_customer_on_it": False, "heads_up_owner_declined": False,
    "heads_up_team_meeting": False, "heads_up_third_colleague": False,
}
APPROVAL_REASON = "Joint Bücher Haus tender <with> David's blessing"


def plant_signals(g: _Generator) -> None:
    """Plant the broadcast, approval and heads-up cases (see ``SIGNAL_CASES``). The
    generator's random state is restored afterwards, so the background mail and meetings stay
    what they were without these cases (tests pick mailboxes by their background content)."""
    with kept_random_state(g):
        _broadcasts(g)
        _approval(g)
        _heads_ups(g)


def _crowd(g: _Generator, n: int) -> list[Addr]:
    return [g.addr(f"guest{i}@summit-events.example", f"Guest {i}") for i in range(n)]


def _broadcasts(g: _Generator) -> None:
    R = g.rep_addr
    A, B = R[g.REP_A.email], R[g.REP_B.email]
    anna, _juergen, chloe, _ray = g.contacts["P-ACME"]
    a_, b_ = A.rep, B.rep
    assert a_ and b_
    consultant = g.addr("newsletter@consultancy.example", "Consultancy Insights")
    week = g.weeks[-2]
    g.mail("broadcast_third_party", at(g, week, 2, 10, 5), consultant, [A, anna, *_crowd(g, 19)],
           subject="Market outlook")
    g.expect("broadcast_third_party")
    g.mail("broadcast_at_threshold", at(g, week, 2, 10, 35), consultant,
           [A, anna, *_crowd(g, 18)], subject="Market outlook (invited)")
    g.expect("broadcast_at_threshold", ("P-ACME", a_, "backdoor", "other"))
    g.mail("broadcast_by_rep", at(g, week, 2, 11, 5), B, [anna, *_crowd(g, 25)],
           subject="Our user day")
    g.expect("broadcast_by_rep", ("P-ACME", b_, "backdoor", "rep"))
    g.mail("broadcast_by_customer", at(g, week, 2, 11, 35), chloe, [A, *_crowd(g, 25)],
           subject="Acme supplier day")
    g.expect("broadcast_by_customer", ("P-ACME", a_, "backdoor", "customer"))


def _approval(g: _Generator) -> None:
    """Rep C approved on Bücher Haus for the week before last: [that Monday, last Monday)."""
    C = g.rep_addr[g.REP_C.email]
    kunde, = g.contacts["P-BUCHER"]
    c_ = C.rep
    assert c_
    since, until = g.weeks[-2], g.weeks[-1]
    g.truth.approval_rows.append(("P-BUCHER", c_, since.isoformat(), until.isoformat(),
                                  APPROVAL_REASON))
    g.truth.approvals.append(("P-BUCHER", c_, g._local(since, 0, 0), g._local(until, 0, 0)))
    g.mail("approval_inside", at(g, since, 2, 15), C, [kunde], subject="Tender documents")
    g.expect("approval_inside", ("P-BUCHER", c_, "approved", "rep"))
    g.mail("approval_outside", at(g, until, 2, 15), C, [kunde], subject="Tender follow-up")
    g.expect("approval_outside", ("P-BUCHER", c_, "backdoor", "rep"))


def _heads_ups(g: _Generator) -> None:
    R = g.rep_addr
    OW, B, C, TEAM = (R[x.email] for x in (g.OWNER, g.REP_B, g.REP_C, g.TEAM))
    DO, NO = R[g.DORMANT.email], R[g.INACTIVE.email]  # NO: never in background mail
    anna, juergen, _chloe, _ray = g.contacts["P-ACME"]
    b_, do_, no_ = B.rep, DO.rep, NO.rep
    assert b_ and do_ and no_
    last, before = g.weeks[-1], g.weeks[-3]

    def case(name: str, rep: Addr, rep_id: str, when: datetime) -> None:
        g.mail(name, when, rep, [anna], subject="Quick question")
        g.expect(name, ("P-ACME", rep_id, "backdoor", "rep"))

    # positive: the rep briefed the owner alone 1 and 6 days before
    t = at(g, last, 3, 11)
    g.mail("heads_up_1_day", t - timedelta(days=1), B, [OW], subject="FYI: calling Acme")
    case("heads_up_1_day", B, b_, t)
    g.mail("heads_up_6_days", t - timedelta(days=6), DO, [OW], subject="FYI: Acme")
    case("heads_up_6_days", DO, do_, t + timedelta(minutes=10))
    # negative, all with the inactive seller: the 8-day brief is the only real one, and no
    # event of theirs lies in the 7 days after it
    g.mail("heads_up_8_days", t - timedelta(days=8), NO, [OW], subject="FYI: Acme, later")
    case("heads_up_8_days", NO, no_, t + timedelta(minutes=20))
    for i, name in enumerate(("heads_up_customer_on_it", "heads_up_owner_declined",
                              "heads_up_team_meeting", "heads_up_third_colleague")):
        when = at(g, before, 1 + i, 11)
        brief = when - timedelta(days=2)
        if name == "heads_up_customer_on_it":
            g.mail(name, brief, NO, [OW], [juergen], subject="Acme next steps")
        elif name == "heads_up_owner_declined":
            g.meeting(name, brief, NO, [Attendee(OW, "DECLINED")], minutes=30,
                      summary="Acme prep")
        elif name == "heads_up_team_meeting":
            g.meeting(name, brief, NO, [Attendee(OW, "ACCEPTED"), Attendee(TEAM, "ACCEPTED"),
                                        Attendee(g.ops, "ACCEPTED"),
                                        Attendee(g.assistant, "TENTATIVE")],
                      summary="Sales team weekly")
        else:
            g.mail(name, brief, C, [NO, OW], subject="Acme: who does what")
        case(name, NO, no_, when)


def write_signal_crm(g: _Generator, crm: Path) -> None:
    """crm/approvals.csv, when the approval case was planted."""
    rows = g.truth.approval_rows
    if not rows:
        return
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["account_id", "rep_email", "valid_from", "valid_until", "reason"])
    w.writerows(rows)
    (crm / "approvals.csv").write_text(buf.getvalue(), encoding="utf-8")


def signal_config(g: _Generator) -> str:
    """The ``[crm]`` line of approvals.csv, when it was written."""
    return 'approvals = "crm/approvals.csv"\n' if g.truth.approval_rows else ""
