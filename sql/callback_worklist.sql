create or replace view callback_worklist as
select cw.*
from callback_worklist_of(
    (select dc.cutoff_at from data_cutoff as dc), 'infinity'::timestamptz
) as cw;

comment on view callback_worklist is 'Whom to call back, as of the data cut-off: one row per client and department with the misses nobody has talked to the client about since (missed_calls.outcome pending or lost; a client reached over the PBX, or marked reached outside it with `vats-etl resolve`, is not here until they miss again). A client missed by two departments has a row in each, with that department''s misses only, and every label of a row is computed from the misses it lists. Ordered by priority: rows with a miss in working hours first, then repeated misses (two or more), then the earliest deadline (lost rows before pending ones), then client. The dashboards'' and the weekly email''s "кому позвонить" (the lost rows with a miss in the period), their CSV and the daily call-back digest (callback_due) all show these rows.';
comment on column callback_worklist.priority is 'Rank in the order above, 1 = call first: a miss in working hours (hours = in_hours) before none, two or more misses before one, the earliest deadline_at first, then client and department.';
comment on column callback_worklist.client is 'The client''s number (missed_calls.client); misses of hidden numbers cannot be called back and are not listed.';
comment on column callback_worklist.department is 'Department the row''s misses count for (missed_calls.department; ''Без отдела'' for calls that reached none): the owner of the row.';
comment on column callback_worklist.status is 'lost: the recovery window of the row''s oldest miss is over (deadline_at before the cut-off); pending: every window is still open, a callback now still counts.';
comment on column callback_worklist.deadline_at is 'The earliest end of W among the row''s misses (UTC): for a lost row when it became lost, for a pending row when it will.';
comment on column callback_worklist.misses is 'How many misses the row lists (the length of missed).';
comment on column callback_worklist.first_missed_at is 'Start (UTC) of the row''s first miss.';
comment on column callback_worklist.last_missed_at is 'Start (UTC) of the row''s latest miss.';
comment on column callback_worklist.first_local_date is 'Local day (kpi_settings.tz) of the row''s first miss.';
comment on column callback_worklist.last_local_date is 'Local day of the row''s latest miss.';
comment on column callback_worklist.hours is 'in_hours when any of the row''s misses came in working hours, else after_hours.';
comment on column callback_worklist.segment is 'in_hours when any of the row''s misses is in the headline segment (working hours, a department), else unrouted (working hours, no department) when any is, else after_hours.';
comment on column callback_worklist.is_headline is 'segment = in_hours.';
comment on column callback_worklist.owner_login is 'The employee to call back: whom the row''s latest miss that names one was delivered to (missed_calls.user_login, when the PBX says so) or, from the event webhooks, whose phone rang first for it without an answer; null when nothing says.';
comment on column callback_worklist.owner_name is 'owner_login''s name (employee_names: the directory, else the calls'' own user_name).';
comment on column callback_worklist.lost_contact_id is 'missed_calls.lost_contact_id of the client''s open misses (the same for the client''s rows in every department).';
comment on column callback_worklist.missed is 'The row''s misses, oldest first, each as it was: uid, started_at (UTC), local_date, diversion (the number dialled), hours, segment, reason, callback_attempts (outgoing calls to the client in its window), recovery_deadline_at (its end of W), is_window_over, employee_login / employee_name (whom it was delivered to or rang first) and employee_source (pbx or events).';
