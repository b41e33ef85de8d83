-- grain: one row per extract window (scope = extract) or whole run (scope = run) overlapping
-- the week in the company time zone ($tz): the latest attempt of each, so a rerun supersedes
-- a failure.
with week as (
    select timezone($tz, $week::timestamp) as lo,
           timezone($tz, ($week + interval 7 day)::timestamp) as hi
),
attempts as (
    select r.*,
           row_number() over (
               partition by r.scope, r.source, r.mailbox, r.window_start, r.window_end
               order by r.started_at desc nulls last, r.finished_at desc nulls last,
                        r.run_id desc
           ) as attempt
    from runs as r, week as w
    where r.window_start < w.hi and r.window_end > w.lo
)
select scope, source, mailbox, timezone($tz, window_start) as window_start,
       timezone($tz, window_end) as window_end, status, error
from attempts
where attempt = 1
order by scope, source nulls first, mailbox nulls first, window_start, window_end
