-- grain: one row per overlap event (interaction, account, rep) — rules 5, 6, 7 and 10
-- kind: incremental by interaction_id; scope events
-- The owner, team, chain and the owner's activity are those at the interaction's time
-- (match_interaction_accounts, match_rep_exclusions). Handoff (rule 10): in
-- [D, D + handoff_days) after the owner changed at D, an interaction with the previous owner
-- and without the new one is a `handoff` event for the previous owner and no event for the
-- other reps on it. Approvals and heads-ups (rule 6) are judged at the interaction's time,
-- with the owner then: `approved` when an approval of approvals.csv for (A, R) covers I's
-- time (first match: it outranks looped_in), `heads_up` when R and that owner took part in a
-- small internal interaction (270_match_heads_up.sql) sent or organised by one of them in
-- [I - heads_up_days, I). A broadcast (250) is no interaction with the account: no event.
create or replace table overlap_event_facts as
with left_out as (
    -- customer interactions with an account's people where the owner took no part
    select
        *,
        previous_owner_email is not null
        and occurred_at < owner_since + to_days($handoff_days::integer)
        and list_contains(owners_present, previous_owner_email) as in_handoff
    from match_interaction_accounts
    where not owner_present and not broadcast
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

approvals as (
    -- the approvals covering each candidate (approvals.csv, rep_email already the main address)
    select
        c.interaction_id,
        c.account_id,
        c.rep_email,
        string_agg(distinct a.reason, '; ' order by a.reason) as approval_reason
    from candidates as c
    join crm_approvals as a
        on a.account_id = c.account_id and a.rep_email = c.rep_email
       and (a.valid_from is null or a.valid_from <= c.occurred_at)
       and (a.valid_until is null or c.occurred_at < a.valid_until)
    group by c.interaction_id, c.account_id, c.rep_email
),

heads_up_people as (
    -- the small internal interactions of the candidates' time span, one row per rep on them
    -- (`main.`: read from the whole table, see overlap/incremental/models.py)
    select h.interaction_id, h.kind, h.occurred_at, h.reps, h.sender_rep,
           unnest(h.reps) as rep_email
    from main.match_heads_up as h
    where h.occurred_at >= (select min(occurred_at) from candidates)
                           - to_days($heads_up_days::integer)
      and h.occurred_at < (select max(occurred_at) from candidates)
),

heads_ups as (
    -- rule 6: R and the owner then both took part, one of them sent or organised it, within
    -- [I - heads_up_days, I); the latest one is named in the reasons
    select
        c.interaction_id,
        c.account_id,
        c.rep_email,
        arg_max(h.kind, {'t': h.occurred_at, 'k': h.kind}) as heads_up_kind,
        max(h.occurred_at) as heads_up_at
    from candidates as c
    join heads_up_people as h
        on h.rep_email = c.rep_email
       and h.occurred_at >= c.occurred_at - to_days($heads_up_days::integer)
       and h.occurred_at < c.occurred_at
    where list_contains(h.reps, c.owner_email)
      and h.sender_rep in (c.rep_email, c.owner_email)
    group by c.interaction_id, c.account_id, c.rep_email
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
        ob.first_owned is not null as former_owner,
        ap.approval_reason,
        hu.heads_up_at is not null as heads_up,
        hu.heads_up_kind,
        cast(floor(epoch(c.occurred_at - hu.heads_up_at) / 86400) as integer) as heads_up_days_before
    from candidates as c
    left join approvals as ap
        on ap.interaction_id = c.interaction_id and ap.account_id = c.account_id
       and ap.rep_email = c.rep_email
    left join heads_ups as hu
        on hu.interaction_id = c.interaction_id and hu.account_id = c.account_id
       and hu.rep_email = c.rep_email
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
            when approval_reason is not null then 'approved'
            when owner_on_thread then 'looped_in'
            when in_handoff then 'handoff'
            when not owner_in_reps or not owner_active or not owner_recent then 'coverage_gap'
            else 'backdoor'
        end as category,
        contact_emails,
        former_owner,
        heads_up,
        approval_reason,
        account_name,
        thread_id,
        owner_name,
        coalesce(rep_name, rep_email) as rep_name,
        case
            when approval_reason is not null or owner_on_thread or in_handoff then null
            when not owner_in_reps then 'owner not in reps.csv'
            when not owner_active then 'owner inactive'
            when not owner_recent then
                format('owner had no contact with the account in {} days', $dormant_days::integer)
        end as gap_reason,
        case when heads_up then
            format('{} and owner {} {} {}', coalesce(rep_name, rep_email),
                   coalesce(owner_name, owner_email),
                   case heads_up_kind when 'meeting' then 'were in an internal meeting'
                                      else 'exchanged an internal email' end,
                   case heads_up_days_before
                       when 0 then 'earlier that day'
                       when 1 then '1 day before'
                       else heads_up_days_before || ' days before' end)
        end as heads_up_reason
    from classified
)

select * from final
