-- The daily call-back digest of a working morning: the rows of callback_worklist to act on
-- by the end of local day `day` (kpi_settings.tz) that list a miss on or after local day
-- `since` (older ones stay in callback_worklist and the weekly email): every lost row, and
-- every pending row whose window ends by the end of `day` — in priority order.
create or replace macro callback_due(day, since) as table
select cw.*
from callback_worklist as cw
cross join kpi_settings as ks
where
    cw.last_local_date >= since
    and (
        cw.status = 'lost'
        or (cw.status = 'pending' and timezone(ks.tz, cw.deadline_at)::date <= day)
    )
order by cw.priority;
