-- grain: one row per reason a record was quarantined by an extract whose window overlaps the
-- week (company time zone $tz): its records and mailboxes, most records first. Same scope as
-- quarantine_files.sql.
with week as (
    select timezone($tz, $week::timestamp) as lo,
           timezone($tz, ($week + interval 7 day)::timestamp) as hi
),
found as (
    select distinct q.source, q.mailbox, q.locator, q.reason
    from raw_quarantine as q, week as w
    where q.window_start < w.hi and q.window_end > w.lo
)
select reason, count(*) as records, count(distinct (source, mailbox)) as mailboxes
from found
group by reason
order by records desc, reason
