create table if not exists kpi_settings (
    id                  tinyint primary key default 1 check (id = 1),
    tz                  varchar not null default 'Europe/Moscow',
    short_abandon_s     integer not null default 5,
    service_level_s     integer not null default 20,
    recovery_window_s   integer not null default 86400,
    min_rating_sample   integer not null default 10,
    repeat_window_s     integer not null default 604800
);

-- the default working hours (added after the first release: alter, so that older
-- warehouses get them too and every warehouse has the same columns in the same order)
alter table kpi_settings add column if not exists work_days integer[] default [1, 2, 3, 4, 5];
alter table kpi_settings add column if not exists work_start time default '09:00';
alter table kpi_settings add column if not exists work_end time default '18:00';
-- how W is counted (added later, like the working hours: older warehouses get the default)
alter table kpi_settings add column if not exists recovery_window_basis varchar default 'calendar';

insert into kpi_settings (id) values (1) on conflict do nothing;

comment on table kpi_settings is 'KPI parameters, exactly one row: the one place an analyst changes W, T_short, N or the working hours (update kpi_settings set recovery_window_s = 172800). Every view reads it. Writers only ever refresh tz (the company zone of the command or flow: VATS_TZ, --tz, or an account''s tz) and the values a KPI settings file names (VATS_KPI_SETTINGS, or an account''s kpi_settings).';
comment on column kpi_settings.id is 'Always 1 (keeps the table at one row).';
comment on column kpi_settings.tz is 'Company time zone (VATS_TZ) for local days, hours, weekdays and weeks; rewritten by every writer.';
comment on column kpi_settings.short_abandon_s is 'T_short: an unanswered inbound call with wait_s below this is a short abandon (not offered to the KPIs as missed).';
comment on column kpi_settings.service_level_s is 'N: an answered call with wait_s <= N counts toward the service level.';
comment on column kpi_settings.recovery_window_s is 'W: how long after a missed call a callback or the client''s answered call still recovers it (counted as recovery_window_basis says).';
comment on column kpi_settings.min_rating_sample is 'Minimum number of rated calls before an employee is ranked in rating_by_employee.';
comment on column kpi_settings.repeat_window_s is 'Two inbound calls of one number at most this far apart make both repeat calls (7 days).';
comment on column kpi_settings.work_days is 'Working weekdays of every department without rows of its own in department_hours, ISO numbers (1 = Monday ... 7 = Sunday); default Monday to Friday.';
comment on column kpi_settings.work_start is 'Start of the working day (local wall-clock time in tz, included) on work_days; default 09:00.';
comment on column kpi_settings.work_end is 'End of the working day (local time, excluded: a call at 18:00:00 is after hours; 24:00 = until midnight); default 18:00.';
comment on column kpi_settings.recovery_window_basis is 'How W is counted: calendar (default: W of clock time after the miss) or working (W counts only the working hours of the department the miss counts for — its department_hours rows, else work_days / work_start / work_end — and skips holidays, the company''s and the department''s: a miss on Friday 17:30 with W = 4 h and hours 09:00-18:00 is due on Monday 12:30; a miss out of hours starts its clock when work starts). A department with no working hours at all counts calendar time. Any other value counts as calendar.';
