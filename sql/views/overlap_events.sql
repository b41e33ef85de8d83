-- grain: one row per overlap event (interaction, account, rep)
create or replace view overlap_events as
select
    interaction_id,
    kind,
    occurred_at,
    week_start,
    account_id,
    owner_email,
    rep_email,
    initiated_by,
    category,
    contact_emails,
    account_name,
    thread_id
from overlap_event_facts
