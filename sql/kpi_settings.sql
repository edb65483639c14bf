create table if not exists kpi_settings (
    id                  tinyint primary key default 1 check (id = 1),
    tz                  varchar not null default 'Europe/Moscow',
    short_abandon_s     integer not null default 5,
    service_level_s     integer not null default 20,
    recovery_window_s   integer not null default 86400,
    min_rating_sample   integer not null default 10,
    repeat_window_s     integer not null default 604800
);

insert into kpi_settings (id) values (1) on conflict do nothing;

comment on table kpi_settings is 'KPI parameters, exactly one row: the one place an analyst changes W, T_short or N (update kpi_settings set recovery_window_s = 172800). Every view reads it. Writers only ever refresh tz from VATS_TZ, and the values a KPI settings file names (VATS_KPI_SETTINGS, or an account''s kpi_settings).';
comment on column kpi_settings.id is 'Always 1 (keeps the table at one row).';
comment on column kpi_settings.tz is 'Company time zone (VATS_TZ) for local days, hours, weekdays and weeks; rewritten by every writer.';
comment on column kpi_settings.short_abandon_s is 'T_short: an unanswered inbound call with wait_s below this is a short abandon (not offered to the KPIs as missed).';
comment on column kpi_settings.service_level_s is 'N: an answered call with wait_s <= N counts toward the service level.';
comment on column kpi_settings.recovery_window_s is 'W: how long after a missed call a callback or the client''s answered call still recovers it.';
comment on column kpi_settings.min_rating_sample is 'Minimum number of rated calls before an employee is ranked in rating_by_employee.';
comment on column kpi_settings.repeat_window_s is 'Two inbound calls of one number at most this far apart make both repeat calls (7 days).';
