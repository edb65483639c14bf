-- Every row of inbound_outcomes_cache computed from scratch from `source_calls` (a relation
-- with the columns of calls) under kpi_settings: what a full refresh of the cache inserts.
create or replace macro outcomes_cache_rows(source_calls) as table
select o.*
from inbound_outcomes_of(source_calls, kpi_settings) as o;
