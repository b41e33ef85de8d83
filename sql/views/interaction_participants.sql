-- grain: one row per (interaction, address), with the party it plays
create or replace view interaction_participants as
select
    interaction_id,
    address,
    role,
    response,
    party,
    account_id,
    rep_email,
    name
from match_participants
