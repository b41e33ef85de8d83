-- grain: one row per event whose rep is the owner, on the account's team or in the owner's chain
with team as (
    select t.account_id, coalesce(r.rep_email, t.rep_email) as rep_email
    from crm_account_team as t
    left join stg_rep_addresses as r on r.address = t.rep_email
),

final as (
    select e.interaction_id, e.account_id, e.rep_email, 'owner' as why
    from overlap_event_facts as e
    where e.rep_email = e.owner_email
    union all
    select e.interaction_id, e.account_id, e.rep_email, 'team'
    from overlap_event_facts as e
    join team as t on t.account_id = e.account_id and t.rep_email = e.rep_email
    union all
    select e.interaction_id, e.account_id, e.rep_email, x.reason
    from overlap_event_facts as e
    join match_rep_exclusions as x on x.account_id = e.account_id and x.rep_email = e.rep_email
)

select * from final
