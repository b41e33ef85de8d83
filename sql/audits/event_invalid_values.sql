-- grain: one row per event with a value outside its domain (category, initiated_by, looped-in meeting)
select interaction_id, account_id, rep_email, kind, category, initiated_by
from overlap_event_facts
where category is null
   or category not in ('backdoor', 'coverage_gap', 'looped_in', 'handoff', 'approved')
   or initiated_by is null
   or initiated_by not in ('rep', 'customer', 'other')
   or (category = 'looped_in' and kind <> 'email')
   or week_start is null
   or len(contact_emails) = 0
   or former_owner is null
   or (category = 'handoff' and not former_owner)
   or heads_up is null
   or ((category = 'approved') <> (approval_reason is not null))
