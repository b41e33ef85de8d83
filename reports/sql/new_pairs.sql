-- grain: one row per week (this and last) overall and per owner: new pairs — no events for
-- the account and rep in the 4 weeks before (the weeks persistence counts).
select week_start, owner_email, grouping(owner_email) as overall, count(*) as pairs
from overlap_weekly
where week_start in ($week, $previous) and earlier_weeks = 0
group by grouping sets ((week_start), (week_start, owner_email))
order by week_start, overall, owner_email
