-- grain: one row per week (this and last) overall and per owner: high-risk pairs.
select week_start, owner_email, grouping(owner_email) as overall, count(*) as pairs
from overlap_weekly
where week_start in ($week, $previous) and level = 'high'
group by grouping sets ((week_start), (week_start, owner_email))
order by week_start, overall, owner_email
