create or replace view inbound_calls as
with schedule as (
    select
        ks.work_days,
        ks.work_start,
        ks.work_end
    from kpi_settings as ks
    limit 1
),

own_schedules as (
    select distinct dh.department from department_hours as dh
),

company_holidays as (
    select distinct h.holiday_date from holidays as h where h.department is null
),

department_holidays as (
    select distinct
        h.holiday_date,
        h.department
    from holidays as h
    where h.department is not null
),

inbound as (
    select
        ce.*,
        -- the PBX's own verdict first: offtime / onduty mean it considered the company closed
        case
            when ce.destination in ('offtime', 'onduty') then false
            when ch.holiday_date is not null or dho.holiday_date is not null then false
            when os.department is not null
                then coalesce(
                    ce.started_local::time >= dh.work_start
                    and ce.started_local::time < dh.work_end,
                    false
                )
            else coalesce(
                list_contains(s.work_days, ce.weekday)
                and ce.started_local::time >= s.work_start
                and ce.started_local::time < s.work_end,
                false
            )
        end as is_in_hours
    from calls_enriched as ce
    cross join schedule as s
    left join company_holidays as ch on ch.holiday_date = ce.local_date
    left join department_holidays as dho
        on dho.holiday_date = ce.local_date and dho.department = ce.department
    left join own_schedules as os on os.department = ce.department
    left join department_hours as dh
        on dh.department = ce.department and dh.weekday = ce.weekday
    where ce.direction = 'in' and ce.started_at is not null
),

segmented as (
    select
        i.*,
        -- every call is in exactly one segment, so offered adds up over the three
        case
            when not i.is_in_hours then 'after_hours'
            when i.department = 'Без отдела' then 'unrouted'
            else 'in_hours'
        end as segment
    from inbound as i
)

select
    i.uid,
    i.client,
    i.diversion,
    i.destination,
    i.status,
    i.user_login,
    i.user_name,
    i.group_name,
    i.department,
    i.user_department,
    i.started_at,
    i.started_local,
    i.local_date,
    i.local_hour,
    i.weekday,
    i.week_start,
    case when i.is_in_hours then 'in_hours' else 'after_hours' end as hours,
    i.wait_s,
    i.duration_s,
    i.record_url,
    i.rating,
    io.is_answered,
    io.is_short_abandon,
    io.is_missed,
    io.is_within_service_level,
    io.is_repeat_caller,
    io.recovery,
    io.recovered_at,
    io.time_to_recovery_s,
    io.recovered_by_login,
    io.callback_attempts,
    io.recovery_deadline_at,
    io.lost_contact_id,
    io.next_contact_at,
    io.resolved_at,
    io.outcome,
    case
        when not io.is_missed then null
        when i.destination = 'offtime' then 'offtime'
        when i.destination in ('vm', 'am') then 'voicemail'
        when i.destination = 'ivr' then 'ivr'
        when i.status = 'busy' then 'busy'
        when i.status = 'cancel' then 'cancel'
        else 'no_answer'
    end as reason,
    i.segment,
    i.segment = 'in_hours' as is_headline
from segmented as i
inner join inbound_outcomes as io on io.uid = i.uid;

