"""data_quality, audits, idempotent builds and the runner's contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from overlap import sqlrunner
from overlap.config import Rules
from overlap.errors import AuditFailed
from overlap.incremental.context import hash64
from overlap.warehouse import COPY_HASH

from .conftest import ALICE, OWNER, REP
from .seed import T0, Seed

# a copy as a warehouse of version 1 stored it (before 007's copy_hash)
_INSERT_V1 = ("insert into raw_copies (kind, source, source_kind, mailbox, copy_id, occurred_at)"
              " values (?, ?, ?, ?, ?, ?)")

VIEWS = ("interactions", "interaction_participants", "overlap_events", "overlap_weekly",
         "collaboration_weekly", "account_owners", "data_quality", "runs")


def test_fresh_database_views_are_queryable() -> None:
    con = duckdb.connect(":memory:")
    assert sqlrunner.migrate(con) == [1, 2, 3, 4, 5, 6, 7]
    for view in VIEWS:
        assert con.execute(f"select count(*) from {view}").fetchall() == [(0,)]  # noqa: S608
    assert sqlrunner.migrate(con) == []  # nothing pending the second time


def test_a_warehouse_of_version_1_keeps_its_copies_through_002(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """002 rebuilds raw_copies without its primary key (the load keeps the key unique): an
    existing warehouse keeps every copy and its views."""
    original = sqlrunner.sql_files
    con = duckdb.connect(":memory:")
    monkeypatch.setattr(sqlrunner, "sql_files", lambda folder: [
        f for f in original(folder)
        if folder != "schema" or not f.name.startswith(("002_", "007_"))])
    assert sqlrunner.migrate(con) == [1, 3, 4, 5, 6]  # (the models read 003's CRM history tables;
    # the views 006's retained weekly rows)
    con.execute(_INSERT_V1, ["email", "maildir", "maildir", "rep@corp.example", "m-1", T0])
    before = con.execute("select * from raw_copies").fetchall()
    monkeypatch.setattr(sqlrunner, "sql_files", original)
    assert sqlrunner.migrate(con) == [2, 7]
    assert con.execute("select * exclude (copy_hash) from raw_copies").fetchall() == before
    # 007: the stored copies get the hash the loader gives a loaded key
    assert con.execute(f"select copy_hash = {COPY_HASH}, copy_hash is not null"  # noqa: S608
                       " from raw_copies").fetchall() == [(True, True)]
    assert con.execute("select count(*) from duckdb_constraints() where table_name ="
                       " 'raw_copies' and constraint_type = 'PRIMARY KEY'").fetchall() == [(0,)]
    assert con.execute("select count(*) from interactions").fetchall() == [(0,)]


def test_view_columns_follow_the_contract() -> None:
    con = duckdb.connect(":memory:")
    sqlrunner.migrate(con)

    def cols(view: str) -> list[str]:
        return [r[0] for r in con.execute(f"describe {view}").fetchall()]

    assert cols("overlap_events")[:13] == [
        "interaction_id", "kind", "occurred_at", "week_start", "account_id", "owner_email",
        "rep_email", "initiated_by", "category", "contact_emails", "former_owner", "heads_up",
        "approval_reason"]
    assert cols("account_owners")[:5] == [
        "account_id", "owner_email", "valid_from", "valid_until", "source"]
    assert cols("overlap_weekly")[:10] == [
        "week_start", "account_id", "owner_email", "rep_email", "emails", "meetings",
        "contacts", "score", "level", "reasons"]
    assert cols("interaction_participants") == [
        "interaction_id", "address", "role", "response", "party", "account_id", "rep_email",
        "name"]
    assert cols("data_quality") == [
        "kind", "item", "detail", "volume", "source", "mailbox", "run_id"]
    types = {r[0]: r[1] for r in con.execute("describe overlap_events").fetchall()}
    assert types["occurred_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["week_start"] == "DATE"
    assert types["contact_emails"] == "VARCHAR[]"


def test_params_from_config_names_every_weight() -> None:
    params = sqlrunner.params_from_rules(Rules(), "Europe/Berlin")
    assert params["dormant_days"] == 60
    assert params["management_chain"] is True
    assert params["timezone"] == "Europe/Berlin"
    assert {k for k in params if k.startswith("w_")} == {
        "w_email", "w_meeting", "w_rep_initiated", "w_customer_initiated", "w_other_initiated",
        "w_contact", "w_persistence", "w_looped_in", "w_coverage_gap", "w_heads_up", "w_high",
        "w_medium"}


def test_every_model_and_param_is_used() -> None:
    used = set().union(*(f.params for f in sqlrunner.sql_files("model")))
    assert used == set(sqlrunner.default_params())


def test_missing_param_is_a_clear_error(seed: Seed) -> None:
    params = sqlrunner.default_params()
    del params["dormant_days"]
    with pytest.raises(KeyError, match="dormant_days"):
        sqlrunner.build(seed.con, params)


def test_param_values_are_bound_not_formatted(world: Seed) -> None:
    world.email(REP, frm=REP, to=[ALICE])
    with pytest.raises(duckdb.Error):
        world.build(timezone="UTC'; drop table crm_reps; --")
    assert world.rows("select count(*) as n from crm_reps") == [{"n": 2}]


def test_building_twice_gives_identical_tables(world: Seed) -> None:
    world.email(REP, frm=REP, to=[ALICE, "dora@acme.com"])
    world.meeting(REP, uid="m", organizer=ALICE, attendees={REP: "accepted"})
    world.email(REP, frm=REP, to=["x@umbrella.example"])
    world.build()
    first = {t: world.rows(f"select * from {t} order by all")  # noqa: S608
             for t in sqlrunner.model_tables()}
    stats = world.build()
    second = {t: world.rows(f"select * from {t} order by all")  # noqa: S608
              for t in sqlrunner.model_tables()}
    assert first == second
    assert stats.tables["overlap_event_facts"] == 2
    assert stats.audits == len(sqlrunner.sql_files("audits"))


def test_data_quality_kinds(world: Seed) -> None:
    # unmatched: two customer-looking interactions with umbrella.example, one bulk, one without rep
    world.email(REP, frm=REP, to=["x@umbrella.example"])
    world.email(REP, frm="y@umbrella.example", to=[REP], at=T0 + timedelta(hours=1))
    world.email(REP, frm="y@umbrella.example", to=[REP], bulk_reason="list-id",
                at=T0 + timedelta(hours=2))
    world.email("eve@corp.example", frm="y@umbrella.example", to=["eve@corp.example"],
                at=T0 + timedelta(hours=3))
    world.account("dup-1", OWNER, domains=["shared.example"])
    world.account("dup-2", OWNER, domains=["shared.example"])
    world.account("tiny", OWNER, domains=["yahoo.com"])
    world.con.executemany(
        "insert into raw_quarantine values (?, ?, ?, ?, ?, ?, ?)",
        [["maildir", "maildir", REP, f"cur/{n}", "no usable Date header", T0, T0]
         for n in range(3)] + [["maildir", "maildir", REP, "cur/x", "not RFC 822", T0, T0]])
    t = datetime(2024, 3, 11, tzinfo=UTC)
    world.con.executemany(
        "insert into run_log values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [["r1", "extract", "gmail", "a@corp.example", T0, T0, t, t, "failed", 0, 0, 0, "HTTP 500"],
         ["r2", "extract", "gmail", "a@corp.example", T0, T0, t + timedelta(hours=1),
          t, "ok", 1, 0, 0, None],
         ["r2", "extract", "gmail", "b@corp.example", T0, T0, t, t, "failed", 0, 0, 0,
          "invalid_grant"],
         ["r2", "extract", "msgraph", "c@corp.example", T0, T0, t, t, "skipped", 0, 0, 0,
          "mailbox not found"]])
    world.build()
    rows = world.rows("select * from data_quality order by kind, item, source")
    found = {(r["kind"], r["item"]): r for r in rows}
    assert found[("unmatched_domain", "umbrella.example")]["volume"] == 2
    assert found[("ambiguous_domain", "shared.example")]["detail"] == "dup-1, dup-2"
    assert found[("freemail_account_domain", "yahoo.com")]["detail"] == "tiny"
    assert found[("quarantined", "no usable Date header")]["volume"] == 3
    assert found[("quarantined", "no usable Date header")]["mailbox"] == REP
    assert found[("quarantined", "not RFC 822")]["volume"] == 1
    # only the latest extract of each mailbox counts: a@ recovered in r2
    assert ("mailbox_failed", "a@corp.example") not in found
    assert found[("mailbox_failed", "b@corp.example")]["detail"] == "invalid_grant"
    assert found[("mailbox_skipped", "c@corp.example")]["source"] == "msgraph"
    assert {r["kind"] for r in rows} == {
        "unmatched_domain", "ambiguous_domain", "freemail_account_domain", "quarantined",
        "mailbox_failed", "mailbox_skipped", "mailbox_not_rep"}
    # a@, b@ and c@ are mailboxes but not reps (the seed's reps are others)
    assert {r["item"] for r in rows if r["kind"] == "mailbox_not_rep"} == {
        "a@corp.example", "b@corp.example", "c@corp.example"}
    assert len(world.rows("select * from runs")) == 4


def test_data_quality_crm_findings() -> None:
    world = Seed()
    world.rep("olivia@corp.example", aliases=["o@corp.example"])
    world.account("by-alias", "o@corp.example", domains=["acme.example"])  # an alias: a rep
    world.account("gone", "left@corp.example", domains=["globex.example"])
    world.account("ours", "olivia@corp.example", domains=["eu.corp.example", "corp.example",
                                                          "notcorp.example"])
    t = datetime(2024, 3, 11, tzinfo=UTC)
    world.con.executemany(
        "insert into run_log values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [["r1", "extract", "maildir", "o@corp.example", T0, T0, t, t, "succeeded", 0, 0, 0,
          None],
         ["r1", "extract", "maildir", "typo@corp.example", T0, T0, t, t, "succeeded", 0, 0, 0,
          None]])
    world.build()
    rows = world.rows("select kind, item, detail, mailbox from data_quality where kind in "
                      "('owner_not_rep', 'internal_account_domain', 'mailbox_not_rep') "
                      "order by kind, item")
    assert [tuple(r.values()) for r in rows] == [
        ("internal_account_domain", "corp.example", "ours", None),
        ("internal_account_domain", "eu.corp.example", "ours", None),
        ("mailbox_not_rep", "typo@corp.example", None, "typo@corp.example"),
        ("owner_not_rep", "left@corp.example", "gone", None),
    ]


def _violate(seed: Seed, sql: str, params: list | None = None) -> str:
    seed.con.execute(sql, params)
    with pytest.raises(AuditFailed) as info:
        sqlrunner.run_audits(seed.con)
    return info.value.audit


@pytest.fixture
def built(world: Seed) -> Seed:
    world.email(REP, frm=REP, to=[ALICE])
    world.build()
    return world


def test_audits_pass_on_a_clean_build(built: Seed) -> None:
    assert sqlrunner.run_audits(built.con) == len(sqlrunner.sql_files("audits"))


def test_audit_duplicate_interaction_ids(built: Seed) -> None:
    assert _violate(built, "insert into match_interactions select * from match_interactions "
                           "limit 1") == "duplicate_interaction_ids"


def test_audit_duplicate_events(built: Seed) -> None:
    assert _violate(built, "insert into overlap_event_facts select * from overlap_event_facts"
                    ) == "duplicate_events"


def test_audit_owner_is_participant(built: Seed) -> None:
    owner_cc = ("insert into match_participants select interaction_id, ?, 'cc', null, 'rep',"  # noqa: S608
                " null, ?, 'Olga', kind, ?, 'corp.example', false, false, false,"
                f" {hash64('interaction_id')} from overlap_event_facts")
    audit = _violate(built, owner_cc, [OWNER, OWNER, OWNER])
    assert audit == "event_owner_is_participant"


def test_audit_rep_is_on_the_team(built: Seed) -> None:
    # (rule 10: the team as it was at the event's time, from match_rep_exclusions)
    built.con.execute("insert into match_rep_exclusions values ('acme', ?, 'team',"
                      " '-infinity', 'infinity')", [REP])
    with pytest.raises(AuditFailed) as info:
        sqlrunner.run_audits(built.con)
    assert info.value.audit == "event_rep_not_allowed"
    assert info.value.rows == 1
    assert info.value.sample[0][2] == REP


def test_audit_event_on_bulk_interaction(built: Seed) -> None:
    assert _violate(built, "update match_interactions set is_bulk = true, "
                           "bulk_reason = 'list-id'") == "event_on_non_customer_interaction"


def test_audit_participant_with_unknown_party(built: Seed) -> None:
    assert _violate(built, "update match_participants set party = 'stranger' where address = ?",
                    [OWNER]) == "participant_unknown_party"


def test_audit_weekly_totals(built: Seed) -> None:
    assert _violate(built, "update score_weekly set emails = emails + 1"
                    ) == "weekly_totals_match_events"


def test_failed_audit_rolls_the_build_back(built: Seed, monkeypatch: pytest.MonkeyPatch) -> None:
    before = built.rows("select * from overlap_events")
    built.email(REP, frm=REP, to=["dora@acme.com"], at=T0 + timedelta(hours=1))

    def failing(con: duckdb.DuckDBPyConnection, params: object = None) -> int:
        raise AuditFailed("synthetic", 1, [("x",)])

    monkeypatch.setattr(sqlrunner, "run_audits", failing)
    with pytest.raises(AuditFailed):
        built.build()
    assert built.rows("select * from overlap_events") == before
