"""Planted cases of issue 14 that need a second CRM export or the look-back (DESIGN.md rule 10).

Three accounts, each with its own cases (``CRM_LATER_CASES``):

* **Lookback Logistics** (``P-LOOKBACK``, owner ``DORMANT``) — the look-back. A pipeline run
  extracts ``dormant_days`` before its first reported week as evidence only. The owner's only
  touch is in the look-back (20 days before the first week), so a rep's mail in the first
  week is ``backdoor``, not ``coverage_gap``: look-back data is still evidence. A rep's mail
  10 days before the first week would be an event if that week were reported; it is a
  look-back interaction, in no analyst view (``ground_truth_lookback.csv`` lists it, with
  every other would-be event of the look-back, background included).
* **Late Lighthouse** (``P-LATE``, owner ``OWNER_B``) — an account added later. It is absent
  from crm/ and present in the later export crm-later/ (accounts.csv, and an outlook.com
  contact in contacts.csv). Its owner mails a contact in the first week; a rep mails a
  contact in every reported week; the free-mail contact writes to a rep in the last week.
  With crm/ none of this is an account interaction; after importing crm-later/ (identity
  facts apply to all time) the events of every week appear.
* **Backdated Bakery** (``P-BACKDATE``) — a backdated ownership.csv correction. crm/
  says ``OWNER_B`` (O1) owns it, and crm/ownership.csv has O1's row since long before the
  history; crm-later/ownership.csv has one more row: ``REP_A`` (O2) from ``valid_from`` =
  the Monday of the week before last (``correction_from``), and crm-later/accounts.csv names
  O2. A rep mails the customer every week (backdoor on O1's account, O1 touched it in the
  look-back; from ``valid_from`` on a ``coverage_gap`` on O2's, who never met them); O1 with
  that rep meets the customer in the first week (collaboration both times) and mails them
  with the rep in the grace week (collaboration with crm/; a ``handoff`` for O1 and nothing
  for the rep with crm-later/).

The later export ``crm-later/`` is a complete CRM folder (the same five files as crm/), as a
user's next nightly export would be: apply it by copying its files over crm/ and running
again (tests/e2e/test_planted.py). The ground truth has two states: ``ground_truth.csv`` and
``ground_truth_collaboration.csv`` for crm/ (unchanged in meaning) and
``ground_truth_later.csv`` / ``ground_truth_collaboration_later.csv`` after crm-later/ (same
columns), computed by ``Truth.derive(later=True)`` from ``Truth.later_accounts``,
``later_owner`` and ``later_ownership`` (filled here).

Wiring (one line each): ``plant_crm_later_accounts`` in ``_Generator._planted_accounts``,
``plant_crm_later`` at the end of ``_Generator.plant`` (random state restored),
``write_crm_later`` at the end of ``write_crm``, ``write_truth_later`` in ``write_truth``.
"""

from __future__ import annotations

import csv
import io
import shutil
from datetime import date, timedelta
from pathlib import Path

from sandbox._model import Account, Attendee
from sandbox._plant import _Generator, at, kept_random_state
from sandbox._truth import COLLAB_COLUMNS, GT_COLUMNS

LOOKBACK = "P-LOOKBACK"
LATE = "P-LATE"
BACKDATE = "P-BACKDATE"
LATER_CRM = "crm-later"  # the later CRM export, beside crm/
LATE_FREEMAIL = "leo.lamp@outlook.com"  # Late Lighthouse's contact in the later contacts.csv
GROUND_TRUTH_LATER = "ground_truth_later.csv"
COLLABORATION_LATER = "ground_truth_collaboration_later.csv"
GROUND_TRUTH_LOOKBACK = "ground_truth_lookback.csv"

