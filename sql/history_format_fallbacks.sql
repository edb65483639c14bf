create table if not exists history_format_fallbacks (
    kind          varchar not null,
    format        varchar not null,
    fallback      varchar not null,
    error         varchar,
    first_seen_at timestamptz not null,
    last_seen_at  timestamptz not null,
    primary key (kind, format)
);

comment on table history_format_fallbacks is 'History formats this account does not offer (its history/json or history/csv answered 404, 405 or 501 while the other format loaded), one row per kind and format. Every load plans the fallback format instead from then on. To try the lacking format again (the account may have gained it), delete its row.';
comment on column history_format_fallbacks.kind is 'external or internal history.';
comment on column history_format_fallbacks.format is 'The format the account does not offer: json or csv.';
comment on column history_format_fallbacks.fallback is 'The format loaded instead.';
comment on column history_format_fallbacks.error is 'What the API answered, one line (e.g. 501 Not Implemented).';
comment on column history_format_fallbacks.first_seen_at is 'When a load first found the format missing (UTC).';
comment on column history_format_fallbacks.last_seen_at is 'When a load last found it missing (UTC): a run that learns it again, after the row was deleted, moves it.';
