create table if not exists quarantine (
    row_hash      varchar primary key,
    kind          varchar not null,
    format        varchar not null,
    uid           varchar,
    raw           varchar not null,
    reasons       varchar[] not null,
    chunk_id      varchar not null,
    first_seen_at timestamptz not null,
    last_seen_at  timestamptz not null
);

comment on table quarantine is 'Rows rejected by validation, with every reason. Good rows of the same chunk load; a re-read of the same bad row updates last_seen_at instead of adding a copy.';
comment on column quarantine.row_hash is 'md5 of kind and the raw row: one quarantine row per distinct bad row.';
comment on column quarantine.raw is 'The row exactly as received, as JSON object text: for JSON history the object with every key, also the ones not modelled (type, missedStatus, ...), values as sent (re-serialised compactly, so [raw] is a body a replay can load); for CSV the record''s fields by layout name.';
comment on column quarantine.reasons is 'Every reason the row was rejected, human readable.';
comment on column quarantine.chunk_id is 'load_runs.chunk_id of the chunk that last delivered the row.';
comment on column quarantine.kind is 'external or internal history.';
comment on column quarantine.format is 'json or csv: the format the row came in.';
comment on column quarantine.uid is 'The row''s uid when it has one (null for rows without one): join to calls / internal_calls to see whether a later load or a replay after a fix loaded it.';
comment on column quarantine.first_seen_at is 'When the row was first rejected (UTC).';
comment on column quarantine.last_seen_at is 'When a load last delivered (and rejected) the row (UTC).';
