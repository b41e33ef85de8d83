-- grain: one row per (week_start, account) with customer interactions the owner shared with other reps
-- kind: incremental by week_start, account_id; scope collaboration_keys
create or replace table score_collaboration_weekly as
with contacts as (
    select week_start, account_id, count(distinct contact) as contacts
    from (select week_start, account_id, unnest(contact_emails) as contact
          from overlap_collaboration)
    group by week_start, account_id
),

reps as (
    select week_start, account_id, list_sort(list_distinct(list(rep_email))) as rep_emails
    from (select week_start, account_id, unnest(rep_emails) as rep_email
          from overlap_collaboration)
    group by week_start, account_id
),

weekly as (
    select
        week_start,
        account_id,
        any_value(account_name) as account_name,
        -- the owner at the week's last interaction (rule 10: it may change mid-week)
        arg_max(owner_email, {'t': occurred_at, 'o': owner_email}) as owner_email,
        arg_max(owner_name, {'t': occurred_at, 'o': owner_email}) as owner_name,
        cast(count(*) as integer) as interactions,
        cast(count(*) filter (where kind = 'email') as integer) as emails,
        cast(count(*) filter (where kind = 'meeting') as integer) as meetings
    from overlap_collaboration
    group by week_start, account_id
),

final as (
    select
        w.week_start,
        w.account_id,
        w.account_name,
        w.owner_email,
        w.owner_name,
        r.rep_emails,
        w.interactions,
        w.emails,
        w.meetings,
        cast(c.contacts as integer) as contacts
    from weekly as w
    join reps as r using (week_start, account_id)
    join contacts as c using (week_start, account_id)
)

select * from final
