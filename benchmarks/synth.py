"""Synthetic staged weeks at benchmark scale, generated set-based in DuckDB.

Writing a million raw messages to disk per size would benchmark the file system; the load,
model and report steps only ever see staged Parquet, so this module writes that directly:
one ``copies`` Parquet file per mailbox (docs/architecture.md §2) with its manifest, plus the
CRM export and an ``overlap.toml`` — the same files an extract would have left. File extract
speed is measured separately on raw files from the organisation generator.

Shape per week (rule-relevant, not realistic prose): every email belongs to one account; its
sender is a rep (60%) or one of the account's contacts; 1-3 of the account's people and
sometimes the owner (35%) or a second rep take part; each rep participant's mailbox holds a
copy (the sender's with Bcc). Meetings likewise, with attendee responses and a room.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import duckdb

from connectors.records import Window
from overlap.staging import stage_prefix


@dataclass(frozen=True)
class Size:
    name: str
    reps: int
    accounts: int
    emails: int  # per week
    meetings: int  # per week


SIZES = {
    "S": Size("S", 50, 1_000, 20_000, 2_000),
    "M": Size("M", 500, 10_000, 250_000, 25_000),
    "L": Size("L", 2_000, 50_000, 1_000_000, 100_000),
}

CONFIG = """\
[company]
name = "Benchmark Corp"
internal_domains = ["corp.example"]
timezone = "UTC"
[crm]
accounts = "crm/accounts.csv"
reps = "crm/reps.csv"
[warehouse]
path = "data/overlap.duckdb"
[report]
out_dir = "out"
[rules]
dormant_days = 60
"""


def write_org(root: Path, size: Size) -> Path:
    """CRM export and overlap.toml for ``size``; returns the config path."""
    (root / "crm").mkdir(parents=True, exist_ok=True)
    (root / "overlap.toml").write_text(CONFIG, encoding="utf-8")
    con = duckdb.connect()
    con.execute(
        "copy (select 'rep' || i || '@corp.example' as email, 'Rep ' || i as name,"
        " case when i >= 10 then 'rep' || (i // 10) || '@corp.example' end as manager_email,"
        " 'T' || (i % 20) as team, 'alias' || i || '@corp.example' as aliases,"
        " case when i % 50 = 49 then 'false' else 'true' end as active"
        " from range(?) t(i)) to '" + str(root / "crm" / "reps.csv") + "' (header)",
        [size.reps])
    con.execute(
        "copy (select 'A' || j as account_id, 'Account ' || j as account_name,"
        " 'rep' || (j % ?) || '@corp.example' as owner_email,"
        " 'acc' || j || '.example;acc' || j || '-eu.example' as domains, '' as team_emails"
        " from range(?) t(j)) to '" + str(root / "crm" / "accounts.csv") + "' (header)",
        [size.reps, size.accounts])
    con.close()
    return root / "overlap.toml"


# One SQL statement builds a week's copies. Hash-based choices keep it deterministic by seed.
_COPIES = """
with params as (select $week_start::timestamptz as t0, $reps as r, $accounts as a, $seed as seed),
emails as (
    select
        e, hash(e, seed, 1) % a as acct,
        hash(e, seed, 2) % 100 < 60 as rep_sends,
        hash(e, seed, 3) % 100 < 35 as owner_in,
        hash(e, seed, 4) % 100 < 15 as second_rep,
        (hash(e, seed, 5) % 3)::int + 1 as people,
        t0 + to_seconds((hash(e, seed, 6) % 604800)::bigint) as ts,
        r, seed
    from params, range($emails) t(e)
),
email_people as (
    select *,
        'rep' || (hash(e, seed, 7) % r) || '@corp.example' as rep,
        'rep' || (acct % r) || '@corp.example' as owner,
        'rep' || (hash(e, seed, 8) % r) || '@corp.example' as rep2,
        list_transform(range(people), lambda k: 'p' || ((hash(e, seed, 9) + k) % 40)
            || '@acc' || acct || '.example') as contacts
    from emails
),
email_parts as (
    select *,
        list_concat(
            [{'address': case when rep_sends then rep else contacts[1] end, 'name': null,
              'role': 'from', 'response': null, 'is_resource': false}],
            list_transform(case when rep_sends then contacts else contacts[2:] end,
                lambda c: {'address': c, 'name': null, 'role': 'to', 'response': null,
                      'is_resource': false}),
            case when not rep_sends then [{'address': rep, 'name': null, 'role': 'to',
                  'response': null, 'is_resource': false}] else [] end,
            case when owner_in then [{'address': owner, 'name': null, 'role': 'cc',
                  'response': null, 'is_resource': false}] else [] end,
            case when second_rep then [{'address': rep2, 'name': null, 'role': 'cc',
                  'response': null, 'is_resource': false}] else [] end
        ) as participants
    from email_people
),
email_copies as (
    select 'email' as kind, mailbox, 'e' || $seed || '-' || e as copy_id,
        'e' || $seed || '-' || e || '@bench.example' as message_id,
        null::varchar as ical_uid, null::timestamptz as original_start, ts as occurred_at,
        null::timestamptz as ended_at, 'header' as date_source,
        case when e % 4 = 1 then 'e' || $seed || '-' || (e - 1) || '@bench.example' end
            as thread_root,
        null::varchar as provider_thread_id, null::varchar as subject,
        case when e % 97 = 0 then 'list-id' end as bulk_reason, false as cancelled,
        0 as invalid_addresses, participants
    from email_parts, unnest(list_distinct(list_filter(
        list_transform(participants, lambda p: p.address), lambda x: x like '%@corp.example'))) u(mailbox)
),
meetings as (
    select m, hash(m, seed, 11) % a as acct,
        'rep' || (hash(m, seed, 12) % r) || '@corp.example' as organizer,
        'rep' || (hash(m, seed, 11) % a % r) || '@corp.example' as owner,
        hash(m, seed, 13) % 100 < 30 as owner_in,
        hash(m, seed, 14) % 100 < 10 as owner_declined,
        t0 + to_seconds(((hash(m, seed, 15) % 840) * 720)::bigint) as ts, seed
    from params, range($meetings) t(m)
),
meeting_parts as (
    select *, list_concat(
        [{'address': organizer, 'name': null, 'role': 'organizer', 'response': null,
          'is_resource': false},
         {'address': 'p' || (hash(m, seed, 16) % 40) || '@acc' || acct || '.example',
          'name': null, 'role': 'attendee', 'response': 'accepted', 'is_resource': false},
         {'address': 'room1@corp.example', 'name': null, 'role': 'attendee',
          'response': 'accepted', 'is_resource': true}],
        case when owner_in then [{'address': owner, 'name': null, 'role': 'attendee',
              'response': case when owner_declined then 'declined' else 'accepted' end,
              'is_resource': false}] else [] end) as participants
    from meetings
),
meeting_copies as (
    select 'meeting' as kind, mailbox, 'm' || $seed || '-' || m as copy_id,
        null::varchar as message_id, 'm' || $seed || '-' || m || '@bench.example' as ical_uid,
        ts as original_start, ts as occurred_at, ts + interval 1 hour as ended_at,
        'provider' as date_source, null::varchar as thread_root,
        null::varchar as provider_thread_id, null::varchar as subject,
        null::varchar as bulk_reason, false as cancelled, 0 as invalid_addresses, participants
    from meeting_parts, unnest(list_distinct([organizer] || case when owner_in then [owner]
        else [] end)) u(mailbox)
)
select kind, 'bench' as source, 'maildir' as source_kind, mailbox, copy_id, message_id,
       ical_uid, original_start, occurred_at, ended_at, date_source, thread_root,
       provider_thread_id, subject, bulk_reason, cancelled, invalid_addresses::integer
           as invalid_addresses, participants
