-- grain: one row per raw copy (source × mailbox × kind × copy_id), keyed to its interaction (rule 4)
-- kind: incremental by source, mailbox, kind, copy_id; scope copies
create or replace table stg_copies as
with copies as (
    select
        kind,
        source,
        source_kind,
        mailbox,
        copy_id,
        -- Message-ID exact (case kept), trimmed, without <>; '' means absent
        nullif(trim(trim(message_id), '<>'), '') as message_id,
        ical_uid,
        coalesce(original_start, occurred_at) as original_start,
        occurred_at,
        ended_at,
        date_source,
        nullif(trim(thread_root), '') as thread_root,
        nullif(provider_thread_id, '') as provider_thread_id,
        subject,
        nullif(bulk_reason, '') as bulk_reason,
        coalesce(cancelled, false) as cancelled,
        coalesce(participants, []) as participants
    from raw_copies
),

keyed as (
    select
        *,
        case
            when kind = 'meeting' then
                -- series UID + the occurrence's original start, in UTC whatever the session zone
                'meeting|' || ical_uid || '|'
                || strftime(timezone('UTC', original_start), '%Y-%m-%dT%H:%M:%SZ')
            when message_id is not null then 'email|' || message_id
            else
                'email-fallback|'
                || coalesce(list_min([p.address for p in participants if p.role = 'from']), '')
                -- whole seconds since 1970 (Date headers carry no fractions)
                || '|' || cast(cast(floor(epoch(occurred_at)) as bigint) as varchar)
                || '|' || array_to_string(
                    list_sort(list_distinct(
                        [p.address for p in participants if p.role in ('to', 'cc')])), ',')
        end as identity_key
    from copies
),

final as (
    select
        md5(identity_key) as interaction_id,  -- the key itself is not kept (0.06 s at M)
        kind,
        source,
        source_kind,
        mailbox,
        copy_id,
        message_id,
        case when kind = 'meeting' then ical_uid end as ical_uid,
        case when kind = 'meeting' then original_start end as original_start,
        occurred_at,
        ended_at,
        date_source,
        -- rule 6 thread key before provider threads are joined: References root, else own id
        case when kind = 'email' then coalesce(thread_root, message_id) end as thread_key,
        provider_thread_id,
        subject,
        bulk_reason,
        cancelled
    from keyed
)

select * from final
