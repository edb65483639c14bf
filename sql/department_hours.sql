create table if not exists department_hours (
    department varchar not null,
    weekday    tinyint not null check (weekday between 1 and 7),
    work_start time not null,
    work_end   time not null check (work_start < work_end),
    primary key (department, weekday)
);

comment on table department_hours is 'Working hours of the departments whose schedule differs from kpi_settings (work_days, work_start, work_end), one row per working weekday. A department with any row here follows only its rows: a weekday without a row is its day off. Empty by default (every department works the kpi_settings hours). Example: insert into department_hours values (''Служба поддержки'', 6, ''10:00'', ''16:00'').';
comment on column department_hours.department is 'Department as calls_enriched.department names it (the PBX''s department name).';
comment on column department_hours.weekday is 'ISO weekday: 1 = Monday ... 7 = Sunday.';
comment on column department_hours.work_start is 'Start of the working day, local wall-clock time in kpi_settings.tz (included).';
comment on column department_hours.work_end is 'End of the working day, local time (excluded; 24:00 = until midnight).';