CRM_LATER_CASES: dict[str, str] = {
    "lookback_owner_touch": "Lookback Logistics' owner mails the customer 20 days before the "
                            "first week (look-back) → no event; dormancy evidence",
    "lookback_would_be_event": "a rep mails Lookback Logistics 10 days before the first week "
                               "→ a look-back interaction: no event in any view",
    "lookback_evidence_week1": "a rep mails Lookback Logistics in the first week → backdoor "
                               "(the owner's look-back touch counts)",
    "added_later_owner_touch": "Late Lighthouse's owner mails it in the first week → no event "
                               "(not an account with crm/; the owner with crm-later/)",
    "added_later_rep": "a rep mails Late Lighthouse every week → no event with crm/; with "
                       "crm-later/ an event every week",
    "added_later_freemail_contact": "Late Lighthouse's outlook.com contact (later "
                                    "contacts.csv) writes to a rep → event only with crm-later/",
    "backdated_old_owner_touch": "Backdated Bakery's owner O1 mails it in the look-back → "
                                 "no event; dormancy evidence",
    "backdated_rep": "a rep mails Backdated Bakery every week → backdoor on O1's account; "
                     "with crm-later/ from valid_from coverage_gap on O2's",
    "backdated_collab_before": "O1 and the rep meet the customer in the first week → no "
                               "event (collaboration) either way",
    "backdated_collab_grace": "O1 and the rep mail the customer in the grace week → "
                              "collaboration with crm/; handoff for O1 with crm-later/",
}
CRM_LATER_NO_EVENT: frozenset[str] = frozenset({
    "lookback_owner_touch", "lookback_would_be_event", "added_later_owner_touch",
    "added_later_rep", "added_later_freemail_contact", "backdated_old_owner_touch",
    "backdated_collab_before", "backdated_collab_grace"})


def correction_from(weeks: list[date]) -> date:
    """The backdated correction's ``valid_from``: the Monday of the week before last."""
    return weeks[-2]


def plant_crm_later_accounts(g: _Generator) -> None:
    """The three accounts (Late Lighthouse only in the later export, see write_crm_later)."""
    tz = "Europe/Berlin"

    def acc(aid: str, name: str, owner: str, domain: str, people: list[tuple[str, str]]) -> None:
        g.accounts.append(Account(aid, name, owner, [domain], [], tz, planted=True))
        g.contact_specs[aid] = [(w, n, tz) for w, n in people]

    acc(LOOKBACK, "Lookback Logistics", g.DORMANT.email, "lookback-logistics.example",
        [("lena.look@lookback-logistics.example", "Lena Look")])
    acc(BACKDATE, "Backdated Bakery", g.OWNER_B.email, "backdated-bakery.example",
        [("bea.baker@backdated-bakery.example", "Bea Baker"),
         ("ben.brot@backdated-bakery.example", "Ben Brot")])
    acc(LATE, "Late Lighthouse", g.OWNER_B.email, "late-lighthouse.example",
        [("lucy.light@late-lighthouse.example", "Lucy Light"), (LATE_FREEMAIL, "Leo Lamp")])
    g.contact_rows.append((LATE_FREEMAIL, LATE))


def plant_crm_later(g: _Generator) -> None:
    """Plant the cases of ``CRM_LATER_CASES``; the generator's random state is restored."""
    with kept_random_state(g):
        _lookback(g)
        _added_later(g)
        _backdated(g)


def _lookback(g: _Generator) -> None:
    R = g.rep_addr
    DO, B = R[g.DORMANT.email], R[g.REP_B.email]
    lena, = g.contacts[LOOKBACK]
    first = g.weeks[0]
    g.mail("lookback_owner_touch", at(g, first - timedelta(days=20), 0, 9), DO, [lena],
           subject="Quarterly review")
    g.expect("lookback_owner_touch")
    g.mail("lookback_would_be_event", at(g, first - timedelta(days=10), 0, 11), B, [lena],
           subject="Freight rates")
    g.expect("lookback_would_be_event")
    g.mail("lookback_evidence_week1", at(g, first, 1, 11), B, [lena],
           subject="Freight rates, again")
    assert B.rep
    g.expect("lookback_evidence_week1", (LOOKBACK, B.rep, "backdoor", "rep"))


def _added_later(g: _Generator) -> None:
    R = g.rep_addr
    OB, A, B = R[g.OWNER_B.email], R[g.REP_A.email], R[g.REP_B.email]
    lucy, leo = g.contacts[LATE]
    g.truth.later_accounts.add(LATE)
    g.mail("added_later_owner_touch", at(g, g.weeks[0], 0, 10), OB, [lucy],
           subject="Welcome aboard")
    g.expect("added_later_owner_touch")
    for week in g.weeks:
        g.mail("added_later_rep", at(g, week, 2, 14), A, [lucy], subject="Lens upgrade")
    g.expect("added_later_rep")
    g.mail("added_later_freemail_contact", at(g, g.weeks[-1], 3, 16), leo, [B],
           subject="Private note")
    g.expect("added_later_freemail_contact")


