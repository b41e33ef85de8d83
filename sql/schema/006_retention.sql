-- grain: retention (docs/privacy.md). `[retention] raw_days` purges interaction-level data
-- older than the retention edge at each load; the weekly aggregates of the weeks before the
-- freeze line (the edge + the evidence horizon) are frozen here first, as they were
-- reported, and the overlap_weekly and collaboration_weekly views read them from here for
-- those weeks (a rebuild no longer sees the purged interactions, nor — up to the horizon —
-- all the evidence of the weeks after the edge, so it must never recompute those weeks).

-- one row: the edge (a Monday in the company time zone; only moves forward)
create table retention_state (
    edge_week date not null,              -- interactions before this Monday are purged
    edge_at   timestamptz not null,       -- that Monday 00:00 in the company time zone
    frozen_week date not null             -- weekly rows before this Monday are frozen
);  -- (when each purge ran, and what it deleted: the runs view, scope = retention)

-- score_weekly rows of the frozen weeks (columns as of this migration; a later column of
-- score_weekly reads NULL for frozen weeks)
create table retained_score_weekly (
    week_start         date not null,
    account_id         varchar,
    owner_email        varchar,
    rep_email          varchar,
    emails             integer,
    meetings           integer,
    contacts           integer,
    score              double,
    level              varchar,
    reasons            varchar[],
    account_name       varchar,
    owner_name         varchar,
    rep_name           varchar,
    events             integer,
    backdoor           integer,
    coverage_gap       integer,
    looped_in          integer,
    rep_initiated      integer,
    customer_initiated integer,
    earlier_weeks      integer,
    heads_ups          integer
);

-- score_collaboration_weekly rows of the frozen weeks
create table retained_collaboration_weekly (
    week_start   date not null,
    account_id   varchar,
    account_name varchar,
    owner_email  varchar,
    owner_name   varchar,
    rep_emails   varchar[],
    interactions integer,
    emails       integer,
    meetings     integer,
    contacts     integer
);
