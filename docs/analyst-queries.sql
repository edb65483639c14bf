-- Five questions analysts ask, answered from the documented views (docs/data-dictionary.md).
-- Open the read copy (data/vats.read.duckdb) with the duckdb CLI, DBeaver, Python or Jupyter
-- and run any of them as written. "This week" is the latest week loaded (the current week
-- once `daily` runs). W, T_short and N come from kpi_settings, e.g.
--   update kpi_settings set recovery_window_s = 2 * 86400;  -- W = 48 h, every view follows

-- 1. Clients not called back this week: one row per lost contact, oldest first.
select
    mc.client,
    min(mc.started_at) as first_missed_at,
    max(mc.started_at) as last_missed_at,
    count(*) as missed_calls,
    string_agg(distinct mc.department, ', ') as departments,
    sum(mc.callback_attempts) as failed_callbacks
from missed_calls as mc
where mc.week_start = (select max(m.week_start) from missed_calls as m)
group by mc.lost_contact_id, mc.client
having count(mc.recovery) = 0 and max(mc.recovery_deadline_at) < now()
order by first_missed_at;

-- 2. Answer rate by department by day, last 14 days (with the company total).
select
    kd.local_date,
    coalesce(kd.department, 'ВСЕГО') as department,
    kd.offered,
    kd.answered,
    kd.missed,
    round(100 * kd.answer_rate, 1) as answer_rate_pct,
    round(100 * kd.service_level, 1) as service_level_pct
from kpi_daily as kd
where kd.local_date > (select max(d.local_date) from kpi_daily as d) - 14
order by kd.local_date, kd.is_total, kd.department;

-- 3. How fast does each department call back? Weekly, with the not-called-back count.
select
    kw.week_start,
    kw.department,
    kw.missed,
    kw.recovered_callback,
    kw.recovered_client,
    kw.not_called_back,
    round(kw.callback_median_s / 60, 1) as callback_median_min,
    round(kw.callback_p90_s / 60, 1) as callback_p90_min
from kpi_weekly as kw
where not kw.is_total
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

-- 5. When do we lose calls? Weekday x hour of the latest week, worst cells first.
select
    kh.weekday,
    kh.local_hour,
    kh.offered,
    kh.missed,
    kh.not_called_back,
    round(100 * kh.answer_rate, 1) as answer_rate_pct
from kpi_heatmap as kh
where kh.is_total and kh.week_start = (select max(h.week_start) from kpi_heatmap as h)
order by kh.missed desc, kh.weekday, kh.local_hour
limit 15;