def _backdated(g: _Generator) -> None:
    R = g.rep_addr
    OB, A, B = R[g.OWNER_B.email], R[g.REP_A.email], R[g.REP_B.email]
    bea, ben = g.contacts[BACKDATE]
    b_ = B.rep
    assert b_
    since = g.weeks[0] - timedelta(days=91)
    vf = correction_from(g.weeks)
    g.truth.ownership_rows.append((BACKDATE, g.OWNER_B.email, since.isoformat()))
    g.truth.ownership.append((BACKDATE, g.OWNER_B.email, g._local(since, 0, 0)))
    g.truth.later_ownership_rows.append((BACKDATE, g.REP_A.email, vf.isoformat()))
    g.truth.later_ownership.append((BACKDATE, g.REP_A.email, g._local(vf, 0, 0)))
    g.truth.later_owner[BACKDATE] = g.REP_A.email

    g.mail("backdated_old_owner_touch", at(g, g.weeks[0] - timedelta(days=7), 0, 9), OB,
           [bea], subject="Flour prices")
    g.expect("backdated_old_owner_touch")
    for week in g.weeks:
        g.mail("backdated_rep", at(g, week, 2, 10, 30), B, [ben], subject="Oven service")
    g.expect("backdated_rep", *[(BACKDATE, b_, "backdoor", "rep")] * len(g.weeks))
    g.meeting("backdated_collab_before", at(g, g.weeks[0], 3, 15), OB,
              [Attendee(bea, "ACCEPTED"), Attendee(B, "ACCEPTED")], minutes=30,
              summary="Bakery tasting")
    g.expect("backdated_collab_before")
    g.mail("backdated_collab_grace", at(g, vf, 1, 9), OB, [bea], [B],
           subject="Meet my colleague")
    g.expect("backdated_collab_grace")
    assert A.rep  # O2: no interaction with the account at all


def write_crm_later(g: _Generator, crm: Path) -> None:
    """crm-later/ (a complete later export) from crm/ as written, then Late Lighthouse out of
    crm/: the later export has its accounts.csv and contacts.csv rows, O2 as Backdated
    Bakery's owner and the correction's row in ownership.csv."""
    if not g.truth.later_accounts and not g.truth.later_ownership_rows:
        return
    later = crm.parent / LATER_CRM
    later.mkdir()
    for f in sorted(crm.glob("*.csv")):
        shutil.copyfile(f, later / f.name)
    old, new = f",{g.OWNER_B.email},", f",{g.REP_A.email},"
    text = (later / "accounts.csv").read_text(encoding="utf-8")
    (later / "accounts.csv").write_text("".join(
        line.replace(old, new, 1) if line.startswith(BACKDATE + ",") else line
        for line in text.splitlines(keepends=True)), encoding="utf-8")
    with (later / "ownership.csv").open("a", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(g.truth.later_ownership_rows)
    late = tuple(g.truth.later_accounts)
    for name, hit in (("accounts.csv", lambda ln: ln.startswith(tuple(a + "," for a in late))),
                      ("contacts.csv", lambda ln: ln.rstrip("\n").endswith(
                          tuple("," + a for a in late)))):
        text = (crm / name).read_text(encoding="utf-8")
        (crm / name).write_text("".join(ln for ln in text.splitlines(keepends=True)
                                        if not hit(ln)), encoding="utf-8")


def write_truth_later(g: _Generator) -> None:
    """ground_truth_later.csv, ground_truth_collaboration_later.csv (the state after
    crm-later/) and ground_truth_lookback.csv (the would-be events of the look-back, crm/)."""
    if not g.truth.later_accounts and not g.truth.later_ownership_rows:
        return
    rows, collab, _ = g.truth.derive(later=True)
    lookback, _, _ = g.truth.derive(lookback=True)
    for name, header, data in ((GROUND_TRUTH_LATER, GT_COLUMNS, rows),
                               (COLLABORATION_LATER, COLLAB_COLUMNS, collab),
                               (GROUND_TRUTH_LOOKBACK, GT_COLUMNS, lookback)):
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(header), lineterminator="\n")
        w.writeheader()
        w.writerows(data)
        (g.out / name).write_text(buf.getvalue(), encoding="utf-8")
