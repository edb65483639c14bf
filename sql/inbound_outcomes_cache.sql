create table if not exists inbound_outcomes_cache (
    uid                     varchar not null,
    is_answered             boolean not null,
    is_short_abandon        boolean not null,
    is_missed               boolean not null,
    is_within_service_level boolean not null,
    is_repeat_caller        boolean not null,
    recovery                varchar,
    recovered_at            timestamptz,
    time_to_recovery_s      bigint,
    recovered_by_login      varchar,
    callback_attempts       bigint,
    recovery_deadline_at    timestamptz,
    lost_contact_id         varchar,
    next_contact_at         timestamptz,
    client                  varchar,
    started_at              timestamptz
);

comment on table inbound_outcomes_cache is 'Cached rows of the view inbound_outcomes (same columns), valid only while view_caches says so; query inbound_outcomes, never this table. outcome is not cached: it depends on the data cut-off, so the view derives it from next_contact_at when read. A new version of sql/ drops and rebuilds the cache (vats_etl.warehouse).';
comment on column inbound_outcomes_cache.uid is 'The inbound call (calls.uid); every other column is the same-named column of inbound_outcomes, but client and started_at, which are those of calls.';
comment on column inbound_outcomes_cache.client is 'calls.client of the call when the cache was computed (the manual resolutions of the client are joined when read).';
comment on column inbound_outcomes_cache.started_at is 'calls.started_at of the call when the cache was computed (UTC).';
