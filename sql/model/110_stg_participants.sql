-- grain: one row per participant entry of one copy (a copy may name an address twice)
-- kind: incremental by source, mailbox, kind, copy_id; scope copies
create or replace table stg_participants as
with entries as (
    -- the participants stay in raw_copies; stg_copies gives the copy its interaction
    select
        c.interaction_id,
        c.kind,
        c.source,
        c.mailbox,
        c.copy_id,
        unnest(r.participants) as p
    from raw_copies as r
    join stg_copies as c
        on c.source = r.source and c.mailbox = r.mailbox and c.kind = r.kind
       and c.copy_id = r.copy_id
),

final as (
    select
        interaction_id,
        kind,
        source,
        mailbox,
        copy_id,
        p.address as address,
        p.name as name,
        p.role as role,
        p.response as response,
        coalesce(p.is_resource, false) as is_resource
    from entries
    where coalesce(p.address, '') <> ''
)

select * from final
