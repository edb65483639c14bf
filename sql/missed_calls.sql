create or replace view missed_calls as
select
    ic.uid,
    ic.client,
    ic.started_at,
    ic.diversion,
    ic.group_name,
    ic.department,
    ic.user_login,
    ic.wait_s,
    ic.hours,
    ic.reason,
    ic.recovery,
    ic.recovered_at,
    ic.time_to_recovery_s,
    ic.recovered_by_login,
    ic.callback_attempts,
    ic.recovery_deadline_at,
    ic.lost_contact_id,
    ic.next_contact_at,
    ic.resolved_at,
    ic.outcome,
    ic.local_date,
    ic.local_hour,
    ic.weekday,
    ic.week_start,
    ic.segment,
    ic.is_headline
from inbound_calls as ic
where ic.is_missed;

comment on view missed_calls is 'One row per missed inbound call (not answered; short abandons excluded) with its recovery and outcome, W = kpi_settings.recovery_window_s (counted as kpi_settings.recovery_window_basis says): recovered by callback when an outgoing call to the same client succeeds with duration > 0 within W (its end included); recovered by the client when the client calls again within W and is answered; whichever comes first; otherwise not called back (recovery null). outcome says where the miss stands now: recovered, recovered_late, resolved_manually, pending or lost. Whom to call: callback_worklist (the misses still pending or lost, one row per client and department).';
comment on column missed_calls.department is 'Department the call counts for (calls_enriched.department).';
comment on column missed_calls.user_login is 'Employee the missed call was delivered to, when the PBX reports one.';
comment on column missed_calls.reason is 'Why it was missed: offtime (out of hours), voicemail (destination vm/am), ivr (hung up in the menu), busy, cancel (the client hung up while ringing), no_answer (anything else).';
comment on column missed_calls.recovery is 'callback, client_called_again, or null = not called back within W.';
comment on column missed_calls.hours is 'in_hours or after_hours (inbound_calls.hours: the PBX''s verdict, holidays, then the working hours of kpi_settings / department_hours).';
comment on column missed_calls.next_contact_at is 'Start (UTC) of the first conversation with the client after the miss, in either direction and at any distance (= recovered_at when within W); null while nobody has talked to the client since.';
comment on column missed_calls.outcome is 'As of the data cut-off (data_cutoff.cutoff_at): recovered (within W, its end included), recovered_late (the first conversation came after W), resolved_manually (the client was reached outside the PBX — `vats-etl resolve`, manual_resolutions — before any later conversation: never counted as a callback), pending (W not over yet, nobody has talked to the client), lost (W over, nobody has talked to the client since). Re-evaluated at every read.';
comment on column missed_calls.recovered_at is 'Start (UTC) of the call that recovered the miss: the first successful callback or answered inbound call of the client within W.';
comment on column missed_calls.time_to_recovery_s is 'Seconds from the missed call''s start to recovered_at.';
comment on column missed_calls.recovered_by_login is 'Employee who made the callback or answered the client''s call.';
comment on column missed_calls.callback_attempts is 'Outgoing calls to the client after the miss, within W and up to the recovery (the successful callback included).';
comment on column missed_calls.recovery_deadline_at is 'started_at + W (UTC): later calls no longer recover this miss.';
comment on column missed_calls.lost_contact_id is 'uid of the first miss of a "lost contact": misses of one client collapse into one contact until the client and the company talk (an answered inbound call or a successful callback, at any time).';
comment on column missed_calls.resolved_at is 'When the client was marked reached outside the PBX (manual_resolutions.resolved_at, the first such mark at or after the miss); null otherwise.';
comment on column missed_calls.uid is 'The call (calls.uid: the PBX''s unique call id).';
comment on column missed_calls.client is 'The client''s phone number as the PBX reports it.';
comment on column missed_calls.started_at is 'Call start, UTC (TIMESTAMPTZ). Convert with VATS_TZ for local hours and days.';
comment on column missed_calls.diversion is 'Our number the inbound call came in on (the number dialled).';
comment on column missed_calls.group_name is 'Department the inbound call went through, as delivered with the call.';
comment on column missed_calls.wait_s is 'Seconds the client waited on the line before answer or hang-up.';
comment on column missed_calls.local_date is 'Local calendar day of the call (kpi_settings.tz).';
comment on column missed_calls.local_hour is 'Local hour of the call start, 0-23 (kpi_settings.tz).';
comment on column missed_calls.weekday is 'Local ISO weekday of the call: 1 = Monday ... 7 = Sunday.';
comment on column missed_calls.week_start is 'Monday (local date) of the call''s week.';
comment on column missed_calls.segment is 'in_hours (working hours, a department took the call), after_hours (hours = after_hours) or unrouted (working hours, no department: department ''Без отдела'', e.g. hung up in the IVR). Every call is in one segment: offered = the three added up.';
comment on column missed_calls.is_headline is 'segment = in_hours: the calls the headline figures of the dashboards and the weekly email count.';
