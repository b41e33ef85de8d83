-- grain: one row per (week, account, rep) whose weekly totals differ from its events
with from_events as (
    select
        week_start,
        account_id,
        rep_email,
        count(*) as events,
        count(*) filter (where kind = 'email') as emails,
        count(*) filter (where kind = 'meeting') as meetings
    from overlap_event_facts
    where category not in ('handoff', 'approved')  -- not risk: no weekly score
    group by week_start, account_id, rep_email
),

final as (
    select
        coalesce(e.week_start, w.week_start) as week_start,
        coalesce(e.account_id, w.account_id) as account_id,
        coalesce(e.rep_email, w.rep_email) as rep_email,
        e.events as event_rows,
        w.events as weekly_events
    from from_events as e
    full join score_weekly as w
        on w.week_start = e.week_start
       and w.account_id = e.account_id
       and w.rep_email = e.rep_email
    where e.events is distinct from w.events
       or e.emails is distinct from w.emails
       or e.meetings is distinct from w.meetings
       or w.backdoor + w.coverage_gap + w.looped_in <> w.events
)

select * from final
