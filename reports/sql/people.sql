-- grain: one row per owner (or rep: <key>, <name>, <other> from a fixed list in
-- reports/data.py) with a pair this week, with totals over all of their pairs; most at risk
-- first: the highest level of any pair, then the sum of their pairs' scores.
select {key} as email, min({name}) as name, count(*) as pairs,
       count(distinct account_id) as accounts, count(distinct {other}) as people,
       sum(events) as events,
       min(case level when 'high' then 0 when 'medium' then 1 else 2 end) as level_rank,
       sum(cast(score as decimal(18, 6))) as total_score  -- exact: no order-dependent rounding
from overlap_weekly
where week_start = $week
group by {key}
order by level_rank, total_score desc, email
