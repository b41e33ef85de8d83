-- grain: raw_copies gains copy_hash, a 64-bit hash of its key (source, mailbox, kind, copy_id).
-- warehouse.load deletes every stored copy under a key it loads, anywhere in time (002): it
-- finds them by this one 8-byte column instead of the four key columns of all of history
-- (M, 50 weeks, 17M copies: 0.93 s a week, growing with history; by the hash ~0.1 s), then
-- checks the key itself. The expression is overlap.warehouse.COPY_HASH (tests check they are
-- the same); md5 and not DuckDB's hash(), whose values may change between DuckDB versions.
alter table raw_copies add column copy_hash ubigint;

update raw_copies
set copy_hash = md5_number_lower(concat_ws(chr(31), source, mailbox, kind, copy_id));
