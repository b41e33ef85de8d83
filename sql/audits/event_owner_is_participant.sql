-- grain: one row per event whose owner (under their address or an alias) took part
with owner_addresses as (
    select a.account_id, a.owner_email as address
    from match_accounts as a
    union
    select a.account_id, a.owner_email_listed
    from match_accounts as a
    union
    select a.account_id, r.address
    from match_accounts as a
    join stg_rep_addresses as r on r.rep_email = a.owner_email
),

final as (
    select e.interaction_id, e.account_id, e.rep_email, p.address
    from overlap_event_facts as e
    join owner_addresses as o on o.account_id = e.account_id
    join match_participants as p
        on p.interaction_id = e.interaction_id and p.address = o.address
    where p.party <> 'excluded'
)

select * from final
