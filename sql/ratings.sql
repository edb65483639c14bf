create or replace view ratings as
select
    ce.uid,
    ce.rating,
    is_csat_rating(ce.rating) as is_csat,
    is_dsat_rating(ce.rating) as is_dsat,
    ce.started_at is not null as is_call_loaded,
    ce.direction,
    ce.status,
    ce.client,
    ce.user_login,
    ce.user_name,
    ce.department,
    ce.started_at,
    ce.local_date,
    ce.week_start,
    ce.duration_s,
    ce.record_url,
    ce.source
from calls_enriched as ce
where ce.rating between 1 and 5;

comment on view ratings is 'Every call a client rated (1-5), including a rating that arrived by webhook before the call''s history (is_call_loaded false: only uid, client, employee and rating are known yet). Calls without a rating are not here: not rated is never a score.';
comment on column ratings.rating is 'The client''s rating of the employee, 1 (worst) to 5 (best).';
comment on column ratings.is_csat is 'Rated 4 or 5 (satisfied).';
comment on column ratings.is_dsat is 'Rated 1 or 2 (dissatisfied).';
comment on column ratings.is_call_loaded is 'The call''s history has arrived (false: a webhook rating that came first; started_at and the buckets are null until it does).';
comment on column ratings.department is 'calls_enriched.department (the employee''s current department while the call is not loaded).';
