-- grain: one row per risk event (not approved, not handoff) among at most $limit of each owner's week, with the
-- owner's total: the events of their highest-scoring pairs (ranked as the pairs table),
-- listed in time order. <subject> is the subject column, or null when the caller did not ask
-- for subjects (then <join> is empty and the interactions view is not even joined).
with picked as (
    select e.interaction_id, e.account_id, e.rep_email,
           row_number() over (partition by e.owner_email
                              order by w.score desc nulls last, e.account_id, e.rep_email,
                                       e.occurred_at, e.interaction_id) as pick,
           count(*) over (partition by e.owner_email) as total
    from overlap_events as e
    left join overlap_weekly as w
        on w.week_start = e.week_start and w.account_id = e.account_id
        and w.rep_email = e.rep_email and w.owner_email = e.owner_email
    where e.week_start = $week
      and e.category in ('backdoor', 'coverage_gap', 'looped_in')  -- risk only
    qualify pick <= $limit
)
select e.interaction_id, e.kind, timezone($tz, e.occurred_at) as occurred_local,
       e.account_id, e.account_name, e.owner_email, e.rep_email,
       e.initiated_by, e.category, e.contact_emails, {subject} as subject, p.total,
       e.heads_up
from picked as p
join overlap_events as e
    on e.week_start = $week and e.interaction_id = p.interaction_id
    and e.account_id = p.account_id and e.rep_email = p.rep_email
{join}
order by e.owner_email, e.occurred_at, e.interaction_id, e.account_id, e.rep_email
