create table if not exists internal_calls (
    uid        varchar not null,
    status     varchar,
    from_login varchar,
    to_login   varchar,
    from_name  varchar,
    to_name    varchar,
    started_at timestamptz,
    wait_s     integer,
    duration_s integer,
    record_url varchar,
    loaded_at  timestamptz not null
);

comment on table internal_calls is 'Internal (employee to employee) call history (spec 4.3/4.4), one row per uid.';
comment on column internal_calls.uid is 'The PBX''s unique id of the internal call; unique (every write is a MERGE by uid).';
comment on column internal_calls.status is 'Lower-case canonical status: success, noanswer, missed, cancel, busy.';
comment on column internal_calls.from_login is 'Caller''s login (a login@domain value is cut at @).';
comment on column internal_calls.to_login is 'Callee''s login.';
comment on column internal_calls.started_at is 'Call start, UTC.';
comment on column internal_calls.duration_s is 'Duration in seconds as delivered by the PBX (meaning disputed; stored unchanged).';
comment on column internal_calls.loaded_at is 'When this row last changed in the warehouse (UTC).';
