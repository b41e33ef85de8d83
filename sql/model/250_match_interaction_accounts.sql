-- grain: one row per (customer interaction, account with at least one of its people present)
-- kind: incremental by interaction_id; scope accounts
-- A broadcast (rule 5: an email to more than $broadcast_recipients recipients whose sender is
-- neither a rep nor one of the account's people) is not an interaction with the account: its
-- row stays (`broadcast`, counted under data quality) with no owner present and no owners of
-- any time present, so it is neither an event, nor teamwork, nor dormancy evidence.
create or replace table match_interaction_accounts as
with customer_interactions as (
    select interaction_id, kind, occurred_at, week_start, thread_id
    from match_interactions
    where is_customer
),

recipients as (
    -- emails: how many addresses From named (To, Cc, Bcc over every copy), and the sender
    select
        p.interaction_id,
        count(*) filter (where p.role in ('to', 'cc', 'bcc')) as recipients,
        any_value(p.account_id) filter (where p.role = 'from') as sender_account_id,
        coalesce(bool_or(p.role = 'from' and p.party = 'rep'), false) as sender_is_rep
    from match_participants as p
    semi join customer_interactions as ci on ci.interaction_id = p.interaction_id
    where p.kind = 'email'
    group by p.interaction_id
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

broadcasts as (
    -- rule 5: for each account, whether the email is a broadcast to it
    select
        ap.interaction_id,
        ap.account_id,
        coalesce(rc.recipients > $broadcast_recipients::integer
                 and not rc.sender_is_rep
                 and rc.sender_account_id is distinct from ap.account_id, false) as broadcast,
        cast(coalesce(rc.recipients, 0) as integer) as recipients
    from account_people as ap
    left join recipients as rc on rc.interaction_id = ap.interaction_id
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
        not bc.broadcast and list_contains(coalesce(pr.owners, []), o.owner_email)
            as owner_present,
        o.previous_owner_email,
        o.valid_from as owner_since,
        case when bc.broadcast then []::varchar[] else coalesce(pr.owners, []::varchar[]) end
            as owners_present,
        bc.broadcast,
        bc.recipients
    from account_people as ap
    join customer_interactions as ci on ci.interaction_id = ap.interaction_id
    join match_accounts as a on a.account_id = ap.account_id
    asof join match_account_owners as o
        on o.account_id = ap.account_id and ci.occurred_at >= o.valid_from
    asof left join match_rep_periods as rp
        on rp.rep_email = o.owner_email and ci.occurred_at >= rp.valid_from
    left join present as pr
        on pr.interaction_id = ap.interaction_id and pr.account_id = ap.account_id
    join broadcasts as bc
        on bc.interaction_id = ap.interaction_id and bc.account_id = ap.account_id
)

select * from final
