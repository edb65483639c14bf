create table if not exists load_runs (
    chunk_id         varchar primary key,
    run_id           varchar not null,
    kind             varchar not null,
    format           varchar not null,
    window_start     timestamptz not null,
    window_end       timestamptz not null,
    day              date,
    status           varchar not null,
    rows_received    integer not null,
    rows_loaded      integer not null,
    rows_quarantined integer not null,
    pages            integer not null,
    requests         integer not null,
    error            varchar,
    fetched_at       timestamptz,
    started_at       timestamptz not null,
    finished_at      timestamptz not null,
    fetch_s          double,
    parse_s          double,
    validate_s       double,
    load_s           double
);

comment on table load_runs is 'One row per loaded chunk (a window of one kind and format), committed in the same transaction as the chunk''s rows.';
comment on column load_runs.run_id is 'The backfill/daily/replay run the chunk belongs to.';
comment on column load_runs.kind is 'external or internal history; for a directory endpoint the account does not offer (status skipped), the entity: groups, telnums, sims, blacklist, block_anonymous.';
comment on column load_runs.format is 'json, csv, or replay-json/replay-csv for rebuilds from the raw archive.';
comment on column load_runs.day is 'Local day (VATS_TZ) the window starts on.';
comment on column load_runs.status is 'ok, partial (some rows quarantined) or failed (nothing of the chunk loaded; see error); skipped for a snapshot entity whose endpoint answered 404/405/501 or {"error": ...} (its versions stay open; error says why), and for a history chunk in a format the account does not offer (404/405/501: the same window was loaded in the other format, its own row; error says so).';
comment on column load_runs.rows_received is 'Rows in the final (non-truncated) responses of the chunk.';
comment on column load_runs.pages is 'Responses kept for the chunk; requests counts the full ones that were split too.';
comment on column load_runs.fetched_at is 'When the chunk''s last response arrived; a chunk fetched well after its window ended is settled and not re-read by a resumed backfill.';
comment on column load_runs.chunk_id is 'Unique id of one loaded chunk.';
comment on column load_runs.window_start is 'Start (UTC, inclusive) of the window the chunk covers.';
comment on column load_runs.window_end is 'End (UTC, exclusive) of the window the chunk covers.';
comment on column load_runs.rows_loaded is 'Rows upserted into calls / internal_calls.';
comment on column load_runs.rows_quarantined is 'Rows sent to quarantine instead.';
comment on column load_runs.error is 'Why the chunk failed (status failed), one line.';
comment on column load_runs.started_at is 'When processing of the chunk began (UTC).';
comment on column load_runs.finished_at is 'When the chunk was written (UTC).';
comment on column load_runs.fetch_s is 'Seconds spent in HTTP requests for the chunk (fetch_s, parse_s, validate_s and load_s split the chunk''s time by stage).';
