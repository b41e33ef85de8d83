-- grain: one row per week (this and last) overall (owner_email null, overall = 1) and per
-- owner: headline counts of overlap events, accounts affected and reps involved.
select week_start, owner_email, grouping(owner_email) as overall,
       count(*) as events,
       count(distinct account_id) as accounts,
       count(distinct rep_email) as reps
from overlap_events
where week_start in ($week, $previous)
  and category in ('backdoor', 'coverage_gap', 'looped_in')  -- risk only (not approved, handoff)
group by grouping sets ((week_start), (week_start, owner_email))
order by week_start, overall, owner_email
