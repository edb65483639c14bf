-- The KPI outcome of every inbound call among `source_calls` (a relation with the columns of
-- calls) under `settings` (a relation with kpi_settings' columns, one row or none): the body
-- of the view inbound_outcomes, and what refreshes its cache for a few clients at a time
-- (vats_etl.warehouse.refresh_outcomes_cache). Also returns each call's client and started_at,
-- which the cache keeps to know what a later change of a call touches. Everything here
-- depends on the client's calls only; a miss's outcome (pending or lost) also depends on the
-- data cut-off, so the view inbound_outcomes derives it at read time from next_contact_at.
-- W ends at started_at + W of calendar time, or, when kpi_settings.recovery_window_basis is
-- 'working', after W of the department's working time (working_deadlines_of): then a miss's
-- department (call_department, as calls_enriched names it) and the schedules count too.
create or replace macro inbound_outcomes_of(source_calls, settings) as table
with classified as materialized (
    select
        c.uid,
        c.client,
        c.started_at,
        c.user_login,
        c.group_name,
        coalesce(ls.recovery_window_basis = 'working', false) as is_working_window,
        c.direction = 'in' as is_inbound,
        c.direction = 'out' as is_outbound,
        is_answered_call(c.direction, c.status) as is_answered,
        c.direction = 'in'
        and coalesce(c.status <> 'success', true)
        and coalesce(c.wait_s < ls.short_abandon_s, false) as is_short_abandon,
        coalesce(c.wait_s <= ls.service_level_s, false) as is_quick,
        is_callback_call(c.direction, c.status, c.duration_s) as is_callback,
        to_seconds(ls.recovery_window_s) as recovery_window,
        to_seconds(ls.repeat_window_s) as repeat_window
    from query_table(source_calls) as c
    cross join query_table(settings) as ls
    where c.started_at is not null and c.direction in ('in', 'out')
),

working_misses as (
    -- only when W counts working time (else empty): each miss with its department
    select
        cl.uid,
        cl.started_at,
        call_department(cl.group_name, uds.user_department) as department
    from classified as cl
    left join user_department_spans as uds
        on
            uds.user_login = cl.user_login
            and cl.started_at >= uds.span_from
            and (cl.started_at < uds.span_to or uds.span_to = 'infinity')
    where
        cl.is_working_window
        and cl.is_inbound
        and not cl.is_answered
        and not cl.is_short_abandon
),

deadlines as materialized (
    -- every miss's end of W: started_at + W, or W of working time after it
    select
        cl.uid,
        coalesce(wd.recovery_deadline_at, cl.started_at + cl.recovery_window)
            as recovery_deadline_at
    from classified as cl
    left join working_deadlines_of(working_misses, settings) as wd on wd.uid = cl.uid
    where cl.is_inbound and not cl.is_answered and not cl.is_short_abandon
),

timeline as (
    -- every call of a known client, plus a marker at each miss's deadline (the end of W)
    select
        cl.*,
        cl.is_inbound and not cl.is_answered and not cl.is_short_abandon as is_missed,
        false as is_marker
    from classified as cl
    where cl.client is not null
    union all
    select
        cl.uid,
        cl.client,
        dl.recovery_deadline_at as started_at,
        cl.user_login,
        cl.group_name,
        cl.is_working_window,
        false as is_inbound,
        false as is_outbound,
        false as is_answered,
        false as is_short_abandon,
        false as is_quick,
        false as is_callback,
        cl.recovery_window,
        cl.repeat_window,
        false as is_missed,
        true as is_marker
    from classified as cl
    inner join deadlines as dl on dl.uid = cl.uid
    where cl.client is not null
),

sequenced as materialized (
    -- one pass over each client's calls in time order (markers after calls of the same second)
    select
        t.*,
        lag(case when t.is_inbound then t.started_at end ignore nulls) over by_client
            as previous_inbound_at,
        lead(case when t.is_inbound then t.started_at end ignore nulls) over by_client
            as next_inbound_at,
        lead(case when t.is_callback then t.uid end ignore nulls) over by_client
            as next_callback_uid,
        lead(case when t.is_answered then t.uid end ignore nulls) over by_client
            as next_answered_uid,
        count_if(t.is_outbound) over (by_client rows unbounded preceding) as outbound_seq,
        count_if(t.is_callback or t.is_answered) over (by_client rows unbounded preceding)
            as conversations_before
    from timeline as t
    window by_client as (partition by t.client order by t.started_at, t.is_marker, t.uid)
),

conversations as (
    select
        sq.uid,
        sq.started_at,
        sq.user_login,
        sq.outbound_seq
    from sequenced as sq
    where sq.is_callback or sq.is_answered
),

misses as (
    select
        sq.*,
        first_value(sq.uid) over (
            partition by sq.client, sq.conversations_before
            order by sq.started_at, sq.uid
        ) as lost_contact_id
    from sequenced as sq
    where sq.is_missed
),

recoveries as (
    -- the marker mk is the miss's end of W (its started_at)
    select
        m.uid,
        m.lost_contact_id,
        case
            when cb.started_at <= mk.started_at
                and cb.started_at <= coalesce(ai.started_at, cb.started_at) then 'callback'
            when ai.started_at <= mk.started_at then 'client_called_again'
        end as recovery,
        case when cb.started_at <= mk.started_at then cb.started_at end as callback_at,
        case when ai.started_at <= mk.started_at then ai.started_at end as answered_at,
        -- the first conversation after the miss at any distance (the recovery when within W)
        least(cb.started_at, ai.started_at) as next_contact_at,
        cb.user_login as callback_login,
        ai.user_login as answered_login,
        cb.outbound_seq - m.outbound_seq as attempts_to_callback,
        ai.outbound_seq - m.outbound_seq as attempts_to_answer,
        mk.outbound_seq - m.outbound_seq as attempts_in_window
    from misses as m
    left join conversations as cb on cb.uid = m.next_callback_uid
    left join conversations as ai on ai.uid = m.next_answered_uid
    left join sequenced as mk on mk.uid = m.uid and mk.is_marker
),

inbound as (
    -- every inbound call once: from the timeline when the client is known, else from calls
    select
        sq.uid,
        sq.client,
        sq.started_at,
        sq.is_answered,
        sq.is_short_abandon,
        sq.is_quick,
        coalesce(
            sq.started_at - sq.previous_inbound_at <= sq.repeat_window
            or sq.next_inbound_at - sq.started_at <= sq.repeat_window,
            false
        ) as is_repeat_caller
    from sequenced as sq
    where sq.is_inbound
    union all
    select
        cl.uid,
        cl.client,
        cl.started_at,
        cl.is_answered,
        cl.is_short_abandon,
        cl.is_quick,
        false as is_repeat_caller
    from classified as cl
    where cl.is_inbound and cl.client is null
),

live as (
    select
        i.uid,
        i.is_answered,
        i.is_short_abandon,
        not i.is_answered and not i.is_short_abandon as is_missed,
        i.is_answered and i.is_quick as is_within_service_level,
        i.is_repeat_caller,
        r.recovery,
        case r.recovery
            when 'callback' then r.callback_at
            when 'client_called_again' then r.answered_at
        end as recovered_at,
        case r.recovery
            when 'callback' then r.callback_login
            when 'client_called_again' then r.answered_login
        end as recovered_by_login,
        case r.recovery
            when 'callback' then r.attempts_to_callback
            when 'client_called_again' then r.attempts_to_answer
            else r.attempts_in_window
        end as callback_attempts,
        dl.recovery_deadline_at,
        case
            when not i.is_answered and not i.is_short_abandon
                then coalesce(r.lost_contact_id, i.uid)
        end as lost_contact_id,
        r.next_contact_at,
        i.client,
        i.started_at
    from inbound as i
    left join recoveries as r on r.uid = i.uid
    left join deadlines as dl on dl.uid = i.uid
)

select
    l.uid,
    l.is_answered,
    l.is_short_abandon,
    l.is_missed,
    l.is_within_service_level,
    l.is_repeat_caller,
    l.recovery,
    l.recovered_at,
    date_diff('second', l.started_at, l.recovered_at) as time_to_recovery_s,
    l.recovered_by_login,
    case when l.is_missed then coalesce(l.callback_attempts, 0) end::bigint as callback_attempts,
    l.recovery_deadline_at,
    l.lost_contact_id,
    l.next_contact_at,
    l.client,
    l.started_at
from live as l;
