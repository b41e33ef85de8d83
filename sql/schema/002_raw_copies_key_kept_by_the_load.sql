-- grain: raw_copies as in 001, without its primary key. DuckDB takes a deleted row's key out
-- of the index at commit, ~20 µs a key for this four-column key: a reload of 9 weeks at
-- benchmark size S (290k copies) spent 5.9 s committing, 0.01 s without the index — and a
-- run re-extracts `dormant_days` of history every week. warehouse.load keeps (source,
-- mailbox, kind, copy_id) unique itself: it deletes every stored copy under a key it loads
-- (tests/unit/test_warehouse.py).

create table raw_copies_keyed_by_load (
    kind               varchar not null,      -- email | meeting
    source             varchar not null,      -- the source's name in overlap.toml
    source_kind        varchar not null,      -- maildir, mbox, eml, ics, gmail, google_calendar, msgraph
    mailbox            varchar not null,      -- normalized address of the mailbox holder
    copy_id            varchar not null,      -- unique within (source, mailbox); see above
    message_id         varchar,               -- without <>, case kept; NULL if absent
    ical_uid           varchar,
    original_start     timestamptz,
    occurred_at        timestamptz not null,
    ended_at           timestamptz,
    date_source        varchar,               -- header | provider
    thread_root        varchar,
    provider_thread_id varchar,
    subject            varchar,               -- after the subject policy
    bulk_reason        varchar,
    cancelled          boolean,
    invalid_addresses  integer,
    participants       struct(address varchar, name varchar, role varchar, response varchar,
                              is_resource boolean)[],
    window_start       timestamptz,
    window_end         timestamptz
);

insert into raw_copies_keyed_by_load select * from raw_copies;

drop table raw_copies;

alter table raw_copies_keyed_by_load rename to raw_copies;
