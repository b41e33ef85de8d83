-- grain: one row per domain seen on a participant or listed on an account, with its match (rule 2)
-- kind: set by domain; scope gone_domains
create or replace table match_domains as
with seen as (
    select distinct domain from stg_addresses where domain <> ''
    union
    select domain from crm_account_domains
),

labels as (
    select domain, string_split(domain, '.') as parts
    from seen
),

suffixes as (
    -- eu.acme.com → eu.acme.com (3 labels), acme.com (2), com (1)
    select
        domain,
        array_to_string(list_slice(parts, i, len(parts)), '.') as suffix,
        len(parts) - i + 1 as suffix_labels
    from (select domain, parts, unnest(generate_series(1, len(parts))) as i from labels)
),

account_domains as (
    -- free-mail domains listed on an account never match (reported by match_domain_findings)
    select distinct account_id, domain
    from crm_account_domains
    where domain not in (select domain from freemail_domains)
),

internal as (
    select distinct s.domain
    from suffixes as s
    join company_domains as c on c.domain = s.suffix
),

candidates as (
    select s.domain, s.suffix, s.suffix_labels, a.account_id
    from suffixes as s
    join account_domains as a on a.domain = s.suffix
),

longest as (
    -- only the longest matching parent counts: an ambiguous one does not fall through
    select
        domain,
        any_value(suffix) as matched_domain,
        list_sort(list_distinct(list(account_id))) as account_ids
    from candidates
    group by domain, suffix_labels
    qualify suffix_labels = max(suffix_labels) over (partition by domain)
),

freemail as (
    select domain from freemail_domains
),

final as (
    select
        s.domain,
        i.domain is not null as is_internal,
        f.domain is not null as is_freemail,
        l.matched_domain,
        coalesce(l.account_ids, []) as account_ids,
        case
            when i.domain is null and f.domain is null and len(l.account_ids) = 1
                then l.account_ids[1]
        end as account_id,
        case
            when i.domain is not null then 'internal'
            when f.domain is not null then 'freemail'
            when len(l.account_ids) > 1 then 'ambiguous'
            when len(l.account_ids) = 1 then 'matched'
            else 'unmatched'
        end as status
    from seen as s
    left join internal as i on i.domain = s.domain
    left join (select distinct domain from freemail) as f on f.domain = s.domain
    left join longest as l on l.domain = s.domain
)

select * from final
