-- grain: crm_ownership gains where its dated owner facts came from (issue 17): ownership.csv
-- rows ('ownership_csv', the default, so the CSV import's batches need no change) or a CRM
-- API's owner history ('crm_api': Salesforce AccountHistory, HubSpot property history).
-- account_owners shows it as `source`.
alter table crm_ownership add column source varchar default 'ownership_csv';

-- what the latest CRM import had to say (an API CRM with owner history tracking off: the
-- snapshots are the only owner history); the data_quality view lists each once (crm_note)
create table crm_notes (
    note varchar not null
);
