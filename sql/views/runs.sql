-- grain: one row per pipeline run (scope = run) and per source × mailbox extract (scope = extract)
create or replace view runs as
select
    run_id,
    scope,
    source,
    mailbox,
    window_start,
    window_end,
    started_at,
    finished_at,
    status,
    emails,
    meetings,
    quarantined,
    error
from run_log
