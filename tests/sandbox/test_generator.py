"""The synthetic organisation generator: determinism, valid inputs, and a ground truth that
agrees with an independent reading of the files it wrote."""

from __future__ import annotations

import csv
import hashlib
import mailbox
from collections import defaultdict
from datetime import date
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path
from typing import Any

import icalendar
import pytest

from overlap.config import load_config
from sandbox.generator import NO_EVENT_CASES, PLANTED_CASES, GeneratedOrg, generate
from sandbox.plant_crm_later import (
    BACKDATE,
    GROUND_TRUTH_LATER,
    GROUND_TRUTH_LOOKBACK,
    LATE,
    LATER_CRM,
    LOOKBACK,
    correction_from,
)
from tests.sandbox import _reparse

SMALL = dict(reps=12, accounts=15, emails_per_week=120, meetings_per_week=12, history_rate=0.5)


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> GeneratedOrg:
    return generate(tmp_path_factory.mktemp("gen") / "org", seed=11, **SMALL)


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    tiny = dict(reps=12, accounts=8, emails_per_week=40, meetings_per_week=4)
    a = generate(tmp_path / "a", seed=3, **tiny)
    b = generate(tmp_path / "b", seed=3, **tiny)
    c = generate(tmp_path / "c", seed=4, **tiny)
    assert tree_hash(a.out_dir) == tree_hash(b.out_dir)
    assert tree_hash(a.out_dir) != tree_hash(c.out_dir)


