-- grain: one row per data-quality finding about a domain (kind × domain)
-- kind: delta; scope threads
create or replace table match_domain_findings as
with customer_looking as (
    -- what would be a customer interaction if the domain matched: not bulk, a rep present,
    -- not a cancelled meeting
    select interaction_id
    from match_interactions
    where has_rep and not is_bulk and not cancelled
),

domain_volume as (
    select p.domain, count(distinct p.interaction_id) as volume
    from match_participants as p
    semi join customer_looking as c on c.interaction_id = p.interaction_id
    where p.party in ('unmatched', 'freemail', 'account_contact')
    group by p.domain
),

ambiguous_volume as (
    -- traffic lost to an ambiguous domain, its subdomains included
    select d.matched_domain, count(distinct p.interaction_id) as volume
    from match_participants as p
    join match_domains as d on d.domain = p.domain
    semi join customer_looking as c on c.interaction_id = p.interaction_id
    where d.status = 'ambiguous' and p.party = 'unmatched'
    group by d.matched_domain
),

unmatched as (
    select
        'unmatched_domain' as kind,
        d.domain as item,
        cast(null as varchar) as detail,
        v.volume
    from match_domains as d
    join domain_volume as v on v.domain = d.domain
    where d.status = 'unmatched'
),

ambiguous as (
    select
        'ambiguous_domain' as kind,
        domain as item,
        array_to_string(list_sort(list_distinct(list(account_id))), ', ') as detail,
        0 as volume
    from crm_account_domains
    where domain not in (select domain from freemail_domains)
    group by domain
    having count(distinct account_id) > 1
),

freemail as (
    select
        'freemail_account_domain' as kind,
        domain as item,
        array_to_string(list_sort(list_distinct(list(account_id))), ', ') as detail,
        0 as volume
    from crm_account_domains
    where domain in (select domain from freemail_domains)
    group by domain
),

final as (
    select kind, item, detail, cast(volume as bigint) as volume
    from unmatched
    union all
    select a.kind, a.item, a.detail, cast(coalesce(v.volume, 0) as bigint) as volume
    from ambiguous as a
    left join ambiguous_volume as v on v.matched_domain = a.item
    union all
    select f.kind, f.item, f.detail, cast(coalesce(v.volume, 0) as bigint) as volume
    from freemail as f
    left join domain_volume as v on v.domain = f.item
)

select * from final
