-- grain: one row per (rep, period) of the rep's manager and activity (rule 10)
-- kind: full
-- From every snapshot (crm_rep_history; without history the latest snapshot for all time);
-- reps are those of the latest snapshot (identity), managers resolved through aliases. The
-- first period reaches back to -infinity, the last forward to infinity.
create or replace table match_rep_periods as
with facts as (
    select as_of as changed_at, email, manager_email, coalesce(active, true) as active
    from crm_rep_history
    union all
    select '-infinity'::timestamptz, email, manager_email, coalesce(active, true)
    from crm_reps
    where not exists (select 1 from crm_rep_history)
),

resolved as (
    select
        f.changed_at,
        r.rep_email,
        coalesce(m.rep_email, f.manager_email) as manager_email,
        f.active
    from facts as f
    join stg_rep_addresses as r on r.address = f.email and r.rep_email = f.email
    left join stg_rep_addresses as m on m.address = f.manager_email
),

changes as (
    select
        *,
        lag({'m': manager_email, 'a': active})
            over (partition by rep_email order by changed_at) as previous
    from resolved
    qualify previous is distinct from {'m': manager_email, 'a': active}
),

final as (
    select
        rep_email,
        manager_email,
        active,
        case when previous is null then '-infinity'::timestamptz else changed_at end
            as valid_from,
        coalesce(lead(changed_at) over (partition by rep_email order by changed_at),
                 'infinity'::timestamptz) as valid_until
    from changes
)

select * from final