comment on view inbound_calls is 'Inbound external calls (the KPIs'' "offered") with their local buckets, the department they count for (calls_enriched) and their outcome under kpi_settings (inbound_outcomes): answered, short abandon, missed, service level, repeat caller, recovery. Every KPI view aggregates this. Each call is classified in_hours / after_hours (column hours). Calls whose history has not arrived (no started_at) are not here.';
comment on column inbound_calls.is_answered is 'status = success.';
comment on column inbound_calls.is_short_abandon is 'Not answered and wait_s < kpi_settings.short_abandon_s (T_short): the client hung up too soon to count as missed.';
comment on column inbound_calls.is_missed is 'Not answered and not a short abandon (one row of missed_calls each).';
comment on column inbound_calls.is_within_service_level is 'Answered with wait_s <= kpi_settings.service_level_s (N).';
comment on column inbound_calls.is_repeat_caller is 'The same client made another inbound call at most kpi_settings.repeat_window_s (7 days) before or after this one, i.e. the number had >= 2 calls within 7 days.';
comment on column inbound_calls.recovery is 'For a miss: callback, client_called_again or null (not called back within W); null for other calls.';
comment on column inbound_calls.recovered_at is 'For a recovered miss: start (UTC) of the recovering call.';
comment on column inbound_calls.time_to_recovery_s is 'For a recovered miss: seconds from the miss to recovered_at.';
comment on column inbound_calls.recovered_by_login is 'For a recovered miss: employee who called back or answered.';
comment on column inbound_calls.callback_attempts is 'For a miss: outgoing calls to the client within W up to the recovery.';
comment on column inbound_calls.recovery_deadline_at is 'For a miss: started_at + W (UTC).';
comment on column inbound_calls.lost_contact_id is 'For a miss: uid of the first miss of its lost contact.';
comment on column inbound_calls.hours is 'in_hours or after_hours. after_hours when the PBX itself treated the company as closed (destination offtime or onduty), on a day of holidays (the company''s or the department''s), or outside the department''s schedule: its rows of department_hours when it has any, else kpi_settings.work_days between work_start (included) and work_end (excluded), local time. Headline figures are in hours; nothing is dropped: offered = in hours + after hours.';
comment on column inbound_calls.department is 'Department the call counts for: the call''s group_name, else the employee''s department at call time, else ''Без отдела'' (calls_enriched.department).';
comment on column inbound_calls.weekday is 'Local ISO weekday of the call: 1 = Monday ... 7 = Sunday.';
comment on column inbound_calls.reason is 'For a miss, why it was missed: offtime (out of hours), voicemail (destination vm/am), ivr (hung up in the menu), busy, cancel (the client hung up while ringing), no_answer (anything else); null for other calls.';
comment on column inbound_calls.segment is 'in_hours (working hours, a department took the call), after_hours (hours = after_hours) or unrouted (working hours, no department: department ''Без отдела'', e.g. hung up in the IVR). Every call is in one segment: offered = the three added up.';
comment on column inbound_calls.is_headline is 'segment = in_hours: the calls the headline figures of the dashboards and the weekly email count.';
comment on column inbound_calls.resolved_at is 'For a miss: when its client was marked reached outside the PBX (manual_resolutions), the first such mark at or after the miss; null otherwise.';
comment on column inbound_calls.uid is 'The call (calls.uid: the PBX''s unique call id).';
comment on column inbound_calls.client is 'The client''s phone number as the PBX reports it.';
comment on column inbound_calls.diversion is 'Our number the inbound call came in on (the number dialled).';
comment on column inbound_calls.destination is 'Where an inbound call ended (spec 4.2): user, group, telnum, ivr, onduty, offtime, hello, vm, am. Null for outbound and CSV rows.';
comment on column inbound_calls.status is 'Lower-case canonical status: success, missed, cancel, busy, notavailable, notallowed, notfound (the platform''s noanswer and not_available are stored as missed and notavailable). A status outside that list is stored lower-cased as delivered, never dropped: it counts as not answered, and data_quality lists it. CSV rows only know success/missed.';
comment on column inbound_calls.user_login is 'Login of the employee on the call (calls.user_login: user, or account when user is empty).';
comment on column inbound_calls.user_name is 'Employee name delivered with the call, else the name of the employee''s version valid at call time.';
comment on column inbound_calls.group_name is 'Department the inbound call went through, as delivered with the call.';
comment on column inbound_calls.user_department is 'Department(s) the employee belonged to at the call''s start, comma separated (null when unknown).';
comment on column inbound_calls.started_at is 'Call start, UTC (TIMESTAMPTZ). Convert with VATS_TZ for local hours and days.';
comment on column inbound_calls.started_local is 'Call start as local wall-clock time in kpi_settings.tz (TIMESTAMP without zone).';
comment on column inbound_calls.local_date is 'Local calendar day of the call (kpi_settings.tz).';
comment on column inbound_calls.local_hour is 'Local hour of the call start, 0-23 (kpi_settings.tz).';
comment on column inbound_calls.week_start is 'Monday (local date) of the call''s week.';
comment on column inbound_calls.wait_s is 'Seconds the client waited on the line before answer or hang-up.';
comment on column inbound_calls.duration_s is 'Duration in seconds AS DELIVERED by the PBX. Its meaning is disputed across clients (talk time vs. whole call); we store it unchanged.';
comment on column inbound_calls.record_url is 'Link to the recording, when recording is on.';
comment on column inbound_calls.rating is 'Client''s rating 1-5 of the employee; null = not rated (never a score).';
comment on column inbound_calls.next_contact_at is 'For a miss: start (UTC) of the first conversation with the client after it, at any distance: a successful callback (duration > 0) or an answered inbound call. Equals recovered_at when that came within W; null while nobody has talked to the client since.';
comment on column inbound_calls.outcome is 'For a miss, as of the data cut-off (data_cutoff.cutoff_at, the latest loaded call; miss_outcome): recovered (a callback or the client''s answered call within W, the end of W included), recovered_late (the first conversation, in either direction, came after W), resolved_manually (the client was reached outside the PBX: a row of manual_resolutions after the miss and before any later conversation; never a callback), pending (W has not ended at the cut-off and nobody has talked to the client yet), lost (W ended before the cut-off and nobody has talked to the client since). Null for calls that are not misses. Re-evaluated at every read: a client reached later is never lost.';
