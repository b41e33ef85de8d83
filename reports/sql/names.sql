-- grain: one row per rep or owner address: the CRM name the marts carry over the trend's
-- weeks; this week's name wins, and the smallest if they disagree.
select email, coalesce(min(name) filter (where week_start = $week), min(name)) as name
from (
    select week_start, rep_email as email, rep_name as name from overlap_weekly
    where week_start between $first and $week
    union all
    select week_start, owner_email, owner_name from overlap_weekly
    where week_start between $first and $week
    union all
    select week_start, owner_email, owner_name from collaboration_weekly
    where week_start between $first and $week
    union all
    -- every owner of any time (approved collaboration and changed hands name them too)
    select $week, owner_email, owner_name from account_owners
)
where email is not null and name is not null and trim(name) <> ''
group by email
order by email
