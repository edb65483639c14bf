create or replace view calls_enriched as
with settings as (
    select ks.tz from kpi_settings as ks limit 1
),

user_versions as (
    select
        uh.user_login,
        uh.user_name,
        uh.position,
        uh.role,
        uh.ext,
        scd2_version_from(uh.valid_from) as version_from,
        coalesce(uh.valid_to, 'infinity'::timestamptz) as version_to
    from users_history as uh
),

probed as (
    -- a call without history (a rating that came by webhook first) is enriched as of now
    select
        c.*,
        coalesce(c.started_at, 'infinity'::timestamptz) as probe_at
    from calls as c
),

joined as (
    -- versions of one key never overlap, so each call matches at most one of each
    select
        p.*,
        uv.user_name as version_user_name,
        uv.position as user_position,
        uv.role as user_role,
        uv.ext as user_ext,
        uds.user_department
    from probed as p
    left join user_versions as uv
        on
            uv.user_login = p.user_login
            and p.probe_at >= uv.version_from
            and (p.probe_at < uv.version_to or uv.version_to = 'infinity')
    left join user_department_spans as uds
        on
            uds.user_login = p.user_login
            and p.probe_at >= uds.span_from
            and (p.probe_at < uds.span_to or uds.span_to = 'infinity')
),

localized as (
    select
        j.*,
        timezone(s.tz, j.started_at) as started_local
    from joined as j
    cross join settings as s
)

select
    l.uid,
    l.direction,
    l.status,
    l.client,
    l.diversion,
    l.destination,
    l.user_login,
    coalesce(l.user_name, l.version_user_name) as user_name,
    l.group_name,
    l.started_at,
    l.wait_s,
    l.duration_s,
    l.record_url,
    l.rating,
    l.source,
    l.loaded_at,
    l.started_local,
    l.started_local::date as local_date,
    hour(l.started_local) as local_hour,
    isodow(l.started_local) as weekday,
    date_trunc('week', l.started_local)::date as week_start,
    l.user_position,
    l.user_role,
    l.user_ext,
    l.user_department,
    call_department(l.group_name, l.user_department) as department
from localized as l;

comment on view calls_enriched is 'Every external call (calls) with local time buckets in kpi_settings.tz and the employee''s attributes valid at the call''s start (point in time, from users_history and group_members_history), not today''s. A rating that arrived by webhook before its call''s history (started_at null) gets the employee''s current attributes.';
comment on column calls_enriched.user_name is 'Employee name delivered with the call, else the name of the employee''s version valid at call time.';
comment on column calls_enriched.started_local is 'Call start as local wall-clock time in kpi_settings.tz (TIMESTAMP without zone).';
comment on column calls_enriched.local_date is 'Local calendar day of the call (kpi_settings.tz).';
comment on column calls_enriched.local_hour is 'Local hour of the call start, 0-23 (kpi_settings.tz).';
comment on column calls_enriched.weekday is 'Local ISO weekday of the call: 1 = Monday ... 7 = Sunday.';
comment on column calls_enriched.week_start is 'Monday (local date) of the call''s week.';
comment on column calls_enriched.user_position is 'Employee''s position valid at call time (users_history).';
comment on column calls_enriched.user_role is 'Employee''s PBX role valid at call time (users_history).';
comment on column calls_enriched.user_ext is 'Employee''s extension valid at call time (users_history).';
comment on column calls_enriched.user_department is 'Department(s) the employee belonged to at the call''s start, comma separated (null when unknown).';
comment on column calls_enriched.department is 'Department the call is counted for: the call''s group_name, else the employee''s department at call time, else ''Без отдела''.';
comment on column calls_enriched.user_login is 'Login of the employee on the call (calls.user_login: user, or account when user is empty).';
comment on column calls_enriched.uid is 'The call (calls.uid: the PBX''s unique call id).';
comment on column calls_enriched.direction is 'in = inbound (client called us), out = outbound.';
comment on column calls_enriched.status is 'Lower-case canonical status: success, missed, cancel, busy, notavailable, notallowed, notfound (the platform''s noanswer and not_available are stored as missed and notavailable). A status outside that list is stored lower-cased as delivered, never dropped: it counts as not answered, and data_quality lists it. CSV rows only know success/missed.';
comment on column calls_enriched.client is 'The client''s phone number as the PBX reports it.';
comment on column calls_enriched.diversion is 'Our number the inbound call came in on (the number dialled).';
comment on column calls_enriched.destination is 'Where an inbound call ended (spec 4.2): user, group, telnum, ivr, onduty, offtime, hello, vm, am. Null for outbound and CSV rows.';
comment on column calls_enriched.group_name is 'Department the inbound call went through, as delivered with the call.';
comment on column calls_enriched.started_at is 'Call start, UTC (TIMESTAMPTZ). Convert with VATS_TZ for local hours and days.';
comment on column calls_enriched.wait_s is 'Seconds the client waited on the line before answer or hang-up.';
comment on column calls_enriched.duration_s is 'Duration in seconds AS DELIVERED by the PBX. Its meaning is disputed across clients (talk time vs. whole call); we store it unchanged.';
comment on column calls_enriched.record_url is 'Link to the recording, when recording is on.';
comment on column calls_enriched.rating is 'Client''s rating 1-5 of the employee; null = not rated (never a score).';
comment on column calls_enriched.source is 'Which feed last set this row: api_json, api_csv or webhook (rank api_json > webhook > api_csv).';
comment on column calls_enriched.loaded_at is 'When this row last changed in the warehouse (UTC).';
