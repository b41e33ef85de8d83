-- grain: one row per pair among the top $limit of each owner or rep (<key>: owner_email or
-- rep_email, from a fixed list in reports/data.py), with its position and the person's total.
-- <only> is `true` or a list_contains($only, ...) test restricting the people. Ranked on the
-- keys alone, then joined to the wide rows by pairs.sql (<ranked>).
select account_id, rep_email, owner_email,
       row_number() over (partition by {key}
                          order by score desc, account_id, rep_email, owner_email) as pos,
       count(*) over (partition by {key}) as total
from overlap_weekly
where week_start = $week and {only}
qualify pos <= $limit
