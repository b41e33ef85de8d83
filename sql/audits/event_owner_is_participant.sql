-- grain: one row per event whose owner at its time (under their address or an alias) took part
with owner_addresses as (
    select a.account_id, a.owner_email as address, a.valid_from, a.valid_until
    from match_account_owners as a
    union
    select a.account_id, a.owner_email_listed, a.valid_from, a.valid_until
    from match_account_owners as a
    union
    select a.account_id, r.address, a.valid_from, a.valid_until
    from match_account_owners as a
    join stg_rep_addresses as r on r.rep_email = a.owner_email
),

final as (
    -- (a semi join on both columns: joined on the address alone, the owners' addresses would
    -- pair with every interaction they took part in)
    select e.interaction_id, e.account_id, e.rep_email, o.address
    from overlap_event_facts as e
    join owner_addresses as o
        on o.account_id = e.account_id
       and o.valid_from <= e.occurred_at and e.occurred_at < o.valid_until
    semi join match_participants as p
        on p.interaction_id = e.interaction_id and p.address = o.address
       and p.party <> 'excluded'
)

select * from final
