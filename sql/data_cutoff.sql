create or replace view data_cutoff as
with latest as (
    select max(c.started_at) as cutoff_at from calls as c
)

select
    l.cutoff_at,
    timezone(ks.tz, l.cutoff_at) as cutoff_local,
    date_trunc('week', timezone(ks.tz, l.cutoff_at))::date as current_week_start,
    date_trunc('week', timezone(ks.tz, l.cutoff_at))::date - 7 as last_complete_week_start
from latest as l
cross join kpi_settings as ks;

comment on view data_cutoff is 'How far the loaded data reaches, one row: the start of the latest loaded call (the cut-off every missed call''s outcome is judged at) and the weeks it implies. Analysts'' "last week" is last_complete_week_start: it works on any weekday and on an old copy of the data.';
comment on column data_cutoff.cutoff_at is 'Start (UTC) of the latest call in calls: the data cut-off. A miss whose recovery window ends at or after it is pending, before it lost (unless the client was reached).';
comment on column data_cutoff.cutoff_local is 'cutoff_at as local wall-clock time (kpi_settings.tz).';
comment on column data_cutoff.current_week_start is 'Monday (local date) of the week the cut-off is in: that week is not complete yet.';
comment on column data_cutoff.last_complete_week_start is 'Monday (local date) of the last complete week before the cut-off (the weekly email''s week): use it in weekly queries.';
