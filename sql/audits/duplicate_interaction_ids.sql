-- grain: one row per interaction id held by more than one interaction row
select interaction_id, count(*) as rows
from match_interactions
group by interaction_id
having count(*) > 1
