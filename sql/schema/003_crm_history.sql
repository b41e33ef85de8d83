-- grain: the CRM's history (rule 10; docs/crm-history.md). Every CRM import is a snapshot
-- stamped with `--crm-as-of`; the crm_* tables of 001 keep the *latest* snapshot (identity
-- facts: accounts, names, domains, contacts, aliases, internal and free-mail domains), these
-- keep the assignment facts of every snapshot that changed one, and ownership.csv's rows.

-- one row per import (bookkeeping; not a model input: an unchanged import rebuilds nothing)
create table crm_snapshots (
    as_of       timestamptz not null,      -- the stamp (--crm-as-of, default the import's time)
    imported_at timestamptz not null,
    run_id      varchar,
    recorded    boolean not null           -- false: its assignment facts changed nothing
);

-- an account's owner and team as one snapshot listed them (owner/team as written)
create table crm_account_history (
    as_of       timestamptz not null,
    account_id  varchar not null,
    owner_email varchar,
    team_emails varchar[] not null          -- sorted, distinct
);

-- a rep's manager and activity as one snapshot listed them
create table crm_rep_history (
    as_of         timestamptz not null,
    email         varchar not null,
    manager_email varchar,
    active        boolean
);

-- ownership.csv of the latest snapshot: dated owner changes (win over a snapshot's stamp tie)
create table crm_ownership (
    account_id  varchar not null,
    owner_email varchar not null,
    valid_from  timestamptz not null,
    line        integer
);

-- the weeks runs were asked for (the reported weeks; not their look-back weeks)
create table reported_weeks (
    week_start date primary key,
    run_id     varchar not null              -- the first run that reported the week
);

-- a warehouse from before this migration: every week its runs covered was reported
insert into reported_weeks
select cast(w.week_start as date), min(r.run_id)
from run_log as r,
     unnest(generate_series(
         date_trunc('week', r.window_start), r.window_end - interval 1 microsecond,
         interval 7 day)) as w(week_start)
where r.scope = 'run' and r.window_start is not null and r.window_end is not null
group by all;
