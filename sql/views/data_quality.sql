-- grain: one row per data-quality finding (kind × item, per source and mailbox where it applies)
create or replace view data_quality as
with domains as (
    select
        kind,
        item,
        detail,
        volume,
        cast(null as varchar) as source,
        cast(null as varchar) as mailbox,
        cast(null as varchar) as run_id
    from match_domain_findings
),

quarantined as (
    select
        'quarantined' as kind,
        reason as item,
        cast(null as varchar) as detail,
        count(distinct locator) as volume,
        source,
        mailbox,
        -- raw rows carry no run id (a rerun must give identical tables); see runs for when
        cast(null as varchar) as run_id
    from raw_quarantine
    group by source, mailbox, reason
),

latest_extracts as (
    -- the latest extract of each source × mailbox
    select *
    from run_log
    where scope = 'extract'
    qualify row_number() over (
        partition by source, mailbox order by started_at desc nulls last, run_id desc
    ) = 1
),

mailboxes as (
    select
        case status when 'failed' then 'mailbox_failed' else 'mailbox_skipped' end as kind,
        mailbox as item,
        error as detail,
        cast(null as bigint) as volume,
        source,
        mailbox,
        run_id
    from latest_extracts
    where status in ('failed', 'skipped')
),

owners as (
    -- an owner (in accounts.csv or ownership.csv, at any time) missing from reps.csv
    select
        'owner_not_in_reps' as kind,
        owner_email_listed as item,
        string_agg(distinct account_id, ', ' order by account_id) as detail,
        cast(count(distinct account_id) as bigint) as volume,
        cast(null as varchar) as source,
        cast(null as varchar) as mailbox,
        cast(null as varchar) as run_id
    from match_account_owners
    where not owner_in_reps
    group by owner_email_listed
),

final as (
    select * from domains
    union all
    select * from owners
    union all
    select * from quarantined
    union all
    select * from mailboxes
)

select * from final
