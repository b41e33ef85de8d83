-- grain: one row per (account, ownership period): the ownership history the rules used
-- (rule 10). valid_from is NULL for the first period (it applies since always: before the
-- earliest known fact the earliest applies), valid_until NULL for the current one;
-- source: snapshot | ownership_csv | crm_api.
create or replace view account_owners as
select
    account_id,
    owner_email,
    case when valid_from = '-infinity'::timestamptz then null else valid_from end as valid_from,
    case when valid_until = 'infinity'::timestamptz then null else valid_until end
        as valid_until,
    source,
    previous_owner_email,
    owner_email_listed,
    owner_name,
    owner_in_reps
from match_account_owners
