-- grain: one row per data_quality finding, fully ordered.
select kind, item, detail, volume, source, mailbox, run_id
from data_quality
order by kind, volume desc nulls last, item nulls last, detail nulls last,
         source nulls last, mailbox nulls last, run_id nulls last
