create table if not exists blacklist_history (
    telnum             varchar not null,
    comment            varchar,
    blocked_calls_week integer,
    blocked_calls_year integer,
    attr_hash          varchar not null,
    valid_from         timestamptz not null,
    valid_to           timestamptz,
    is_current         boolean not null,
    primary key (telnum, valid_from)
);

comment on table blacklist_history is 'Blacklisted numbers and ranges with blocked-call statistics (GET /blacklist/telnums?with=statistics), SCD2. The counters are attributes: a snapshot that sees a new count adds a version, so the history shows when calls were blocked.';
comment on column blacklist_history.telnum is 'Blocked number, or a range with * (e.g. 7900800*); natural key.';
comment on column blacklist_history.comment is 'Why the number was blocked, as typed in the PBX.';
comment on column blacklist_history.blocked_calls_week is 'Calls from this number blocked this week, as the PBX counted at snapshot time.';
comment on column blacklist_history.blocked_calls_year is 'Calls from this number blocked this year, as the PBX counted at snapshot time.';
comment on column blacklist_history.attr_hash is 'md5 of every attribute above; a snapshot adds a version when it differs from the current one.';
comment on column blacklist_history.valid_from is 'Snapshot time (UTC) this version was first seen.';
comment on column blacklist_history.valid_to is 'Snapshot time (UTC) a different version (or the removal from the blacklist) was first seen; null while current.';
comment on column blacklist_history.is_current is 'True for the version in force now (valid_to is null).';
