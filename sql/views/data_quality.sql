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

owners_not_reps as (
    -- accepted by the import (an owner may have left), but every event on the account then
    -- is a coverage gap: often a typo or a missing reps.csv row. Any owner the rules use, at
    -- any time: accounts.csv's of every snapshot and ownership.csv's (rule 10)
    select distinct
        'owner_not_rep' as kind,
        a.owner_email_listed as item,
        a.account_id as detail,
        cast(null as bigint) as volume,
        cast(null as varchar) as source,
        cast(null as varchar) as mailbox,
        cast(null as varchar) as run_id
    from match_account_owners as a
    where not a.owner_in_reps
),

internal_account_domains as (
    -- an account claiming one of our own domains: its addresses are internal (rule 1), so
    -- the domain never matches the account
    select
        'internal_account_domain' as kind,
        d.domain as item,
        d.account_id as detail,
        cast(null as bigint) as volume,
        cast(null as varchar) as source,
        cast(null as varchar) as mailbox,
        cast(null as varchar) as run_id
    from crm_account_domains as d
    semi join company_domains as c
        on d.domain = c.domain or ends_with(d.domain, '.' || c.domain)
),

non_rep_mailboxes as (
    -- a mailbox that is no rep's address or alias: its mail is read as evidence, but it is
    -- often a misnamed folder or a rep missing from reps.csv
    select
        'mailbox_not_rep' as kind,
        l.mailbox as item,
        cast(null as varchar) as detail,
        cast(null as bigint) as volume,
        l.source,
        l.mailbox,
        l.run_id
    from latest_extracts as l
    anti join stg_rep_addresses as r on r.address = l.mailbox
),

crm_notes as (
    -- what the latest CRM import said about itself (an API CRM: owner history tracking off)
    select
        'crm_note' as kind,
        note as item,
        cast(null as varchar) as detail,
        cast(null as bigint) as volume,
        cast(null as varchar) as source,
        cast(null as varchar) as mailbox,
        cast(null as varchar) as run_id
    from crm_notes
),

broadcasts_ignored as (
    -- rule 5: emails to more than broadcast_recipients recipients from a sender who is
    -- neither a rep nor one of the account's people are no interaction with the account;
    -- per sender and reported week (detail = the week's Monday), volume = emails
    select
        'broadcast_ignored' as kind,
        i.sender as item,
        strftime(b.week_start, '%Y-%m-%d') as detail,
        count(distinct b.interaction_id) as volume,
        cast(null as varchar) as source,
        cast(null as varchar) as mailbox,
        cast(null as varchar) as run_id
    from match_interaction_accounts as b
    join match_interactions as i on i.interaction_id = b.interaction_id
    where b.broadcast
      and (b.week_start in (select week_start from reported_weeks)
           or not exists (select 1 from reported_weeks))
    group by i.sender, b.week_start
),

final as (
    select * from domains
    union all
    select * from quarantined
    union all
    select * from mailboxes
    union all
    select * from owners_not_reps
    union all
    select * from internal_account_domains
    union all
    select * from non_rep_mailboxes
    union all
    select * from crm_notes
    union all
    select * from broadcasts_ignored
)

select * from final
