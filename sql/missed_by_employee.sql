create or replace view missed_by_employee as
with user_versions as (
    select
        uh.user_login,
        uh.user_name,
        scd2_version_from(uh.valid_from) as version_from,
        coalesce(uh.valid_to, 'infinity'::timestamptz) as version_to
    from users_history as uh
)

select
    mc.uid,
    r.user_login,
    uv.user_name,
    mc.department,
    mc.client,
    mc.diversion,
    mc.started_at,
    r.rang_at,
    mc.hours,
    mc.reason,
    mc.outcome,
    mc.recovered_by_login,
    mc.local_date,
    mc.local_hour,
    mc.weekday,
    mc.week_start
from missed_calls as mc
inner join employee_rings as r on r.callid = mc.uid and not r.is_accepted
left join user_versions as uv
    on
        uv.user_login = r.user_login
        and mc.started_at >= uv.version_from
        and (mc.started_at < uv.version_to or uv.version_to = 'infinity');

comment on view missed_by_employee is 'Who did not pick up: one row per missed call (missed_calls) and employee whose phone rang for it without that employee answering, from the PBX''s event webhooks (webhook_events: an INCOMING for the call id and the employee, no ACCEPTED of theirs). Empty without event webhooks: the call history names only the employee who answered, so a miss carries nobody.';
comment on column missed_by_employee.uid is 'The missed call (missed_calls.uid, the events'' callid).';
comment on column missed_by_employee.user_login is 'Employee whose phone rang (webhook_events.user_login).';
comment on column missed_by_employee.user_name is 'The employee''s name valid at the call''s start (users_history), null when the directory does not know the login.';
comment on column missed_by_employee.department is 'Department the call counts for (calls_enriched.department).';
comment on column missed_by_employee.rang_at is 'When the receiver got the first INCOMING of this call for this employee (UTC).';
comment on column missed_by_employee.hours is 'in_hours or after_hours (missed_calls.hours).';
comment on column missed_by_employee.outcome is 'The miss''s outcome as of the data cut-off (missed_calls.outcome).';
comment on column missed_by_employee.recovered_by_login is 'Employee who recovered the miss within W (callback or answering the client), if anyone.';
comment on column missed_by_employee.client is 'The client''s phone number (missed_calls.client).';
comment on column missed_by_employee.diversion is 'Our number the missed call came in on (missed_calls.diversion).';
comment on column missed_by_employee.started_at is 'Start of the missed call (UTC).';
comment on column missed_by_employee.reason is 'Why it was missed: offtime (out of hours), voicemail (destination vm/am), ivr (hung up in the menu), busy, cancel (the client hung up while ringing), no_answer (anything else).';
comment on column missed_by_employee.local_date is 'Local calendar day of the call (kpi_settings.tz).';
comment on column missed_by_employee.local_hour is 'Local hour of the call start, 0-23 (kpi_settings.tz).';
comment on column missed_by_employee.weekday is 'Local ISO weekday of the call: 1 = Monday ... 7 = Sunday.';
comment on column missed_by_employee.week_start is 'Monday (local date) of the call''s week.';
