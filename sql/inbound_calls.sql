create or replace view inbound_calls as
select
    ce.uid,
    ce.client,
    ce.diversion,
    ce.destination,
    ce.status,
    ce.user_login,
    ce.user_name,
    ce.group_name,
    ce.department,
    ce.user_department,
    ce.started_at,
    ce.started_local,
    ce.local_date,
    ce.local_hour,
    ce.weekday,
    ce.week_start,
    ce.wait_s,
    ce.duration_s,
    ce.record_url,
    ce.rating,
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
    io.lost_contact_id
from calls_enriched as ce
inner join inbound_outcomes as io on io.uid = ce.uid
where ce.direction = 'in' and ce.started_at is not null;

comment on view inbound_calls is 'Inbound external calls (the KPIs'' "offered") with their local buckets, the department they count for (calls_enriched) and their outcome under kpi_settings (inbound_outcomes): answered, short abandon, missed, service level, repeat caller, recovery. Every KPI view aggregates this. Calls whose history has not arrived (no started_at) are not here.';
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
