create table if not exists view_caches (
    relation          varchar primary key,
    short_abandon_s   integer not null,
    service_level_s   integer not null,
    recovery_window_s integer not null,
    repeat_window_s   integer not null,
    calls_rows        bigint not null,
    calls_loaded_at   timestamptz,
    refreshed_at      timestamptz not null
);

-- added later (an older warehouse's table gets them; its cache is rebuilt on upgrade)
alter table view_caches add column if not exists recovery_window_basis varchar;
alter table view_caches add column if not exists recovery_window_inputs ubigint;

comment on table view_caches is 'Bookkeeping of cached derived rows (today: inbound_outcomes_cache): the kpi_settings values and the state of calls they were computed from. A view uses its cache only while all of these still match; otherwise it computes live, so it is never stale, only slower. Writers refresh the cache when they publish the read copy.';
comment on column view_caches.relation is 'The view whose rows are cached.';
comment on column view_caches.calls_rows is 'count(*) of calls when the cache was computed.';
comment on column view_caches.calls_loaded_at is 'max(calls.loaded_at) when the cache was computed (every load that changes a call moves it).';
comment on column view_caches.refreshed_at is 'When the cache was computed (UTC).';
comment on column view_caches.short_abandon_s is 'kpi_settings.short_abandon_s the cache was computed with.';
comment on column view_caches.recovery_window_basis is 'kpi_settings.recovery_window_basis the cache was computed with.';
comment on column view_caches.recovery_window_inputs is 'recovery_window_inputs() when the cache was computed: the working hours, holidays and department history the ends of W were computed from (0 while W counts calendar time).';
comment on column view_caches.service_level_s is 'kpi_settings.service_level_s the cache was computed with.';
comment on column view_caches.recovery_window_s is 'kpi_settings.recovery_window_s the cache was computed with.';
comment on column view_caches.repeat_window_s is 'kpi_settings.repeat_window_s the cache was computed with.';
