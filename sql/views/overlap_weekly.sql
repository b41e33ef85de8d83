-- grain: one row per (week_start, account, rep) with overlap events, scored, of a reported week
create or replace view overlap_weekly as
select
    week_start,
    account_id,
    owner_email,
    rep_email,
    emails,
    meetings,
    contacts,
    score,
    level,
    reasons,
    account_name,
    owner_name,
    rep_name,
    events,
    backdoor,
    coverage_gap,
    looped_in,
    rep_initiated,
    customer_initiated,
    heads_ups,
    earlier_weeks
-- a frozen week (retention, sql/schema/006_retention.sql): its rows as they were reported
from (
    select * from score_weekly
    where week_start not in (select week_start from retained_score_weekly)
    union all by name
    select * from retained_score_weekly
)
where week_start in (select week_start from reported_weeks)
   -- a warehouse no run has written (a seeded test warehouse): every week
   or not exists (select 1 from reported_weeks)
