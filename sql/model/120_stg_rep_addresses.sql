-- grain: one row per address that names a rep (the rep's own email or one of their aliases)
-- kind: full
create or replace table stg_rep_addresses as
with reps as (
    -- the CRM import rejects duplicate reps; keep the first line if one slips through
    select *
    from crm_reps
    qualify row_number() over (partition by email order by line nulls last) = 1
),

own as (
    select email as address, email as rep_email, 0 as precedence
    from reps
),

aliases as (
    select a.alias as address, a.rep_email, 1 as precedence
    from crm_rep_aliases as a
    semi join reps as r on r.email = a.rep_email
),

resolved as (
    -- a rep's own address beats someone else's alias; ties break on the smaller rep address
    select
        address,
        arg_min(rep_email, {'precedence': precedence, 'rep_email': rep_email}) as rep_email
    from (select * from own union all select * from aliases)
    group by address
),

final as (
    select
        x.address,
        x.rep_email,
        r.name as rep_name,
        coalesce(r.active, true) as rep_active,  -- `active` defaults to true
        r.manager_email
    from resolved as x
    join reps as r on r.email = x.rep_email
)

select * from final
