create or replace view low_ratings as
select
    r.uid,
    r.rating,
    r.started_at,
    r.local_date,
    r.week_start,
    r.client,
    r.user_login,
    r.user_name,
    r.department,
    r.duration_s,
    r.record_url,
    r.is_call_loaded
from ratings as r
where r.is_dsat;

comment on view low_ratings is 'Calls rated 1 or 2, with the recording link to listen to: the list a manager works through.';
comment on column low_ratings.record_url is 'Link to the call''s recording (null when recording was off or the call''s history has not arrived).';
comment on column low_ratings.is_call_loaded is 'False when the rating came by webhook before the call''s history.';
comment on column low_ratings.uid is 'The call (calls.uid: the PBX''s unique call id).';
comment on column low_ratings.rating is 'The client''s rating of the employee, 1 (worst) to 5 (best).';
comment on column low_ratings.started_at is 'Call start, UTC (TIMESTAMPTZ). Convert with VATS_TZ for local hours and days.';
comment on column low_ratings.local_date is 'Local calendar day of the call (kpi_settings.tz).';
comment on column low_ratings.week_start is 'Monday (local date) of the call''s week.';
comment on column low_ratings.client is 'The client''s phone number as the PBX reports it.';
comment on column low_ratings.user_login is 'Login of the employee on the call (calls.user_login: user, or account when user is empty).';
comment on column low_ratings.user_name is 'Employee name delivered with the call, else the name of the employee''s version valid at call time.';
comment on column low_ratings.department is 'calls_enriched.department (the employee''s current department while the call is not loaded).';
comment on column low_ratings.duration_s is 'Duration in seconds AS DELIVERED by the PBX. Its meaning is disputed across clients (talk time vs. whole call); we store it unchanged.';
