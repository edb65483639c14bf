create table if not exists group_members_history (
    group_id         varchar not null,
    user_login       varchar not null,
    member_position  integer,
    is_calls_enabled boolean,
    attr_hash        varchar not null,
    valid_from       timestamptz not null,
    valid_to         timestamptz,
    is_current       boolean not null,
    primary key (group_id, user_login, valid_from)
);

comment on table group_members_history is 'Who belongs to which department (the users list of GET /groups), SCD2: one row per version of a membership. An employee moved to another department closes one membership and opens another at the snapshot that first sees it.';
comment on column group_members_history.group_id is 'Department id (groups_history.group_id); with user_login the natural key.';
comment on column group_members_history.user_login is 'Member''s login (users_history.user_login).';
comment on column group_members_history.member_position is 'Position of the member in the department''s list, 0 = first (the ringing order when call_order is BYORDER).';
comment on column group_members_history.is_calls_enabled is 'calls_enable: the member takes the department''s calls (subscription).';
comment on column group_members_history.attr_hash is 'md5 of the attributes; a snapshot adds a version when it differs from the current one.';
comment on column group_members_history.valid_from is 'Snapshot time (UTC) this version was first seen.';
comment on column group_members_history.valid_to is 'Snapshot time (UTC) a different version (or the end of the membership) was first seen; null while current.';
comment on column group_members_history.is_current is 'True for the version in force now (valid_to is null).';
