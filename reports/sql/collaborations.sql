-- grain: one row per account with joint conversations, at most $limit per group (<key>:
-- week_start for the whole week or owner_email), most joint conversations first, with the
-- group's totals.
select account_id, account_name, owner_email, owner_name, rep_emails,
       interactions, emails, meetings, contacts,
       count(*) over (partition by {key}) as total,
       sum(interactions) over (partition by {key}) as joint,
       row_number() over (partition by {key}
                          order by interactions desc, meetings desc, account_id, owner_email)
           as pos
from collaboration_weekly
where week_start = $week
qualify pos <= $limit
order by {key}, pos
