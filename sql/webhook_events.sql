create table if not exists webhook_events (
    event_hash  varchar primary key,
    callid      varchar,
    type        varchar,
    direction   varchar,
    client      varchar,
    diversion   varchar,
    user_login  varchar,
    ext         varchar,
    telnum      varchar,
    group_name  varchar,
    received_at timestamptz not null,
    loaded_at   timestamptz not null,
    cmd         varchar default 'event',
    payload     varchar
);

-- Warehouses made before commands other than event were kept: same shape as above.
alter table webhook_events add column if not exists cmd varchar default 'event';
alter table webhook_events add column if not exists payload varchar;
alter table webhook_events alter column callid drop not null;
alter table webhook_events alter column type drop not null;

comment on table webhook_events is 'Call events pushed by the PBX (spec 2.2, cmd=event), and any command the receiver does not model (e.g. cmd=webhook with type=sipregs_error) as delivered; one row per distinct delivery content: identical re-deliveries are stored once. Events carry no time of their own: received_at is when our receiver accepted the first delivery.';
comment on column webhook_events.event_hash is 'Hash of the event''s normalised content (every column but the times): the deduplication key.';
comment on column webhook_events.callid is 'The call''s uid (calls.uid once its history arrives). Always set for cmd = event; for other commands only when they carry one.';
comment on column webhook_events.type is 'For cmd = event (upper-cased): INCOMING, OUTGOING (a call starts ringing), ACCEPTED (answered), COMPLETED (ended after an answer), CANCELLED (ended unanswered), TRANSFERRED, or another type the PBX sent. For other commands: their type field as delivered (e.g. sipregs_error), or null.';
comment on column webhook_events.direction is 'in or out when the PBX sends it; null otherwise (INCOMING implies in, OUTGOING implies out).';
comment on column webhook_events.client is 'The client''s phone number (the webhook''s phone field).';
comment on column webhook_events.diversion is 'Our number an inbound call came in on.';
comment on column webhook_events.user_login is 'Login of the employee the event is about (a call ringing a department gives one INCOMING per employee); login@domain as delivered is stored as login.';
comment on column webhook_events.ext is 'The employee''s extension (short number).';
comment on column webhook_events.telnum is 'The employee''s direct number.';
comment on column webhook_events.group_name is 'Department the call goes through (groupRealName).';
comment on column webhook_events.received_at is 'When the receiver accepted the event (UTC); the event''s time as far as we know it.';
comment on column webhook_events.loaded_at is 'When the event reached the warehouse (UTC).';
comment on column webhook_events.cmd is 'The webhook command: event, or a command the receiver does not model, as delivered (answered 200 and kept here so the PBX does not retry it).';
comment on column webhook_events.payload is 'For commands other than event: every field delivered but crm_token, as a JSON object (numbers from a JSON body stay numbers; a form body gives text). Null for events.';
