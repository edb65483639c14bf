create table if not exists users_history (
    user_login              varchar not null,
    user_name               varchar,
    position                varchar,
    ext                     varchar,
    telnum                  varchar,
    email                   varchar,
    role                    varchar,
    mobile                  varchar,
    is_mobile_redirect      boolean,
    is_mobile_redirect_forward boolean,
    mobile_redirect_delay_s integer,
    group_ids               varchar[],
    attr_hash               varchar not null,
    valid_from              timestamptz not null,
    valid_to                timestamptz,
    is_current              boolean not null,
    primary key (user_login, valid_from)
);

comment on table users_history is 'Employees (GET /users and GET /users/{login}/groups), SCD2: one row per version of an employee. A snapshot adds a version only when an attribute changes; an employee who disappears from /users gets the current version closed. Current state: view users.';
comment on column users_history.user_login is 'Login of the employee (natural key; calls.user_login).';
comment on column users_history.user_name is 'Full name as the PBX shows it.';
comment on column users_history.ext is 'Short internal number (extension).';
comment on column users_history.telnum is 'Direct phone number of the employee, if any.';
comment on column users_history.role is 'Rights in the PBX: admin or user.';
comment on column users_history.mobile is 'Mobile phone number the PBX may redirect to.';
comment on column users_history.is_mobile_redirect is 'mobile_redirect.enabled: calls are redirected to the mobile.';
comment on column users_history.is_mobile_redirect_forward is 'mobile_redirect.forward as delivered (null when redirect is off).';
comment on column users_history.mobile_redirect_delay_s is 'mobile_redirect.delay: seconds before the redirect (null when redirect is off).';
comment on column users_history.group_ids is 'Departments the employee belongs to (GET /users/{login}/groups), ids sorted.';
comment on column users_history.attr_hash is 'md5 of every attribute above; a snapshot adds a version when it differs from the current one.';
comment on column users_history.valid_from is 'Snapshot time (UTC) this version was first seen.';
comment on column users_history.valid_to is 'Snapshot time (UTC) a different version (or the deletion) was first seen; null while current.';
comment on column users_history.is_current is 'True for the version in force now (valid_to is null).';
comment on column users_history.position is 'Job title as typed in the PBX.';
comment on column users_history.email is 'E-mail of the employee.';
