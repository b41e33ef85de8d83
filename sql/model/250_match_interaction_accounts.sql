-- grain: one row per (customer interaction, account with at least one of its people present)
-- kind: incremental by interaction_id; scope threads
create or replace table match_interaction_accounts as
with customer_interactions as (
    select interaction_id, kind, occurred_at, week_start, thread_id
    from match_interactions
    where is_customer
),

account_people as (
    select
        p.interaction_id,
        p.account_id,
        -- (interaction, address) is unique in match_participants: no list_distinct needed
        list_sort(list(p.address)) as contact_emails,
        bool_or(p.role in ('from', 'organizer')) as customer_started
    from match_participants as p
    semi join customer_interactions as ci on ci.interaction_id = p.interaction_id
    where p.party = 'account_contact'
    group by p.interaction_id, p.account_id
),

present as (
    -- which owners took part, under any of their addresses (declined, rooms and system senders
    -- did not); only owners are looked up, so only their rows are de-duplicated
    select distinct p.interaction_id, p.person_key
    from match_participants as p
    semi join match_accounts as a on a.owner_email = p.person_key
    where p.party <> 'excluded'
),

final as (
    select
        ap.interaction_id,
        ap.account_id,
        ci.kind,
        ci.occurred_at,
        ci.week_start,
        ci.thread_id,
        a.account_name,
        a.owner_email,
        a.owner_name,
        a.owner_in_reps,
        a.owner_active,
        ap.contact_emails,
        ap.customer_started,
        pr.person_key is not null as owner_present
    from account_people as ap
    join customer_interactions as ci on ci.interaction_id = ap.interaction_id
    join match_accounts as a on a.account_id = ap.account_id
    left join present as pr
        on pr.interaction_id = ap.interaction_id and pr.person_key = a.owner_email
)

select * from final
