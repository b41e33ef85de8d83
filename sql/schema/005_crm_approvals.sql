-- approvals.csv of the latest snapshot (rule 6, `[crm] approvals`): a manager's "this rep may
-- work this account" over [valid_from, valid_until); NULL ends are open. rep_email is the
-- rep's main address (an alias in the file is resolved at import).
create table crm_approvals (
    account_id  varchar not null,
    rep_email   varchar not null,
    valid_from  timestamptz,
    valid_until timestamptz,
    reason      varchar not null,
    line        integer
);
