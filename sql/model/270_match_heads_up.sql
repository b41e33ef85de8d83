-- grain: one row per small internal interaction (rule 6's heads-up evidence)
-- kind: incremental by interaction_id; scope threads
-- A heads-up is the seed's "giving the owner a heads-up": an email or meeting where every
-- participant is internal, at most $heads_up_max_people people take part, sent or organised
-- by a rep, not bulk or automated and not cancelled. Declined attendees, rooms and system
-- senders are no participants (party `excluded`), so "neither of them declined" holds by
-- construction. Whether it is a heads-up for an event (R and the owner both in `reps`, the
-- sender one of them, within $heads_up_days before it) is decided in
-- 300_overlap_event_facts.sql. Metadata only: who, when, which kind.
create or replace table match_heads_up as
with people as (
    select
        p.interaction_id,
        count(distinct coalesce(p.rep_email, p.address)) as participants,
        bool_and(p.party in ('rep', 'internal')) as all_internal,
        list_sort(list(distinct p.rep_email) filter (where p.rep_email is not null)) as reps,
        any_value(p.rep_email) filter (where p.role in ('from', 'organizer')) as sender_rep
    from match_participants as p
    where p.party <> 'excluded'
    group by p.interaction_id
),

final as (
    select
        i.interaction_id,
        i.kind,
        i.occurred_at,
        p.sender_rep,
        p.reps,
        cast(p.participants as integer) as participants
    from match_interactions as i
    join people as p on p.interaction_id = i.interaction_id
    where p.all_internal
      and p.participants <= $heads_up_max_people::integer
      and len(p.reps) >= 2
      and p.sender_rep is not null
      and not i.is_bulk
      and not coalesce(i.cancelled, false)
)

select * from final
