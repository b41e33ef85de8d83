-- grain: one row per overlap event (interaction, account, rep) of a reported week
-- (owner_email: the owner at the interaction's time; heads_up is false and approval_reason
-- null until the signals issue lands)
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
    former_owner,
    heads_up,
    approval_reason,
    account_name,
    thread_id
from overlap_event_facts
where week_start in (select week_start from reported_weeks)
   -- a warehouse no run has written (a seeded test warehouse): every week
   or not exists (select 1 from reported_weeks)
