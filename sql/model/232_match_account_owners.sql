-- grain: one row per (account, ownership period): who owned the account when (rule 10)
-- kind: full
-- Periods come from every snapshot's owner (crm_account_history; a warehouse without history
-- uses the latest snapshot for all time) and the dated owner facts (crm_ownership: ownership.csv,
-- or a CRM API's owner history, source crm_api), which win a tie
-- with a snapshot; a fact repeating the owner before it starts nothing. The first period
-- reaches back to -infinity ("before the earliest known fact the earliest applies"), the last
-- forward to infinity. Accounts are those of the latest snapshot (identity).
create or replace table match_account_owners as
with snapshot_facts as (
    select as_of as changed_at, account_id, owner_email, 'snapshot' as source, 1 as precedence
    from crm_account_history
    union all
    select '-infinity'::timestamptz, account_id, owner_email, 'snapshot', 1
    from crm_accounts
    where not exists (select 1 from crm_account_history)
),

csv_facts as (
    select valid_from, account_id, owner_email, coalesce(source, 'ownership_csv'), 0
    from crm_ownership
),

facts as (
    select *
    from (select * from snapshot_facts union all select * from csv_facts) as f
    semi join match_accounts as a on a.account_id = f.account_id
    where f.owner_email is not null
    qualify row_number() over (
        partition by f.account_id, f.changed_at order by f.precedence
    ) = 1
),

resolved as (
    select f.*, coalesce(r.rep_email, f.owner_email) as owner_key
    from facts as f
    left join stg_rep_addresses as r on r.address = f.owner_email
),

changes as (
    -- consecutive facts with the same owner are one period (the first one's source)
    select *, lag(owner_key) over (partition by account_id order by changed_at) as previous_owner
    from resolved
    qualify previous_owner is null or previous_owner <> owner_key
),

final as (
    select
        c.account_id,
        c.owner_key as owner_email,  -- canonical when a rep
        c.owner_email as owner_email_listed,
        coalesce(r.rep_name, r.rep_email, c.owner_email) as owner_name,
        r.rep_email is not null as owner_in_reps,
        case when c.previous_owner is null then '-infinity'::timestamptz
             else c.changed_at end as valid_from,
        coalesce(lead(c.changed_at) over w, 'infinity'::timestamptz) as valid_until,
        c.previous_owner as previous_owner_email,
        c.source
    from changes as c
    left join stg_rep_addresses as r on r.address = c.owner_email
    window w as (partition by c.account_id order by c.changed_at)
)

select * from final
