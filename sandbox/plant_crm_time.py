"""Planted cases of issue 14: an owner change with a handoff (DESIGN.md rule 10).

One planted account, Handover Harbour (``P-HANDOFF``), passes from ``OWNER_B`` (O1) to
``REP_C`` (O2) at D = the Monday of the week before last (00:00 company time).
crm/ownership.csv says so with two rows (O1 since long before the history, O2 from D), and
accounts.csv lists the current owner O2. The generated config sets ``[rules] handoff_days``
to ``HANDOFF_DAYS`` (7) so that the week before D, the grace week [D, D + 7 days) and the
week after it are all reported weeks (the generator's minimum of three weeks).

Cases (``CRM_TIME_CASES``): before D a rep, and O2 too, contact the account without O1 —
events on O1's account; in the grace week O1 meets the customer with a colleague (a
``handoff`` event for O1, none for the colleague) and mails them alone (``handoff``); O1
and O2 together are teamwork; a rep without O2 after D is an event on O2's account,
``backdoor`` because O2's own contact before D counts for dormancy (rule 10's last
sentence); O1 alone after the grace is an ordinary event with ``former_owner = true``.

The ground truth (sandbox/_truth.py) reads the owner periods from ``Truth.ownership``
(filled here) plus accounts.csv; ``plant_crm_accounts`` is one line of
``_Generator._planted_accounts``, ``plant_crm_time`` one line at the end of
``_Generator.plant`` (the random state is restored, so background traffic is unchanged),
``write_crm_time`` / ``crm_time_config`` / ``crm_time_rules`` one line each in write_crm /
write_config.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

from sandbox._model import Account, Attendee
from sandbox._plant import _Generator, at, kept_random_state

ACCOUNT = "P-HANDOFF"
HANDOFF_DAYS = 7
CRM_TIME_CASES: dict[str, str] = {
    "owner_change_old_owner_activity": "O1 mails Handover Harbour before the change → no event",
    "owner_change_rep_before": "a rep mails the account before D without O1 → event, owner O1",
    "owner_change_new_owner_before": "O2 mails the account before D → event for O2, owner O1",
    "handoff_colleague": "O1 meets the customer with a colleague in the grace → handoff for "
                         "O1, no event for the colleague",
    "handoff_alone": "O1 mails the customer alone in the grace → handoff, rep",
    "handoff_with_new_owner": "O1 and O2 together in the grace → no event (collaboration)",
    "owner_change_rep_after": "a rep mails the account after D without O2 → event, owner O2, "
                              "backdoor (O2's contact before D counts)",
    "former_owner_after_grace": "O1 mails the customer alone after the grace → backdoor, "
                                "former_owner",
}
CRM_TIME_NO_EVENT: frozenset[str] = frozenset({"owner_change_old_owner_activity",
                                               "handoff_with_new_owner"})


def plant_crm_accounts(g: _Generator) -> None:
    """Handover Harbour in accounts.csv, owned (now) by the new owner O2."""
    tz = "Europe/Berlin"
    g.accounts.append(Account(ACCOUNT, "Handover Harbour", g.REP_C.email,
                              ["handover-harbour.example"], [], tz, planted=True))
    g.contact_specs[ACCOUNT] = [("hanna.hafen@handover-harbour.example", "Hanna Hafen", tz),
                                ("hugo.kai@handover-harbour.example", "Hugo Kai", tz)]


def plant_crm_time(g: _Generator) -> None:
    """Plant the ownership change and its cases (see ``CRM_TIME_CASES``); the generator's
    random state is restored afterwards."""
    with kept_random_state(g):
        _plant(g)


def _plant(g: _Generator) -> None:
    R = g.rep_addr
    O1, O2, B, A = (R[x.email] for x in (g.OWNER_B, g.REP_C, g.REP_B, g.REP_A))
    o1, o2, b_, a_ = O1.rep, O2.rep, B.rep, A.rep
    assert o1 and o2 and b_ and a_
    hanna, hugo = g.contacts[ACCOUNT]
    before, grace, after = g.weeks[-3], g.weeks[-2], g.weeks[-1]
    since = g.weeks[0] - timedelta(days=91)
    g.truth.ownership_rows += [(ACCOUNT, g.OWNER_B.email, since.isoformat()),
                               (ACCOUNT, g.REP_C.email, grace.isoformat())]
    g.truth.handoff = timedelta(days=HANDOFF_DAYS)
    g.truth.ownership += [(ACCOUNT, o1, g._local(since, 0, 0)),
                          (ACCOUNT, o2, g._local(grace, 0, 0))]

    g.mail("owner_change_old_owner_activity", at(g, before, 0, 9), O1, [hugo],
           subject="Contract renewal")
    g.expect("owner_change_old_owner_activity")
    g.mail("owner_change_rep_before", at(g, before, 1, 10), B, [hanna], subject="Intro")
    g.expect("owner_change_rep_before", (ACCOUNT, b_, "backdoor", "rep"))
    g.mail("owner_change_new_owner_before", at(g, before, 2, 10), O2, [hanna],
           subject="Hello from your next account manager")
    g.expect("owner_change_new_owner_before", (ACCOUNT, o2, "backdoor", "rep"))

    g.meeting("handoff_colleague", at(g, grace, 1, 10), O1,
              [Attendee(hanna, "ACCEPTED"), Attendee(A, "ACCEPTED")], minutes=60,
              summary="Handover Harbour: meet the team")
    g.expect("handoff_colleague", (ACCOUNT, o1, "handoff", "rep"))
    g.mail("handoff_alone", at(g, grace, 2, 11), O1, [hugo], subject="Open items")
    g.expect("handoff_alone", (ACCOUNT, o1, "handoff", "rep"))
    g.mail("handoff_with_new_owner", at(g, grace, 2, 15), O1, [hanna, O2],
           subject="Introducing your new account manager")
    g.expect("handoff_with_new_owner")
    g.mail("owner_change_rep_after", at(g, grace, 3, 10), B, [hanna], subject="Follow-up")
    g.expect("owner_change_rep_after", (ACCOUNT, b_, "backdoor", "rep"))

    g.mail("former_owner_after_grace", at(g, after, 2, 10), O1, [hugo],
           subject="Catching up")
    g.expect("former_owner_after_grace", (ACCOUNT, o1, "backdoor", "rep"))


def write_crm_time(g: _Generator, crm: Path) -> None:
    """crm/ownership.csv, when the owner change was planted."""
    rows = g.truth.ownership_rows
    if not rows:
        return
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["account_id", "owner_email", "valid_from"])
    w.writerows(rows)
    (crm / "ownership.csv").write_text(buf.getvalue(), encoding="utf-8")


def crm_time_config(g: _Generator) -> str:
    """The ``[crm]`` line of ownership.csv, when it was written."""
    return 'ownership = "crm/ownership.csv"\n' if g.truth.ownership_rows else ""


def crm_time_rules(g: _Generator) -> str:
    """The ``[rules]`` line of the grace the planted handoff needs (default 30 without it)."""
    return f"handoff_days = {HANDOFF_DAYS}\n" if g.truth.ownership_rows else ""
