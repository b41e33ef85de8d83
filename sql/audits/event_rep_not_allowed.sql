-- grain: one row per event whose rep was the owner, on the account's team or in the owner's
-- chain at the interaction's time (rule 10)
select e.interaction_id, e.account_id, e.rep_email, 'owner' as why
from overlap_event_facts as e
where e.rep_email = e.owner_email
union all
select e.interaction_id, e.account_id, e.rep_email, x.reason
from overlap_event_facts as e
join match_rep_exclusions as x
    on x.account_id = e.account_id and x.rep_email = e.rep_email
   and x.valid_from <= e.occurred_at and e.occurred_at < x.valid_until
