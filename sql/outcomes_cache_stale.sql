-- The uids whose cached outcome a change makes stale (`changes`: rows of
-- outcomes_cache_changes, `scope`: rows of outcomes_cache_scope): every changed call, and
-- every call of a touched client from its zone_start on. The incremental refresh deletes
-- them from inbound_outcomes_cache before it inserts outcomes_cache_recomputed.
create or replace macro outcomes_cache_stale(changes, scope) as table
select ch.uid
from query_table(changes) as ch
union all
select c.uid
from calls as c
inner join query_table(scope) as s on s.client = c.client and c.started_at >= s.zone_start;
