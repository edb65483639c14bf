-- The calls a load changed since the outcome cache was last refreshed (calls.loaded_at after
-- `since`, the calls_loaded_at view_caches recorded), each with the client and start the
-- cache last saw it with (inbound_outcomes_inputs; null, and is_new, for a call new since):
-- where an incremental refresh of inbound_outcomes_cache starts (vats_etl.warehouse.caches).
create or replace macro outcomes_cache_changes(since) as table
select
    c.uid,
    c.client,
    c.started_at,
    i.client as old_client,
    i.started_at as old_started_at,
    i.uid is null as is_new
from calls as c
left join inbound_outcomes_inputs as i on i.uid = c.uid
where c.loaded_at > since;
