"""Rule 6's thread key over copies and provider threads (sql/model/220_match_interactions.sql).

The thread is the root of References, else In-Reply-To (``thread_root``), else the provider's
thread id. A Graph Sent Items copy carries no headers: its key comes from another copy of the
same message if one has them, else from its conversation, whose key is that of its earliest
member with header evidence (else of its earliest member).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from .conftest import ALICE, OWNER, REP
from .seed import T0, Seed

CARL = "carl@corp.example"


def _thread(key: str) -> str:
    return hashlib.md5(key.encode()).hexdigest()


def _threads(world: Seed) -> dict[str, str]:
    """Thread ids by Message-ID, without the world's own email (``@mail.example``)."""
    rows = world.rows("select message_id, thread_id from match_interactions"
                      " where kind = 'email' and message_id not like '%@mail.example'")
    return {r["message_id"]: r["thread_id"] for r in rows}


def test_a_sent_items_copy_without_headers_takes_the_root_of_another_copy(world: Seed) -> None:
    world.rep(CARL, "Carl")
    world.email(OWNER, frm=ALICE, to=[OWNER, REP, CARL], at=T0 - timedelta(hours=2),
                message_id="z-root@acme.com", source="msgraph")
    # Bob's reply: his Sent Items copy has no headers (its key would be its own id, which
    # sorts first); Carl's Inbox copy of the same message has References
    world.email(REP, frm=REP, to=[ALICE], cc=[CARL], message_id="a-reply@corp.example",
                source="msgraph")
    world.email(CARL, frm=REP, to=[ALICE], cc=[CARL], message_id="a-reply@corp.example",
                source="msgraph", thread_root="z-root@acme.com")
    world.build()
    threads = _threads(world)
    assert threads["a-reply@corp.example"] == threads["z-root@acme.com"] == _thread(
        "z-root@acme.com")
    # the owner read the root: the reply is looped in (for Bob and for Carl)
    assert {e["category"] for e in world.events()} == {"looped_in"}


def test_replies_without_references_join_the_root_of_their_conversation(world: Seed) -> None:
    # a conversation seen only in Sent Items: no copy has headers; the replies' own ids sort
    # before the root's, the conversation's key is its earliest member's
    world.email(REP, frm=REP, to=[ALICE], cc=[OWNER], at=T0 - timedelta(hours=2),
                message_id="z-root@corp.example", source="msgraph", provider_thread_id="c1")
    world.email(REP, frm=REP, to=[ALICE], at=T0 - timedelta(hours=1),
                message_id="b-reply@corp.example", source="msgraph", provider_thread_id="c1")
    world.email(REP, frm=REP, to=[ALICE], message_id="a-reply@corp.example",
                source="msgraph", provider_thread_id="c1")
    world.build()
    threads = _threads(world)
    assert set(threads.values()) == {_thread("z-root@corp.example")}
    assert {e["category"] for e in world.events()} == {"looped_in"}


def test_a_conversation_takes_the_key_its_headers_name(world: Seed) -> None:
    # the root is not in the warehouse; the customer's reply (Inbox, with References) names
    # it, the rep's later reply from Sent Items has no headers
    world.email(REP, frm=ALICE, to=[REP], at=T0 - timedelta(hours=1),
                message_id="y-reply@acme.com", source="msgraph", provider_thread_id="c1",
                thread_root="x-root@acme.com")
    world.email(REP, frm=REP, to=[ALICE], message_id="a-reply@corp.example",
                source="msgraph", provider_thread_id="c1")
    world.build()
    threads = _threads(world)
    assert set(threads.values()) == {_thread("x-root@acme.com")}


def test_header_evidence_comes_before_the_provider_thread(world: Seed) -> None:
    # A <- B <- C, each reply with In-Reply-To only, all in one Gmail thread: rule 6 gives C
    # the thread B (its In-Reply-To), as a file source without thread ids does
    world.email(REP, frm=ALICE, to=[REP], at=T0 - timedelta(hours=2), message_id="a@acme.com",
                source="gmail", provider_thread_id="g1")
    world.email(REP, frm=REP, to=[ALICE], at=T0 - timedelta(hours=1), message_id="b@corp.example",
                source="gmail", provider_thread_id="g1", thread_root="a@acme.com")
    world.email(REP, frm=ALICE, to=[REP], message_id="c@acme.com", source="gmail",
                provider_thread_id="g1", thread_root="b@corp.example")
    world.build()
    threads = _threads(world)
    assert [threads[m] for m in ("a@acme.com", "b@corp.example", "c@acme.com")] == [
        _thread("a@acme.com"), _thread("a@acme.com"), _thread("b@corp.example")]
