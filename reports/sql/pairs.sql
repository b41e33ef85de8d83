-- grain: one row per chosen pair (the rows of <ranked>: top_of_week.sql or
-- top_per_person.sql), wide, with the pair's history for its sparkline: one value per week,
-- summed in case an account changed owner. Rows come grouped by the person (<order>), ranked
-- within it.
with ranked as materialized ({ranked}),
history as (
    select account_id, rep_email,
           list(week_start order by week_start) as h_weeks,
           list(score order by week_start) as h_scores,
           list(events order by week_start) as h_events
    from (
        select h.account_id, h.rep_email, h.week_start,
               sum(h.score) as score, sum(h.events) as events
        from overlap_weekly as h
        semi join ranked as r on r.account_id = h.account_id and r.rep_email = h.rep_email
        where h.week_start between $first and $week
        group by h.account_id, h.rep_email, h.week_start
    )
    group by account_id, rep_email
)
select w.account_id, w.account_name, w.owner_email, w.owner_name, w.rep_email, w.rep_name,
       w.emails, w.meetings, w.contacts, w.score, w.level, w.reasons, w.events,
       w.backdoor, w.coverage_gap, w.looped_in, w.rep_initiated, w.customer_initiated,
       r.total, h.h_weeks, h.h_scores, h.h_events, w.earlier_weeks, w.heads_ups
from ranked as r
join overlap_weekly as w
    on w.week_start = $week and w.account_id = r.account_id and w.rep_email = r.rep_email
    and w.owner_email is not distinct from r.owner_email
left join history as h on h.account_id = r.account_id and h.rep_email = r.rep_email
order by {order}r.pos
