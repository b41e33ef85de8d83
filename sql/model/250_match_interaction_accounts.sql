-- grain: one row per (customer interaction, account with at least one of its people present)
-- kind: incremental by interaction_id; scope accounts
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
    -- which of the account's owners, of any time, took part, under any of their addresses
    -- (declined, rooms and system senders did not): the owner then, the previous owner of a
    -- handoff, and the dormancy evidence of whoever owns the account later (rule 10)
    select ap.interaction_id, ap.account_id, list_sort(list(distinct o.owner_email)) as owners
    from account_people as ap
    join (select distinct account_id, owner_email from match_account_owners) as o
        on o.account_id = ap.account_id
    semi join match_participants as p
        on p.interaction_id = ap.interaction_id and p.person_key = o.owner_email
       and p.party <> 'excluded'
    group by ap.interaction_id, ap.account_id
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
        o.owner_email,  -- the owner at the interaction's time (rule 10)
        o.owner_name,
        o.owner_in_reps,
        coalesce(rp.active, false) as owner_active,
        ap.contact_emails,
        ap.customer_started,
        list_contains(coalesce(pr.owners, []), o.owner_email) as owner_present,
        o.previous_owner_email,
        o.valid_from as owner_since,
        coalesce(pr.owners, []::varchar[]) as owners_present
    from account_people as ap
    join customer_interactions as ci on ci.interaction_id = ap.interaction_id
    join match_accounts as a on a.account_id = ap.account_id
    asof join match_account_owners as o
        on o.account_id = ap.account_id and ci.occurred_at >= o.valid_from
    asof left join match_rep_periods as rp
        on rp.rep_email = o.owner_email and ci.occurred_at >= rp.valid_from
    left join present as pr
        on pr.interaction_id = ap.interaction_id and pr.account_id = ap.account_id
)

select * from final
