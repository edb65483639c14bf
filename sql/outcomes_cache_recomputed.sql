-- The cache rows that replace outcomes_cache_stale: the outcomes computed from `context`
-- (rows of outcomes_cache_context) for the calls of each touched client from its zone_start
-- on (`scope`: rows of outcomes_cache_scope), and of the changed calls that have no client
-- (`changes`: rows of outcomes_cache_changes). Columns of inbound_outcomes_cache.
create or replace macro outcomes_cache_recomputed(context, changes, scope) as table
select o.*
from inbound_outcomes_of(context, kpi_settings) as o
left join query_table(scope) as s on s.client = o.client
where
    o.started_at >= s.zone_start
    or (o.client is null and o.uid in (select ch.uid from query_table(changes) as ch));
