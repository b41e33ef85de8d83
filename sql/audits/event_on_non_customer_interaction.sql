-- grain: one row per event on a missing, cancelled, bulk or internal-only interaction
select e.interaction_id, e.account_id, e.rep_email, i.cancelled, i.bulk_reason, i.is_customer
from overlap_event_facts as e
left join match_interactions as i on i.interaction_id = e.interaction_id
where i.interaction_id is null
   or i.cancelled
   or i.is_bulk
   or not i.is_customer
