create table if not exists holidays (
    holiday_date date not null,
    department   varchar,
    note         varchar
);

comment on table holidays is 'Days off on which calls count as after hours whatever the weekly schedule says: public holidays (department null: the whole company) and a department''s own days off. Empty by default. Example: insert into holidays values (''2026-01-01'', null, ''Новый год'').';
comment on column holidays.holiday_date is 'The local day (kpi_settings.tz) that is not worked.';
comment on column holidays.department is 'Department (calls_enriched.department) the day off applies to; null = every department.';
comment on column holidays.note is 'Why, for people (e.g. Новый год).';