def test_refuses_a_non_empty_directory_and_a_non_monday(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        generate(tmp_path / "x")
    with pytest.raises(ValueError, match="Monday"):
        generate(tmp_path / "y", last_week_start=date(2026, 11, 10))


def test_config_loads_and_points_at_the_written_files(org: GeneratedOrg) -> None:
    cfg = load_config(org.config_path)
    assert cfg.internal_domains == ("corp.example",)
    assert cfg.timezone == "Europe/Berlin"
    assert cfg.rules.dormant_days == 60 and cfg.rules.management_chain
    assert {(s.kind, s.path.name) for s in cfg.sources if s.path} == {
        ("maildir", "mail"), ("ics", "mail"), ("mbox", "mbox")}
    for p in (cfg.accounts_csv, cfg.reps_csv, cfg.contacts_csv):
        assert p is not None and p.is_file()
    assert org.weeks == [date(2026, 10, 19), date(2026, 10, 26), date(2026, 11, 2),
                         date(2026, 11, 9)]


def test_crm_has_the_planted_shapes(org: GeneratedOrg) -> None:
    reps = read_csv(org.out_dir / "crm" / "reps.csv")
    emails = {r["email"] for r in reps}
    assert sum(r["active"] == "false" for r in reps) == 1
    assert any(r["email"].endswith("@eu.corp.example") for r in reps)
    assert any(";" not in r["aliases"] and r["aliases"].endswith("@eu.corp.example") for r in reps)
    # Three levels: someone's manager has a manager.
    by = {r["email"]: r for r in reps}
    assert any(r["manager_email"] and by[r["manager_email"]]["manager_email"] for r in reps)
    accounts = {a["account_id"]: a for a in read_csv(org.out_dir / "crm" / "accounts.csv")}
    assert accounts["P-ORPHAN"]["owner_email"] not in emails
    assert "gmail.com" in accounts["P-GREEN"]["domains"]
    assert accounts["P-SHARE-E"]["domains"] == accounts["P-SHARE-W"]["domains"]
    contacts = read_csv(org.out_dir / "crm" / "contacts.csv")
    assert {"email": "pat.freelance@gmail.com", "account_id": "P-NIMBUS"} in contacts


def _mailbox_of(reps_csv: Path) -> dict[str, str]:
    out = {}
    for r in read_csv(reps_csv):
        out[r["email"]] = r["email"]
        for a in filter(None, r["aliases"].split(";")):
            out[a.lower()] = r["email"]
    return out


def test_every_message_parses_and_only_the_sender_copy_has_bcc(org: GeneratedOrg) -> None:
    owner_of = _mailbox_of(org.out_dir / "crm" / "reps.csv")
    parser = BytesParser(policy=policy.default)
    seen = bcc_copies = mbox_msgs = unnamed_bcc = 0
    names: set[str] = set()
    for box, raw in _reparse.iter_messages(org.out_dir):
        msg = parser.parsebytes(raw)
        assert not msg.defects, (box, msg.defects)
        assert parsedate_to_datetime(str(msg["Date"])).tzinfo is not None
        sender = getaddresses([str(msg["From"])])[0][1].lower()
        recipients = {a.lower() for _, a in getaddresses(
            [str(v) for k in ("To", "Cc", "Bcc") for v in msg.get_all(k, [])])}
        # Only reps' mailboxes exist, and each copy names its holder somewhere or is a Bcc copy.
        assert box in owner_of.values()
        if msg["Bcc"] is not None:
            bcc_copies += 1
            assert owner_of.get(sender) == box, "Bcc header outside the sender's copy"
        else:
            # A copy without Bcc names its holder, unless the holder was Bcc'd (and so unnamed).
            named = owner_of.get(sender) == box or any(owner_of.get(a) == box for a in recipients)
            unnamed_bcc += not named
        seen += 1
        mbox_msgs += (org.mbox_root / box).is_dir()
        names.add(msg["From"].addresses[0].display_name)
    assert seen == org.counts["email_files"] + org.counts["mbox_messages"]
    assert bcc_copies >= 1 and mbox_msgs == org.counts["mbox_messages"] > 0
    assert 1 <= unnamed_bcc <= bcc_copies + 1  # + the customer's Bcc, invisible by design
    assert "Müller, Jürgen" in names  # RFC 2047 (Q and B) display names decode back


def test_bcc_rep_copy_has_no_bcc_but_the_sender_copy_does(org: GeneratedOrg) -> None:
    gt = [r for r in read_csv(org.ground_truth_path) if r["case"] == "bcc_rep"]
    mid = gt[0]["message_id"]
    copies = {}
    for box, raw in _reparse.iter_messages(org.out_dir):
        msg = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
        if str(msg["Message-ID"]).strip().strip("<>") == mid:
            copies[box] = msg["Bcc"] is not None
    sender = next(r["rep_email"] for r in gt if r["initiated_by"] == "rep")
    bcc_rep = next(r["rep_email"] for r in gt if r["initiated_by"] == "other")
    assert copies == {sender: True, bcc_rep: False}


def test_maildir_tmp_holds_only_the_decoy(org: GeneratedOrg) -> None:
    tmp = list(org.mail_root.glob("*/tmp/*"))
    assert len(tmp) == 1
    mid = str(BytesParser(policy=policy.default).parsebytes(tmp[0].read_bytes())["Message-ID"])
    assert mid.strip("<>") not in {r["message_id"] for r in read_csv(org.ground_truth_path)}


def test_mbox_escapes_from_lines(org: GeneratedOrg) -> None:
    boxes = sorted(org.mbox_root.glob("*/inbox.mbox"))
    text = "".join(b.read_text(encoding="utf-8") for b in boxes)
    assert ">From the desk" in text and "\nFrom the desk" not in text
    assert sum(len(mailbox.mbox(b)) for b in boxes) == org.counts["mbox_messages"]


def test_calendars_parse_with_icalendar(org: GeneratedOrg) -> None:
    files = sorted(org.mail_root.glob("*/*.ics"))
    assert files
    statuses, cutypes, props = set(), set(), set()
    for f in files:
        cal = icalendar.Calendar.from_ical(f.read_bytes())
        for ev in cal.walk("VEVENT"):
            props.update(k for k in ("RRULE", "EXDATE", "RECURRENCE-ID") if k in ev)
            statuses.add(str(ev["STATUS"]))
            atts = ev.get("ATTENDEE", [])
            for a in atts if isinstance(atts, list) else [atts]:
                cutypes.add(str(a.params["CUTYPE"]))
        for line in f.read_bytes().split(b"\r\n"):
            assert len(line) <= 75, (f, line)
    assert props == {"RRULE", "EXDATE", "RECURRENCE-ID"}
    assert {"CANCELLED", "CONFIRMED"} <= statuses
    assert {"INDIVIDUAL", "ROOM"} <= cutypes


def test_cancelled_only_in_the_organizer_copy(org: GeneratedOrg) -> None:
    copies = defaultdict(set)
    for f in org.mail_root.glob("*/*.ics"):
        for ev in icalendar.Calendar.from_ical(f.read_bytes()).walk("VEVENT"):
            if "RRULE" not in ev and "RECURRENCE-ID" not in ev:
                copies[str(ev["UID"])].add((f.parent.name, str(ev["STATUS"])))
    assert any(len({s for _, s in c}) == 2 for c in copies.values())


def test_every_planted_case_has_its_expected_events(org: GeneratedOrg) -> None:
    got: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for r in read_csv(org.ground_truth_path):
        got[r["case"]].append((r["account_id"], r["rep_email"], r["category"],
                               r["initiated_by"]))
    assert set(org.expected) == set(PLANTED_CASES)
    assert {c for c, e in org.expected.items() if not e} == NO_EVENT_CASES
    for case, expected in org.expected.items():
        assert sorted(got.get(case, [])) == sorted(expected), case
    # Every rule outcome appears; background mail has events of its own.
    rows = read_csv(org.ground_truth_path)
    assert {r["category"] for r in rows} == {"backdoor", "coverage_gap", "looped_in",
                                             "approved", "handoff"}
    assert {r["initiated_by"] for r in rows} == {"rep", "customer", "other"}
    assert any(r["case"] == "background" for r in rows)


def test_ground_truth_rows_are_well_formed(org: GeneratedOrg) -> None:
    reps = {r["email"] for r in read_csv(org.out_dir / "crm" / "reps.csv")}
    weeks = {w.isoformat() for w in org.weeks}
    rows = read_csv(org.ground_truth_path)
    keys = set()
    for r in rows:
        assert r["rep_email"] in reps
        assert r["week_start"] in weeks
        if r["kind"] == "email":
            assert bool(r["message_id"]) != bool(r["fallback_sender"])
            assert not r["ical_uid"]
        else:
            assert r["ical_uid"] and r["original_start"].endswith("Z")
        if r["interaction_id"]:
            assert r["interaction_id"] == hashlib.md5(r["interaction_key"].encode()).hexdigest()
        keys.add((r["interaction_key"], r["account_id"], r["rep_email"]))
    assert len(keys) == len(rows)  # one event per (I, A, R)
    boundary = next(r for r in rows if r["case"] == "week_boundary_tz")
    assert boundary["occurred_at"] < boundary["week_start"] + "T00:00:00Z" < "9"
    assert boundary["week_start"] == org.weeks[-1].isoformat()
    recurring = [r for r in rows if r["case"] == "recurring_weekly"]
    assert len({r["original_start"] for r in recurring}) == len(recurring) == len(org.weeks) - 2
    collab = read_csv(org.collaboration_path)
    assert any(r["case"] == "owner_present" for r in collab)


def _truth_events(path: Path) -> set[tuple[str, ...]]:
    return {(r["interaction_key"], r["account_id"], r["rep_email"], r["category"],
             r["initiated_by"], r["week_start"], r["owner_email"], r["former_owner"])
            for r in read_csv(path)}


def test_ground_truth_matches_an_independent_reading_of_the_files(org: GeneratedOrg) -> None:
    found = _reparse.events(org.out_dir, org.weeks, "Europe/Berlin", 60)
    assert found == _truth_events(org.ground_truth_path)


@pytest.mark.parametrize(("truth", "kwargs"), [
    (GROUND_TRUTH_LATER, {"crm_dir": LATER_CRM}),
    (GROUND_TRUTH_LOOKBACK, {"lookback": True}),
])
def test_later_and_lookback_truth_match_an_independent_reading(
        org: GeneratedOrg, truth: str, kwargs: dict[str, Any]) -> None:
    """The second CRM state (after crm-later/) and the look-back's would-be events, re-derived
    from the files: the later export's CSVs, and the mail before the first week."""
    found = _reparse.events(org.out_dir, org.weeks, "Europe/Berlin", 60, **kwargs)
    expected = _truth_events(org.out_dir / truth)
    assert expected and found == expected


def test_the_later_crm_adds_an_account_and_backdates_an_owner(org: GeneratedOrg) -> None:
    """sandbox/plant_crm_later.py: crm/ knows no Late Lighthouse (no event with it); the later
    export adds it (events in every week, its free-mail contact's too) and moves Backdated
    Bakery to O2 from valid_from: the weeks before stay, from it on O2 owns it, O1's mail in
    the grace is a handoff and the colleague O1 brings has no event; the look-back case is a
    would-be event of the look-back only."""
    crm, later = org.out_dir / "crm", org.out_dir / LATER_CRM
    assert LATE not in {a["account_id"] for a in read_csv(crm / "accounts.csv")}
    assert LATE in {a["account_id"] for a in read_csv(later / "accounts.csv")}
    assert LATE not in {c["account_id"] for c in read_csv(crm / "contacts.csv")}
    own, own_later = read_csv(crm / "ownership.csv"), read_csv(later / "ownership.csv")
    assert own_later[:-1] == own and own_later[-1]["account_id"] == BACKDATE
    vf = correction_from(org.weeks).isoformat()
    o1, o2 = own[-1]["owner_email"], own_later[-1]["owner_email"]
    assert own_later[-1]["valid_from"] == vf and org.weeks[0].isoformat() < vf
    first, after = read_csv(org.ground_truth_path), read_csv(org.out_dir / GROUND_TRUTH_LATER)
    assert not [r for r in first if r["account_id"] == LATE]
    late = [r for r in after if r["account_id"] == LATE]
    assert {r["week_start"] for r in late} == {w.isoformat() for w in org.weeks}
    assert {r["case"] for r in late} == {"added_later_rep", "added_later_freemail_contact"}

    def backdated(rows: list[dict[str, str]]) -> list[tuple[str, ...]]:
        return sorted((r["case"], r["week_start"], r["owner_email"], r["category"])
                      for r in rows if r["account_id"] == BACKDATE)

    before = [(c, w, o1, "backdoor") for c, w in
              sorted(("backdated_rep", w.isoformat()) for w in org.weeks)]
    assert backdated(first) == before
    assert backdated(after) == sorted(
        [("backdated_collab_grace", vf, o2, "handoff")]
        + [(c, w, o2 if w >= vf else o1, "coverage_gap" if w >= vf else "backdoor")
           for c, w, _, _ in before])
    # the rest of the truth is the same in both states
    rest = {k: [r for r in rows if r["account_id"] not in (LATE, BACKDATE)]
            for k, rows in (("first", first), ("after", after))}
    assert rest["first"] == rest["after"]
    lookback = read_csv(org.out_dir / GROUND_TRUTH_LOOKBACK)
    assert [r["case"] for r in lookback if r["account_id"] == LOOKBACK] == [
        "lookback_would_be_event"]
    assert all(r["week_start"] < org.weeks[0].isoformat() for r in lookback)
    week1 = [r for r in first if r["account_id"] == LOOKBACK]
    assert [(r["case"], r["category"], r["week_start"]) for r in week1] == [
        ("lookback_evidence_week1", "backdoor", org.weeks[0].isoformat())]


def test_the_owner_change_is_judged_by_the_owner_then(org: GeneratedOrg) -> None:
    """Rule 10's planted cases (sandbox/plant_crm_time.py): ownership.csv moves Handover
    Harbour from O1 to O2 (accounts.csv: O2); events before the change name O1, after it O2;
    O1 is a former owner from the change on; the colleague O1 brings in the grace has none."""
    own = [r for r in read_csv(org.out_dir / "crm" / "ownership.csv")
           if r["account_id"] == "P-HANDOFF"]
    assert len(own) == 2
    o1, o2 = own[0]["owner_email"], own[1]["owner_email"]
    accounts = {a["account_id"]: a for a in read_csv(org.out_dir / "crm" / "accounts.csv")}
    assert accounts["P-HANDOFF"]["owner_email"] == o2
    got = {r["case"]: (r["rep_email"], r["category"], r["owner_email"], r["former_owner"])
           for r in read_csv(org.ground_truth_path) if r["account_id"] == "P-HANDOFF"}
    rep = got["owner_change_rep_before"][0]
    assert got == {
        "owner_change_rep_before": (rep, "backdoor", o1, "false"),
        "owner_change_new_owner_before": (o2, "backdoor", o1, "false"),
        "handoff_colleague": (o1, "handoff", o2, "true"),
        "handoff_alone": (o1, "handoff", o2, "true"),
        "owner_change_rep_after": (rep, "backdoor", o2, "false"),
        "former_owner_after_grace": (o1, "backdoor", o2, "true"),
    }
