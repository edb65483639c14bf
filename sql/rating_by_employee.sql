create or replace view rating_by_employee as
with rated as (
    select
        r.user_login,
        arg_max(r.user_name, coalesce(r.started_at, 'infinity'::timestamptz)) as user_name,
        count(*) filter (where not r.is_call_loaded) as rated_without_call,
        unnest(rating_kpis(r.rating)),
        min(r.started_at) as first_rated_call_at,
        max(r.started_at) as last_rated_call_at
    from ratings as r
    where r.user_login is not null
    group by r.user_login
),

answered as (
    select
        c.user_login,
        count(*) as answered_calls
    from calls as c
    where is_answered_call(c.direction, c.status) and c.user_login is not null
    group by c.user_login
),

scored as (
    select
        rt.*,
        coalesce(a.answered_calls, 0) as answered_calls,
        is_ranked_sample(rt.rated_calls) as is_ranked
    from rated as rt
    left join answered as a on a.user_login = rt.user_login
)

select
    sc.user_login,
    coalesce(u.user_name, sc.user_name) as user_name,
    sc.rated_calls,
    sc.rated_without_call,
    sc.answered_calls,
    response_rate(sc.rated_calls, sc.answered_calls) as response_rate,
    sc.rating_mean,
    sc.csat_calls,
    sc.dsat_calls,
    sc.csat_share,
    sc.dsat_share,
    sc.csat_wilson_lower,
    sc.is_ranked,
    rating_rank(sc.csat_wilson_lower, sc.is_ranked) as rating_rank,
    sc.first_rated_call_at,
    sc.last_rated_call_at
from scored as sc
left join users as u on u.user_login = sc.user_login;

comment on view rating_by_employee is 'Client ratings per employee over all loaded history: counts, mean, CSAT/DSAT shares and the Wilson lower bound of the CSAT share, ranked only with at least kpi_settings.min_rating_sample ratings. Ratings that arrived before their call count here.';
comment on column rating_by_employee.user_name is 'Current name (users), else the name on the employee''s last rated call.';
comment on column rating_by_employee.rated_calls is 'Calls of the employee with a rating 1-5.';
comment on column rating_by_employee.rated_without_call is 'Of those, ratings whose call history has not arrived yet.';
comment on column rating_by_employee.answered_calls is 'Inbound calls the employee answered (status success).';
comment on column rating_by_employee.response_rate is 'rated_calls / answered_calls: how often clients rate the employee.';
comment on column rating_by_employee.rating_mean is 'Mean rating, 1-5.';
comment on column rating_by_employee.csat_share is 'Share of ratings that are 4 or 5.';
comment on column rating_by_employee.dsat_share is 'Share of ratings that are 1 or 2.';
comment on column rating_by_employee.csat_wilson_lower is 'Lower bound of the 95 % Wilson score interval of csat_share: a fair score for small samples (rank by this, not by the mean).';
comment on column rating_by_employee.is_ranked is 'rated_calls >= kpi_settings.min_rating_sample.';
comment on column rating_by_employee.rating_rank is '1 = best csat_wilson_lower among ranked employees; null when the sample is too small.';
comment on column rating_by_employee.csat_calls is 'Ratings of 4 or 5.';
comment on column rating_by_employee.dsat_calls is 'Ratings of 1 or 2.';
comment on column rating_by_employee.first_rated_call_at is 'Start (UTC) of the employee''s first rated call whose history is loaded.';
comment on column rating_by_employee.last_rated_call_at is 'Start (UTC) of the employee''s last rated call whose history is loaded.';
comment on column rating_by_employee.user_login is 'Login of the employee on the call (calls.user_login: user, or account when user is empty).';
