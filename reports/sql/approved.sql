-- grain: one row per (account, rep, owner) with approved events this week (rule 6: an approval
-- of approvals.csv covered them; teamwork, not risk), with the approval's reason; <key>
-- groups for the digests (week_start or owner_email), at most $limit per group.
select account_id, any_value(account_name) as account_name, owner_email, rep_email,
       string_agg(distinct approval_reason, '; ' order by approval_reason) as reason,
       count(*) as events,
       count(*) filter (where kind = 'meeting') as meetings,
       count(*) over (partition by {key}) as total,
       row_number() over (partition by {key}
                          order by count(*) desc, account_id, rep_email, owner_email) as pos
from overlap_events
where week_start = $week and category = 'approved'
group by account_id, owner_email, rep_email, week_start
qualify pos <= $limit
order by {key}, pos
