-- grain: one row per week (this and last) overall and per owner: joint conversations.
select week_start, owner_email, grouping(owner_email) as overall,
       sum(interactions) as interactions
from collaboration_weekly
where week_start in ($week, $previous)
group by grouping sets ((week_start), (week_start, owner_email))
order by week_start, overall, owner_email
