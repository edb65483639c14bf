create table if not exists pbx_settings_history (
    setting    varchar not null,
    value      varchar,
    attr_hash  varchar not null,
    valid_from timestamptz not null,
    valid_to   timestamptz,
    is_current boolean not null,
    primary key (setting, valid_from)
);

comment on table pbx_settings_history is 'Account-wide PBX options read by the snapshot, SCD2 (today: block_anonymous from GET /blacklist/block-anonymous).';
comment on column pbx_settings_history.setting is 'Option name (natural key), e.g. block_anonymous.';
comment on column pbx_settings_history.value is 'Option value as text (true/false for switches).';
comment on column pbx_settings_history.attr_hash is 'md5 of the value; a snapshot adds a version when it differs from the current one.';
comment on column pbx_settings_history.valid_from is 'Snapshot time (UTC) this version was first seen.';
comment on column pbx_settings_history.valid_to is 'Snapshot time (UTC) a different value was first seen; null while current.';
comment on column pbx_settings_history.is_current is 'True for the version in force now (valid_to is null).';
