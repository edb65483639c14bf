-- The calls the outcomes of a change's scope are recomputed from (`changes`: rows of
-- outcomes_cache_changes, `scope`: rows of outcomes_cache_scope): each touched client's calls
-- since its context_start, and the changed calls that have no client (each its own outcome).
create or replace macro outcomes_cache_context(changes, scope) as table
select c.*
from calls as c
inner join query_table(scope) as s on s.client = c.client and c.started_at >= s.context_start
union all
select c.*
from calls as c
where c.client is null and c.uid in (select ch.uid from query_table(changes) as ch);
