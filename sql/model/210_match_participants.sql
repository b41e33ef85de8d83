-- grain: one row per (interaction, address): the union over copies, with its party (rules 1-3)
-- kind: incremental by interaction_id; scope interactions
create or replace table match_participants as
with contacts as (
    -- contacts.csv is keyed by address; a duplicate keeps the smaller account id
    select email, min(account_id) as account_id
    from crm_contacts
    group by email
),

addresses as (
    -- everything about an address that does not depend on the interaction
    select
        a.address,
        a.domain,
        a.is_system,
        r.rep_email,
        r.rep_name,
        coalesce(r.rep_email, a.address) as person_key,  -- a rep's aliases are the rep
        coalesce(d.is_internal, false) as is_internal,
        coalesce(d.is_freemail, false) as is_freemail,
        coalesce(c.account_id, d.account_id) as matched_account_id  -- contacts.csv first
    from stg_addresses as a
    left join stg_rep_addresses as r on r.address = a.address
    left join match_domains as d on d.domain = a.domain
    left join contacts as c on c.email = a.address
),

email_people as (
    -- the union over copies; the strongest role wins: from > to > cc > bcc
    select
        interaction_id,
        address,
        'email' as kind,
        min(case role when 'from' then 1 when 'to' then 2 when 'cc' then 3 else 4 end)
            as role_rank,
        cast(null as varchar) as response,
        bool_or(is_resource) as is_resource,
        min(name) as header_name
    from stg_participants
    where kind = 'email'
    group by interaction_id, address
),

meeting_entries as (
    select
        p.*,
        a.person_key,
        coalesce(m.rep_email, p.mailbox) as mailbox_key
    from stg_participants as p
    join addresses as a on a.address = p.address
    left join stg_rep_addresses as m on m.address = p.mailbox
    where p.kind = 'meeting'
),

organizers as (
    select interaction_id, min(person_key) as organizer_key
    from meeting_entries
    where role = 'organizer'
    group by interaction_id
),

meeting_people as (
    -- organizer > attendee; the response comes from the attendee's own calendar, else the
    -- organizer's, else the smallest mailbox
    select
        e.interaction_id,
        e.address,
        'meeting' as kind,
        min(case e.role when 'organizer' then 1 else 2 end) as role_rank,
        arg_min_null(
            e.response,
            {'authority': case
                              when e.mailbox_key = e.person_key then 0
                              when e.mailbox_key = o.organizer_key then 1
                              else 2
                          end,
             'mailbox': e.mailbox, 'source': e.source, 'copy_id': e.copy_id,
             'unknown': e.response is null}
        ) as response,
        bool_or(e.is_resource) as is_resource,
        min(e.name) as header_name
    from meeting_entries as e
    left join organizers as o on o.interaction_id = e.interaction_id
    group by e.interaction_id, e.address
),

merged as (
    select * from email_people
    union all
    select * from meeting_people
),

classified as (
    select
        m.interaction_id,
        m.address,
        m.kind,
        case m.kind
            when 'email' then
                case m.role_rank when 1 then 'from' when 2 then 'to' when 3 then 'cc' else 'bcc' end
            else case m.role_rank when 1 then 'organizer' else 'attendee' end
        end as role,
        m.response,
        m.is_resource,
        m.header_name,
        m.kind = 'meeting' and m.role_rank = 2 and coalesce(m.response = 'declined', false)
            as is_declined,
        a.*
    exclude (address)
    from merged as m
    join addresses as a on a.address = m.address
),

final as (
    select
        interaction_id,
        address,
        role,
        response,
        case
            when is_resource or is_declined or is_system then 'excluded'
            when rep_email is not null then 'rep'
            when is_internal then 'internal'
            when matched_account_id is not null then 'account_contact'
            when is_freemail then 'freemail'
            else 'unmatched'
        end as party,
        case
            when not (is_resource or is_declined or is_system) and rep_email is null
                 and not is_internal
                then matched_account_id
        end as account_id,
        case when not (is_resource or is_declined or is_system) then rep_email end as rep_email,
        coalesce(rep_name, header_name) as name,
        kind,
        person_key,
        domain,
        is_system,
        is_resource,
        is_declined
    from classified
)

select
    *,
    -- the first 64 bits of the md5 id: the narrow key an incremental build finds an
    -- interaction's rows of history by (as 220's; overlap/incremental/context.py)
    cast('0x' || left(interaction_id, 16) as ubigint) as interaction_hash
from final