from (select * from email_copies union all select * from meeting_copies)
where mailbox not like 'room%'
"""


def week_window(week: date) -> tuple[datetime, datetime]:
    start = datetime.combine(week, time(0), tzinfo=UTC)
    return start, start + timedelta(days=7)


def stage_week(root: Path, size: Size, week: date, seed: int) -> list[Path]:
    """Write one week's staged copies (a file per mailbox) and manifests; returns manifests."""
    staging = root / "data" / "staging" / "bench"
    staging.mkdir(parents=True, exist_ok=True)
    start, end = week_window(week)
    key = Window(start, end).key
    part_dir = root / "data" / "bench-parts" / key
    part_dir.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("set preserve_insertion_order = false")
    con.execute(
        f"copy ({_COPIES}) to '{part_dir}' (format parquet, partition_by (mailbox),"
        " overwrite_or_ignore, write_partition_columns true)",
        {"week_start": start, "reps": size.reps, "accounts": size.accounts,
         "emails": size.emails, "meetings": size.meetings, "seed": seed})
    counts = con.execute(
        "select mailbox, count(*) filter (kind = 'email'), count(*) filter (kind = 'meeting'),"
        " any_value(filename) from read_parquet(?, filename = true,"
        " hive_partitioning = false) group by mailbox order by mailbox",
        [f"{part_dir}/*/*.parquet"]).fetchall()
    empty_q = staging / "empty.quarantine.parquet"
    if not empty_q.exists():
        con.execute(
            f"copy (select ''::varchar as source, ''::varchar as source_kind, ''::varchar as"
            f" mailbox, ''::varchar as locator, ''::varchar as reason limit 0) to '{empty_q}'"
            " (format parquet)")
    con.close()
    manifests = []
    for mailbox, emails, meetings, path in counts:
        # (where an extract stages it: the retention purge after every load tells the
        # windows apart by these names)
        prefix = stage_prefix(staging.parent, "bench", mailbox, Window(start, end))
        prefix.parent.mkdir(parents=True, exist_ok=True)
        manifest = prefix.with_name(prefix.name + ".manifest.json")
        manifest.write_text(json.dumps({
            "source": "bench", "source_kind": "maildir", "mailbox": mailbox,
            "window_start": start.isoformat(), "window_end": end.isoformat(),
            "copies_path": path, "quarantine_path": str(empty_q), "emails": emails,
            "meetings": meetings, "quarantined": 0, "cursor": None, "reasons": {},
            "mode": "window", "removed": [], "stats": {}}), encoding="utf-8")
        manifests.append(manifest)
    return manifests
