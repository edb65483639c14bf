create or replace view inbound_outcomes as
with settings as (
    select
        ks.short_abandon_s,
        ks.service_level_s,
        ks.recovery_window_s,
        ks.repeat_window_s,
        ks.recovery_window_basis,
        ks.tz,
        ks.work_days,
        ks.work_start,
        ks.work_end,
        recovery_window_inputs() as recovery_window_inputs
    from kpi_settings as ks
    limit 1
),

calls_state as (
    select
        count(*) as calls_rows,
        max(c.loaded_at) as calls_loaded_at
    from calls as c
),

state as (
    select
        s.*,
        coalesce(
            vc.short_abandon_s = s.short_abandon_s
            and vc.service_level_s = s.service_level_s
            and vc.recovery_window_s = s.recovery_window_s
            and vc.repeat_window_s = s.repeat_window_s
            and vc.recovery_window_basis is not distinct from s.recovery_window_basis
            and vc.recovery_window_inputs = s.recovery_window_inputs
            and vc.calls_rows = cs.calls_rows
            and vc.calls_loaded_at is not distinct from cs.calls_loaded_at,
            false
        ) as is_cached
    from settings as s
    cross join calls_state as cs
    left join view_caches as vc on vc.relation = 'inbound_outcomes'
),

live_settings as (
    -- empty while the cache is valid: then inbound_outcomes_of computes nothing
    select st.* from state as st where not st.is_cached
),

outcomes as (
    select
        o.uid,
        o.is_answered,
        o.is_short_abandon,
        o.is_missed,
        o.is_within_service_level,
        o.is_repeat_caller,
        o.recovery,
        o.recovered_at,
        o.time_to_recovery_s,
        o.recovered_by_login,
        o.callback_attempts,
        o.recovery_deadline_at,
        o.lost_contact_id,
        o.next_contact_at,
        o.client,
        o.started_at
    from inbound_outcomes_of(calls, live_settings) as o
    union all
    select
        oc.uid,
        oc.is_answered,
        oc.is_short_abandon,
        oc.is_missed,
        oc.is_within_service_level,
        oc.is_repeat_caller,
        oc.recovery,
        oc.recovered_at,
        oc.time_to_recovery_s,
        oc.recovered_by_login,
        oc.callback_attempts,
        oc.recovery_deadline_at,
        oc.lost_contact_id,
        oc.next_contact_at,
        oc.client,
        oc.started_at
    from inbound_outcomes_cache as oc
    where (select st.is_cached from state as st)
),

resolutions as (
    -- a client's manual resolutions, in time order (few clients have any)
    select
        mr.client,
        list(mr.resolved_at order by mr.resolved_at) as resolved_at
    from manual_resolutions as mr
    group by mr.client
),

resolved as (
    -- each call with the first manual resolution of its client at or after it, if any (a
    -- join on the client, not an as-of join: that sorted every inbound call, ~0.3 s a year)
    select
        io.*,
        list_filter(r.resolved_at, lambda t: t >= io.started_at)[1] as resolved_at
    from outcomes as io
    left join resolutions as r on r.client = io.client
)

-- the outcome depends on the cut-off and on manual resolutions, so it is derived here,
-- never cached
select
    rs.uid,
    rs.is_answered,
    rs.is_short_abandon,
    rs.is_missed,
    rs.is_within_service_level,
    rs.is_repeat_caller,
    rs.recovery,
    rs.recovered_at,
    rs.time_to_recovery_s,
    rs.recovered_by_login,
    rs.callback_attempts,
    rs.recovery_deadline_at,
    rs.lost_contact_id,
    rs.next_contact_at,
    case when rs.is_missed then rs.resolved_at end as resolved_at,
    -- a resolution recorded after the latest loaded call counts at once: as of the cut-off
    -- (least() skips nulls: a miss without one must keep null)
    miss_outcome(
        rs.is_missed, rs.recovered_at, rs.next_contact_at,
        case when rs.resolved_at is not null then least(rs.resolved_at, dc.cutoff_at) end,
        rs.recovery_deadline_at, dc.cutoff_at
    ) as outcome
from resolved as rs
cross join data_cutoff as dc;

comment on view inbound_outcomes is 'What every inbound call (calls with direction in and a start time) is under the call-center KPI definitions, from calls and kpi_settings only: answered, short abandon or missed, within the service level, repeat caller, and for each miss its recovery within W and its lost contact (the definitions, term by term: docs/metrics.md). One pass over each client''s calls in time order. Served from inbound_outcomes_cache while view_caches says the cache matches calls and kpi_settings (and, when W counts working time, the working hours, holidays and department history: recovery_window_inputs), computed live otherwise (same rows, slower). Read it through inbound_calls / missed_calls.';
comment on column inbound_outcomes.is_answered is 'status = success.';
comment on column inbound_outcomes.is_short_abandon is 'Not answered and wait_s < kpi_settings.short_abandon_s (T_short).';
comment on column inbound_outcomes.is_missed is 'Not answered and not a short abandon.';
comment on column inbound_outcomes.is_within_service_level is 'Answered with wait_s <= kpi_settings.service_level_s (N).';
comment on column inbound_outcomes.is_repeat_caller is 'Another inbound call of the same client at most kpi_settings.repeat_window_s (7 days) before or after this one.';
comment on column inbound_outcomes.recovery is 'For a miss: callback (first an outgoing call to the client succeeded with duration > 0 within W), client_called_again (first the client''s inbound call within W was answered) or null (not called back).';
comment on column inbound_outcomes.recovered_at is 'Start (UTC) of the recovering call.';
comment on column inbound_outcomes.time_to_recovery_s is 'Seconds from the miss to recovered_at.';
comment on column inbound_outcomes.recovered_by_login is 'Employee who made the callback or answered the client.';
comment on column inbound_outcomes.callback_attempts is 'For a miss: outgoing calls to the client after it, within W and up to the recovery (a successful callback included).';
comment on column inbound_outcomes.recovery_deadline_at is 'For a miss: the end of its recovery window W (included): started_at + W, or, with kpi_settings.recovery_window_basis = working, the instant W of its department''s working time has passed (working_deadlines_of).';
comment on column inbound_outcomes.lost_contact_id is 'For a miss: uid of the first miss of its lost contact (misses of one client with no conversation between them).';
comment on column inbound_outcomes.next_contact_at is 'For a miss: start (UTC) of the first conversation with the client after it, at any distance: a successful callback (duration > 0) or an answered inbound call. Equals recovered_at when that came within W; null while nobody has talked to the client since.';
comment on column inbound_outcomes.outcome is 'For a miss, as of the data cut-off (data_cutoff.cutoff_at, the latest loaded call; miss_outcome): recovered (a callback or the client''s answered call within W, the end of W included), recovered_late (the first conversation, in either direction, came after W), resolved_manually (the client was reached outside the PBX: a row of manual_resolutions after the miss and before any later conversation; never a callback), pending (W has not ended at the cut-off and nobody has talked to the client yet), lost (W ended before the cut-off and nobody has talked to the client since). Null for calls that are not misses. Re-evaluated at every read: a client reached later is never lost.';
comment on column inbound_outcomes.resolved_at is 'For a miss: when the first manual resolution of its client at or after the miss was recorded (manual_resolutions.resolved_at), if any.';
comment on column inbound_outcomes.uid is 'The inbound call (calls.uid).';
