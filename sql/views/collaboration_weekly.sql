-- grain: one row per (week_start, account) where the owner and other reps met the customer together
create or replace view collaboration_weekly as
select
    week_start,
    account_id,
    account_name,
    owner_email,
    owner_name,
    rep_emails,
    interactions,
    emails,
    meetings,
    contacts
from score_collaboration_weekly
