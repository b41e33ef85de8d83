-- grain: one row per participant whose party is unknown or inconsistent with its columns
select interaction_id, address, party, account_id, rep_email
from match_participants
where party is null
   or party not in ('rep', 'internal', 'account_contact', 'unmatched', 'freemail', 'excluded')
   or (party = 'account_contact') <> (account_id is not null)
   or (party = 'rep') <> (rep_email is not null)
