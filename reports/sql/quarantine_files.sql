-- grain: one row per quarantined record (source × mailbox × locator × reason) set aside by an
-- extract whose window overlaps the week (in the company time zone $tz), with that window, the
-- week's total and the span of all those windows; at most $limit, by reason, source, mailbox,
-- locator.
-- A record that cannot be parsed has no time of its own (often that is the problem), so it
-- belongs to the window of the extract that read it. data_quality sums the windows and
-- locators away, so the quarantine queries read raw_quarantine (reports/README.md).
with week as (
    select timezone($tz, $week::timestamp) as lo,
           timezone($tz, ($week + interval 7 day)::timestamp) as hi
),
found as (
    select distinct q.source, q.mailbox, q.locator, q.reason, q.window_start, q.window_end
    from raw_quarantine as q, week as w
    where q.window_start < w.hi and q.window_end > w.lo
)
select source, mailbox, locator, reason,
       timezone($tz, window_start) as window_start, timezone($tz, window_end) as window_end,
       count(*) over () as total,
       timezone($tz, min(window_start) over ()) as first_start,
       timezone($tz, max(window_end) over ()) as last_end
from found
order by reason, source, mailbox, locator nulls last, window_start, window_end
limit $limit
