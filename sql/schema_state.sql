create table if not exists schema_state (
    id         integer primary key,
    sql_digest varchar not null,
    applied_at timestamptz not null
);

comment on table schema_state is 'Which version of sql/ this warehouse was last brought up to (one row). A writer re-applies sql/ only when its digest differs or a relation is missing: applying it takes ~0.25 s, a check ~0.02 s.';
comment on column schema_state.id is 'Always 1.';
comment on column schema_state.sql_digest is 'SHA-256 of every sql/ file (name and text) as the writer that applied them read them.';
comment on column schema_state.applied_at is 'When that writer applied them (UTC).';
