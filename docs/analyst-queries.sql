-- Five questions analysts ask, answered from the documented views (docs/data-dictionary.md).
-- Open the read copy (data/vats.read.duckdb) with the duckdb CLI, DBeaver, Python or Jupyter
-- and run any of them as written. "Last week" is the last complete week before the latest
-- loaded call (data_cutoff.last_complete_week_start), so they work on any weekday and on an
-- old copy alike. Headline figures — what the dashboards' tiles show — are the rows of the
-- kpi_* views where is_headline: working hours (kpi_settings, department_hours, holidays),
-- calls that reached a department; for every department, the total row where is_total and
-- is_headline. W, T_short and N come from kpi_settings, e.g.
--   update kpi_settings set recovery_window_s = 2 * 86400;  -- W = 48 h, every view follows
-- Times are TIMESTAMPTZ: to see them in the company zone, first run
--   set timezone = 'Europe/Moscow';

-- 1. Whom to call back, first things first: clients missed last week whom nobody has talked
--    to since the window W of their oldest miss ended — the dashboards' "кому позвонить":
--    one row per client and department, in the worklist's priority order (its misses, each
--    as it was, are in the column missed).
select
    cl.client,
    cl.first_missed_at,
    cl.department,
    cl.owner_name,
    cl.misses,
    cl.hours,
    cl.deadline_at,
    cl.priority
from callback_list(
    (select dc.last_complete_week_start from data_cutoff as dc),
    (select dc.last_complete_week_start + 6 from data_cutoff as dc),
    (select dc.cutoff_at from data_cutoff as dc),
    'infinity'::timestamptz
) as cl
order by cl.priority;

-- 2. Answer rate by department by day, as the tiles count it, last 14 days (with the total).
select
    kd.local_date,
    coalesce(kd.department, 'ВСЕ ОТДЕЛЫ') as department,
    kd.offered,
    kd.answered,
    kd.missed,
    kd.short_abandons,
    round(100 * kd.answer_rate, 1) as answer_rate_pct,
    round(100 * kd.service_level, 1) as service_level_pct
from kpi_daily as kd
where
    kd.is_headline
    and kd.local_date > (select dc.cutoff_local::date from data_cutoff as dc) - 14
order by kd.local_date, kd.is_total, kd.department;

-- 3. How fast does each department call back? Complete weeks, as the tiles count them:
--    misses not called back within W (reached later + lost), still lost, still pending.
select
    kw.week_start,
    kw.department,
    kw.missed,
    kw.recovered_callback,
    kw.recovered_client,
    kw.not_called_back,
    kw.lost,
    kw.pending,
    round(kw.callback_median_s / 60, 1) as callback_median_min,
    round(kw.callback_p90_s / 60, 1) as callback_p90_min
from kpi_weekly as kw
where
    kw.is_headline
    and not kw.is_total
    and kw.week_start <= (select dc.last_complete_week_start from data_cutoff as dc)
order by kw.week_start desc, kw.not_called_back desc;

-- 4. Employees ranked by client ratings (only with enough ratings to be fair).
select
    rbe.rating_rank,
    rbe.user_name,
    rbe.rated_calls,
    round(rbe.rating_mean, 2) as rating_mean,
    round(100 * rbe.csat_share, 1) as csat_pct,
    round(100 * rbe.csat_wilson_lower, 1) as csat_lower_bound_pct,
    round(100 * rbe.response_rate, 1) as rated_pct_of_answered
from rating_by_employee as rbe
where rbe.is_ranked
order by rbe.rating_rank;

-- 5. When do we lose calls? Weekday x hour of last week, the dashboards' heatmap cells
--    (working hours, calls that reached a department), worst cells first.
select
    kh.weekday,
    kh.local_hour,
    kh.offered,
    kh.missed,
    kh.not_called_back,
    round(100 * kh.answer_rate, 1) as answer_rate_pct
from kpi_heatmap as kh
where
    kh.is_total
    and kh.is_headline
    and kh.week_start = (select dc.last_complete_week_start from data_cutoff as dc)
order by kh.missed desc, kh.weekday, kh.local_hour
limit 15;
