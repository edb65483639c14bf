-- The end of each miss's recovery window when W counts working time
-- (kpi_settings.recovery_window_basis = 'working'): `misses` is a relation of (uid,
-- started_at, department), `settings` one of kpi_settings' columns (one row). W seconds are
-- counted on the working hours of the miss's department — its rows of department_hours when
-- it has any, else kpi_settings' work_days, work_start and work_end — skipping the company's
-- holidays and the department's own days off; a miss out of hours starts its clock when work
-- next starts, and a window that ends on the last second of a working day ends then (not at
-- the next morning). So with hours 09:00-18:00, Monday to Friday, a miss on Friday 17:30 and
-- W = 4 h is due on Monday 12:30.
--
-- How: each calendar (a department with hours or days off of its own, or the company's, '')
-- becomes a list of working spans, local days turned into UTC instants in kpi_settings.tz,
-- with the working seconds before each span (a clock that runs only at work). A miss reads
-- the clock where it falls (the first span that ends after it), adds W, and the span where
-- the clock reaches that sum gives the instant. A calendar without any working time gives no
-- row: its misses keep the calendar window. Used by inbound_outcomes_of.
create or replace macro working_deadlines_of(misses, settings) as table
with setting as (
    select
        ls.tz,
        ls.work_days,
        ls.work_start,
        ls.work_end,
        ls.recovery_window_s
    from query_table(settings) as ls
    limit 1
),

own_hours as (
    select distinct dh.department from department_hours as dh
),

own_days_off as (
    select distinct h.department from holidays as h where h.department is not null
),

placed as (
    select
        m.uid,
        m.started_at,
        case
            when oh.department is not null or od.department is not null then m.department
            else ''
        end as calendar,
        timezone(st.tz, m.started_at)::date as local_date
    from query_table(misses) as m
    cross join setting as st
    left join own_hours as oh on oh.department = m.department
    left join own_days_off as od on od.department = m.department
),

calendars as (
    select
        p.calendar,
        min(p.local_date) - 1 as first_day,
        max(p.local_date) as last_day,
        bool_or(oh.department is not null) as has_own_hours
    from placed as p
    left join own_hours as oh on oh.department = p.calendar
    group by p.calendar
),

reach as (
    -- days enough for W after the last miss: whole weeks of work, plus every day off
    select
        c.*,
        case
            when c.has_own_hours
                then (
                    select sum(epoch(dh.work_end) - epoch(dh.work_start))
                    from department_hours as dh
                    where dh.department = c.calendar
                )
            else len(st.work_days) * (epoch(st.work_end) - epoch(st.work_start))
        end as weekly_work_s,
        (
            select count(*)
            from holidays as h
            where
                h.holiday_date > c.first_day
                and (h.department is null or h.department = c.calendar)
        ) as days_off
    from calendars as c
    cross join setting as st
),

days as (
    select
        r.calendar,
        r.has_own_hours,
        unnest(
            generate_series(
                r.first_day,
                r.last_day
                + (7 * ceil(st.recovery_window_s / r.weekly_work_s) + 7 + r.days_off)::integer,
                interval 1 day
            )
        )::date as local_date
    from reach as r
    cross join setting as st
    where r.weekly_work_s > 0
),

spans as (
    select
        d.calendar,
        timezone(st.tz, d.local_date + coalesce(dh.work_start, st.work_start)) as span_start,
        timezone(st.tz, d.local_date + coalesce(dh.work_end, st.work_end)) as span_end
    from days as d
    cross join setting as st
    left join department_hours as dh
        on d.has_own_hours and dh.department = d.calendar and dh.weekday = isodow(d.local_date)
    where
        (
            (d.has_own_hours and dh.department is not null)
            or (not d.has_own_hours and list_contains(st.work_days, isodow(d.local_date)))
        )
        and not exists (
            select 1
            from holidays as h
            where
                h.holiday_date = d.local_date
                and (h.department is null or h.department = d.calendar)
        )
),

clock as (
    select
        sp.calendar,
        sp.span_start,
        sp.span_end,
        coalesce(
            sum(epoch_us(sp.span_end) - epoch_us(sp.span_start)) over (
                partition by sp.calendar order by sp.span_start
                rows between unbounded preceding and 1 preceding
            ),
            0
        )::bigint as worked_before_us
    from spans as sp
    where sp.span_end > sp.span_start
),

clocked as (
    select
        c.*,
        c.worked_before_us + epoch_us(c.span_end) - epoch_us(c.span_start) as worked_after_us
    from clock as c
),

due as (
    -- the working clock at the miss (nothing counts before work starts), plus W
    select
        p.uid,
        p.started_at,
        p.calendar,
        c.worked_before_us
        + greatest(epoch_us(p.started_at) - epoch_us(c.span_start), 0)
        + st.recovery_window_s::bigint * 1000000 as due_us
    from placed as p
    asof inner join clocked as c on c.calendar = p.calendar and p.started_at < c.span_end
    cross join setting as st
)

select
    du.uid,
    greatest(du.started_at, c.span_start + to_microseconds(du.due_us - c.worked_before_us))
        as recovery_deadline_at
from due as du
asof inner join clocked as c on c.calendar = du.calendar and du.due_us <= c.worked_after_us;
