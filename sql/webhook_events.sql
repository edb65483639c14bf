create table if not exists webhook_events (
    event_hash  varchar primary key,
    callid      varchar not null,
    type        varchar not null,
    direction   varchar,
    client      varchar,
    diversion   varchar,
    user_login  varchar,
    ext         varchar,
    telnum      varchar,
    group_name  varchar,
    received_at timestamptz not null,
    loaded_at   timestamptz not null
);

comment on table webhook_events is 'Call events pushed by the PBX (spec 2.2, cmd=event), one row per distinct event: identical re-deliveries are stored once. Events carry no time of their own: received_at is when our receiver accepted the first delivery.';
comment on column webhook_events.event_hash is 'Hash of the event''s normalised content (every column but the times): the deduplication key.';
comment on column webhook_events.callid is 'The call''s uid (calls.uid once its history arrives).';
comment on column webhook_events.type is 'INCOMING, OUTGOING (a call starts ringing), ACCEPTED (answered), COMPLETED (ended after an answer), CANCELLED (ended unanswered), TRANSFERRED.';
comment on column webhook_events.direction is 'in or out when the PBX sends it; null otherwise (INCOMING implies in, OUTGOING implies out).';
comment on column webhook_events.client is 'The client''s phone number (the webhook''s phone field).';
comment on column webhook_events.diversion is 'Our number an inbound call came in on.';
comment on column webhook_events.user_login is 'Login of the employee the event is about (a call ringing a department gives one INCOMING per employee).';
comment on column webhook_events.ext is 'The employee''s extension (short number).';
comment on column webhook_events.telnum is 'The employee''s direct number.';
comment on column webhook_events.group_name is 'Department the call goes through (groupRealName).';
comment on column webhook_events.received_at is 'When the receiver accepted the event (UTC); the event''s time as far as we know it.';
comment on column webhook_events.loaded_at is 'When the event reached the warehouse (UTC).';
