"""Rules 1 and 2: who is internal, a rep, or an account's person."""

from __future__ import annotations

from .conftest import ALICE, OWNER, REP
from .seed import Seed


def _party(seed: Seed, address: str) -> dict:
    [row] = seed.rows("select party, account_id, rep_email from interaction_participants "
                      "where address = ?", [address])
    return row


def test_rep_alias_resolves_to_the_rep(world: Seed) -> None:
    world.rep("carl@corp.example", "Carl Rep", aliases=["c.rep@corp.example", "carl@old.example"])
    world.email("carl@old.example", frm="carl@old.example", to=[ALICE])
    world.build()
    assert _party(world, "carl@old.example") == {
        "party": "rep", "account_id": None, "rep_email": "carl@corp.example"}
    [event] = world.events()
    assert event["rep_email"] == "carl@corp.example"
    assert event["initiated_by"] == "rep"


def test_owner_alias_on_the_interaction_means_no_event(seed: Seed) -> None:
    seed.rep(OWNER, "Olga", aliases=["o.owner@corp.example"])
    seed.rep(REP, "Bob")
    seed.account("acme", OWNER, domains=["acme.com"])
    seed.email(REP, frm=REP, to=[ALICE], cc=["o.owner@corp.example"])
    seed.build()
    assert seed.events() == []


def test_owner_listed_by_alias_in_accounts_csv(seed: Seed) -> None:
    seed.rep(OWNER, "Olga", aliases=["o.owner@corp.example"])
    seed.rep(REP, "Bob")
    seed.account("acme", "o.owner@corp.example", domains=["acme.com"])
    seed.email(REP, frm=REP, to=[ALICE], cc=[OWNER])
    seed.email(REP, frm=REP, to=["dora@acme.com"])
    seed.build()
    [event] = seed.events()
    assert event["owner_email"] == OWNER
    assert event["contact_emails"] == ["dora@acme.com"]


def test_internal_subdomain_is_internal(world: Seed) -> None:
    world.email(REP, frm=REP, to=[ALICE], cc=["eve@eu.corp.example"])
    world.build()
    assert _party(world, "eve@eu.corp.example")["party"] == "internal"
    # internal but not in reps.csv: never a rep of an event
    assert [e["rep_email"] for e in world.events()] == [REP]


def test_internal_non_rep_is_ignored_by_overlap(world: Seed) -> None:
    world.email("eve@corp.example", frm="eve@corp.example", to=[ALICE])
    world.build()
    assert _party(world, "eve@corp.example")["party"] == "internal"
    assert world.events() == []


def test_lookalike_of_internal_domain_is_not_internal(world: Seed) -> None:
    world.email(REP, frm=REP, to=["mallory@notcorp.example"])
    world.build()
    assert _party(world, "mallory@notcorp.example")["party"] == "unmatched"


def test_internal_only_mail_is_not_a_customer_interaction(world: Seed) -> None:
    world.email(REP, frm=REP, to=[OWNER, "eve@corp.example"])
    world.build()
    [row] = world.rows("select * from interactions where mailboxes = [?]", [REP])
    assert row["is_customer"] is False
    assert world.events() == []


def test_customer_subdomain_matches_parent_domain(world: Seed) -> None:
    world.email(REP, frm=REP, to=["dan@eu.sales.acme.com"])
    world.build()
    assert _party(world, "dan@eu.sales.acme.com") == {
        "party": "account_contact", "account_id": "acme", "rep_email": None}
    assert len(world.events()) == 1


def test_multi_domain_account(world: Seed) -> None:
    world.account("globex", OWNER, domains=["globex.com", "globex.de"])
    world.email(REP, frm=REP, to=["hans@globex.de", "gail@globex.com"])
    world.build()
    [event] = world.events()
    assert event["account_id"] == "globex"
    assert event["contact_emails"] == ["gail@globex.com", "hans@globex.de"]


def test_longest_parent_wins(world: Seed) -> None:
    world.account("acme-eu", OWNER, domains=["eu.acme.com"])
    world.email(REP, frm=REP, to=["eva@de.eu.acme.com", "al@us.acme.com"])
    world.build()
    assert _party(world, "eva@de.eu.acme.com")["account_id"] == "acme-eu"
    assert _party(world, "al@us.acme.com")["account_id"] == "acme"
    assert {e["account_id"] for e in world.events()} == {"acme", "acme-eu"}


def test_freemail_person_matches_through_contacts(world: Seed) -> None:
    world.contact("alice.private@gmail.com", "acme")
    world.email(REP, frm="alice.private@gmail.com", to=[REP])
    world.email(REP, frm="stranger@gmail.com", to=[REP])
    world.build()
    assert _party(world, "alice.private@gmail.com")["account_id"] == "acme"
    assert _party(world, "stranger@gmail.com")["party"] == "freemail"
    [event] = world.events()
    assert event["contact_emails"] == ["alice.private@gmail.com"]
    assert event["initiated_by"] == "customer"


def test_freemail_domain_on_an_account_is_ignored_with_a_finding(world: Seed) -> None:
    world.account("tiny", OWNER, domains=["tiny.example", "gmail.com"])
    world.email(REP, frm=REP, to=["someone@gmail.com"])
    world.build()
    assert _party(world, "someone@gmail.com") == {
        "party": "freemail", "account_id": None, "rep_email": None}
    assert world.events() == []
    [finding] = world.rows("select * from data_quality where kind = 'freemail_account_domain'")
    assert finding["item"] == "gmail.com"
    assert finding["detail"] == "tiny"


def test_ambiguous_domain_matches_nothing_and_does_not_fall_through(world: Seed) -> None:
    # eu.acme.com is claimed by two accounts; acme.com (a shorter parent) by Acme
    world.account("acme-eu-1", OWNER, domains=["eu.acme.com"])
    world.account("acme-eu-2", OWNER, domains=["eu.acme.com"])
    world.email(REP, frm=REP, to=["eva@eu.acme.com"])
    world.email(REP, frm=REP, to=["fritz@de.eu.acme.com"])
    world.build()
    assert _party(world, "eva@eu.acme.com")["party"] == "unmatched"
    assert _party(world, "fritz@de.eu.acme.com")["party"] == "unmatched"
    assert world.events() == []
    [finding] = world.rows("select * from data_quality where kind = 'ambiguous_domain'")
    assert finding["item"] == "eu.acme.com"
    assert finding["detail"] == "acme-eu-1, acme-eu-2"
    assert finding["volume"] == 2


def test_contacts_beat_domain(world: Seed) -> None:
    world.account("initech", OWNER, domains=["initech.com"])
    world.contact("carol@acme.com", "initech")  # a consultant at Acme working for Initech
    world.email(REP, frm=REP, to=["carol@acme.com"])
    world.build()
    assert _party(world, "carol@acme.com")["account_id"] == "initech"
    [event] = world.events()
    assert event["account_id"] == "initech"


def test_contact_on_an_internal_domain_stays_internal(world: Seed) -> None:
    world.contact("eve@corp.example", "acme")
    world.email(REP, frm=REP, to=["eve@corp.example"])
    world.build()
    assert _party(world, "eve@corp.example")["party"] == "internal"
    assert world.events() == []


def test_unmatched_external_domain(world: Seed) -> None:
    world.email(REP, frm=REP, to=["x@umbrella.example"])
    world.build()
    assert _party(world, "x@umbrella.example")["party"] == "unmatched"
    assert world.events() == []
