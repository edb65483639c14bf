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
comment on column ratings.uid is 'The call (calls.uid: the PBX''s unique call id).';
comment on column ratings.direction is 'in = inbound (client called us), out = outbound.';
comment on column ratings.status is 'Lower-case canonical status: success, missed, cancel, busy, notavailable, notallowed, notfound (the platform''s noanswer and not_available are stored as missed and notavailable). A status outside that list is stored lower-cased as delivered, never dropped: it counts as not answered, and data_quality lists it. CSV rows only know success/missed.';
comment on column ratings.client is 'The client''s phone number as the PBX reports it.';
comment on column ratings.user_login is 'Login of the employee on the call (calls.user_login: user, or account when user is empty).';
comment on column ratings.user_name is 'Employee name delivered with the call, else the name of the employee''s version valid at call time.';
comment on column ratings.started_at is 'Call start, UTC (TIMESTAMPTZ). Convert with VATS_TZ for local hours and days.';
comment on column ratings.local_date is 'Local calendar day of the call (kpi_settings.tz).';
comment on column ratings.week_start is 'Monday (local date) of the call''s week.';
comment on column ratings.duration_s is 'Duration in seconds AS DELIVERED by the PBX. Its meaning is disputed across clients (talk time vs. whole call); we store it unchanged.';
comment on column ratings.record_url is 'Link to the recording, when recording is on.';
comment on column ratings.source is 'Which feed last set this row: api_json, api_csv or webhook (rank api_json > webhook > api_csv).';
