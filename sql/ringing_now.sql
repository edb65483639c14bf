create or replace view ringing_now as
with per_call as (
    select
        e.callid,
        coalesce(
            max(e.direction),
            max(case e.type when 'INCOMING' then 'in' when 'OUTGOING' then 'out' end)
        ) as direction,
        max(e.client) as client,
        max(e.diversion) as diversion,
        max(e.group_name) as group_name,
        list_sort(list_distinct(list(e.user_login))) as user_logins,
        min(e.received_at) as ringing_since,
        max(e.received_at) as last_event_at,
        bool_or(e.type in ('INCOMING', 'OUTGOING')) as has_start,
        bool_or(e.type in ('ACCEPTED', 'COMPLETED', 'CANCELLED')) as has_end
    from webhook_events as e
    where e.cmd = 'event' and e.received_at >= now() - interval 15 minute
    group by e.callid
)
select
    p.callid,
    p.direction,
    p.client,
    p.diversion,
    p.group_name,
    p.user_logins,
    p.ringing_since,
    p.last_event_at,
    date_diff('second', p.ringing_since, now()) as ringing_s
from per_call as p
where
    p.has_start
    and not p.has_end
    and not exists (select 1 from calls as c where c.uid = p.callid);

comment on view ringing_now is 'Calls ringing right now: an INCOMING or OUTGOING event in the last 15 minutes and no ACCEPTED, COMPLETED or CANCELLED event nor history row yet. Fed by the webhook receiver (applied every ~0.5 s).';
comment on column ringing_now.callid is 'The call''s uid.';
comment on column ringing_now.direction is 'in or out (from the events'' direction, else INCOMING = in, OUTGOING = out).';
comment on column ringing_now.client is 'The client''s phone number.';
comment on column ringing_now.diversion is 'Our number an inbound call came in on.';
comment on column ringing_now.group_name is 'Department the call is ringing in, when it goes through one.';
comment on column ringing_now.user_logins is 'Employees whose phones ring (sorted logins).';
comment on column ringing_now.ringing_since is 'When the first event of the call was received (UTC).';
comment on column ringing_now.last_event_at is 'When the latest event of the call was received (UTC).';
comment on column ringing_now.ringing_s is 'Seconds since ringing_since.';
