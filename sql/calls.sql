create table if not exists calls (
    uid         varchar not null,
    direction   varchar,
    status      varchar,
    client      varchar,
    diversion   varchar,
    destination varchar,
    user_login  varchar,
    user_name   varchar,
    group_name  varchar,
    started_at  timestamptz,
    wait_s      integer,
    duration_s  integer,
    record_url  varchar,
    rating      tinyint,
    source      varchar not null,
    loaded_at   timestamptz not null
);

comment on table calls is 'External call history (spec 4.1/4.2 and the history webhook), one row per call uid. Upserted idempotently: re-reading a window never duplicates a call.';
comment on column calls.uid is 'The PBX''s unique call id (uid in history, callid in webhooks). Unique: every write is a MERGE by uid (no index, so bulk loads stay fast).';
comment on column calls.direction is 'in = inbound (client called us), out = outbound.';
comment on column calls.status is 'Lower-case canonical status: success, missed, cancel, busy, notavailable, notallowed, notfound (the platform''s noanswer and not_available are stored as missed and notavailable). A status outside that list is stored lower-cased as delivered, never dropped: it counts as not answered, and data_quality lists it. CSV rows only know success/missed.';
comment on column calls.client is 'The client''s phone number as the PBX reports it.';
comment on column calls.diversion is 'Our number the inbound call came in on (the number dialled).';
comment on column calls.destination is 'Where an inbound call ended (spec 4.2): user, group, telnum, ivr, onduty, offtime, hello, vm, am. Null for outbound and CSV rows.';
comment on column calls.user_login is 'Login of the employee (user, or account when user is empty); login@domain is stored as login. Empty when account named a target (then destination) or a department (then group_name).';
comment on column calls.user_name is 'Employee name as delivered with the call (the PBX''s value at call time).';
comment on column calls.group_name is 'Department the inbound call went through, as delivered with the call.';
comment on column calls.started_at is 'Call start, UTC (TIMESTAMPTZ). Convert with VATS_TZ for local hours and days.';
comment on column calls.wait_s is 'Seconds the client waited on the line before answer or hang-up.';
comment on column calls.duration_s is 'Duration in seconds AS DELIVERED by the PBX. Its meaning is disputed across clients (talk time vs. whole call); we store it unchanged. The platform''s JSON leaves duration out on calls not answered: those are stored as 0.';
comment on column calls.record_url is 'Link to the recording, when recording is on.';
comment on column calls.rating is 'Client''s rating 1-5 of the employee; null = not rated (never a score).';
comment on column calls.source is 'Which feed last set this row: api_json, api_csv or webhook (rank api_json > webhook > api_csv).';
comment on column calls.loaded_at is 'When this row last changed in the warehouse (UTC).';

-- added after the first release: alter, so that older warehouses get it too
alter table calls add column if not exists pbx_missed_status smallint;
comment on column calls.pbx_missed_status is 'The PBX''s own verdict on the call (missedStatus or missedstatus of JSON history and webhooks), stored as delivered; null when the PBX sent none (CSV never does). Public integrations read 2 on an outgoing call as a call-back to a missed client and 3 or 4 on a missed call as still open: their reading, not a documented meaning. A second opinion only: missed_calls.outcome and every KPI follow our own rules (pbx_missed_verdicts and data_quality show where the two disagree).';
