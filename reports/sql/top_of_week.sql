-- grain: one row per pair (account, rep, owner) among the week's top $limit by score, with
-- its position and the number of pairs in the week. A top-N, no full sort. Fills <ranked> of
-- pairs.sql.
select account_id, rep_email, owner_email,
       row_number() over (order by score desc, account_id, rep_email, owner_email) as pos,
       (select count(*) from overlap_weekly where week_start = $week) as total
from (
    select account_id, rep_email, owner_email, score from overlap_weekly
    where week_start = $week
    order by score desc, account_id, rep_email, owner_email
    limit $limit
)
