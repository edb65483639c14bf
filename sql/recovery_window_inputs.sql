-- What, besides calls and W, the ends of the recovery windows depend on, as one number that
-- changes when any of it changes: 0 while W counts calendar time (then nothing else does);
-- with kpi_settings.recovery_window_basis = 'working', a hash of the zone, the working hours
-- (kpi_settings, department_hours), the holidays, and the state of the directory history
-- that says which department a miss counts for. The outcome cache (view_caches) is valid
-- only for the value it was computed with.
create or replace macro recovery_window_inputs() as (
    select
        case
            when coalesce(ks.recovery_window_basis = 'working', false)
                then hash(
                    ks.tz,
                    ks.work_days,
                    ks.work_start,
                    ks.work_end,
                    (
                        select list(dh order by dh.department, dh.weekday)
                        from department_hours as dh
                    ),
                    (
                        select list(h order by h.holiday_date, h.department, h.note)
                        from holidays as h
                    ),
                    (
                        select hash(count(*), max(gm.valid_from), max(gm.valid_to), count(gm.valid_to))
                        from group_members_history as gm
                    ),
                    (
                        select hash(count(*), max(gh.valid_from), max(gh.valid_to), count(gh.valid_to))
                        from groups_history as gh
                    )
                )
            else 0::ubigint
        end
    from kpi_settings as ks
    limit 1
);
