create or replace view missed_last_hour as
select
    c.uid,
    c.client,
    c.diversion,
    c.group_name,
    c.user_login,
    c.status,
    c.started_at,
    c.wait_s,
    (
        select min(b.started_at)
        from calls as b
        where
            b.client = c.client
            and b.direction = 'out'
            and b.status = 'success'
            and b.started_at > c.started_at
            and b.started_at >= now() - interval 1 hour
    ) as called_back_at,
    c.source
from calls as c
where
    c.direction = 'in'
    and c.status <> 'success'
    and c.started_at >= now() - interval 1 hour
order by c.started_at desc;

comment on view missed_last_hour is 'Inbound calls not answered that started in the last hour, newest first, with the first successful callback if any. Current to the second when the webhook receiver runs; short abandons are included (webhooks in the spec''s letter carry no wait time, so they cannot always be told apart here; see missed_calls for the KPI definition).';
comment on column missed_last_hour.uid is 'The call''s uid.';
comment on column missed_last_hour.client is 'The client''s phone number.';
comment on column missed_last_hour.diversion is 'Our number the call came in on.';
comment on column missed_last_hour.group_name is 'Department the call went through.';
comment on column missed_last_hour.user_login is 'Employee the call reached last, if any.';
comment on column missed_last_hour.status is 'Lower-case status (missed, cancel, busy, ...).';
comment on column missed_last_hour.started_at is 'Call start (UTC).';
comment on column missed_last_hour.wait_s is 'Seconds the client waited (null for rows only a webhook without wait has delivered so far).';
comment on column missed_last_hour.called_back_at is 'Start of the first successful outbound call to the same client after the miss (UTC), null while nobody has called back.';
comment on column missed_last_hour.source is 'Feed the row came from (webhook until a batch load reconciles it).';
