-- grain: one row per (customer interaction, account) where the owner and other reps took part
-- kind: incremental by interaction_id; scope accounts
create or replace table overlap_collaboration as
with together as (
    select *
    from match_interaction_accounts
    where owner_present
),

other_reps as (
    select distinct interaction_id, rep_email
    from match_participants
    where party = 'rep'
),

final as (
    select
        t.interaction_id,
        t.account_id,
        any_value(t.kind) as kind,
        any_value(t.occurred_at) as occurred_at,
        any_value(t.week_start) as week_start,
        any_value(t.account_name) as account_name,
        any_value(t.owner_email) as owner_email,
        any_value(t.owner_name) as owner_name,
        list_sort(list(o.rep_email)) as rep_emails,
        any_value(t.contact_emails) as contact_emails
    from together as t
    join other_reps as o
        on o.interaction_id = t.interaction_id and o.rep_email <> t.owner_email
    group by t.interaction_id, t.account_id
)

select * from final
