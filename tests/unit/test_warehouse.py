"""Load semantics: window replace, incremental upsert with removals, cursors with their data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from connectors.api import AuthError, SourceError
from connectors.records import EmailCopy, Participant, Window
from connectors.retry import Transient
from overlap import warehouse
from overlap.config import load_config
from overlap.crm import load_crm
from overlap.staging import write_staged
from tests.e2e.tinyorg import write_org

T0 = datetime(2026, 11, 17, 10, tzinfo=UTC)
WINDOW = Window(datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))


def email(copy_id: str, at: datetime = T0) -> EmailCopy:
    return EmailCopy("gmail", "gmail", "rep@corp.example", copy_id, f"{copy_id}@x", at, "header",
                     (Participant("rep@corp.example", None, "from"),
                      Participant("buyer@acme.example", None, "to")))


@pytest.fixture
def setup(tmp_path: Path):
    config = load_config(write_org(tmp_path))
    con = warehouse.connect(config.warehouse)
    yield config, load_crm(config), con
    con.close()


def _load(con: duckdb.DuckDBPyConnection, crm, staged, run_id: str) -> None:
    warehouse.load(con, run_id=run_id, started_at=T0, window_start=WINDOW.start,
                   window_end=WINDOW.end, crm=crm, staged=[staged])


def copies(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("select copy_id from raw_copies order by 1").fetchall()]


def test_window_load_replaces_incremental_upserts_and_removes(setup, tmp_path: Path) -> None:
    config, crm, con = setup
    common = dict(staging_dir=tmp_path / "st", source="gmail", source_kind="gmail",
                  mailbox="rep@corp.example", window=WINDOW)
    full = write_staged([email("a"), email("b")], cursor="100", **common)
    _load(con, crm, full, "r1")
    assert copies(con) == ["a", "b"]
    state = con.execute("select cursor, window_start, window_end from sync_state").fetchall()
    assert state == [("100", WINDOW.start, WINDOW.end)]

    later = Window(WINDOW.start, WINDOW.end + timedelta(days=7))
    inc = write_staged([email("c", T0 + timedelta(days=7))], cursor="150", mode="incremental",
                       removed=["a"], cursor_in="100",
                       **{**common, "window": later})
    _load(con, crm, inc, "r2")
    assert copies(con) == ["b", "c"], "incremental keeps b, removes a, adds c"
    state = con.execute("select cursor, window_start, window_end from sync_state").fetchall()
    assert state == [("150", WINDOW.start, later.end)]

    # The same full window again: exactly the staged truth for that window.
    again = write_staged([email("b")], cursor="200", **common)
    _load(con, crm, again, "r3")
    assert copies(con) == ["b", "c"]
    assert con.execute("select cursor from sync_state").fetchall() == [("200",)]


def test_a_copy_whose_date_moved_it_to_another_window_is_replaced(setup,
                                                                   tmp_path: Path) -> None:
    """The window delete cannot see the older version (it lies in the earlier window): the
    key delete does, so the key stays unique (raw_copies has no primary key to enforce it)."""
    config, crm, con = setup
    common = dict(staging_dir=tmp_path / "st", source="gmail", source_kind="gmail",
                  mailbox="rep@corp.example")
    _load(con, crm, write_staged([email("a"), email("b")], cursor=None, window=WINDOW,
                                 **common), "r1")
    later = Window(WINDOW.end, WINDOW.end + timedelta(days=7))
    moved = T0 + timedelta(days=7)
    _load(con, crm, write_staged([email("a", moved)], cursor=None, window=later, **common),
          "r2")
    assert con.execute("select copy_id, occurred_at, window_start from raw_copies"
                       " order by 1").fetchall() == [("a", moved, later.start),
                                                     ("b", T0, WINDOW.start)]
    assert con.execute("select run_id, count(*) from run_log group by all order by 1"
                       ).fetchall() == [("r1", 2), ("r2", 2)]


def test_a_copy_staged_twice_is_loaded_once(setup, tmp_path: Path) -> None:
    config, crm, con = setup
    twice = write_staged([email("a"), email("a", T0 + timedelta(hours=1)), email("b")],
                         cursor=None, staging_dir=tmp_path / "st", source="gmail",
                         source_kind="gmail", mailbox="rep@corp.example", window=WINDOW)
    _load(con, crm, twice, "r1")
    assert copies(con) == ["a", "b"]
    assert con.execute("select occurred_at from raw_copies where copy_id = 'a'"
                       ).fetchall() == [(T0,)]


def test_a_failed_load_changes_nothing(setup, tmp_path: Path) -> None:
    config, crm, con = setup
    staged = write_staged([email("a")], staging_dir=tmp_path / "st", source="gmail",
                          source_kind="gmail", mailbox="rep@corp.example", window=WINDOW,
                          cursor="1")
    _load(con, crm, staged, "r1")
    broken = write_staged([email("z")], staging_dir=tmp_path / "st2", source="gmail",
                          source_kind="gmail", mailbox="rep@corp.example", window=WINDOW,
                          cursor="2")
    Path(broken.copies_path).write_bytes(b"not parquet")
    with pytest.raises(duckdb.Error):
        _load(con, crm, broken, "r2")
    assert copies(con) == ["a"]
    assert con.execute("select cursor from sync_state").fetchall() == [("1",)]
    assert con.execute("select count(*) from run_log where run_id = 'r2'").fetchone() == (0,)


def test_loading_the_same_run_again_replaces_its_run_rows(setup, tmp_path: Path) -> None:
    config, crm, con = setup
    staged = write_staged([email("a")], staging_dir=tmp_path / "st", source="gmail",
                          source_kind="gmail", mailbox="rep@corp.example", window=WINDOW)
    _load(con, crm, staged, "r1")
    _load(con, crm, staged, "r1")  # an Airflow retry of the load task
    rows = con.execute("select scope, count(*) from run_log group by all order by 1").fetchall()
    assert rows == [("extract", 1), ("run", 1)]


@pytest.mark.parametrize(("error", "transient"), [
    (Transient("503"), True),
    (ConnectionResetError("reset"), True),
    (TimeoutError("slow"), True),
    (SourceError("x", transient=True),
     True),
    (SourceError("x"), False),
    (AuthError("denied", transient=True),
     False),
    (ValueError("bad data"), False),
])
def test_failed_extracts_say_whether_a_retry_may_help(error: Exception, transient: bool) -> None:
    from overlap.pipeline import is_transient

    assert is_transient(error) is transient


def test_deleted_rows_are_vacuumed_once_they_pile_up(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    con = warehouse.connect(path)
    con.execute("create table t (id integer, week integer)")
    for week in range(4):  # a row group per commit, as weekly loads leave them
        con.execute("insert into t select i, ? from range(120000) r(i)", [week])
        con.execute("checkpoint")

    def reopen() -> tuple[duckdb.DuckDBPyConnection, int, bool]:
        con.close()
        again = warehouse.connect(path)
        stored = again.execute("select estimated_size from duckdb_tables()"
                               " where table_name = 't'").fetchall()[0][0]
        vacuum = again.execute("select current_setting('max_vacuum_tasks')").fetchall()[0][0]
        return again, stored, vacuum > 0

    con.execute("delete from t where week = 3")  # a whole row group: dropped at checkpoint
    con.execute("delete from t where week = 2 and id % 10 = 0")  # 12,000 rows: kept for now
    con, stored, vacuum = reopen()
    assert (stored, vacuum) == (360_000, False)
    con.execute("delete from t where week < 2 and id % 2 = 0")  # 132,000 of 360,000 deleted
    con, stored, vacuum = reopen()
    assert (stored, vacuum) == (360_000, True)
    con.execute("insert into t values (-1, 9)")  # the next change rewrites the table
    con, stored, vacuum = reopen()
    # the half-empty row groups of weeks 0 and 1 became one; week 2's (90% live) may stay
    assert stored <= 240_001 and not vacuum
    assert warehouse.deleted_share(con, min_rows=1) < warehouse.COMPACT_SHARE
    assert con.execute("select count(*) from t").fetchall()[0][0] == 228_001
    con.close()
