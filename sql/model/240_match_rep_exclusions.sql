-- grain: one row per (account, rep, reason) where the rep's contact is not overlap (rule 5)
-- kind: full
create or replace table match_rep_exclusions as
with recursive managers as (
    select r.rep_email, m.rep_email as manager_email
    from stg_rep_addresses as r
    join stg_rep_addresses as m on m.address = r.manager_email
    where r.address = r.rep_email  -- one row per rep (its own address)
),

owners as (
    select distinct owner_email
    from match_accounts
    where owner_in_reps
),

chain (owner_email, rep_email, path) as (
    -- the owner's manager, that manager's manager, …; `path` stops a cycle in reps.csv
    select o.owner_email, m.manager_email, [o.owner_email, m.manager_email]
    from owners as o
    join managers as m on m.rep_email = o.owner_email
    where $management_chain::boolean and m.manager_email <> o.owner_email
    union all
    select c.owner_email, m.manager_email, list_append(c.path, m.manager_email)
    from chain as c
    join managers as m on m.rep_email = c.rep_email
    where not list_contains(c.path, m.manager_email)
),

team as (
    select t.account_id, coalesce(r.rep_email, t.rep_email) as rep_email
    from crm_account_team as t
    left join stg_rep_addresses as r on r.address = t.rep_email
),

final as (
    select distinct account_id, owner_email as rep_email, 'owner' as reason
    from match_accounts
    where owner_email is not null
    union
    select distinct account_id, rep_email, 'team' as reason
    from team
    union
    select distinct a.account_id, c.rep_email, 'management_chain' as reason
    from match_accounts as a
    join chain as c on c.owner_email = a.owner_email
)

select * from final
