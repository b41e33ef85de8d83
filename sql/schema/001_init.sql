-- grain: the warehouse's raw tables (one statement per table); see docs/architecture.md §3.
-- Model tables (sql/model) are built by overlap/sqlrunner.py, not declared here.

create table if not exists schema_migrations (
    version    integer primary key,   -- the NNN of sql/schema/NNN_*.sql
    applied_at timestamptz not null
);

-- one row per copy of an email or meeting occurrence held by one mailbox (staged columns + load info)
create table raw_copies (
    kind               varchar not null,      -- email | meeting
    source             varchar not null,      -- the source's name in overlap.toml
    source_kind        varchar not null,      -- maildir, mbox, eml, ics, gmail, google_calendar, msgraph
    mailbox            varchar not null,      -- normalized address of the mailbox holder
    copy_id            varchar not null,      -- unique within (source, mailbox)
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
    window_end         timestamptz,
    primary key (source, mailbox, kind, copy_id)
);

-- one row per record that could not be parsed
create table raw_quarantine (
    source       varchar not null,
    source_kind  varchar,
    mailbox      varchar not null,
    locator      varchar,
    reason       varchar not null,
    window_start timestamptz,
    window_end   timestamptz
);

-- one row per source × mailbox: the incremental cursor, written with the data it belongs to
create table sync_state (
    source       varchar not null,
    mailbox      varchar not null,
    cursor       varchar,                       -- opaque to the warehouse (historyId, JSON, ...)
    window_start timestamptz,                   -- the window the cursor's data covers
    window_end   timestamptz,
    updated_at   timestamptz,
    primary key (source, mailbox)
);

-- one row per pipeline run (scope = run) and per source × mailbox extract (scope = extract)
create table run_log (
    run_id       varchar not null,
    scope        varchar not null,            -- run | extract
    source       varchar,
    mailbox      varchar,
    window_start timestamptz,
    window_end   timestamptz,
    started_at   timestamptz,
    finished_at  timestamptz,
    status       varchar,
    emails       bigint,
    meetings     bigint,
    quarantined  bigint,
    error        varchar
);

-- CRM snapshot: replaced as a whole by each run (overlap/crm.py); `line` = CSV line number
create table crm_accounts (
    account_id   varchar not null,
    account_name varchar,
    owner_email  varchar,
    line         integer
);

create table crm_account_domains (
    account_id varchar not null,
    domain     varchar not null,              -- normalized: lower-case, punycode, no '@' or dot
    line       integer
);

create table crm_account_team (
    account_id varchar not null,
    rep_email  varchar not null
);

create table crm_reps (
    email         varchar not null,
    name          varchar,
    manager_email varchar,
    team          varchar,
    active        boolean,                    -- NULL reads as true (the CSV default)
    line          integer
);

create table crm_rep_aliases (
    alias     varchar not null,
    rep_email varchar not null
);

create table crm_contacts (
    email      varchar not null,
    account_id varchar not null,
    line       integer
);

-- [company] internal_domains
create table company_domains (
    domain varchar not null
);

-- the shipped free-mail list, or [rules] freemail_domains
create table freemail_domains (
    domain varchar not null
);
