create table if not exists pbx_timezone (
    id         tinyint primary key default 1 check (id = 1),
    name       varchar,
    offset_min integer,
    usable_tz  varchar,
    read_at    timestamptz not null
);

comment on table pbx_timezone is 'The zone the PBX says it runs in (GET /domain of the newer API edition), one row, as last read by check or by the first run of the warehouse. With no zone given (VATS_TZ, --tz, an account''s tz), usable_tz is the company zone every command cuts days, hours and weeks in (kpi_settings.tz follows it); with one given whose offset from UTC differs, commands say so in one line.';
comment on column pbx_timezone.id is 'Always 1 (keeps the table at one row).';
comment on column pbx_timezone.name is 'The zone''s name as the PBX gave it (may differ from what its owner expects: offsets are what is compared).';
comment on column pbx_timezone.offset_min is 'Its offset from UTC then, in minutes east, as the PBX gave it.';
comment on column pbx_timezone.usable_tz is 'The zone we cut days in for it: the name, when the zone database knows it, else a fixed whole-hour offset (Etc/GMT-5 = UTC+05:00); null when neither works.';
comment on column pbx_timezone.read_at is 'When GET /domain was read (UTC).';
