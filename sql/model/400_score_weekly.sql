-- grain: one row per (week_start, account, rep) with overlap events — the score of rule 9
-- kind: incremental by account_id, rep_email since week_start; scope score_pairs
create or replace table score_weekly as
with events as (
    select
        *,
        -- kind weight × initiation weight × category weight (1 for backdoor)
        case kind when 'meeting' then $w_meeting::double else $w_email::double end
        * case initiated_by
            when 'rep' then $w_rep_initiated::double
            when 'customer' then $w_customer_initiated::double
            else $w_other_initiated::double
          end
        * case category
            when 'looped_in' then $w_looped_in::double
            when 'coverage_gap' then $w_coverage_gap::double
            else 1.0
          end
        -- a heads-up to the owner halves the event (rule 6)
        * case when heads_up then $w_heads_up::double else 1.0 end as event_weight
    from overlap_event_facts
    where category not in ('handoff', 'approved')  -- not risk: scores 0, shown apart (rule 6)
),

contacts as (
    select week_start, account_id, rep_email, count(distinct contact) as contacts
    from (select week_start, account_id, rep_email, unnest(contact_emails) as contact from events)
    group by week_start, account_id, rep_email
),

weekly as (
    select
        week_start,
        account_id,
        rep_email,
        any_value(account_name) as account_name,
        -- the owner at the week's last event (rule 10: the owner may change mid-week)
        arg_max(owner_email, {'t': occurred_at, 'o': owner_email}) as owner_email,
        arg_max(owner_name, {'t': occurred_at, 'o': owner_email}) as owner_name,
        any_value(rep_name) as rep_name,
        cast(count(*) as integer) as events,
        cast(count(*) filter (where kind = 'email') as integer) as emails,
        cast(count(*) filter (where kind = 'meeting') as integer) as meetings,
        cast(count(*) filter (where category = 'backdoor') as integer) as backdoor,
        cast(count(*) filter (where category = 'coverage_gap') as integer) as coverage_gap,
        cast(count(*) filter (where category = 'looped_in') as integer) as looped_in,
        cast(count(*) filter (where initiated_by = 'rep') as integer) as rep_initiated,
        cast(count(*) filter (where initiated_by = 'customer') as integer) as customer_initiated,
        sum(event_weight) as event_score,
        list_sort(list_distinct(list(gap_reason) filter (where gap_reason is not null)))
            as gap_reasons,
        cast(count(*) filter (where heads_up) as integer) as heads_ups,
        -- the latest heads-up of the week is named (one reason per row, not one per event)
        arg_max(heads_up_reason, {'t': occurred_at, 'r': heads_up_reason})
            filter (where heads_up) as heads_up_reason
    from events
    group by week_start, account_id, rep_email
),

active_weeks as (
    -- the weeks each account and rep had events (`main.`: an incremental build gives the
    -- weeks before the ones it scores here, see overlap/incremental/models.py)
    select distinct week_start, account_id, rep_email
    from main.overlap_event_facts
    where category not in ('handoff', 'approved')
),

persistence as (
    -- earlier weeks, of the 4 before this one, with events for the same account and rep
    select w.week_start, w.account_id, w.rep_email, count(*) as earlier_weeks
    from weekly as w
    join active_weeks as e
        on e.account_id = w.account_id
       and e.rep_email = w.rep_email
       and e.week_start >= w.week_start - 28  -- DATE - days
       and e.week_start < w.week_start
    group by w.week_start, w.account_id, w.rep_email
),

scored as (
    select
        w.*,
        c.contacts,
        cast(coalesce(p.earlier_weeks, 0) as integer) as earlier_weeks,
        w.event_score
        + $w_contact::double * (c.contacts - 1)
        + $w_persistence::double * coalesce(p.earlier_weeks, 0) as score
    from weekly as w
    join contacts as c using (week_start, account_id, rep_email)
    left join persistence as p using (week_start, account_id, rep_email)
),

final as (
    select
        week_start,
        account_id,
        owner_email,
        rep_email,
        emails,
        meetings,
        cast(contacts as integer) as contacts,
        score,
        case
            when score >= $w_high::double then 'high'
            when score >= $w_medium::double then 'medium'
            else 'low'
        end as level,
        list_concat(
            [
                concat_ws(' ',
                    case when meetings > 0 then
                        meetings || ' meeting' || case when meetings = 1 then '' else 's' end
                    end,
                    case when meetings > 0 and emails > 0 then 'and' end,
                    case when emails > 0 then
                        emails || ' email' || case when emails = 1 then '' else 's' end
                    end,
                    'with', contacts, account_name,
                    case when contacts = 1 then 'person' else 'people' end,
                    'without owner', owner_name
                )
            ],
            case when rep_initiated > 0 then
                [rep_initiated || ' of ' || events || ' started by the rep']
            else [] end,
            -- a row someone else started never reads as if the rep reached out (issue 16)
            case when events - rep_initiated - customer_initiated > 0 then
                [(events - rep_initiated - customer_initiated) || ' of ' || events
                 || ' started by someone else (the rep was a recipient or an attendee)']
            else [] end,
            case when earlier_weeks > 0 then
                ['also active in ' || earlier_weeks || ' of the previous 4 weeks']
            else [] end,
            gap_reasons,
            case when looped_in > 0 then
                ['owner was on the thread elsewhere (looped in)']
            else [] end,
            case when heads_ups > 0 then
                [heads_up_reason || ' (heads-up: '
                 || case when heads_ups = events then 'every event' else heads_ups || ' of '
                         || events || ' events' end
                 || ' × ' || $w_heads_up::double || ')']
            else [] end
        ) as reasons,
        account_name,
        owner_name,
        rep_name,
        events,
        backdoor,
        coverage_gap,
        looped_in,
        rep_initiated,
        customer_initiated,
        earlier_weeks,
        heads_ups
    from scored
)

select * from final
