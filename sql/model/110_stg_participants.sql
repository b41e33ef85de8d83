-- grain: one row per participant entry of one copy (a copy may name an address twice)
create or replace table stg_participants as
with entries as (
    select
        interaction_id,
        kind,
        source,
        mailbox,
        copy_id,
        unnest(participants) as p
    from stg_copies
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
