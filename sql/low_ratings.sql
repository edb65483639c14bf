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
