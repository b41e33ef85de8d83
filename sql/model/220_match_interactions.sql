-- grain: one row per interaction (an email or a meeting occurrence), merged over its copies
-- kind: incremental by interaction_id; scope threads; over thread_groups
create or replace table match_interactions as
with senders as (
    -- From of an email, organizer of a meeting (rule 7)
    select
        interaction_id,
        min(address) as sender,
        min(person_key) as sender_key,
        bool_or(is_system) as sender_is_system
    from match_participants
    where role in ('from', 'organizer')
    group by interaction_id
),

parties as (
    select
        interaction_id,
        bool_or(party = 'rep') as has_rep,
        bool_or(party = 'account_contact') as has_contact
    from match_participants
    group by interaction_id
),

copies as (
    select
        c.*,
        -- the representative copy: the sender's / organizer's own, then a header date, then
        -- the smallest mailbox
        {'not_sender': coalesce(r.rep_email, c.mailbox) is distinct from s.sender_key,
         'not_header': c.date_source is distinct from 'header',
         'mailbox': c.mailbox, 'source': c.source, 'copy_id': c.copy_id} as copy_rank
    from stg_copies as c
    left join stg_rep_addresses as r on r.address = c.mailbox
    left join senders as s on s.interaction_id = c.interaction_id
),

merged as (
    select
        interaction_id,
        any_value(kind) as kind,
        arg_min(
            {'occurred_at': occurred_at, 'ended_at': ended_at, 'subject': subject}, copy_rank
        ) as representative,
        min(source) as source,
        list_sort(list_distinct(list(source))) as sources,
        list_sort(list_distinct(list(mailbox))) as mailboxes,
        cast(count(*) as integer) as copies,
        min(message_id) as message_id,
        min(ical_uid) as ical_uid,
        min(original_start) as original_start,
        min(bulk_reason) as header_bulk_reason,
        bool_or(cancelled) as cancelled,  -- cancelled in any copy
        -- rule 6 from the headers: the References root (else In-Reply-To) of any copy — a
        -- Graph Sent Items copy has no headers, another mailbox's copy of the message may
        -- (stg_copies.thread_key falls back to the copy's own Message-ID without them)
        min(thread_key) filter (where thread_key is distinct from message_id) as header_thread_key,
        -- an interaction without its own thread key is a thread of its own
        coalesce(min(thread_key), 'interaction|' || interaction_id) as own_thread_key
    from copies
    group by interaction_id
),

provider_members as (
    select distinct interaction_id, source, provider_thread_id
    from stg_copies
    where kind = 'email' and provider_thread_id is not null
),

provider_threads as (
    -- Gmail threadId / Graph conversationId, rule 6's last resort: a group takes the thread
    -- key of its earliest member, members with a header-derived key first (the root, whose
    -- key is its own Message-ID, has no References: its earliest reply names it), so a
    -- member without headers joins the thread its headers would have named
    select
        p.source,
        p.provider_thread_id,
        min({'no_header': m.header_thread_key is null,
             'occurred_at': m.representative.occurred_at,
             'key': coalesce(m.header_thread_key, m.own_thread_key)}) as group_rank
    from provider_members as p
    join merged as m on m.interaction_id = p.interaction_id
    group by p.source, p.provider_thread_id
),

thread_keys as (
    -- an interaction in several groups (sources) takes the best-ranked one
    select p.interaction_id, struct_extract(min(t.group_rank), 'key') as group_thread_key
    from provider_members as p
    join provider_threads as t
        on t.source = p.source and t.provider_thread_id = p.provider_thread_id
    group by p.interaction_id
),

final as (
    select
        m.interaction_id,
        m.kind,
        m.representative.occurred_at as occurred_at,
        -- ISO week: the Monday (00:00 in the company time zone) of the local date
        cast(date_trunc('week', timezone($timezone, m.representative.occurred_at)) as date) as week_start,
        case
            -- rule 6: the References root, else In-Reply-To, else the provider's thread
            when m.kind = 'email' then
                md5(coalesce(m.header_thread_key, t.group_thread_key, m.own_thread_key))
        end as thread_id,
        m.source,
        m.sources,
        m.mailboxes,
        m.copies,
        m.message_id,
        m.ical_uid,
        m.original_start,
        m.representative.ended_at as ended_at,
        m.representative.subject as subject,
        coalesce(
            m.header_bulk_reason,
            case when coalesce(s.sender_is_system, false) then 'system sender' end
        ) as bulk_reason,
        m.kind = 'meeting' and m.cancelled as cancelled,
        -- rule 5: a customer interaction has an account's person and a rep, is not bulk or
        -- automated, and is not a cancelled meeting
        coalesce(p.has_contact, false) and coalesce(p.has_rep, false)
            and m.header_bulk_reason is null and not coalesce(s.sender_is_system, false)
            and not (m.kind = 'meeting' and m.cancelled) as is_customer,
        s.sender,
        s.sender_key,
        m.header_bulk_reason is not null or coalesce(s.sender_is_system, false) as is_bulk,
        coalesce(p.has_rep, false) as has_rep,
        coalesce(p.has_contact, false) as has_contact
    from merged as m
    left join senders as s on s.interaction_id = m.interaction_id
    left join parties as p on p.interaction_id = m.interaction_id
    left join thread_keys as t on t.interaction_id = m.interaction_id
)

select
    *,
    -- the first 64 bits of the two md5 ids: the narrow keys an incremental build finds
    -- history rows by (scanning a 32-character id costs ~8x more at 50 weeks of history;
    -- Build.history_rows in overlap/incremental/context.py, docs/performance.md)
    cast('0x' || left(interaction_id, 16) as ubigint) as interaction_hash,
    cast('0x' || left(thread_id, 16) as ubigint) as thread_hash
from final
