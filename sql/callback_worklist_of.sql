-- The call-back worklist as it stood at the instant `as_of`: one row per client and
-- department whose misses nobody had talked to the client about by then (no conversation
-- over the PBX, no manual resolution recorded by `resolved_by`), each miss as it was.
-- callback_worklist is this at the data cut-off with every resolution recorded so far (one
-- recorded after the latest loaded call counts at once); a report reads the week before at
-- the same age as its own week (as_of = resolved_by = that instant).
--
-- A client missed by two departments has a row in each, with that department's misses only;
-- a row's labels (hours, segment, status, deadline, owner) are computed from the misses it
-- lists and from nothing else. Priority, 1 first: rows with a miss in working hours before
-- the others, then rows of repeated misses (two or more), then the earliest deadline (so
-- lost rows, whose deadline has passed, come before pending ones), then client and
-- department.
create or replace macro callback_worklist_of(as_of, resolved_by) as table
with rang_first as (
    -- whose phone rang first for a miss without that employee answering (event webhooks)
    select
        er.callid,
        arg_min(er.user_login, er.rang_at) as user_login
    from employee_rings as er
    where not er.is_accepted
    group by er.callid
),

open_misses as (
    select
        mc.uid,
        mc.client,
        mc.department,
        mc.started_at,
        mc.local_date,
        mc.diversion,
        mc.hours,
        mc.segment,
        mc.reason,
        mc.callback_attempts,
        mc.recovery_deadline_at,
        mc.lost_contact_id,
        coalesce(mc.user_login, rf.user_login) as employee_login,
        case
            when mc.user_login is not null then 'pbx'
            when rf.user_login is not null then 'events'
        end as employee_source
    from missed_calls as mc
    inner join (
        -- the open misses found first from the outcomes alone, so that only they are joined
        -- to what missed_calls adds (department, hours, reason, ...)
        select io.uid
        from inbound_outcomes as io
        where
            io.is_missed
            and not coalesce(io.next_contact_at <= as_of, false)
            and not coalesce(io.resolved_at <= resolved_by, false)
    ) as open_miss on open_miss.uid = mc.uid
    left join rang_first as rf on rf.callid = mc.uid
    where
        mc.client is not null
        and mc.started_at <= as_of
        and not coalesce(mc.next_contact_at <= as_of, false)
        and not coalesce(mc.resolved_at <= resolved_by, false)
),

named as (
    select
        om.*,
        en.user_name as employee_name
    from open_misses as om
    left join employee_names as en on en.user_login = om.employee_login
),

rows_of as (
    select
        n.client,
        n.department,
        count(*) as misses,
        min(n.started_at) as first_missed_at,
        max(n.started_at) as last_missed_at,
        min(n.local_date) as first_local_date,
        max(n.local_date) as last_local_date,
        min(n.recovery_deadline_at) as deadline_at,
        case
            when bool_or(n.segment = 'in_hours') then 'in_hours'
            when bool_or(n.segment = 'unrouted') then 'unrouted'
            else 'after_hours'
        end as segment,
        case when bool_or(n.hours = 'in_hours') then 'in_hours' else 'after_hours' end as hours,
        arg_max(n.employee_login, n.started_at) filter (where n.employee_login is not null)
            as owner_login,
        arg_max(n.employee_name, n.started_at) filter (where n.employee_login is not null)
            as owner_name,
        any_value(n.lost_contact_id) as lost_contact_id,
        list(
            struct_pack(
                uid := n.uid,
                started_at := n.started_at,
                local_date := n.local_date,
                diversion := n.diversion,
                hours := n.hours,
                segment := n.segment,
                reason := n.reason,
                callback_attempts := n.callback_attempts,
                recovery_deadline_at := n.recovery_deadline_at,
                is_window_over := n.recovery_deadline_at < as_of,
                employee_login := n.employee_login,
                employee_name := n.employee_name,
                employee_source := n.employee_source
            )
            order by n.started_at, n.uid
        ) as missed
    from named as n
    group by n.client, n.department
)

select
    row_number() over (
        order by
            r.hours = 'in_hours' desc,
            r.misses > 1 desc,
            r.deadline_at,
            r.client,
            r.department
    ) as priority,
    r.client,
    r.department,
    case when r.deadline_at < as_of then 'lost' else 'pending' end as status,
    r.deadline_at,
    r.misses,
    r.first_missed_at,
    r.last_missed_at,
    r.first_local_date,
    r.last_local_date,
    r.hours,
    r.segment,
    r.segment = 'in_hours' as is_headline,
    r.owner_login,
    r.owner_name,
    r.lost_contact_id,
    r.missed
from rows_of as r;
