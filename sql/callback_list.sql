-- "Кому позвонить" of a report: the lost rows of the call-back worklist as it stood at
-- `as_of` (manual resolutions recorded by `resolved_by`) that list a miss on a local day
-- from first_day to last_day (any hours), in priority order. The dashboards and the weekly
-- email show it for their period at the data cut-off with every resolution so far, and for
-- the period before at the same age (both instants the same: see miss_outcome).
create or replace macro callback_list(first_day, last_day, as_of, resolved_by) as table
select cw.*
from callback_worklist_of(as_of, resolved_by) as cw
where
    cw.status = 'lost'
    and exists (
        select 1
        from (select unnest(cw.missed) as m) as listed
        where listed.m.local_date between first_day and last_day
    )
order by cw.priority;
