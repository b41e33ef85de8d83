-- grain: one row per week × level of the trend's weeks: the overlap events.
select week_start, level, sum(events) as events
from overlap_weekly
where week_start between $first and $week
group by week_start, level
order by week_start, level
