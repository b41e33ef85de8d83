-- grain: one row per event whose rep, or every one of whose account's people, is not a participant
with reps as (
    select interaction_id, rep_email
    from match_participants
    where party = 'rep'
),

contacts as (
    select distinct interaction_id, account_id
    from match_participants
    where party = 'account_contact'
),

final as (
    select e.interaction_id, e.account_id, e.rep_email, 'rep missing' as why
    from overlap_event_facts as e
    anti join reps as r on r.interaction_id = e.interaction_id and r.rep_email = e.rep_email
    union all
    select e.interaction_id, e.account_id, e.rep_email, 'no contact of the account'
    from overlap_event_facts as e
    anti join contacts as c on c.interaction_id = e.interaction_id and c.account_id = e.account_id
)

select * from final
