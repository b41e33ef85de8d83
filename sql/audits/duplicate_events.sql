-- grain: one row per (interaction, account, rep) with more than one event
select interaction_id, account_id, rep_email, count(*) as rows
from overlap_event_facts
group by interaction_id, account_id, rep_email
having count(*) > 1
