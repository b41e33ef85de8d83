-- grain: one row per interaction (an email, or one occurrence of a meeting)
create or replace view interactions as
select
    interaction_id,
    kind,
    occurred_at,
    week_start,
    thread_id,
    source,
    sources,
    mailboxes,
    copies,
    message_id,
    ical_uid,
    original_start,
    ended_at,
    subject,
    bulk_reason,
    cancelled,
    is_customer
from match_interactions
