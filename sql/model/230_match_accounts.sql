-- grain: one row per account, with its owner resolved to a rep (through aliases) where possible
-- kind: full
create or replace table match_accounts as
with accounts as (
    -- the CRM import rejects duplicate accounts; keep the first line if one slips through
    select *
    from crm_accounts
    qualify row_number() over (partition by account_id order by line nulls last) = 1
),

final as (
    select
        a.account_id,
        coalesce(a.account_name, a.account_id) as account_name,
        coalesce(r.rep_email, a.owner_email) as owner_email,  -- canonical when a rep
        a.owner_email as owner_email_listed,
        coalesce(r.rep_name, r.rep_email, a.owner_email) as owner_name,
        r.rep_email is not null as owner_in_reps,
        coalesce(r.rep_active, false) as owner_active
    from accounts as a
    left join stg_rep_addresses as r on r.address = a.owner_email
)

select * from final
