-- grain: one row per owner change (rule 10) that took effect this week or whose handoff
-- grace still produced handoff events this week: the account, the former and the new owner,
-- when, the former owner's handoff events this week (still alone with the customer) and
-- whether the new owner has met the customer since the change (a customer interaction with
-- the new owner and one of the account's people, up to the week's end).
with changes as (
    select o.account_id, o.owner_email, o.owner_name, o.previous_owner_email, o.valid_from
    from account_owners as o
    where o.previous_owner_email is not null and o.valid_from is not null
      and o.valid_from < $week + interval 7 days
      and (o.valid_from >= $week
           or exists (select 1 from overlap_events as e
                      where e.week_start = $week and e.category = 'handoff'
                        and e.account_id = o.account_id and e.owner_email = o.owner_email))
),

handoffs as (
    select account_id, owner_email, rep_email, count(*) as events
    from overlap_events
    where week_start = $week and category = 'handoff'
    group by account_id, owner_email, rep_email
),

met as (
    -- the new owner with the account's people since the change
    select c.account_id, c.owner_email, count(distinct i.interaction_id) as interactions
    from changes as c
    join interaction_participants as o on o.rep_email = c.owner_email
    join interactions as i on i.interaction_id = o.interaction_id
    join interaction_participants as k
        on k.interaction_id = i.interaction_id and k.account_id = c.account_id
       and k.party = 'account_contact'
    where i.is_customer and i.occurred_at >= c.valid_from
      and i.occurred_at < $week + interval 7 days
    group by c.account_id, c.owner_email
)

select c.account_id, coalesce(a.account_name, c.account_id) as account_name,
       c.previous_owner_email, c.owner_email, c.owner_name, c.valid_from,
       coalesce(h.events, 0) as handoff_events, coalesce(m.interactions, 0) as owner_met
from changes as c
left join (select distinct account_id, account_name from overlap_events) as a
    on a.account_id = c.account_id
left join handoffs as h
    on h.account_id = c.account_id and h.owner_email = c.owner_email
   and h.rep_email = c.previous_owner_email
left join met as m on m.account_id = c.account_id and m.owner_email = c.owner_email
order by c.owner_email, c.account_id, c.valid_from
