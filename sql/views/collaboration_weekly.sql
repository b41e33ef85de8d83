-- grain: one row per (week_start, account) where the owner and other reps met the customer together, of a reported week
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
-- a frozen week (retention, sql/schema/006_retention.sql): its rows as they were reported
from (
    select * from score_collaboration_weekly
    where week_start not in (select week_start from retained_collaboration_weekly)
    union all by name
    select * from retained_collaboration_weekly
)
where week_start in (select week_start from reported_weeks)
   -- a warehouse no run has written (a seeded test warehouse): every week
   or not exists (select 1 from reported_weeks)
