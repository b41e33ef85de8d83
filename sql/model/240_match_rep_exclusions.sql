-- grain: one row per (account, rep, reason, period) where the rep's contact is not overlap (rule 5)
-- kind: full
-- Rule 10: the owner, the account's team and the owner's management chain as they were at
-- the interaction's time: each row holds in [valid_from, valid_until).
create or replace table match_rep_exclusions as
with recursive epochs as (
    -- the moments any rep's manager changed: within an epoch every chain is fixed
    select
        valid_from,
        coalesce(lead(valid_from) over (order by valid_from), 'infinity'::timestamptz)
            as valid_until,
        row_number() over (order by valid_from) as epoch_no
    from (select distinct valid_from from match_rep_periods)
),

managers as (
    select e.valid_from as epoch, p.rep_email, p.manager_email
    from epochs as e
    join match_rep_periods as p
        on p.valid_from <= e.valid_from and e.valid_from < p.valid_until
    where p.manager_email is not null
),

owners as (
    select distinct owner_email
    from match_account_owners
    where owner_in_reps
),

chain (epoch, owner_email, rep_email, path) as (
    -- the owner's manager, that manager's manager, …; `path` stops a cycle in reps.csv
    select m.epoch, o.owner_email, m.manager_email, [o.owner_email, m.manager_email]
    from owners as o
    join managers as m on m.rep_email = o.owner_email
    where $management_chain::boolean and m.manager_email <> o.owner_email
    union all
    select c.epoch, c.owner_email, m.manager_email, list_append(c.path, m.manager_email)
    from chain as c
    join managers as m on m.epoch = c.epoch and m.rep_email = c.rep_email
    where not list_contains(c.path, m.manager_email)
),

chain_spans as (
    -- consecutive epochs in which a rep is in an owner's chain, as one span (gaps and
    -- islands): a chain that never changes is one row, however many snapshots there are
    select owner_email, rep_email, min(valid_from) as valid_from, max(valid_until) as valid_until
    from (
        select
            c.owner_email,
            c.rep_email,
            e.valid_from,
            e.valid_until,
            e.epoch_no - row_number() over (
                partition by c.owner_email, c.rep_email order by e.epoch_no) as island
        from (select distinct epoch, owner_email, rep_email from chain) as c
        join epochs as e on e.valid_from = c.epoch
    )
    group by owner_email, rep_email, island
),

team_facts as (
    select as_of as changed_at, account_id, team_emails
    from crm_account_history
    union all
    select '-infinity'::timestamptz, a.account_id,
           coalesce(list_sort(list_distinct(list(t.rep_email)
                    filter (where t.rep_email is not null))), []::varchar[])
    from crm_accounts as a
    left join crm_account_team as t on t.account_id = a.account_id
    where not exists (select 1 from crm_account_history)
    group by a.account_id
),

team_changes as (
    select *, lag(team_emails) over (partition by account_id order by changed_at) as previous
    from team_facts
    qualify previous is null or previous <> team_emails
),

team_periods as (
    select
        account_id,
        team_emails,
        case when previous is null then '-infinity'::timestamptz else changed_at end
            as valid_from,
        coalesce(lead(changed_at) over (partition by account_id order by changed_at),
                 'infinity'::timestamptz) as valid_until
    from team_changes
),

team as (
    select p.account_id, coalesce(r.rep_email, t.rep_email) as rep_email, p.valid_from,
           p.valid_until
    from team_periods as p, unnest(p.team_emails) as t(rep_email)
    left join stg_rep_addresses as r on r.address = t.rep_email
),

final as (
    select account_id, owner_email as rep_email, 'owner' as reason, valid_from, valid_until
    from match_account_owners
    union
    select account_id, rep_email, 'team' as reason, valid_from, valid_until
    from team
    union
    select
        a.account_id,
        e.rep_email,
        'management_chain' as reason,
        greatest(a.valid_from, e.valid_from) as valid_from,
        least(a.valid_until, e.valid_until) as valid_until
    from match_account_owners as a
    join chain_spans as e
        on e.owner_email = a.owner_email
       and e.valid_from < a.valid_until and a.valid_from < e.valid_until
)

select * from final
