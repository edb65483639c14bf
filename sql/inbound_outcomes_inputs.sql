create table if not exists inbound_outcomes_inputs (
    uid        varchar not null,
    client     varchar,
    started_at timestamptz
);

comment on table inbound_outcomes_inputs is 'Every call (both directions) as inbound_outcomes_cache last saw it: when a call changes, the refresh recomputes the outcomes of the client it belongs to and of the client it belonged to, from where it starts and from where it started. Internal to the cache; query calls instead.';
comment on column inbound_outcomes_inputs.uid is 'calls.uid.';
comment on column inbound_outcomes_inputs.client is 'calls.client at the last refresh of the cache.';
comment on column inbound_outcomes_inputs.started_at is 'calls.started_at at the last refresh of the cache (UTC).';
