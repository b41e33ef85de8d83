-- grain: one row per (interaction, address) listed more than once
select interaction_id, address, count(*) as rows
from match_participants
group by interaction_id, address
having count(*) > 1
