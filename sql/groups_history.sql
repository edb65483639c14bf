create table if not exists groups_history (
    group_id        varchar not null,
    group_name      varchar,
    ext             varchar,
    call_order      varchar,
    call_duration_s integer,
    timeout_s       integer,
    timeout_target  varchar,
    timeout_user    varchar,
    timeout_group   varchar,
    timeout_telnum  varchar,
    advanced        varchar,
    attr_hash       varchar not null,
    valid_from      timestamptz not null,
    valid_to        timestamptz,
    is_current      boolean not null,
    primary key (group_id, valid_from)
);

comment on table groups_history is 'Departments (GET /groups), SCD2: one row per version of a department''s settings. Members are in group_members_history. Current state: view groups.';
comment on column groups_history.group_id is 'Department id (natural key).';
comment on column groups_history.group_name is 'Department name; calls.group_name carries the name delivered with each call.';
comment on column groups_history.ext is 'Short internal number of the department.';
comment on column groups_history.call_order is 'How calls are distributed among members, e.g. ALL, EVENLY, BYORDER (spec 8.1).';
comment on column groups_history.call_duration_s is 'Seconds each member rings before the next one (0 when call_order is ALL).';
comment on column groups_history.timeout_s is 'timeout.time: seconds the department rings before the timeout target takes the call.';
comment on column groups_history.timeout_target is 'timeout.target: where an unanswered call goes: voicemail, user, group or telnum.';
comment on column groups_history.timeout_user is 'timeout.user: login, when timeout_target is user.';
comment on column groups_history.timeout_group is 'timeout.group: department id, when timeout_target is group.';
comment on column groups_history.timeout_telnum is 'timeout.telnum: external number, when timeout_target is telnum.';
comment on column groups_history.advanced is 'The "for impatient clients" option as delivered (e.g. off).';
comment on column groups_history.attr_hash is 'md5 of every attribute above; a snapshot adds a version when it differs from the current one.';
comment on column groups_history.valid_from is 'Snapshot time (UTC) this version was first seen.';
comment on column groups_history.valid_to is 'Snapshot time (UTC) a different version (or the deletion) was first seen; null while current.';
comment on column groups_history.is_current is 'True for the version in force now (valid_to is null).';
