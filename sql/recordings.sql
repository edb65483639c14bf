create table if not exists recordings (
    uid        varchar primary key,
    local_date date not null,
    path       varchar,
    bytes      bigint,
    sha256     varchar,
    status     varchar not null,
    error      varchar,
    fetched_at timestamptz not null
);

comment on table recordings is 'The copies of call recordings vats-etl recordings (and daily with VATS_RECORDINGS) holds, one row per call: the PBX''s links expire, the copies do not. Files live next to the raw archive, in recordings/date=YYYY-MM-DD/<uid>.<ext>, written whole or not at all. A recording the PBX no longer has is recorded once and never asked for again.';
comment on column recordings.uid is 'calls.uid of the recorded call.';
comment on column recordings.local_date is 'The call''s local day (kpi_settings.tz): the folder of its copy.';
comment on column recordings.path is 'Where the copy is, relative to the recordings folder (the raw archive''s sibling): date=YYYY-MM-DD/<uid>.<ext>.';
comment on column recordings.bytes is 'Size of the copy in bytes.';
comment on column recordings.sha256 is 'SHA-256 of the copy (hex): what was received, to check a file against.';
comment on column recordings.status is 'copied (the file is there), deleted (the PBX answered 404: the recording was deleted), expired (410: past the PBX''s retention), failed (5xx or timeouts past the retries: asked again next time), pruned (the copy was removed after VATS_RECORDINGS_KEEP_DAYS).';
comment on column recordings.error is 'What the PBX answered when the status is deleted, expired or failed, one line.';
comment on column recordings.fetched_at is 'When the row last changed: the copy made, the answer received, the copy pruned (UTC).';
