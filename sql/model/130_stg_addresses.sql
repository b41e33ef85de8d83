-- grain: one row per distinct address named by a participant, split into local part and domain
-- kind: set by address; scope gone_addresses
create or replace table stg_addresses as
with seen as (
    select distinct address
    from stg_participants
),

split as (
    -- addresses are already normalized (lower-case, IDN in punycode); the domain follows the
    -- last '@' (a quoted local part may contain one)
    select
        address,
        regexp_extract(address, '^(.*)@[^@]*$', 1) as local_part,
        regexp_extract(address, '@([^@]*)$', 1) as domain
    from seen
),

final as (
    select
        address,
        local_part,
        domain,
        -- system senders: noreply/no-reply/donotreply/do-not-reply (any '-', '_', '.'),
        -- mailer-daemon, postmaster; a '+suffix' does not hide them
        coalesce(regexp_matches(
            split_part(local_part, '+', 1),
            '^(no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer[-_.]?daemon|postmaster)$'
        ), false) as is_system
    from split
)

select * from final
