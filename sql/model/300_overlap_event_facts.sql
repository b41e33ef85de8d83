-- grain: one row per overlap event (interaction, account, rep) — rules 5, 6, 7 and 10
-- kind: incremental by interaction_id; scope events
-- The owner, team, chain and the owner's activity are those at the interaction's time
-- (match_interaction_accounts, match_rep_exclusions). Handoff (rule 10): in
-- [D, D + handoff_days) after the owner changed at D, an interaction with the previous owner
-- and without the new one is a `handoff` event for the previous owner and no event for the
-- other reps on it.
create or replace table overlap_event_facts as
with left_out as (
    -- customer interactions with an account's people where the owner took no part
    select
        *,
        previous_owner_email is not null
        and occurred_at < owner_since + to_days($handoff_days::integer)
        and list_contains(owners_present, previous_owner_email) as in_handoff
    from match_interaction_accounts
    where not owner_present
),

reps as (
    select
        interaction_id,
        rep_email,
        any_value(name) as rep_name,
        bool_or(role in ('from', 'organizer')) as rep_started
    from match_participants
    where party = 'rep'
    group by interaction_id, rep_email
),

candidates as (
    -- not the owner, not on the account's team, not in the owner's management chain
    select lo.*, r.rep_email, r.rep_name, r.rep_started
    from left_out as lo
    join reps as r on r.interaction_id = lo.interaction_id
    anti join match_rep_exclusions as x
        on x.account_id = lo.account_id and x.rep_email = r.rep_email
       and x.valid_from <= lo.occurred_at and lo.occurred_at < x.valid_until
    where not lo.in_handoff or r.rep_email = lo.previous_owner_email
),

gap_checks as (
    select distinct account_id, owner_email, occurred_at
    from candidates
),

candidate_threads as (
    -- the email threads of the candidates, each with the owner who might be on it
    select distinct thread_id, owner_email
    from candidates
    where kind = 'email'
),

thread_members as (
    -- every interaction of those threads, anywhere in the warehouse (`main.`: an incremental
    -- build gives every member of the candidates' threads, see overlap/incremental/models.py)
    select i.interaction_id, i.thread_id
    from main.match_interactions as i
    semi join candidate_threads as t on t.thread_id = i.thread_id
    where i.kind = 'email'
),

owner_threads as (
    -- email threads the account's owner took part in, anywhere in the warehouse
    select distinct m.thread_id, p.person_key
    from thread_members as m
    join main.match_participants as p on p.interaction_id = m.interaction_id
    semi join candidate_threads as t
        on t.thread_id = m.thread_id and t.owner_email = p.person_key
    where p.party <> 'excluded'
),

touches as (
    -- the owner's own customer interactions with the account (dormancy evidence), whoever
    -- owned the account then (rule 10), within dormant_days before the checks: not all of
    -- history (repeats are harmless below)
    select a.account_id, a.owner_email, a.occurred_at
    from (select account_id, unnest(owners_present) as owner_email, occurred_at
          from main.match_interaction_accounts
          where len(owners_present) > 0
            and occurred_at >= (select min(occurred_at) from gap_checks)
                               - to_days($dormant_days::integer)
            and occurred_at < (select max(occurred_at) from gap_checks)) as a
    semi join gap_checks as g on g.account_id = a.account_id and g.owner_email = a.owner_email
),

owner_touches as (
    -- the touches from the first check on, and of those before it only each owner's last:
    -- the only one the as-of join below can pick for any check (a week's build on 60 days
    -- of history sorts one touch per owner and account instead of 8 weeks of them)
    select account_id, owner_email, occurred_at
    from touches
    where occurred_at >= (select min(occurred_at) from gap_checks)
    union all
    select account_id, owner_email, max(occurred_at)
    from touches
    where occurred_at < (select min(occurred_at) from gap_checks)
    group by account_id, owner_email
),

recent as (
    -- a touch in [I - dormant_days, I) exists iff the owner's last touch before I is in it:
    -- an as-of join finds that one touch per check (a range join paired every check with
    -- every touch of the 60 days: 14M rows for one week at M)
    select g.account_id, g.owner_email, g.occurred_at
    from gap_checks as g
    asof join owner_touches as t
        on t.account_id = g.account_id
       and t.owner_email = g.owner_email
       and g.occurred_at > t.occurred_at
    where t.occurred_at >= g.occurred_at - to_days($dormant_days::integer)
),

owned_before as (
    -- when each rep first owned each account (former_owner: R owned A before I's time)
    select account_id, owner_email, min(valid_from) as first_owned
    from match_account_owners
    group by account_id, owner_email
),

classified as (
    select
        c.*,
        c.kind = 'email' and ot.thread_id is not null as owner_on_thread,
        rc.occurred_at is not null as owner_recent,
        ob.first_owned is not null as former_owner
    from candidates as c
    left join owned_before as ob
        on ob.account_id = c.account_id and ob.owner_email = c.rep_email
       and ob.first_owned < c.occurred_at
    left join owner_threads as ot
        on ot.thread_id = c.thread_id and ot.person_key = c.owner_email
    left join recent as rc
        on rc.account_id = c.account_id
       and rc.owner_email = c.owner_email
       and rc.occurred_at = c.occurred_at
),

final as (
    select
        interaction_id,
        kind,
        occurred_at,
        week_start,
        account_id,
        owner_email,
        rep_email,
        case
            when rep_started then 'rep'
            when customer_started then 'customer'
            else 'other'
        end as initiated_by,
        case
            when owner_on_thread then 'looped_in'
            when in_handoff then 'handoff'
            when not owner_in_reps or not owner_active or not owner_recent then 'coverage_gap'
            else 'backdoor'
        end as category,
        contact_emails,
        former_owner,
        false as heads_up,  -- filled by the signals issue (rule 6's heads-up)
        cast(null as varchar) as approval_reason,  -- filled by the signals issue (approvals)
        account_name,
        thread_id,
        owner_name,
        coalesce(rep_name, rep_email) as rep_name,
        case
            when owner_on_thread or in_handoff then null
            when not owner_in_reps then 'owner not in reps.csv'
            when not owner_active then 'owner inactive'
            when not owner_recent then
                format('owner had no contact with the account in {} days', $dormant_days::integer)
        end as gap_reason
    from classified
)

select * from final
